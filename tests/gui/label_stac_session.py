"""Drives the *Label with Segment Anything* panel over a STAC item in the real QGIS desktop (``qgis --code THIS``).

Started by ``tests/gui/test_label_stac.py`` under Xvfb, in a project whose CRS is not the item's. The item is added
through the panel's STAC item row (its file typed, *Add layer* clicked); a box dragged and a click on its layer go
through the map tool, and the mask is accepted into a scratch layer; then the same box and click on the GeoTIFF
the item's assets were cut from. It records facts in ``report.json`` and screenshots; the pytest module asserts.
"""

from __future__ import annotations

import os
import sys

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

sys.path.insert(0, os.environ["DUALSTREAM_GUI_TOOLS"])  # no __file__ here: run_session names the folder
from session_tools import CONFIG, OUT, REPORT, drag, save, screen_point, settle, start_later, step, wait  # noqa: E402


def to_canvas(canvas, x: float, y: float) -> QgsPointXY:
    """A point of the item's CRS on the canvas (the project's CRS)."""
    transform = QgsCoordinateTransform(QgsCoordinateReferenceSystem(CONFIG["item_crs"]),
                                       canvas.mapSettings().destinationCrs(), QgsProject.instance())
    return transform.transform(QgsPointXY(x, y))


def prompt_and_accept(name: str, canvas, panel, layer) -> None:
    """The configured box on ``layer``, its mask accepted, then the click; each answer recorded."""
    from qgis.utils import iface

    step(f"{name}: layer")
    panel.raster_box.setLayer(layer)
    panel.clear(new_window=True)
    step(f"{name}: box")
    (x0, y0), (x1, y1) = CONFIG["box"]
    drag(canvas, panel.tool, to_canvas(canvas, x0, y0), to_canvas(canvas, x1, y1))
    settle(lambda: panel.task is not None)
    box = state(panel)
    iface.mainWindow().grab().save(str(OUT / f"{name}-box.png"))
    step(f"{name}: accept")
    target = panel.target_box.currentLayer()
    before = {f.id() for f in target.getFeatures()}
    panel.accept_button.click()
    added = [f for f in target.getFeatures() if f.id() not in before]
    accepted = {"status": panel.status.text(), "wkt": [f.geometry().asWkt(3) for f in added],
                "classes": [f["class"] for f in added], "target_crs": target.crs().authid()}
    step(f"{name}: click")
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     screen_point(canvas, to_canvas(canvas, *CONFIG["click"])))
    settle(lambda: panel.task is not None)
    REPORT[name] = {"box": box, "accept": accepted, "click": state(panel), "layer_crs": layer.crs().authid()}
    save()


def state(panel) -> dict:
    window = panel.window
    return {"masks": len(panel.masks), "mask_wkt": [g.asWkt(3) for g in panel.masks], "status": panel.status.text(),
            "band_vertices": panel.mask_band.numberOfVertices(), "score": panel.score,
            "embedded": window is not None and window.embedded(),
            "stac": list(window.stac) if window is not None and window.stac else None,
            "said": list(window.said) if window is not None else [],
            # where the prompts landed on the map: a screen pixel is a different map point once the canvas resized
            "prompts": {"box": panel.box.toString(6) if panel.box is not None else None,
                        "points": [point.toString(6) for point, _positive in panel.points],
                        "canvas": [panel.canvas.width(), panel.canvas.height()]}}


def blank_band_entry(panel, project) -> None:
    """Bands typed with a blank entry: the picker menu and *Add layer* say the engine's refusal, nothing is read."""
    step("a blank band entry")
    row = panel.stac_row
    layers = len(project.mapLayers())
    row.bands_edit.setText("red,,green,blue")
    row.fill_menu()
    menu = [[action.text(), action.isEnabled()] for action in row.menu.actions()]
    row.add_button.click()
    REPORT["blank"] = {"menu": menu, "status": panel.status.text(), "reading": row.task is not None,
                       "layers_added": len(project.mapLayers()) - layers}
    wait(300)  # the wrapped status laid out again
    panel.grab().save(str(OUT / "stac-blank-band.png"))
    row.bands_edit.clear()
    save()


def main() -> None:
    from qgis.utils import iface, plugins

    step("project")
    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem(CONFIG["project_crs"]))
    # Under Xvfb QGIS widens its window once more some seconds after start (1069 -> 1170 px), at a moment that
    # varies: a canvas widened between the item's prompts and the GeoTIFF's puts the same map point on another
    # screen pixel, and a model of random weights answers a prompt a fraction of a pixel away differently.
    window = iface.mainWindow()
    window.resize(max(window.width(), 1200), max(window.height(), 820))
    window.setFixedSize(window.size())
    geotiff = QgsRasterLayer(CONFIG["geotiff"], "the GeoTIFF")
    project.addMapLayer(geotiff)
    canvas = iface.mapCanvas()
    step("plugin")
    plugin = plugins["dualstream_qgis"]
    plugin.toggle_labelling(True)
    panel = plugin.label_panel
    panel.model_box.setEditText(CONFIG["model"])
    panel.class_box.setValue(CONFIG["class_value"])
    panel.make_scratch_layer()

    step("add the STAC item")
    panel.stac_row.item_edit.setFilePath(CONFIG["item"])
    REPORT["menu"] = []
    panel.stac_row.fill_menu()
    REPORT["menu"] = [action.text() for action in panel.stac_row.menu.actions()]
    blank_band_entry(panel, project)
    panel.stac_row.add_button.click()
    settle(lambda: panel.stac_row.task is not None)
    stac_layer = panel.raster_box.currentLayer()
    REPORT["added"] = {"status": panel.status.text(), "name": stac_layer.name() if stac_layer else None,
                       "source": stac_layer.source() if stac_layer else None,
                       "crs": stac_layer.crs().authid() if stac_layer else None,
                       "bands": stac_layer.bandCount() if stac_layer else None,
                       "item_property": stac_layer.customProperty("dualstream/stac_item") if stac_layer else None,
                       "bands_property": stac_layer.customProperty("dualstream/stac_bands") if stac_layer else None,
                       "layers": [layer.name() for layer in project.mapLayers().values()],
                       "project_crs": canvas.mapSettings().destinationCrs().authid()}
    save()
    if stac_layer is None or stac_layer is geotiff:
        raise RuntimeError(f"no STAC layer was added: {panel.status.text()}")
    canvas.setExtent(QgsCoordinateTransform(stac_layer.crs(), canvas.mapSettings().destinationCrs(),
                                            project).transformBoundingBox(stac_layer.extent()))
    canvas.refresh()
    wait(2000)
    geotiff_node = project.layerTreeRoot().findLayer(geotiff.id())
    geotiff_node.setItemVisibilityChecked(False)  # the map shows the item's layer
    canvas.refresh()
    wait(1500)
    step("screenshots")
    panel.grab().save(str(OUT / "stac-panel.png"))
    iface.mainWindow().grab().save(str(OUT / "stac-loaded.png"))

    prompt_and_accept("stac", canvas, panel, stac_layer)
    canvas.refresh()
    wait(1500)
    iface.mainWindow().grab().save(str(OUT / "stac-accepted.png"))
    prompt_and_accept("geotiff", canvas, panel, geotiff)
    REPORT["finished"] = True
    save()
    plugin.unload()


start_later(main)
