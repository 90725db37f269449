"""Atomic file writes: write beside the destination, fsync, rename. A failed or canceled write never leaves a file
that looks finished, and never damages the previous file at the destination. A write that fails on the file system
(disk full, file too large, I/O error) becomes an :class:`~engine.errors.OutputError` naming the file, the space it
needs and the space free (:func:`write_failure`); the temporary file is removed.

One writer per output (:func:`output_locks`, each output labelled by its setting: :func:`engine.errors.mention`):
an OS advisory lock (``fcntl.flock``; ``msvcrt.locking`` on Windows) on ``<output>.lock`` beside each destination
while a run writes it, so it dies with its process (a crash or ``kill -9`` leaves a stale file the next run takes
over). A second run refuses at once with :class:`~engine.errors.OutputLockedError`, naming the output and the
holder, instead of interleaving its writes.

:class:`BackgroundWrite`: a write in a thread while the caller goes on (a training's checkpoint while its next
epoch runs), one in flight at a time; its error is raised in the caller's thread by the next :meth:`submit` or
:meth:`wait`, so a failed write is never lost. File writes and fsync release the interpreter's lock.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import stat
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import DualStreamError, OutputError, OutputLockedError
from .network import size_text

NAME_MAX = 255  # bytes of one file name on ext4, XFS, btrfs, NTFS (UTF-16 units there) and most others
# what a temporary name adds to the destination's stem, at most: ".", ".tmp-" / ".<kind>-", a 10-digit process ID,
# "-", 8 random characters, a suffix of up to 16 bytes and a sidecar GDAL may add to it (".aux.xml", ".ovr")
_TEMP_OVERHEAD = 1 + 16 + 10 + 1 + 8 + 16 + 16


def fitted_name(name: str, limit: int = NAME_MAX) -> str:
    """``name`` within ``limit`` bytes (UTF-8): else its start, then ``~`` and 8 hex digits of its hash (the same
    name gives the same result, so a later run finds an earlier run's files)."""
    data = name.encode("utf-8", "surrogateescape")
    if len(data) <= limit:
        return name
    tag = "~" + hashlib.sha256(data).hexdigest()[:8]
    return data[: limit - len(tag)].decode("utf-8", "ignore") + tag


def _temp_stem(destination: Path) -> str:
    """Cut so that no temporary name exceeds NAME_MAX."""
    return fitted_name(destination.stem, NAME_MAX - _TEMP_OVERHEAD)


def temporary_path(destination: str | os.PathLike, suffix: str | None = None) -> Path:
    """A hidden, unique path beside ``destination`` (same file system, so the final rename is atomic), carrying
    the writing process's ID so that :func:`abandoned_temporaries` can tell a killed writer's files."""
    destination = Path(destination)
    suffix = destination.suffix if suffix is None else suffix
    return destination.with_name(f".{_temp_stem(destination)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def abandoned_temporaries(destination: str | os.PathLike, suffixes: tuple[str, ...],
                          sidecars: tuple[str, ...] = ()) -> list[Path]:
    """The :func:`temporary_path` files of ``destination`` ending in one of ``suffixes`` (and one of ``sidecars``)
    whose writing process is gone. Only for the holder of the destination's output lock (:func:`output_lock`): no
    live run then writes any of them."""
    destination = Path(destination)
    rest = rf"[0-9a-f]{{8}}({'|'.join(map(re.escape, suffixes))})({'|'.join(map(re.escape, sidecars))})?"
    return _abandoned(destination.parent, f".{_temp_stem(destination)}.tmp-", rest, Path.is_file)


def _abandoned(folder: Path, prefix: str, rest: str, is_kind: Callable[[Path], bool]) -> list[Path]:
    """The paths in ``folder`` named ``prefix``, a process ID, ``-`` and ``rest`` (a regex) whose process is gone."""
    try:  # names only, the prefix first: a bulk run asks this for every scene of a folder of thousands of outputs
        candidates = [name for name in os.listdir(folder) if name.startswith(prefix)]
    except OSError:  # no such folder (yet), or not listable: nothing of ours there
        return []
    if not candidates:  # the usual case: no regex compiled for a prefix every destination has its own of
        return []
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)-{rest}")
    found = [(folder / name, pattern.fullmatch(name)) for name in candidates]
    # a writer's process still alive here can only be writing a namesake ("a.tiff" beside "a.tif"): leave it
    return sorted(p for p, match in found if match and not process_alive(int(match[1])) and is_kind(p))


