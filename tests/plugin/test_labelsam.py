"""The Toolbox algorithm "Label with Segment Anything" (dualstream:labelsam) through processing.run and qgis_process,
with a tiny SAM 2 model of the real layout (random weights: the masks are arbitrary, so the checks are on where the
polygons lie, their CRS, class and score, and on the model coming through the hub download path)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.engine.local_hub import LocalHub
from tests.engine.prompted_models import save_tiny

pytestmark = pytest.mark.qgis

X0, Y0, PIXEL = 700000.0, 3700000.0, 0.5


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A 3-band image in UTM 16N, a layer of prompts in WGS 84 (two clicks, one box) and a tiny SAM 2 folder."""
    from osgeo import ogr, osr

    from tests.helpers import xy_transform

    root = tmp_path_factory.mktemp("labelsam")
    image = root / "roofs.tif"
    data = np.random.default_rng(1).integers(0, 60, (3, 160, 240)).astype(np.uint8)
    data[:, 40:100, 60:140] += 150
    with rasterio.open(image, "w", driver="GTiff", width=240, height=160, count=3, dtype="uint8",
                       crs="EPSG:32616", transform=from_origin(X0, Y0, PIXEL, PIXEL)) as dst:
        dst.write(data)
    to_wgs84 = xy_transform("EPSG:32616", "EPSG:4326")
    wgs84 = osr.SpatialReference()  # the prompts layer's
    wgs84.ImportFromEPSG(4326)
    prompts = root / "prompts.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(prompts))
    layer = source.CreateLayer("prompts", srs=wgs84, geom_type=ogr.wkbUnknown)
    corners = [(X0 + 20 * PIXEL + c * PIXEL, Y0 - 20 * PIXEL - r * PIXEL) for c, r in ((50, 30), (90, 50))]
    shapes = [f"POINT ({x} {y})" for x, y in corners]
    (x1, y1), (x2, y2) = corners
    shapes.append(f"POLYGON (({x1} {y1}, {x2} {y1}, {x2} {y2}, {x1} {y2}, {x1} {y1}))")
    for wkt in shapes:
        geometry = ogr.CreateGeometryFromWkt(wkt)
        geometry.Transform(to_wgs84)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(geometry)
        layer.CreateFeature(feature)
    feature = layer = source = None
    model = save_tiny("sam2", root / "tiny-sam2")
    return {"image": image, "prompts": prompts, "model": model, "root": root}


def _check(out, polygons: int, extent: tuple[float, float, float, float]) -> None:
    from osgeo import ogr

    source = ogr.Open(str(out))
    layer = source.GetLayer(0)
    assert layer.GetFeatureCount() == polygons
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32616"
    prompts_seen = set()
    slack = 1e-6
    for feature in layer:
        assert feature.GetField("class_id") == 7 and math.isfinite(feature.GetField("score"))
        xmin, xmax, ymin, ymax = feature.GetGeometryRef().GetEnvelope()
        assert extent[0] - slack <= xmin and xmax <= extent[2] + slack
        assert extent[1] - slack <= ymin and ymax <= extent[3] + slack
        prompts_seen.add(feature.GetField("prompt"))
    assert prompts_seen <= {1, 2, 3}


def test_processing_run_labels_a_window_from_a_prompt_layer(plugin, inputs, tmp_path):
    import processing

    from tests.helpers import RecordingFeedback

    window = (X0 + 10, Y0 - 70, X0 + 110, Y0 - 5)  # 100 x 65 m: 200 x 130 pixels
    out = tmp_path / "labels.gpkg"
    feedback = RecordingFeedback.make()
    results = processing.run("dualstream:labelsam", {
        "INPUT": str(inputs["image"]), "EXTENT": f"{window[0]},{window[2]},{window[1]},{window[3]} [EPSG:32616]",
        "PROMPTS": str(inputs["prompts"]), "MODEL": str(inputs["model"]), "CLASS_VALUE": 7,
        "CLASS_NAME": "building", "OUTPUT": str(out)}, feedback=feedback)
    _check(out, results["POLYGONS"], window)
    # one bar through the window read, the model loaded, the picture embedded, then each of the 3 prompts; before,
    # it stood still until the first prompt (40 %), through the embedding, the slow part on a CPU
    bar = feedback.progress_values
    assert bar == sorted(bar) and bar[-1] == 100.0, bar
    assert len({v for v in bar if 0 < v <= 60}) == 3 and len({v for v in bar if 60 < v < 100}) == 2, bar


