"""Content digests of files (SHA-256): what a bulk run's completion markers and the ONNX export cache record to
know a bundle or an exported model again."""

from __future__ import annotations

import hashlib
import os

READ_CHUNK = 8 * 2**20


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(READ_CHUNK):
            digest.update(block)
    return digest.hexdigest()