def temporary_folder(destination: str | os.PathLike, kind: str) -> Path:
    """A new hidden work folder ``.<stem>.<kind>-<pid>-<random>`` beside ``destination``."""
    destination = Path(destination)
    return Path(tempfile.mkdtemp(prefix=f".{_temp_stem(destination)}.{kind}-{os.getpid()}-",
                                 dir=str(destination.parent)))


def abandoned_temporary_folders(destination: str | os.PathLike, kind: str) -> list[Path]:
    """The :func:`temporary_folder` folders of a process that is gone, as :func:`abandoned_temporaries`."""
    destination = Path(destination)
    return _abandoned(destination.parent, f".{_temp_stem(destination)}.{kind}-", ".*", Path.is_dir)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (this process included); True where that cannot be told."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send Ctrl+C there (signal 0 is CTRL_C_EVENT)
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError), or a PID that cannot be checked here
        return True
    return True


def _windows_process_alive(pid: int) -> bool:
    try:
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = wintypes.HANDLE  # pointer-sized: the default int would cut it
        kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
        kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
        kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() != 87  # ERROR_INVALID_PARAMETER: no such process
        try:
            code = wintypes.DWORD()
            return not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    except Exception:  # noqa: BLE001 - when in doubt, the files are someone's: keep them
        return True


