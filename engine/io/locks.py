"""One writer per output: a lock file ``<output>.lock`` beside each destination while a run writes it.

The lock is an OS advisory lock (``fcntl.flock``; ``msvcrt.locking`` on Windows) on that file, so it dies with
its process: after a crash or ``kill -9`` the stale file is simply taken over by the next run. A second run
that finds the lock held refuses at once with :class:`~engine.errors.OutputLockedError`, naming the output
and the process holding it, instead of interleaving its writes with the first one's.

Usage::

    with output_locks({f"class raster ({setting('segment.output')})": out}):  # names a setting: see engine.errors
        ...  # write, rename
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from ..errors import OutputLockedError
from .atomic import NAME_MAX, fitted_name

LOCK_SUFFIX = ".lock"


def lock_path(output: str | os.PathLike) -> Path:
    """``<output>.lock``: the lock file of ``output`` (its name cut to fit the file system, see fitted_name)."""
    output = Path(output)
    return output.with_name(fitted_name(output.name, NAME_MAX - len(LOCK_SUFFIX)) + LOCK_SUFFIX)


def _try_lock(fd: int) -> bool:
    try:
        try:
            import fcntl
        except ImportError:  # Windows
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextmanager
def output_lock(output: str | os.PathLike, what: str = "output") -> Iterator[Path | None]:
    """Hold ``<output>.lock`` for the block; raise OutputLockedError when another process holds it.

    Where no lock file can be made (a missing or read-only folder) the block runs unlocked: nothing can be
    written there either, and the run's own checks say so in its terms.
    """
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
        if not _try_lock(fd):
            try:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise OutputLockedError(
                f"The {what} '{output}' is being written by another DualStream run ({holder}; lock file '{path}'). "
                f"Wait for it to finish or choose another output; nothing was written.")
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file between our open and lock: take the new one


@contextmanager
def output_locks(outputs: Mapping[str, str | os.PathLike | None]) -> Iterator[list[Path]]:
    """Lock every given output (``what -> path``; None skipped) for the block, in a fixed order; yields the
    outputs whose lock is held (not those where no lock file could be made)."""
    with ExitStack() as stack:
        held = []
        for what, path in sorted(((w, p) for w, p in outputs.items() if p), key=lambda item: str(item[1])):
            if stack.enter_context(output_lock(path, what)) is not None:
                held.append(Path(path))
        yield held
