"""Drives the labelling tools over a web layer in the real QGIS desktop (``qgis --code THIS``).

Started by ``tests/gui/test_label_web.py`` under Xvfb with an XYZ layer served from 127.0.0.1, in a project whose
CRS (EPSG:4326) is neither the tiles' (EPSG:3857) nor the scene's they were cut from. The map tool is made current
by the toolbar button; a click, a Ctrl+click and a drag go through the canvas, the masks are accepted into a scratch
layer and a GeoPackage layer (a third CRS) and undone. Then *Suggest where to label* runs from its dialog over the
web layer with a scratch layer as the labelled area, and *Propose labels with Segment Anything* from its dialog over
the windows. It records facts in ``report.json`` and screenshots; the pytest module asserts.
"""

from __future__ import annotations

import math
import os
import sys

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QEventLoop, Qt, QTimer
from qgis.PyQt.QtTest import QTest

sys.path.insert(0, os.environ["DUALSTREAM_GUI_TOOLS"])  # no __file__ here: run_session names the folder
from session_tools import CONFIG, OUT, REPORT, drag, save, screen_point, settle, start_later, step, wait  # noqa: E402

SCENE_CRS = QgsCoordinateReferenceSystem(CONFIG["scene_crs"])


def transform(source, target) -> QgsCoordinateTransform:
    return QgsCoordinateTransform(source, target, QgsProject.instance())


def on_canvas(canvas, xy: list[float]) -> QgsPointXY:
    """A point of the scene's CRS in the canvas CRS."""
    return transform(SCENE_CRS, canvas.mapSettings().destinationCrs()).transform(QgsPointXY(*xy))


def in_scene_crs(geometry: QgsGeometry, crs) -> list[float]:
    """The bounding box of ``geometry`` (in ``crs``) in the scene's CRS."""
    moved = QgsGeometry(geometry)
    moved.transform(transform(crs, SCENE_CRS))
    box = moved.boundingBox()
    return [box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum()]


def canvas_pixel_metres(canvas) -> float:
    """The canvas's pixel across, in metres on the ground at its centre (worked out here, not by the panel)."""
    centre = canvas.extent().center()
    lon_lat = transform(canvas.mapSettings().destinationCrs(), QgsCoordinateReferenceSystem("EPSG:4326"))
    a = lon_lat.transform(centre)
    b = lon_lat.transform(QgsPointXY(centre.x() + canvas.mapUnitsPerPixel(), centre.y()))
    return abs(b.x() - a.x()) * 111_319.49 * math.cos(math.radians(a.y()))


def show(canvas, view: list[float]) -> None:
    """The canvas on ``view`` (xmin, ymin, xmax, ymax in the scene's CRS)."""
    geometry = QgsGeometry.fromRect(QgsRectangle(*view))
    geometry.transform(transform(SCENE_CRS, canvas.mapSettings().destinationCrs()))
    canvas.setExtent(geometry.boundingBox())
    canvas.refresh()
    wait(1500)


def state(panel) -> dict:
    window = panel.window
    layer_crs = window.layer.crs() if window is not None else SCENE_CRS
    to_scene = transform(panel.canvas.mapSettings().destinationCrs(), SCENE_CRS)
    return {"points": [[p.x(), p.y(), positive] for p, positive in panel.points],
            "in_scene": [[to_scene.transform(p).x(), to_scene.transform(p).y()] for p, _positive in panel.points],
            "box": [panel.box.xMinimum(), panel.box.yMinimum(), panel.box.xMaximum(), panel.box.yMaximum()]
            if panel.box is not None else None,
            "masks": len(panel.masks), "mask_boxes": [in_scene_crs(g, layer_crs) for g in panel.masks],
            "band_vertices": panel.mask_band.numberOfVertices(), "status": panel.status.text(),
            "window": in_scene_crs(QgsGeometry.fromRect(window.extent), layer_crs) if window is not None else None,
            "window_crs": layer_crs.authid(), "said": list(window.said) if window is not None else []}


