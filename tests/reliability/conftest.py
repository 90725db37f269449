"""Fixtures of the reliability suite: the workspace of inputs (built once) and the ledger of counts.

The ledger is kept by the hooks below, not by the tests alone: every failed test item of the suite is counted
as a failed case (a pytest timeout as a hang), so ``test_output/reliability.json`` tells the run's outcome even
when a test died before it could record anything.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from .ledger import Ledger

HERE = Path(__file__).resolve().parent
LEDGER = Ledger()


def _section(item: pytest.Item) -> str:
    return "cli" if (HERE / "cli") in Path(item.path).resolve().parents else "qgis_process"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if HERE not in Path(item.path).resolve().parents:
        return
    if report.when == "setup":
        LEDGER.item = item.nodeid
    if report.failed:
        hang = "Timeout" in str(report.longrepr)  # pytest-timeout's "Failed: Timeout >N s"
        case = getattr(item, "callspec", None)
        name = case.id if case is not None else item.name
        LEDGER.item_failed(_section(item), item.nodeid, name, hang=hang)


#: A folder ``make test`` names for both of its pytest processes: the first to need the workspace builds it there,
#: the second reuses it while every input is byte for byte as built (its trainings then run once per `make test`).
SHARED_WORKSPACE = "DUALSTREAM_TEST_WORKSPACE"


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Good scene, bad inputs and the suite's trained tiny bundle (see workspace.py)."""
    from .workspace import build, build_or_reuse

    shared = os.environ.get(SHARED_WORKSPACE)
    if shared:
        return build_or_reuse(Path(shared))
    return build(tmp_path_factory.mktemp("reliability"))


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    """Counts of every case; test_output/reliability.json is rewritten after each."""
    return LEDGER


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
