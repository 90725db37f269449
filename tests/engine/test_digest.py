"""File digests are remembered per process only while the file stays as it was hashed."""

from __future__ import annotations

import hashlib
import os
import time

import engine.io.digest as digest


def _write(path, data: bytes, age: float) -> None:
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))


def test_a_settled_file_is_remembered_and_a_changed_one_hashed_again(tmp_path):
    path = tmp_path / "m.dsmodel"
    _write(path, b"a" * 1000, age=3600)
    assert digest.file_sha256(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    assert any(key[-1] == str(path) for key in digest._known)
    _write(path, b"b" * 1000, age=1800)  # same size, new content and time
    assert digest.file_sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()


def test_a_file_written_just_now_is_not_remembered(tmp_path):
    path = tmp_path / "fresh.onnx"
    path.write_bytes(b"c" * 10)
    assert digest.file_sha256(path) == hashlib.sha256(b"c" * 10).hexdigest()
    assert not any(key[-1] == str(path) for key in digest._known)  # a change within a timestamp tick is not missed
