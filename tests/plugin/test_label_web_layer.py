"""The labelling map tool's window over a web layer: a real WMS layer of QGIS's ``wms`` provider, served from
127.0.0.1 (tests/ogc_server.py), read through the engine's one rule for web layers at the canvas's pixel size, then
prompted with a tiny Segment Anything model of the real layout (random weights: the test asserts where the answer
lies and what was fetched, not the mask's quality)."""

from __future__ import annotations

import subprocess

import pytest
import rasterio

from tests.ogc_server import OgcServer


@pytest.fixture(autouse=True)
def clean_project():
    yield
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()


def test_a_web_layer_is_windowed_at_the_canvas_pixel_size_and_prompted(plugin, scenes, tmp_path):
    from qgis.core import QgsGeometry, QgsPointXY, QgsProject, QgsRasterLayer, QgsRectangle

    from dualstream_qgis.labeling import prompts
    from tests.engine.prompted_models import save_tiny

    rgb = tmp_path / "rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-ot", "Byte", "-scale",
                    scenes["train"]["image"], str(rgb)], check=True)
    with rasterio.open(rgb) as src:
        crs, b, pixel = src.crs.to_string(), src.bounds, src.res[0]
    model = save_tiny("sam", tmp_path / "tiny-sam")
    with OgcServer(rgb) as server:
        layer = QgsRasterLayer(f"crs={crs}&format=image/png&layers=scene&styles=&url={server.url}/wms", "served",
                               "wms")
        assert layer.isValid(), layer.error().summary()
        QgsProject.instance().addMapLayer(layer)
        extent = QgsRectangle(b.left, b.bottom, b.right, b.top)
        window = prompts.Window(layer, str(model), extent, pixel_size=2 * pixel)  # a canvas zoomed out x2
        centre = extent.center()
        answer = window.answer(prompts.Request(points=[(QgsPointXY(centre.x(), centre.y()), True)]))
        fetched = server.requests("GetMap")
    assert fetched > 0, "the window was not read from the service"
    said = " ".join(window.said)
    assert f"at {2 * pixel:g} m per pixel" in said, said
    width = round((b.right - b.left) / (2 * pixel))
    assert f"{width} x" in said, said  # the window has the canvas's pixels, not the service's finest
    grown = QgsGeometry.fromRect(extent).buffer(2 * pixel, 1)
    assert all(grown.contains(g) for g in answer.geometries), "an answer lies outside the window"
    assert window.embedded()
