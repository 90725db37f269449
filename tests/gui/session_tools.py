"""What the scripted map-tool sessions (``qgis --code SCRIPT``) share: their settings and report, waiting on the
event loop, exceptions in Qt slots recorded, mouse events on the canvas, and the start and end of the session.

QGIS runs a session script's text without a ``__file__``, so a script finds this module through
``DUALSTREAM_GUI_TOOLS`` (set by :func:`tests.gui.desktop.run_session`).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from qgis.core import QgsApplication, QgsPointXY
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QEventLoop, QPoint, Qt, QTimer

CONFIG = json.loads(Path(os.environ["DUALSTREAM_GUI_CONFIG"]).read_text(encoding="utf-8"))
OUT = Path(CONFIG["out"])
REPORT: dict = {"steps": [], "waits": [], "finished": False}


def save() -> None:
    (OUT / "report.json").write_text(json.dumps(REPORT, indent=1, default=str), encoding="utf-8")


def step(name: str) -> None:
    REPORT["steps"].append(name)
    save()


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec_()


def settle(busy: Callable[[], bool], status: Callable[[], str] | None = None, limit_s: float = 240.0) -> None:
    """Until ``busy()`` is false (a task of the panel's), or the limit passes: the report then says it was busy."""
    start = time.monotonic()
    while busy() and time.monotonic() - start < limit_s:
        wait(100)
    waited = {"step": REPORT["steps"][-1], "seconds": round(time.monotonic() - start, 1), "busy": bool(busy())}
    if status is not None:
        waited["status"] = status()
    REPORT["waits"].append(waited)
    save()
    wait(300)


def show_raster(path: str, name: str):
    """The raster at ``path`` added to the project and filling the map canvas, drawn: (the layer, the canvas)."""
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.utils import iface

    step("load")
    layer = QgsRasterLayer(path, name)
    QgsProject.instance().addMapLayer(layer)
    canvas = iface.mapCanvas()
    canvas.setExtent(layer.extent())
    canvas.refresh()
    wait(1500)
    return layer, canvas


def screen_point(canvas, point: QgsPointXY) -> QPoint:
    pixel = canvas.getCoordinateTransform().transform(point)
    return QPoint(round(pixel.x()), round(pixel.y()))


def drag(canvas, tool, start: QgsPointXY, end: QgsPointXY) -> None:
    """A left drag through the tool's event methods (QTest cannot hold a button through a move)."""
    for kind, point, buttons in ((QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton),
                                 (QEvent.Type.MouseMove, end, Qt.MouseButton.LeftButton),
                                 (QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)):
        event = QgsMapMouseEvent(canvas, kind, screen_point(canvas, point), Qt.MouseButton.LeftButton, buttons,
                                 Qt.KeyboardModifier.NoModifier)
        {QEvent.Type.MouseButtonPress: tool.canvasPressEvent, QEvent.Type.MouseMove: tool.canvasMoveEvent,
         QEvent.Type.MouseButtonRelease: tool.canvasReleaseEvent}[kind](event)


def _slot_error(kind, value, tb) -> None:
    """Exceptions in Qt slots (the map tool's events) are recorded: QGIS's own hook shows them in a dialog."""
    import sys

    sys.setrecursionlimit(10000)
    REPORT.setdefault("slot_errors", []).append("".join(traceback.format_exception(kind, value, tb))[-4000:])
    save()


def start_later(main: Callable[[], None]) -> None:
    """Run ``main`` once QGIS is up, record what it raised, and end QGIS."""
    def start() -> None:
        import sys

        sys.excepthook = _slot_error
        try:
            main()
        except Exception:  # noqa: BLE001 - recorded for the pytest module, which fails with it
            REPORT["error"] = traceback.format_exc()
            save()
        QgsApplication.exit(0)
        os._exit(0)  # QGIS 3.22's own teardown of a project with layers can abort (its style dock): not ours to test

    OUT.mkdir(parents=True, exist_ok=True)
    QTimer.singleShot(1000, start)
