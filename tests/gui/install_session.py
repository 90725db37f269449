"""Runs *Install dependencies* from its dialog in the real QGIS desktop (``qgis --code THIS``) and records whether
QGIS stays responsive and Cancel works. Started by ``tests/gui/test_install_desktop.py`` under Xvfb, with pip
pointed at a slow package index on 127.0.0.1 (so a download takes seconds).

Two runs: one that completes (the log shows pip's lines and the download progress), one canceled with the
dialog's Cancel button in the middle of its download. Throughout, a QTimer on the main thread ticks every 50 ms:
its ticks (and the longest gap between two) show the event loop never stopped. Screenshots of the dialog, the
main window and the whole screen are taken during the download. Writes ``report.json`` into the output folder.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

import processing
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QEventLoop, QTimer
from qgis.PyQt.QtWidgets import QApplication, QLabel, QTextEdit
from qgis.utils import iface

CONFIG = json.loads(Path(os.environ["DUALSTREAM_GUI_CONFIG"]).read_text(encoding="utf-8"))
OUT = Path(CONFIG["out"])
REPORT: dict = {"runs": {}, "finished": False}
TICKS: list[float] = []


def save() -> None:
    (OUT / "report.json").write_text(json.dumps(REPORT, indent=1, default=str), encoding="utf-8")


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec_()


def shot(widget, name: str) -> str:
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    return str(path)


def screen(name: str) -> str:
    path = OUT / f"{name}.png"
    QApplication.primaryScreen().grabWindow(0).save(str(path))
    return str(path)


def texts(dialog) -> tuple[str, str]:
    """(the dialog's log, its progress label)."""
    log = dialog.findChild(QTextEdit, "txtLog")
    label = dialog.findChild(QLabel, "lblProgress")
    return (log.toPlainText() if log else ""), (label.text() if label else "")


def gaps(start: float, end: float) -> dict:
    """Ticks of the main thread's timer between ``start`` and ``end``, and the longest gap between two."""
    inside = [t for t in TICKS if start <= t <= end]
    longest = max((b - a for a, b in zip(inside, inside[1:])), default=None)
    return {"ticks": len(inside), "seconds": round(end - start, 2), "longest_gap_s": longest and round(longest, 3)}


def run(package: str, name: str, cancel_after_s: float | None) -> dict:
    dialog = processing.createAlgorithmDialog("dualstream:installdeps", {"PACKAGES": package, "BUILD": 2,
                                                                         "INDEX_URL": ""})
    dialog.resize(900, 700)
    dialog.show()
    finished: dict = {}
    dialog.algorithmFinished.connect(lambda ok, results: finished.update(ok=bool(ok), at=time.monotonic()))
    record: dict = {"started": time.monotonic()}
    dialog.runButton().click()  # as the user does
    record["run_returned_after_s"] = round(time.monotonic() - record["started"], 3)
    download_started = None
    while not finished and time.monotonic() - record["started"] < 120:
        wait(100)
        log, label = texts(dialog)
        if download_started is None and " MB (" in label and " MB (0 %)" not in label:
            download_started = time.monotonic()
            record["first_progress"] = label
        if download_started and "during" not in record and time.monotonic() - download_started > 1.5:
            record["during"] = {"progress": label, "dialog": shot(dialog, f"{name}_dialog_during"),
                                "main_window": shot(iface.mainWindow(), f"{name}_main_window_during"),
                                "screen": screen(f"{name}_screen_during")}
            save()
        if (cancel_after_s is not None and download_started and "canceled_at" not in record
                and time.monotonic() - download_started > cancel_after_s):
            record["canceled_at"] = time.monotonic()
            record["progress_at_cancel"] = label
            dialog.cancelButton().click()
        if cancel_after_s is not None and "canceled_at" in record and "Canceled:" in log and not finished:
            finished.update(ok=False, at=time.monotonic(), by="log")
    wait(300)
    log, label = texts(dialog)
    record.update(finished=finished, log=log, progress_label=label, dialog_after=shot(dialog, f"{name}_dialog_after"))
    record["event_loop"] = gaps(download_started or record["started"], finished.get("at", time.monotonic()))
    if "canceled_at" in record and finished:
        record["stopped_after_cancel_s"] = round(finished["at"] - record["canceled_at"], 2)
    dialog.close()
    return record


def main() -> None:
    timer = QTimer()
    timer.timeout.connect(lambda: TICKS.append(time.monotonic()))
    timer.start(50)
    iface.mainWindow().resize(1200, 800)
    wait(500)
    REPORT["runs"]["complete"] = run(CONFIG["complete"], "complete", None)
    save()
    REPORT["runs"]["cancel"] = run(CONFIG["cancel"], "cancel", 3.0)
    REPORT["finished"] = True
    save()


def start() -> None:
    try:
        main()
    except Exception:  # noqa: BLE001 - recorded for the test, which fails on it
        REPORT["error"] = traceback.format_exc()
        save()
    QgsApplication.exit(0)
    os._exit(0)


OUT.mkdir(parents=True, exist_ok=True)
QTimer.singleShot(1000, start)
