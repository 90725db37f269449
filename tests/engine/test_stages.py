"""Progress stage names: every report of the engine names one of ``engine.callbacks.Stage``'s constants, which the
front ends key on (the plugin's progress bar shares, the CLI's bars), so a renamed stage cannot drift apart."""

from __future__ import annotations

import ast
from pathlib import Path

from engine.callbacks import Stage

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _stage_arguments() -> list[tuple[str, ast.expr]]:
    """(where, stage argument) of every ``X.progress(done, total, stage)`` call in the engine."""
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "progress":
                stage = node.args[2] if len(node.args) > 2 else next(
                    (k.value for k in node.keywords if k.arg == "stage"), None)
                if stage is not None:
                    found.append((f"{path.relative_to(ENGINE.parent)}:{node.lineno}", stage))
    return found


def test_every_progress_report_names_a_stage_constant():
    names = {k for k in vars(Stage) if k.isupper()}
    calls = _stage_arguments()
    assert len(calls) >= 15  # the walk found the engine's reports
    forwarded = {"stage"}  # a callback that passes its caller's stage on
    bad = [where for where, arg in calls
           if not (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "Stage"
                   and arg.attr in names) and not (isinstance(arg, ast.Name) and arg.id in forwarded)]
    assert bad == [], "progress stages given as text; use engine.callbacks.Stage"
    used = {arg.attr for _, arg in calls if isinstance(arg, ast.Attribute)}
    assert used == names, f"stages never reported: {sorted(names - used)}"
