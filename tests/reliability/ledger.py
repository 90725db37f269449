"""The suite's counts (cases tried, clear errors, tracebacks, inputs changed, files left behind, hangs, code
executed), written to ``test_output/reliability.json`` after every case, so the file holds the outcomes of the
run as it went, failures included (a case whose test failed before it recorded anything is counted as failed,
a pytest timeout as a hang). The README's table is made from that file (scripts/reliability_table.py).

Several processes write it: the two pytest runs of ``make test`` (one section each) and their pytest-xdist
workers (parts of one section). Each keeps its own entries under ``parts`` and a section's counts are those of
every part of the same run, summed; writers take turns under a lock.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "test_output" / "reliability.json"
#: One pytest run (its xdist workers share the id) and this process's part of it.
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid-{os.getpid()}"
PART = os.environ.get("PYTEST_XDIST_WORKER", "main")


@dataclass
class Entry:
    """One checked case (a test item may record several, e.g. the fault sequence)."""

    case: str
    item: str = ""  # the pytest node id that recorded it
    clear_error: bool = False  # exit code 2, one "error:" line naming the file or parameter
    worked: bool = False  # edge cases that must succeed, and did
    traceback: bool = False
    left_behind: bool = False  # a new file at a destination after a failed run (or a finished-looking partial)
    input_changed: bool = False
    hang: bool = False  # the command (or the test) ran past its time limit
    code_executed: bool = False
    ok: bool = True


@dataclass
class Counts:
    cases_tried: int = 0
    clear_errors: int = 0
    worked: int = 0
    tracebacks: int = 0
    inputs_changed: int = 0
    left_behind: int = 0
    hangs: int = 0
    code_executed: int = 0
    failed: list[str] = field(default_factory=list)  # case ids whose checks did not hold


def counts(entries: list[Entry]) -> Counts:
    total = Counts()
    for e in entries:
        total.cases_tried += 1
        total.clear_errors += e.clear_error and e.ok
        total.worked += e.worked and e.ok
        total.tracebacks += e.traceback
        total.inputs_changed += e.input_changed
        total.left_behind += e.left_behind
        total.hangs += e.hang
        total.code_executed += e.code_executed
        if not e.ok:
            total.failed.append(e.case)
    return total


class Ledger:
    """Entries per section ("cli" for the engine command line, "qgis_process" for the plugin runs)."""

    def __init__(self, path: Path = RESULTS, run: str = RUN, part: str = PART) -> None:
        self.path = path
        self.run, self.part = run, part
        self.sections: dict[str, list[Entry]] = {}
        self.item = ""  # the running test's node id (set by the suite's conftest)

    def record(self, section: str, case: str, *, clear_error: bool = False, worked: bool = False,
               traceback: bool = False, left_behind: bool = False, input_changed: bool = False,
               hang: bool = False, code_executed: bool = False, ok: bool = True) -> None:
        self.sections.setdefault(section, []).append(Entry(
            case, self.item, clear_error, worked, traceback, left_behind, input_changed, hang, code_executed, ok))
        self.write()

    def item_failed(self, section: str, item: str, case: str, *, hang: bool) -> None:
        """The test ``item`` failed: its recorded entries are failures; none recorded -> one failed entry."""
        mine = [e for e in self.sections.get(section, []) if e.item == item]
        if not mine:
            self.sections.setdefault(section, []).append(Entry(case, item, hang=hang, ok=False))
        for e in mine:
            e.ok, e.hang = False, e.hang or hang
        self.write()

    def write(self) -> None:
        """Merge this process's entries into the file: its part of each section, and the section's counts over the
        parts of this run (parts an earlier run left are dropped)."""
        if not self.sections:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                data = {}
            now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            parts = data.setdefault("parts", {})
            for name, entries in self.sections.items():
                section = parts.get(name) if (parts.get(name) or {}).get("run") == self.run else None
                section = section or {"run": self.run, "workers": {}}
                section["workers"][self.part] = [asdict(e) for e in entries]
                parts[name] = section
                every = [Entry(**e) for part in section["workers"].values() for e in part]
                data[name] = {**asdict(counts(every)), "updated": now}
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=2) + "\n")
            tmp.replace(self.path)
