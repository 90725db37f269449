"""Drives the *Label with Segment Anything* map tool in the real QGIS desktop (``qgis --code THIS``).

Started by ``tests/gui/test_label_tool.py`` under Xvfb with a raster and a tiny Segment Anything model saved in a
folder. A click and a drag go through the canvas's own mouse handling (QTest on its viewport, the tool's event
methods for the drag, whose moves QTest cannot press a button through), the mask is accepted into a scratch layer
and undone. It records facts in ``report.json`` and screenshots; the pytest module asserts.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsPointXY, QgsProject, QgsRasterLayer
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QEventLoop, QPoint, Qt, QTimer
from qgis.PyQt.QtTest import QTest

CONFIG = json.loads(Path(os.environ["DUALSTREAM_GUI_CONFIG"]).read_text(encoding="utf-8"))
OUT = Path(CONFIG["out"])
REPORT: dict = {"steps": [], "waits": [], "finished": False}


def _hook(kind, value, tb) -> None:
    """Exceptions in Qt slots (the map tool's events) are recorded: QGIS's own hook shows them in a dialog."""
    import sys
    sys.setrecursionlimit(10000)
    REPORT.setdefault("slot_errors", []).append("".join(traceback.format_exception(kind, value, tb))[-4000:])
    save()


def save() -> None:
    (OUT / "report.json").write_text(json.dumps(REPORT, indent=1, default=str), encoding="utf-8")


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec_()


def settle(panel, limit_s: float = 240.0) -> None:
    """Until the panel's embedding task is done (or the limit passes: the report then says it was still busy)."""
    start = time.monotonic()
    while panel.task is not None and time.monotonic() - start < limit_s:
        wait(100)
    REPORT["waits"].append({"step": REPORT["steps"][-1], "seconds": round(time.monotonic() - start, 1),
                            "busy": panel.task is not None, "status": panel.status.text()})
    save()
    wait(300)


def screen_point(canvas, x: float, y: float) -> QPoint:
    pixel = canvas.getCoordinateTransform().transform(QgsPointXY(x, y))
    return QPoint(round(pixel.x()), round(pixel.y()))


def state(panel) -> dict:
    return {"points": [[p.x(), p.y(), positive] for p, positive in panel.points],
            "box": [panel.box.xMinimum(), panel.box.yMinimum(), panel.box.xMaximum(), panel.box.yMaximum()]
            if panel.box is not None else None,
            "masks": len(panel.masks), "mask_wkt": [g.asWkt(2)[:2000] for g in panel.masks],
            "band_vertices": panel.mask_band.numberOfVertices(), "box_vertices": panel.box_band.numberOfVertices(),
            "status": panel.status.text(),
            "score": panel.score, "embedded": panel.window is not None and panel.window.embedded()}


def main() -> None:
    from qgis.utils import iface, plugins

    REPORT["steps"].append("load")
    save()
    layer = QgsRasterLayer(CONFIG["image"], "scene")
    QgsProject.instance().addMapLayer(layer)
    canvas = iface.mapCanvas()
    canvas.setExtent(layer.extent())
    canvas.refresh()
    wait(1500)
    REPORT["steps"].append('plugin')
    save()
    plugin = plugins["dualstream_qgis"]
    REPORT["toolbar"] = [a.text() for a in plugin.toolbar.actions()]
    REPORT["steps"].append('plugin.label_action.trigger')
    save()
    plugin.toggle_labelling(True)
    panel = plugin.label_panel
    REPORT["steps"].append('panel.raster_box.setLayer')
    save()
    panel.raster_box.setLayer(layer)
    REPORT["steps"].append('panel.model_box.setEditText')
    save()
    panel.model_box.setEditText(CONFIG["model"])
    panel.class_box.setValue(CONFIG["class_value"])
    REPORT["tool_active"] = canvas.mapTool() is panel.tool
    wait(500)
    REPORT["steps"].append('panel.grab')
    save()
    panel.grab().save(str(OUT / "panel.png"))

    REPORT["steps"].append("click")
    save()
    x, y = CONFIG["click"]
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     screen_point(canvas, x, y))
    settle(panel)
    REPORT["click"] = state(panel)
    iface.mainWindow().grab().save(str(OUT / "click.png"))
    save()

    REPORT["steps"].append("negative click")
    nx, ny = CONFIG["negative"]
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                     screen_point(canvas, nx, ny))
    settle(panel)
    REPORT["negative"] = state(panel)
    save()

    REPORT["steps"].append("box")
    panel.clear(new_window=False)
    (x0, y0), (x1, y1) = CONFIG["box"]
    for kind, (bx, by), buttons in ((QEvent.Type.MouseButtonPress, (x0, y0), Qt.MouseButton.LeftButton),
                                    (QEvent.Type.MouseMove, (x1, y1), Qt.MouseButton.LeftButton),
                                    (QEvent.Type.MouseButtonRelease, (x1, y1), Qt.MouseButton.NoButton)):
        event = QgsMapMouseEvent(canvas, kind, screen_point(canvas, bx, by), Qt.MouseButton.LeftButton, buttons,
                                 Qt.KeyboardModifier.NoModifier)
        {QEvent.Type.MouseButtonPress: panel.tool.canvasPressEvent, QEvent.Type.MouseMove: panel.tool.canvasMoveEvent,
         QEvent.Type.MouseButtonRelease: panel.tool.canvasReleaseEvent}[kind](event)
    settle(panel)
    REPORT["box"] = state(panel)
    iface.mainWindow().grab().save(str(OUT / "box.png"))
    save()

    REPORT["steps"].append("accept")
    masks = len(panel.masks)
    panel.accept_button.click()
    target = panel.target_box.currentLayer()
    REPORT["accept"] = {"masks": masks, "layer": target.name() if target else None,
                        "features": target.featureCount() if target else None,
                        "classes": sorted({f["class"] for f in target.getFeatures()}) if target else [],
                        "crs": target.crs().authid() if target else None, "status": panel.status.text()}
    canvas.refresh()
    wait(1500)
    iface.mainWindow().grab().save(str(OUT / "accepted.png"))
    save()

    REPORT["steps"].append("undo")
    panel.undo_button.click()
    REPORT["undo"] = {"features": target.featureCount() if target else None, "status": panel.status.text()}
    REPORT["finished"] = True
    save()
    plugin.unload()  # as QGIS does when the plugin is switched off: nothing of the tool may stay on the canvas


def start() -> None:
    import sys

    sys.excepthook = _hook
    try:
        main()
    except Exception:  # noqa: BLE001 - recorded for the pytest module, which fails with it
        REPORT["error"] = traceback.format_exc()
        save()
    QgsApplication.exit(0)
    os._exit(0)  # QGIS 3.22's own teardown of a project with layers can abort (its style dock): not ours to test


OUT.mkdir(parents=True, exist_ok=True)
QTimer.singleShot(1000, start)
