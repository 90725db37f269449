"""Atomic file writes: write beside the destination, fsync, rename. A failed or canceled write never
leaves a file that looks finished, and never damages the previous file at the destination.

A write that fails on the file system (disk full, file too large, I/O error) becomes an
:class:`~engine.errors.OutputError` naming the file, the space it needs and the space free (see
:func:`write_failure`); the temporary file is removed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from .errors import DualStreamError, OutputError


def temporary_path(destination: str | os.PathLike, suffix: str | None = None) -> Path:
    """A hidden, unique path beside ``destination`` (same file system, so the final rename is atomic)."""
    destination = Path(destination)
    suffix = destination.suffix if suffix is None else suffix
    return destination.with_name(f".{destination.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


def write_failure(destination: str | os.PathLike, exc: BaseException, needed: int | None = None,
                  qualifier: str = "about") -> OutputError:
    """The error for a failed write of ``destination``: the cause, the space needed (``qualifier`` says how
    exact: "about", "at least", "up to") and free, and what to do."""
    destination = Path(destination)
    cause = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:300] or type(exc).__name__
    try:
        free = format_bytes(shutil.disk_usage(destination.parent if str(destination.parent) else ".").free)
        space = f"{free} free on that file system"
    except OSError:
        space = "free space unknown"
    if needed is not None:
        space += f"; the file needs {qualifier} {format_bytes(needed)}"
    before = " The previous file there is unchanged." if destination.exists() else ""
    return OutputError(f"Could not write '{destination}': {cause} ({space}). Free space (or raise the file size "
                       f"limit) or choose another destination; nothing was written there.{before}")


class _RecordingWriter:
    """A file handle that remembers the OSError of a failed write (torch.save turns it into a RuntimeError)."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
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


@contextmanager
def atomic_file(destination: str | os.PathLike, size: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary handle on a temp file beside ``destination``; rename it onto ``destination`` on success.

    The data is fsync'ed before the rename, so a crash never leaves a renamed but empty file. Files get the
    usual umask (a plain ``open``), which matters for bundles that are meant to be shared. ``size`` (when
    known) is reported as the space needed if the write fails.

    Raises:
        OutputError: the file system refused the write (disk full, file too large, I/O error).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(destination)
    recorder: _RecordingWriter | None = None
    try:
        with open(tmp, "wb") as handle:
            recorder = _RecordingWriter(handle)
            yield recorder  # type: ignore[misc]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, destination)
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
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(destination: str | os.PathLike, data: bytes) -> str:
    """Write ``data`` to ``destination`` atomically; return the path."""
    with atomic_file(destination, size=len(data)) as handle:
        handle.write(data)
    return str(destination)


def write_text_atomic(destination: str | os.PathLike, text: str) -> str:
    """Write UTF-8 ``text`` to ``destination`` atomically; return the path."""
    return write_bytes_atomic(destination, text.encode("utf-8"))
