"""Fixtures of the reliability suite: the workspace of inputs (built once) and the ledger of counts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from .ledger import Ledger


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Good scene, bad inputs and the suite's trained tiny bundle (see workspace.py)."""
    from .workspace import build

    return build(tmp_path_factory.mktemp("reliability"))


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    """Counts of every case; written to test_output/reliability.json when the session ends."""
    book = Ledger()
    yield book
    book.write()


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(paths: list[str | Path]) -> dict[str, str]:
    """sha256 of every existing file among ``paths`` (folders: their files)."""
    out: dict[str, str] = {}
    for path in map(Path, paths):
        if path.is_file():
            out[str(path)] = digest(path)
        elif path.is_dir():
            out.update({str(p): digest(p) for p in sorted(path.rglob("*")) if p.is_file()})
    return out
