"""Every case of cases.py through ``python -m engine`` in a subprocess, each its own test item.

For each case: the exit code; for errors one ``error:`` line naming the file or parameter, no traceback, no
new file in the case's folder (nor at any destination outside it), and every input byte-identical afterwards;
for the edge cases that must work, the files they produce. A bundle that unpickles would leave a marker file.
A command that runs past its case's time limit is killed and counted as a hang; no case waits on another, so a
busy machine makes the suite slower, not red.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..cases import CASES, RO, Case
from ..conftest import snapshot
from ..workspace import run_cli

# one command's limit (a bad input fails in seconds; training cases take ~10 s on an idle 2-core machine); the
# test item's own limit leaves room for the case's setup and checks
COMMAND_SECONDS = 240


@dataclass
class Outcome:
    argv: list[str]
    code: int | None  # None: killed after COMMAND_SECONDS (a hang)
    stdout: str
    stderr: str
    before: list[str]  # the case folder's files after setup, before the run
    after: list[str]
    inputs_before: dict[str, str]
    inputs_after: dict[str, str]


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _text(value: str | bytes | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value or ""


def _run(case: Case, w: dict[str, Any], d: Path) -> Outcome:
    if case.setup is not None:
        case.setup(w, d)
    argv = case.argv(w, d)
    # inputs: every existing path on the command line and every file placed in the folder beforehand
    watched = [a for a in argv if os.path.exists(a) and not os.path.isdir(a)] + [str(p) for p in d.iterdir()]
    watched = [p for p in watched if os.path.basename(p) not in case.replaced]
    before, inputs_before = _listing(d), snapshot(watched)
    try:
        done = run_cli(*argv, timeout=COMMAND_SECONDS)
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, stdout, stderr = None, _text(exc.stdout), _text(exc.stderr)
    return Outcome(argv, code, stdout, stderr, before, _listing(d), inputs_before, snapshot(watched))


@pytest.mark.timeout(COMMAND_SECONDS + 60, func_only=True)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, workspace: dict, tmp_path: Path, ledger: Any) -> None:
    o = _run(case, workspace, tmp_path)
    text = o.stdout + o.stderr
    if o.code is None:
        ledger.record("cli", case.id, hang=True, ok=False)
        pytest.fail(f"{case.id}: no exit after {COMMAND_SECONDS} s (a hang)\n{text}")
    traceback = "Traceback (most recent call last)" in text
    changed = o.inputs_before != o.inputs_after
    code_ran = os.path.exists(workspace["code_marker"])
    new_files = sorted(set(o.after) - set(o.before))
    error_lines = [line for line in o.stderr.splitlines() if line.startswith("error:")]
    message = error_lines[-1].lower() if error_lines else ""
    named = all(word.lower() in message for word in case.expect)
    said = [word for word in case.absent if word.lower() in text.lower()]  # words that must not appear
    if case.code == 0:
        missing = [f for f in case.produces if f not in o.after]
        warned = all(word.lower() in text.lower() for word in case.warns)
        ok = o.code == 0 and not missing and warned and not said and not traceback and not changed and not code_ran
        partial = any(".tmp-" in f or f.endswith(".lock") for f in o.after)
        ledger.record("cli", case.id, worked=ok, traceback=traceback, left_behind=partial,
                      input_changed=changed, code_executed=code_ran, ok=ok and not partial)
        assert o.code == 0, f"{case.id}: exit {o.code}\n{text}"
        assert not missing, f"{case.id}: {missing} not written; folder has {o.after}\n{text}"
        assert warned, f"{case.id}: expected a warning with {case.warns}\n{text}"
        assert not said, f"{case.id}: the output should not say {said}\n{text}"
        assert not partial, f"{case.id}: temp or lock files left: {o.after}"
    else:
        partial = bool(new_files) or os.path.exists(RO)
        ok = o.code == case.code and len(error_lines) == 1 and named and not said and not traceback \
            and not partial and not changed and not code_ran
        ledger.record("cli", case.id, clear_error=ok, traceback=traceback, left_behind=partial,
                      input_changed=changed, code_executed=code_ran, ok=ok)
        assert o.code == case.code, f"{case.id}: exit {o.code}, expected {case.code}\n{text}"
        assert len(error_lines) == 1, f"{case.id}: expected one error line\n{text}"
        assert named, f"{case.id}: the error should name {case.expect}: {error_lines[-1]}"
        assert not new_files, f"{case.id}: new files after a failed run: {new_files}"
        assert not said, f"{case.id}: the output should not say {said}\n{text}"
    assert not traceback, f"{case.id}: traceback\n{text}"
    assert not changed, f"{case.id}: an input changed: " + ", ".join(
        k for k in o.inputs_before if o.inputs_before[k] != o.inputs_after.get(k))
    assert not code_ran, f"{case.id}: the pickle's code ran"


def test_no_case_changed_any_shared_input(workspace: dict) -> None:
    """Runs after the cases (file order): the workspace's inputs and bundle as they were built."""
    before = workspace["digests"]
    after = snapshot([Path(workspace["root"]) / "inputs", Path(workspace["root"]) / "model"])
    changed = [k for k in before if before[k] != after.get(k)]
    assert not changed and len(before) > 20, changed


def test_table_has_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60