def accept(panel, target) -> dict:
    """Accept the current masks into ``target``; what was added, beside the masks brought to its CRS."""
    masks = [QgsGeometry(g) for g in panel.masks]
    to_target = transform(panel.window.layer.crs(), target.crs())
    before = {f.id() for f in target.getFeatures()}
    panel.target_box.setLayer(target)
    panel.accept_button.click()
    added = [f for f in target.getFeatures() if f.id() not in before]
    apart = []
    for feature, mask in zip(added, masks):
        mask.transform(to_target)
        apart.append(feature.geometry().symDifference(mask).area() / max(mask.area(), 1e-30))
    return {"masks": len(masks), "added": len(added), "classes": sorted({f["class"] for f in added}),
            "crs": target.crs().authid(), "apart": max(apart, default=None), "status": panel.status.text(),
            "boxes": [in_scene_crs(f.geometry(), target.crs()) for f in added]}


def run_dialog(alg_id: str, parameters: dict, limit_s: float = 300) -> dict:
    """Run an algorithm from its dialog (the Run button's code path); what the dialog said, and its screenshot."""
    import processing

    step(f"run {alg_id}")
    dialog = processing.createAlgorithmDialog(alg_id, parameters)
    dialog.resize(900, 760)
    dialog.show()
    done: dict = {}
    loop = QEventLoop()

    def finished(ok, results):
        from qgis.PyQt.QtWidgets import QTextEdit

        log = dialog.findChild(QTextEdit, "txtLog")
        done.update(ok=bool(ok), results={k: str(v) for k, v in results.items()},
                    log=log.toPlainText() if log is not None else "")
        dialog.grab().save(str(OUT / f"{alg_id.split(':')[1]}-dialog.png"))
        loop.quit()

    dialog.algorithmFinished.connect(finished)
    wait(300)
    dialog.grab().save(str(OUT / f"{alg_id.split(':')[1]}-parameters.png"))
    dialog.runAlgorithm()
    if not done:
        QTimer.singleShot(int(limit_s * 1000), loop.quit)
        loop.exec_()
    dialog.close()
    return done


def label_on_the_map(canvas, panel, plugin, layer) -> None:
    from qgis.utils import iface

    step("click")
    # the canvas as the click finds it (a message bar shown later resizes it)
    pixel_m, size = canvas_pixel_metres(canvas), [canvas.width(), canvas.height()]
    extent = in_scene_crs(QgsGeometry.fromRect(canvas.extent()), canvas.mapSettings().destinationCrs())
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     screen_point(canvas, on_canvas(canvas, CONFIG["click"])))
    settle(lambda: panel.task is not None, lambda: panel.status.text())
    REPORT["click"] = dict(state(panel), canvas_pixel_m=pixel_m, canvas_size=size, canvas_extent=extent)
    iface.mainWindow().grab().save(str(OUT / "web-click.png"))
    step("ctrl+click")
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     screen_point(canvas, on_canvas(canvas, CONFIG["negative"])))
    settle(lambda: panel.task is not None)
    REPORT["negative"] = state(panel)
    save()

    step("box")
    panel.clear(new_window=False)
    (x0, y0), (x1, y1) = CONFIG["box"]
    drag(canvas, panel.tool, on_canvas(canvas, [x0, y0]), on_canvas(canvas, [x1, y1]))
    settle(lambda: panel.task is not None)
    REPORT["box"] = dict(state(panel), box_in_scene=in_scene_crs(QgsGeometry.fromRect(panel.box),
                                                                 canvas.mapSettings().destinationCrs()))
    iface.mainWindow().grab().save(str(OUT / "web-box.png"))
    step("accept into a scratch layer")
    panel.make_scratch_layer()
    REPORT["scratch"] = accept(panel, panel.target_box.currentLayer())
    canvas.refresh()
    wait(1500)
    iface.mainWindow().grab().save(str(OUT / "web-accepted.png"))
    save()

    step("pan tool, then the button again")
    iface.actionPan().trigger()
    REPORT["after_pan"] = {"panel_visible": panel.isVisible(), "checked": plugin.label_action.isChecked()}
    plugin.label_action.trigger()
    REPORT["after_pan"]["tool_back"] = canvas.mapTool() is panel.tool
    step("panned east, a box into the GeoPackage")
    show(canvas, CONFIG["view2"])  # off the window embedded so far: the box starts a new one
    gpkg = QgsVectorLayer(CONFIG["gpkg"], "labels (GeoPackage)", "ogr")
    QgsProject.instance().addMapLayer(gpkg)
    panel.class_box.setValue(CONFIG["gpkg_class"])
    (x0, y0), (x1, y1) = CONFIG["box2"]
    drag(canvas, panel.tool, on_canvas(canvas, [x0, y0]), on_canvas(canvas, [x1, y1]))
    settle(lambda: panel.task is not None)
    REPORT["box2"] = state(panel)
    REPORT["gpkg"] = accept(panel, gpkg)
    REPORT["gpkg"]["in_file"] = QgsVectorLayer(CONFIG["gpkg"], "reread", "ogr").featureCount()
    step("undo")
    scratch = QgsProject.instance().mapLayersByName("DualStream labels")[0]
    panel.undo_button.click()
    first = {"gpkg": QgsVectorLayer(CONFIG["gpkg"], "reread", "ogr").featureCount(), "scratch": scratch.featureCount()}
    panel.undo_button.click()
    REPORT["undo"] = {"first": first, "second": {"scratch": scratch.featureCount()}, "status": panel.status.text()}
    save()


