"""Drives the *Label with Segment Anything* map tool in the real QGIS desktop (``qgis --code THIS``).

Started by ``tests/gui/test_label_tool.py`` under Xvfb with a raster and a tiny Segment Anything model saved in a
folder. A click and a drag go through the canvas's own mouse handling (QTest on its viewport, the tool's event
methods for the drag, whose moves QTest cannot press a button through), the mask is accepted into a scratch layer
and undone. It records facts in ``report.json`` and screenshots; the pytest module asserts.
"""

from __future__ import annotations

import os
import sys

from qgis.core import NULL, QgsPointXY, QgsProject
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest
from qgis.PyQt.QtWidgets import QPushButton

sys.path.insert(0, os.environ["DUALSTREAM_GUI_TOOLS"])  # no __file__ here: run_session names the folder
from session_tools import CONFIG, OUT, REPORT, drag, save, screen_point, settle, show_raster, start_later, step, wait  # noqa: E402


def settle_panel(panel) -> None:
    """Until the panel's embedding task is done, its status recorded."""
    settle(lambda: panel.task is not None, lambda: panel.status.text())


def state(panel) -> dict:
    return {"points": [[p.x(), p.y(), positive] for p, positive in panel.points],
            "box": [panel.box.xMinimum(), panel.box.yMinimum(), panel.box.xMaximum(), panel.box.yMaximum()]
            if panel.box is not None else None,
            "masks": len(panel.masks), "mask_wkt": [g.asWkt(2)[:2000] for g in panel.masks],
            "band_vertices": panel.mask_band.numberOfVertices(), "box_vertices": panel.box_band.numberOfVertices(),
            "mask_vertices": sum(g.constGet().nCoordinates() for g in panel.masks),
            "markers": len(panel.marks.markers),
            "status": panel.status.text(),
            "score": panel.score, "embedded": panel.window is not None and panel.window.embedded()}


def text_class_field(canvas, panel) -> None:
    """A click's mask accepted into GeoPackage layers of the user's: one whose text field 'class' holds class
    names (refused, saying why), one with an integer 'class_id' beside it (taken)."""
    from qgis.core import QgsVectorLayer
    from qgis.utils import iface

    step("text class field")
    x, y = CONFIG["click"]
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     screen_point(canvas, QgsPointXY(x, y)))
    settle_panel(panel)
    masks = len(panel.masks)
    for name in ("names", "both"):
        layer = QgsVectorLayer(CONFIG["gpkg"][name], f"labels ({name})", "ogr")
        QgsProject.instance().addMapLayer(layer)
        panel.target_box.setLayer(layer)
        hint = panel.field_label.text()
        panel.accept_button.click()
        layer.reload()
        REPORT[f"gpkg_{name}"] = {"masks": masks, "hint": hint, "status": panel.status.text(),
                                  "rows": [[None if v == NULL else v for v in f.attributes()[1:]]
                                           for f in layer.getFeatures()]}
        wait(300)  # the wrapped labels laid out again
        panel.grab().save(str(OUT / f"panel-gpkg-{name}.png"))
        save()
    iface.mainWindow().grab().save(str(OUT / "gpkg-accepted.png"))


def tools_given_back(canvas, plugin, before) -> None:
    """The label button unchecked (or the panel closed): the tool current before it is current again, QGIS's Pan
    where there was none."""
    from qgis.utils import iface

    def now() -> dict:
        tool = canvas.mapTool()
        return {"tool": type(tool).__name__ if tool is not None else None,
                "action": tool.action().objectName() if tool is not None and tool.action() is not None else None,
                "label_checked": plugin.label_action.isChecked(), "panel_visible": plugin.label_panel.isVisible()}

    step("label button unchecked")
    panel = plugin.label_panel
    x, y = CONFIG["click"]
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     screen_point(canvas, QgsPointXY(x, y)))
    settle_panel(panel)
    drawn = state(panel)
    plugin.label_action.trigger()
    wait(300)  # an answer still on its way must not draw on a panel put away
    REPORT["unchecked"] = dict(now(), same=canvas.mapTool() is before)
    REPORT["unchecked_drawn"] = {"before": drawn, "after": state(panel)}
    step("no tool before the button")
    canvas.unsetMapTool(canvas.mapTool())
    plugin.label_action.trigger()
    plugin.label_action.trigger()
    REPORT["none_before"] = now()
    step("panel closed")
    iface.actionIdentify().trigger()
    plugin.label_action.trigger()
    plugin.label_panel.close()
    REPORT["closed"] = now()
    save()


