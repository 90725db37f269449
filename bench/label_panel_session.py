"""The QGIS desktop session of section "label_panel" (``qgis --code THIS``, started by bench/sections/label_panel.py):
clicks on a large raster through the *Label with Segment Anything* panel, the GUI thread watched by a 10 ms timer.

For each click it records the longest gap between two ticks of the timer (how long the GUI thread could not
answer: the freeze a user feels), the wait until the mask is drawn, the status's own figures, and the vertices of
the mask as traced and as drawn. The settings come from the JSON file ``DUALSTREAM_GUI_CONFIG`` names; the report
goes to ``report.json`` in its ``out`` folder (tests/gui/session_tools.py, found through ``DUALSTREAM_GUI_TOOLS``).
"""

from __future__ import annotations

import os
import re
import sys
import time

from qgis.core import QgsPointXY
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtTest import QTest

sys.path.insert(0, os.environ["DUALSTREAM_GUI_TOOLS"])  # no __file__ here: the section names the folder
from session_tools import CONFIG, OUT, REPORT, save, screen_point, settle, show_raster, start_later, step  # noqa: E402


class Heartbeat:
    """The longest gap between the ticks of a 10 ms timer of the GUI thread since :meth:`reset`."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self.tick)
        self.last, self.longest = time.monotonic(), 0.0

    def tick(self) -> None:
        now = time.monotonic()
        self.longest, self.last = max(self.longest, now - self.last), now

    def reset(self) -> None:
        self.last, self.longest = time.monotonic(), 0.0
        self.timer.start()


def click(canvas, panel, beat: Heartbeat, fraction: tuple[float, float]) -> dict:
    extent = panel.raster_box.currentLayer().extent()
    point = QgsPointXY(extent.xMinimum() + fraction[0] * extent.width(),
                       extent.yMinimum() + fraction[1] * extent.height())
    beat.reset()
    start = time.monotonic()
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     screen_point(canvas, point))
    settle(lambda: panel.task is not None, lambda: panel.status.text())  # then 0.3 s more, repaints included
    said = re.search(r"answered in ([0-9.]+) s \(the model ([0-9.]+) s", panel.status.text())
    return {"longest_stall_s": round(beat.longest, 3), "wait_s": round(time.monotonic() - start - 0.3, 2),
            "said_s": float(said[1]) if said else None, "model_s": float(said[2]) if said else None,
            "traced_vertices": sum(g.constGet().nCoordinates() for g in panel.masks),
            "drawn_vertices": panel.mask_band.numberOfVertices()}


def main() -> None:
    from qgis.utils import iface, plugins

    layer, canvas = show_raster(CONFIG["image"], "scene")
    plugin = plugins["dualstream_qgis"]
    plugin.label_action.trigger()
    panel = plugin.label_panel
    panel.raster_box.setLayer(layer)
    panel.model_box.setEditText(CONFIG["model"])
    beat = Heartbeat()
    REPORT["clicks"] = []
    for index, fraction in enumerate(CONFIG["clicks"]):
        step(f"click {index + 1}")
        if index and index % 2 == 0:
            panel.clear(new_window=False)  # a new object: its own prompts
        REPORT["clicks"].append(click(canvas, panel, beat, tuple(fraction)))
        save()
    iface.mainWindow().grab().save(str(OUT / "label-panel-bench.png"))
    REPORT["finished"] = True
    save()


start_later(main)