def labelled_area() -> QgsVectorLayer:
    """A scratch layer in the project CRS holding the rectangle labelled so far."""
    layer = QgsVectorLayer(f"MultiPolygon?crs={QgsProject.instance().crs().authid()}&field=class:integer",
                           "labelled so far", "memory")
    geometry = QgsGeometry.fromRect(QgsRectangle(*CONFIG["labelled"]))
    geometry.transform(transform(SCENE_CRS, layer.crs()))
    geometry.convertToMultiType()
    feature = QgsFeature(layer.fields())
    feature.setGeometry(geometry)
    layer.dataProvider().addFeatures([feature])
    QgsProject.instance().addMapLayer(layer)
    return layer


def suggest_and_propose(layer) -> None:
    from qgis.utils import iface

    area = labelled_area()
    suggest = run_dialog("dualstream:suggest", dict(CONFIG["suggest"], INPUT=[layer.id()], LABELLED_AREA=area.id()))
    windows = QgsVectorLayer(CONFIG["suggest"]["OUTPUT"], "windows", "ogr")
    suggest["windows"] = [{"rank": f["rank"], "scene": f["scene"], "box": in_scene_crs(f.geometry(), windows.crs()),
                           "labelled": f["labelled"]} for f in windows.getFeatures()]
    REPORT["suggest"] = suggest
    save()
    propose = run_dialog("dualstream:propose", dict(CONFIG["propose"], WINDOWS=CONFIG["suggest"]["OUTPUT"]))
    proposals = QgsVectorLayer(CONFIG["propose"]["OUTPUT"], "proposals", "ogr")
    boxes = {f["rank"]: QgsGeometry(f.geometry()) for f in windows.getFeatures()}
    propose["proposals"] = [{"window": f["window"], "scene": f["scene"],
                             "inside": boxes[f["window"]].buffer(1e-6, 1).contains(f.geometry())}
                            for f in proposals.getFeatures()]
    propose["crs"] = proposals.crs().authid()
    REPORT["propose"] = propose
    iface.mapCanvas().refresh()
    wait(1500)
    iface.mainWindow().grab().save(str(OUT / "web-proposals.png"))
    save()


def main() -> None:
    from qgis.utils import iface, plugins

    step("load")
    project = QgsProject.instance()
    layer = QgsRasterLayer(CONFIG["xyz"], "tiles", "wms")
    project.addMapLayer(layer)
    wait(300)
    project.setCrs(QgsCoordinateReferenceSystem(CONFIG["project_crs"]))  # after the layer: it sets its own first
    wait(300)
    canvas = iface.mapCanvas()
    REPORT["layer"] = {"valid": layer.isValid(), "crs": layer.crs().authid(),
                       "canvas_crs": canvas.mapSettings().destinationCrs().authid()}

    step("the toolbar button")
    plugin = plugins["dualstream_qgis"]
    plugin.label_action.trigger()  # as a click on it does
    panel = plugin.label_panel
    REPORT["tool_active"] = canvas.mapTool() is panel.tool and plugin.label_action.isChecked()
    show(canvas, CONFIG["view"])  # once the panel is docked: the canvas keeps its size from here
    panel.raster_box.setLayer(layer)
    panel.model_box.setEditText(CONFIG["model"])
    panel.class_box.setValue(CONFIG["class_value"])
    label_on_the_map(canvas, panel, plugin, layer)
    suggest_and_propose(layer)
    REPORT["finished"] = True
    save()
    plugin.unload()


start_later(main)