def test_qgis_process_fetches_the_model_from_the_hub(qgis_process, deploy_plugin, venv_site_packages, inputs,
                                                      tmp_path):
    root = tmp_path / "profile"
    deploy_plugin(root, venv_site_packages)
    out = tmp_path / "labels.gpkg"
    with LocalHub({"someone/tiny-sam2": inputs["model"]}) as hub:
        env = dict(qgis_process.ISOLATED, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE=None,
                   DUALSTREAM_OFFLINE=None)
        done = qgis_process.run(root, "--json", *qgis_process.algorithm_args("dualstream:labelsam", {
            "INPUT": str(inputs["image"]), "PROMPTS": str(inputs["prompts"]), "MODEL": "someone/tiny-sam2",
            "CLASS_VALUE": 7, "OUTPUT": str(out)}), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout[done.stdout.index("{"):])
    assert "released under the licence apache-2.0" in done.stdout + done.stderr
    _check(out, result["results"]["POLYGONS"], (X0, Y0 - 160 * PIXEL, X0 + 240 * PIXEL, Y0))


def test_a_web_layer_is_read_at_the_pixel_size_in_qgis_as_on_the_command_line(plugin, inputs, tmp_path):
    """``label --pixel-size`` was read by nothing on the command line while QGIS windowed the layer itself: the two
    read one web layer differently. Both now hand the service over to the engine's image door: a WMS layer of the
    image labelled by processing.run and by ``dualstream label`` at the same pixel size reads the same window."""
    import os
    import re
    import subprocess
    import sys

    import processing
    from qgis.core import QgsProcessingFeedback, QgsProject, QgsRasterLayer

    from engine.imagery.web import wms_description
    from tests.ogc_server import OgcServer

    class Lines(QgsProcessingFeedback):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def pushInfo(self, info: str) -> None:  # noqa: N802 - QGIS API
            self.lines.append(info)

    window = (X0 + 10, Y0 - 70, X0 + 110, Y0 - 5)  # 100 x 65 m
    read = re.compile(r"read over the extent at ([\d.]+) m per pixel \([^)]*\): (\d+) x (\d+) pixels")
    with OgcServer(inputs["image"]) as server:
        layer = QgsRasterLayer(f"crs=EPSG:32616&format=image/png&layers=scene&styles=&url={server.url}/wms",
                               "roofs WMS", "wms")
        assert layer.isValid(), layer.error().summary()
        QgsProject.instance().addMapLayer(layer)
        try:
            feedback = Lines()
            processing.run("dualstream:labelsam", {
                "INPUT": layer.id(), "EXTENT": f"{window[0]},{window[2]},{window[1]},{window[3]} [EPSG:32616]",
                "PIXEL_SIZE": 2.5, "PROMPTS": str(inputs["prompts"]), "MODEL": str(inputs["model"]),
                "CLASS_VALUE": 7, "OUTPUT": str(tmp_path / "qgis.gpkg")}, feedback=feedback)
        finally:
            QgsProject.instance().removeAllMapLayers()
        description = tmp_path / "roofs.xml"
        description.write_text(wms_description(f"{server.url}/wms", "scene", "EPSG:32616"), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "engine", "label", "--image", str(description), "--extent",
                               *map(str, window), "--extent-crs", "EPSG:32616", "--pixel-size", "2.5", "--prompts",
                               str(inputs["prompts"]), "--model", str(inputs["model"]), "--class-value", "7",
                               "--device", "cpu", "--out", str(tmp_path / "cli.gpkg")],
                              capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[2],
                              env=dict(os.environ, DUALSTREAM_BLOCK_QGIS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    in_qgis = read.search(" ".join(" ".join(feedback.lines).split()))
    on_cli = read.search(" ".join(done.stderr.split()))
    print(f"QGIS: {in_qgis and in_qgis.group(0)}; CLI: {on_cli and on_cli.group(0)}")
    assert in_qgis and on_cli and in_qgis.groups() == on_cli.groups() == ("2.5", "40", "26")
