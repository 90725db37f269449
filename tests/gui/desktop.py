"""Running a scripted QGIS desktop session under Xvfb for the GUI tests, and collecting what it recorded.

The session script (``qgis --code SCRIPT``) reads its settings from the JSON file named by
``DUALSTREAM_GUI_CONFIG`` and writes ``report.json`` and its screenshots into the settings' ``out`` folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: What must not reach the desktop: its own display choice, another profile, the venv's packages.
LEAKS = ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "DUALSTREAM_SITE_PACKAGES", "PYTHONPATH")


def xvfb_qgis() -> list[str]:
    """The command that starts the QGIS desktop on a virtual screen (the test fails when either is missing)."""
    missing = [name for name in ("xvfb-run", "qgis") if shutil.which(name) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make install` (it installs qgis and xvfb)")
    # xvfb-run -a takes the first free display from -n on: two pytest-xdist workers starting at once could both
    # pick the same one, so each worker starts its search at its own number
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = 99 + 10 * (int(worker) if worker.isdigit() else 0)
    return ["xvfb-run", "-a", "-n", str(first), "-s", "-screen 0 1280x1024x24", "qgis"]


def run_session(script: Path, root: Path, config: dict, timeout: int,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """QGIS with the profiles in ``root`` running ``script``, ``config`` written to ``root/config.json`` for it;
    ``env``: more variables for QGIS."""
    path = root / "config.json"
    path.write_text(json.dumps(config))
    environment = dict(os.environ, DUALSTREAM_GUI_CONFIG=str(path), **(env or {}))
    environment["DUALSTREAM_GUI_TOOLS"] = str(Path(__file__).parent)  # session_tools, for the script
    for leak in LEAKS:
        environment.pop(leak, None)
    command = [*xvfb_qgis(), "--profiles-path", str(root), "--nologo", "--noversioncheck", "--code", str(script)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment, cwd=root)


def session_report(out: Path, empty: dict) -> dict:
    """The ``report.json`` the session left in ``out`` (``empty`` when it left none); its screenshots are copied
    to ``$DUALSTREAM_GUI_SCREENS`` when that is set, and the folder is printed for a failing test's log."""
    report_file = out / "report.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else empty
    screens = os.environ.get("DUALSTREAM_GUI_SCREENS")
    if screens:
        Path(screens).mkdir(parents=True, exist_ok=True)
        for png in out.glob("*.png"):
            shutil.copy(png, Path(screens) / png.name)
    print(f"GUI session folder: {out}", file=sys.stderr)
    return report


def finished_session(script: Path, root: Path, config: dict, timeout: int,
                     env: dict[str, str] | None = None) -> dict:
    """:func:`run_session` with its output in ``root/session``, and the report it left; the test fails, saying the
    step it stopped at and QGIS's output, unless the session finished with no exception in a Qt slot."""
    out = root / "session"
    done = run_session(script, root, dict(config, out=str(out)), timeout=timeout, env=env)
    report = session_report(out, {"steps": []})
    assert not report.get("slot_errors"), report["slot_errors"]  # an exception in an event handler
    assert report.get("finished"), (f"the session stopped at {report['steps'][-1:]}: {report.get('error')}\n"
                                    f"QGIS exit code {done.returncode}\n{(done.stdout + done.stderr)[-3000:]}")
    return report
