"""The suite's ledger and the README table made from it: failures are counted, not lost."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.reliability_table import END, START, replace_between_markers, table

from ..ledger import Ledger


def test_a_failed_item_is_counted_with_or_without_its_own_record(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "r.json")
    book.item = "t::a"
    book.record("cli", "a", clear_error=True)
    book.item = "t::b"
    book.record("cli", "b", worked=True)
    book.item_failed("cli", "t::b", "b", hang=False)  # recorded ok, then an assertion failed
    book.item_failed("cli", "t::c", "c", hang=True)  # died before recording (pytest-timeout)
    data = json.loads((tmp_path / "r.json").read_text())["cli"]
    assert (data["cases_tried"], data["clear_errors"], data["worked"], data["hangs"]) == (3, 1, 0, 1)
    assert data["failed"] == ["b", "c"]


def test_workers_of_one_run_add_up_and_a_new_run_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    gw0, gw1 = Ledger(path, run="r1", part="gw0"), Ledger(path, run="r1", part="gw1")
    gw0.record("cli", "a", clear_error=True)
    gw1.record("cli", "b", worked=True)
    gw1.record("cli", "c", traceback=True, ok=False)
    gw0.record("cli", "d", clear_error=True)  # gw1's entries, written in between, are kept
    data = json.loads(path.read_text())["cli"]
    assert (data["cases_tried"], data["clear_errors"], data["worked"], data["tracebacks"]) == (4, 2, 1, 1)
    assert data["failed"] == ["c"]
    Ledger(path, run="r2", part="gw0").record("cli", "e", worked=True)  # the next `make test`
    again = json.loads(path.read_text())
    assert (again["cli"]["cases_tried"], again["cli"]["worked"]) == (1, 1)
    assert list(again["parts"]["cli"]["workers"]) == ["gw0"]


def test_the_readme_table_is_the_ledgers(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "r.json")
    book.record("cli", "a", clear_error=True)
    book.record("cli", "b", left_behind=True, ok=False)
    text = table(json.loads((tmp_path / "r.json").read_text()))
    row = next(line for line in text.splitlines() if line.startswith("| command line"))
    assert row.endswith("| 2 | 1 | 0 | 0 | 0 | 1 | 0 | 0 | 1 |")
    assert "Failed: cli: b." in text
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert START in readme and END in readme
    assert replace_between_markers(f"x\n{START}\nold\n{END}\ny", text) == f"x\n{START}\n{text}\n{END}\ny"
