"""Content digests of files (SHA-256): what a bulk run's completion markers and the ONNX export cache record to
know a bundle or an exported model again."""

from __future__ import annotations

import hashlib
import os
import time

READ_CHUNK = 8 * 2**20
SETTLED_SECONDS = 2.0  # only files unchanged for this long are remembered (git's "racy" rule)


_known: dict[tuple[int, int, int, int, str], str] = {}  # (device, inode, size, mtime ns, path) -> digest


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes; a file unchanged since this process last hashed it (same inode, size and mtime)
    is not read again: a run checks one bundle of tens of MB several times (its fingerprint, its ONNX export)."""
    stat = os.stat(path)
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, os.fspath(path))
    known = _known.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(READ_CHUNK):
            digest.update(block)
    hexdigest = digest.hexdigest()
    if time.time() - stat.st_mtime > SETTLED_SECONDS:  # a file changed within a timestamp tick could look the same
        _known[key] = hexdigest
    return hexdigest
