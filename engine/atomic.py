"""Atomic file writes: write beside the destination, fsync, rename. A failed or canceled write never
leaves a file that looks finished, and never damages the previous file at the destination."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def temporary_path(destination: str | os.PathLike, suffix: str | None = None) -> Path:
    """A hidden, unique path beside ``destination`` (same file system, so the final rename is atomic)."""
    destination = Path(destination)
    suffix = destination.suffix if suffix is None else suffix
    return destination.with_name(f".{destination.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


@contextmanager
def atomic_file(destination: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a binary handle on a temp file beside ``destination``; rename it onto ``destination`` on success.

    The data is fsync'ed before the rename, so a crash never leaves a renamed but empty file. Files get the
    usual umask (a plain ``open``), which matters for bundles that are meant to be shared.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(destination)
    try:
        with open(tmp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, destination)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(destination: str | os.PathLike, data: bytes) -> str:
    """Write ``data`` to ``destination`` atomically; return the path."""
    with atomic_file(destination) as handle:
        handle.write(data)
    return str(destination)


def write_text_atomic(destination: str | os.PathLike, text: str) -> str:
    """Write UTF-8 ``text`` to ``destination`` atomically; return the path."""
    return write_bytes_atomic(destination, text.encode("utf-8"))
