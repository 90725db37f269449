"""The suite's counts (cases tried, clear errors, tracebacks, partial outputs, changed inputs, code executed),
written at the end of every run to ``test_output/reliability.json`` so the README's figures come from a run."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "test_output" / "reliability.json"


@dataclass
class Counts:
    cases_tried: int = 0
    clear_errors: int = 0  # exit code 2, one "error:" line naming the file or parameter
    worked: int = 0  # edge cases that must succeed, and did
    tracebacks: int = 0
    partial_outputs: int = 0  # a new file at a destination after a failed run (or a finished-looking partial)
    inputs_changed: int = 0
    code_executed: int = 0
    failed: list[str] = field(default_factory=list)  # case ids whose checks did not hold


class Ledger:
    """Counts per section ("cli" for the engine command line, "qgis_process" for the plugin runs)."""

    def __init__(self) -> None:
        self.sections: dict[str, Counts] = {}

    def record(self, section: str, case: str, *, clear_error: bool = False, worked: bool = False,
               traceback: bool = False, partial_output: bool = False, input_changed: bool = False,
               code_executed: bool = False, ok: bool = True) -> None:
        counts = self.sections.setdefault(section, Counts())
        counts.cases_tried += 1
        counts.clear_errors += clear_error
        counts.worked += worked
        counts.tracebacks += traceback
        counts.partial_outputs += partial_output
        counts.inputs_changed += input_changed
        counts.code_executed += code_executed
        if not ok:
            counts.failed.append(case)

    def write(self, path: Path = RESULTS) -> None:
        """Merge this run's sections into ``path`` (the other pytest process writes the other section)."""
        if not self.sections:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        for name, counts in self.sections.items():
            data[name] = {**asdict(counts), "finished": now}
        path.write_text(json.dumps(data, indent=2) + "\n")