def path_kind(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists but is not a regular file ("a folder", "a named pipe (FIFO)", ...);
    None for a regular file or a path that does not exist (symlinks followed)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    kinds = ((stat.S_ISREG, None), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


def refuse_special(destination: str | os.PathLike) -> None:
    """OutputError when ``destination`` exists but is not a regular file (the rename would replace a device, FIFO
    or socket, or fail on a folder): the last guard behind :mod:`engine.io.safety`, for every file written."""
    if (kind := path_kind(destination)) is not None:
        raise OutputError(f"'{destination}' is {kind}, which is not replaced by an output; choose the path of a new "
                          f"or existing regular file. Nothing was written there.")


def write_failure(destination: str | os.PathLike, exc: BaseException, needed: int | None = None,
                  qualifier: str = "about") -> OutputError:
    """The error for a failed write: the cause, the space needed (``qualifier``: "about", "at least", "up to") and
    free, and what to do."""
    destination = Path(destination)
    cause = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:300] or type(exc).__name__
    try:
        space = f"{size_text(shutil.disk_usage(destination.parent).free)} free on that file system"
    except OSError:
        space = "free space unknown"
    if needed is not None:
        space += f"; the file needs {qualifier} {size_text(needed)}"
    before = " The previous file there is unchanged." if destination.exists() else ""
    return OutputError(f"Could not write '{destination}': {cause} ({space}). Free space (or raise the file size "
                       f"limit) or choose another destination; nothing was written there.{before}")


class _RecordingWriter:
    """A file handle that remembers a failed write's OSError (torch.save turns it into a RuntimeError)."""

    def __init__(self, handle: BinaryIO, path: Path):
        self._handle, self.path = handle, path
        self.error: OSError | None = None
        self.written = 0

    def write(self, data: Any) -> int:
        try:
            n = self._handle.write(data)
        except OSError as exc:
            self.error = exc
            raise
        self.written += len(data) if n is None else n
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def stage_bytes(destination: str | os.PathLike, data: bytes) -> Path:
    """``data`` in an fsync'ed temp file beside ``destination`` that the caller renames onto it when it publishes
    (a run writes its style files so while its model works), or removes. Raises as :func:`atomic_file`."""
    with atomic_file(destination, len(data), publish=False) as handle:
        handle.write(data)
    return handle.path


@contextmanager
def atomic_file(destination: str | os.PathLike, size: int | None = None, publish: bool = True) -> Iterator[BinaryIO]:
    """Yield a binary handle on a temp file beside ``destination``, fsync'ed (a crash never leaves a renamed but
    empty file) and renamed onto it on success (``publish`` False: kept at the handle's ``path`` for the caller).
    Files get the usual umask (a plain ``open``), which matters for bundles meant to be shared. ``size``: the space
    reported as needed if the write fails."""
    destination = Path(destination)
    refuse_special(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(destination)
    recorder: _RecordingWriter | None = None
    kept = False
    try:
        with open(tmp, "wb") as handle:
            recorder = _RecordingWriter(handle, tmp)
            yield recorder  # type: ignore[misc]
            handle.flush()
            os.fsync(handle.fileno())
        if publish:
            os.replace(tmp, destination)
        kept = not publish
    except DualStreamError:
        raise
    except (OSError, RuntimeError) as exc:
        cause = recorder.error if recorder is not None and recorder.error is not None else exc
        if not isinstance(cause, OSError):
            raise
        written = recorder.written if recorder is not None else 0
        raise write_failure(destination, cause, size or written or None,
                            "about" if size else "at least") from exc
    finally:
        if not kept and tmp.exists():
            tmp.unlink()


def write_bytes_atomic(destination: str | os.PathLike, data: bytes) -> str:
    """Write ``data`` atomically; return the path."""
    with atomic_file(destination, size=len(data)) as handle:
        handle.write(data)
    return str(destination)


def write_text_atomic(destination: str | os.PathLike, text: str) -> str:
    """Write UTF-8 ``text`` atomically; return the path."""
    return write_bytes_atomic(destination, text.encode("utf-8"))


@contextmanager
def uninterrupted() -> Iterator[list[int]]:
    """Ctrl+C and SIGTERM held until the block is done, then raised as KeyboardInterrupt: publishing is a few
    renames that must happen all or none. A long GDAL call polls the yielded list (the signals caught) in its
    progress function and stops early (raising in GDAL's callback prints a traceback). Outside the main thread
    signals cannot be held: the block runs as it is."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in held}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught:
        raise KeyboardInterrupt


LOCK_SUFFIX = ".lock"


def lock_path(output: str | os.PathLike) -> Path:
    """``<output>.lock``, its name cut to fit the file system (:func:`fitted_name`)."""
    output = Path(output)
    return output.with_name(fitted_name(output.name, NAME_MAX - len(LOCK_SUFFIX)) + LOCK_SUFFIX)


@contextmanager
def output_lock(output: str | os.PathLike, what: str = "output") -> Iterator[Path | None]:
    """Hold ``<output>.lock`` for the block; OutputLockedError when another process holds it. Where no lock file
    can be made (a missing or read-only folder) the block runs unlocked: the run's own checks say why."""
    path = lock_path(output)
    fd = _acquire(path, output, what)
    if fd is None:
        yield None
        return
    try:
        holder = f"pid {os.getpid()} on {socket.gethostname()}".encode()
        os.write(fd, holder)
        if os.fstat(fd).st_size > len(holder):  # a longer note of a run that died: cut it. Not truncated to 0
            os.ftruncate(fd, len(holder))  # first: ext4 flushes such a file on close (2-3 ms a scene in bulk)
        yield path
    finally:
        with suppress(OSError):
            path.unlink()  # before closing: whoever opened the old file re-checks the inode and retries
        os.close(fd)


def _acquire(path: Path, output: str | os.PathLike, what: str) -> int | None:
    """An open, locked descriptor of ``path``; None when the file cannot be made; OutputLockedError when held."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None
        try:
            try:
                import fcntl
            except ImportError:  # Windows
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise OutputLockedError(
                f"The {what} '{output}' is being written by another DualStream run ({holder}; lock file '{path}'). "
                f"Wait for it to finish or choose another output; nothing was written.")
        with suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        os.close(fd)  # the holder removed the file between our open and lock: take the new one


@contextmanager
def output_locks(outputs: Mapping[str, str | os.PathLike | None]) -> Iterator[list[Path]]:
    """Lock every given output (``what -> path``; None skipped) in a fixed order; yields those whose lock is held."""
    with ExitStack() as stack:
        held = []
        for what, path in sorted(((w, p) for w, p in outputs.items() if p), key=lambda item: str(item[1])):
            if stack.enter_context(output_lock(path, what)) is not None:
                held.append(Path(path))
        yield held


class BackgroundWrite:
    """Runs ``work`` in a thread of its own, one at a time."""

    def __init__(self, name: str = "dualstream-write"):
        self.name = name
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread by wait()
            self._error = exc

    def submit(self, work: Callable[[], None]) -> None:
        """Wait for the write in flight (raising its error), then start ``work``."""
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(work,), name=self.name, daemon=False)
        self._thread.start()

    def wait(self) -> None:
        """Block until the write in flight is done; raise its error, if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
