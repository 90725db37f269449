"""Segment's Value scale / Value offset and "Keep a result of one class ..." parameters through ``processing.run``
(issue 53 item 15): digital numbers given to a reflectance model fail with a message naming the parameters to set,
and nothing is written; with VALUE_SCALE the classes are right, in Segment and in Segment in bulk.
The model is a linear classifier made elsewhere, so the classes are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.engine.foreign_onnx import expected_classes, linear_model

pytestmark = [pytest.mark.qgis]
pytest.importorskip("onnx")

# class 0 grows with every band: digital numbers give class 0 everywhere, reflectance mixed classes
WEIGHTS = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [-1.0, -1.0, -1.0, -1.0]])
BIAS = np.array([0.0, 2.0, 0.0])
MEAN, STD = [0.1, 0.12, 0.14, 0.3], [0.05, 0.06, 0.07, 0.1]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from engine.cli.main import main

    folder = tmp_path_factory.mktemp("units")
    onnx = linear_model(folder / "m.onnx", WEIGHTS, BIAS, head="none")
    assert main(["import", str(onnx), "-o", str(folder / "m.dsmodel"), "--classes", "clear,cloud,shadow", "--mean",
                 ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)), "--output-kind", "logits",
                 "--band-names", "blue,green,red,nir", "--value-range", "0,1"]) == 0
    return folder / "m.dsmodel"


def test_value_scale_parameter_and_the_one_class_failure(plugin, model, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    reflectance = (np.random.default_rng(1).uniform(0, 0.5, size=(4, 40, 50)) * 10000).round() / 10000
    dn = np.rint(reflectance * 10000).astype(np.uint16)
    image = tmp_path / "dn.tif"
    with rasterio.open(image, "w", driver="GTiff", width=50, height=40, count=4, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(dn)
        for i, name in enumerate(["blue", "green", "red", "nir"], 1):
            ds.set_band_description(i, name)
    expected = expected_classes(reflectance, WEIGHTS, BIAS, MEAN, STD, 1.0)
    assert len(np.unique(expected)) > 1
    out = tmp_path / "c.tif"
    with pytest.raises(QgsProcessingException) as caught:
        processing.run("dualstream:segment", {"INPUT": str(image), "MODEL": str(model), "OUTPUT": str(out)})
    message = str(caught.value)
    assert "Every pixel of" in message and "VALUE_SCALE" in message and "ACCEPT_ONE_CLASS" in message, message
    assert not out.exists()
    results = processing.run("dualstream:segment", {"INPUT": str(image), "MODEL": str(model), "OUTPUT": str(out),
                                                    "VALUE_SCALE": 0.0001})
    with rasterio.open(results["OUTPUT"]) as ds:
        assert (ds.read(1) == expected).mean() >= 0.999
    kept = tmp_path / "kept.tif"
    processing.run("dualstream:segment", {"INPUT": str(image), "MODEL": str(model), "OUTPUT": str(kept),
                                          "ACCEPT_ONE_CLASS": True})
    with rasterio.open(kept) as ds:
        assert (ds.read(1) == 0).all()
    folder = tmp_path / "scenes"
    folder.mkdir()
    (folder / "dn.tif").write_bytes(image.read_bytes())
    processing.run("dualstream:segmentbulk", {"FOLDER": str(folder), "PATTERN": "*.tif", "MODEL": str(model),
                                              "DEVICE": "cpu", "OUTPUT": str(tmp_path / "bulk"), "VALUE_SCALE": 0.0001})
    with rasterio.open(tmp_path / "bulk" / "dn.tif") as ds:
        assert (ds.read(1) == expected).mean() >= 0.999


def test_suggest_and_propose_offer_the_units_and_suggest_names_its_own_parameters(plugin, model, tmp_path):
    """Before: Suggest's failure named VALUE_SCALE and ACCEPT_ONE_CLASS, parameters it did not have, and a QGIS
    user cannot run gdal_edit."""
    import processing
    from qgis.core import QgsApplication, QgsProcessingException

    registry = QgsApplication.processingRegistry()
    for alg_id in ("dualstream:suggest", "dualstream:propose"):
        alg = registry.algorithmById(alg_id)
        assert all(alg.parameterDefinition(p) for p in ("VALUE_SCALE", "VALUE_OFFSET", "ACCEPT_ONE_CLASS",
                                                                  "STRICT_INPUTS")), alg_id
    reflectance = (np.random.default_rng(2).uniform(0, 0.5, size=(4, 40, 50)) * 10000).round() / 10000
    image = tmp_path / "dn.tif"
    with rasterio.open(image, "w", driver="GTiff", width=50, height=40, count=4, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(np.rint(reflectance * 10000).astype(np.uint16))
        for i, name in enumerate(["blue", "green", "red", "nir"], 1):
            ds.set_band_description(i, name)
    out = tmp_path / "windows.gpkg"
    params = {"MODEL": str(model), "INPUT": [str(image)], "COUNT": 2, "WINDOW": 16, "TTA": 0, "DEVICE": 1,
              "OUTPUT": str(out)}
    with pytest.raises(QgsProcessingException) as caught:
        processing.run("dualstream:suggest", params)
    message = str(caught.value)
    assert "Every pixel of" in message and "(VALUE_SCALE)" in message and "(ACCEPT_ONE_CLASS)" in message, message
    # the user's scene and the algorithm run, not a temporary class raster and "segment again"
    assert f"the prediction of '{image}'" in message and "then run Suggest where to label again" in message, message
    assert ".suggest-" not in message
    assert not out.exists()
    results = processing.run("dualstream:suggest", {**params, "VALUE_SCALE": 0.0001})
    assert results["WINDOWS"] == 2 and out.exists()