def main() -> None:
    from qgis.utils import iface, plugins

    layer, canvas = show_raster(CONFIG["image"], "scene")
    step('plugin')
    plugin = plugins["dualstream_qgis"]
    REPORT["toolbar"] = [a.text() for a in plugin.toolbar.actions()]
    iface.actionZoomIn().trigger()  # the tool the label button takes over, given back when it is unchecked
    before = canvas.mapTool()
    step('plugin.label_action.trigger')
    plugin.label_action.trigger()  # a click on the toolbar button
    panel = plugin.label_panel
    step('panel.raster_box.setLayer')
    panel.raster_box.setLayer(layer)
    step('panel.model_box.setEditText')
    panel.model_box.setEditText(CONFIG["model"])
    panel.class_box.setValue(CONFIG["class_value"])
    REPORT["tool_active"] = canvas.mapTool() is panel.tool
    wait(500)
    step('panel.grab')
    panel.grab().save(str(OUT / "panel.png"))

    step("click")
    x, y = CONFIG["click"]
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     screen_point(canvas, QgsPointXY(x, y)))
    settle_panel(panel)
    REPORT["click"] = state(panel)
    iface.mainWindow().grab().save(str(OUT / "click.png"))
    save()

    step("negative click")
    nx, ny = CONFIG["negative"]
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                     screen_point(canvas, QgsPointXY(nx, ny)))
    asked_in_task = panel.task is not None  # the GUI thread is back before the answer: it waits in a task
    settle_panel(panel)
    REPORT["negative"] = dict(state(panel), asked_in_task=asked_in_task)
    save()

    step("clear prompts")
    clear = next(b for b in panel.findChildren(QPushButton) if b.text() == "Clear prompts")
    clear.click()
    REPORT["cleared"] = state(panel)
    save()

    step("box")
    (x0, y0), (x1, y1) = CONFIG["box"]
    drag(canvas, panel.tool, QgsPointXY(x0, y0), QgsPointXY(x1, y1))
    settle_panel(panel)
    REPORT["box"] = state(panel)
    iface.mainWindow().grab().save(str(OUT / "box.png"))
    save()

    step("accept")
    masks = len(panel.masks)
    panel.accept_button.click()
    target = panel.target_box.currentLayer()
    REPORT["accept"] = {"masks": masks, "layer": target.name() if target else None,
                        "features": target.featureCount() if target else None,
                        "classes": sorted({f["class"] for f in target.getFeatures()}) if target else [],
                        "crs": target.crs().authid() if target else None, "status": panel.status.text(),
                        "shown": panel.target_box.currentText(), "box_px": panel.target_box.width(),
                        "name_px": panel.target_box.fontMetrics().horizontalAdvance(panel.target_box.currentText())}
    canvas.refresh()
    wait(1500)
    iface.mainWindow().grab().save(str(OUT / "accepted.png"))
    save()

    step("undo")
    panel.undo_button.click()
    REPORT["undo"] = {"features": target.featureCount() if target else None, "status": panel.status.text()}
    save()
    text_class_field(canvas, panel)
    tools_given_back(canvas, plugin, before)
    REPORT["finished"] = True
    save()
    plugin.unload()  # as QGIS does when the plugin is switched off: nothing of the tool may stay on the canvas


start_later(main)
