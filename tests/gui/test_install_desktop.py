"""*Install dependencies* in the real QGIS desktop under Xvfb: it runs in the background (the main window's event
loop keeps turning while pip downloads), shows the download progress, and its Cancel button stops pip in the
middle of a download. pip is QGIS's own Python's, pointed at a slow package index on 127.0.0.1 (no network).

``tests/gui/install_session.py`` drives QGIS and records; this module asserts. Screenshots stay in the session
folder (``DUALSTREAM_GUI_SCREENS=DIR`` copies them).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.gui.desktop import run_session, session_report
from tests.plugin.pip_index import SlowIndex, make_wheel

pytestmark = [pytest.mark.qgis, pytest.mark.gui]

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def session(tmp_path_factory, deploy_plugin):
    root = tmp_path_factory.mktemp("install-gui")
    make_wheel(root / "index", name="dsbigpkg", payload=3_000_000)
    make_wheel(root / "index", name="dshugepkg", payload=30_000_000)
    deploy_plugin(root)
    out = root / "session"
    with SlowIndex(root / "index", rate=1_000_000) as index:
        done = run_session(HERE / "install_session.py", root,
                           {"out": str(out), "complete": "dsbigpkg==0.1", "cancel": "dshugepkg==0.1"}, timeout=400,
                           env={"DUALSTREAM_PACKAGES_DIR": str(root / "packages"), "PIP_INDEX_URL": index.url,
                                "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"})
        for _ in range(100):  # the index sees the canceled download's connection close
            if index.aborted:
                break
            time.sleep(0.1)
        served, aborted = list(index.served), list(index.aborted)
    report = session_report(out, {})
    output = f"QGIS exit code {done.returncode}\n" + "\n".join((done.stdout + done.stderr).splitlines()[-20:])
    return report, output, served, aborted, root


def test_install_completes_in_the_background_with_progress(session):
    report, output, served, _, root = session
    assert report.get("finished"), f"{report.get('error', '')}\n{output}"
    run = report["runs"]["complete"]
    assert run["finished"].get("ok") is True, run["log"][-1500:]
    assert "Successfully installed dsbigpkg-0.1" in run["log"], run["log"][-1500:]
    assert "dsbigpkg-0.1-py3-none-any.whl: " in run["log"] and " of 3.0 MB (" in run["log"]  # progress in the log
    assert run["event_loop"]["ticks"] >= 20, run["event_loop"]  # the main thread ran all along the download
    assert "dsbigpkg-0.1-py3-none-any.whl" in served
    assert list((root / "packages").rglob("dsbigpkg/data.bin"))
    for key in ("dialog", "main_window", "screen"):
        assert Path(run["during"][key]).is_file()


def test_cancel_stops_pip_in_the_middle_of_the_download(session):
    report, output, served, aborted, root = session
    assert report.get("finished"), f"{report.get('error', '')}\n{output}"
    run = report["runs"]["cancel"]
    assert "canceled_at" in run and run["finished"].get("ok") is False, run
    assert "Canceled: python3" in run["log"] and "was stopped" in run["log"], run["log"][-1500:]
    assert aborted == ["dshugepkg-0.1-py3-none-any.whl"] and "dshugepkg-0.1-py3-none-any.whl" not in served
    assert not list((root / "packages").rglob("dshugepkg"))
    assert run["event_loop"]["ticks"] >= 20, run["event_loop"]
    print(f"\ncomplete run: {report['runs']['complete']['event_loop']}; cancel run: {run['event_loop']}, "
          f"stopped {run.get('stopped_after_cancel_s')} s after Cancel at {run['progress_at_cancel']}")
