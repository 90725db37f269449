"""Suggest where to label and Propose labels read their scenes as Segment does (issue 53, siblings of items 10 and
15): Bands, Batch size, Tile size, Mirrored border, Resample to the training resolution and Tile reader threads,
generated from the one declaration (engine/config/reading.py). Before, a 12-band Sentinel-2 scene and a 6-band
model stopped Suggest with "give the bands ... with Bands", a parameter it did not have."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.helpers import make_bundle

pytestmark = [pytest.mark.qgis]
pytest.importorskip("torch")

MODEL_BANDS = ["B02", "B03", "B04", "B08", "B11", "B12"]
READING = ("BANDS", "BATCH_SIZE", "TILE_SIZE", "BORDER", "RESAMPLE_TO_TRAINING_GSD", "READERS")


def test_suggest_and_propose_offer_segments_reading_parameters(plugin):
    from qgis.core import QgsApplication

    from engine.config import SegmentConfig
    from engine.declarations import declared

    labels = {s.param: s.decl.label for s in declared(SegmentConfig)}  # Segment's, and Segment in bulk's
    registry = QgsApplication.processingRegistry()
    for alg_id in ("dualstream:suggest", "dualstream:propose"):
        alg = registry.algorithmById(alg_id)
        for name in READING:
            definition = alg.parameterDefinition(name)
            assert definition is not None, f"{alg_id} {name}"
            assert definition.description() == labels[name], f"{alg_id} {name}"
    # suggest's scenes are whole; its Extent is the area web layers are read over (its own declaration, a sentence
    # of its own since 54f432c); propose's scenes are its windows
    extent_help = registry.algorithmById("dualstream:suggest").parameterDefinition("EXTENT").help()
    assert "The area web layers are read over" in extent_help and "other scenes are read whole" in extent_help
    assert registry.algorithmById("dualstream:propose").parameterDefinition("EXTENT") is None


def test_suggest_takes_the_bands_of_a_twelve_band_scene(plugin, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    model = make_bundle(tmp_path / "six.dsmodel", vision_bands=6, num_classes=2, class_names=["land", "water"],
                        band_names=MODEL_BANDS, gsd=10.0, seed=2)
    image = tmp_path / "l2a_12.tif"
    with rasterio.open(image, "w", driver="GTiff", width=80, height=72, count=12, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 10, 10)) as ds:
        ds.write(np.random.default_rng(5).integers(100, 4000, size=(12, 72, 80)).astype(np.uint16))
    out = tmp_path / "windows.gpkg"
    params = {"MODEL": str(model), "INPUT": [str(image)], "COUNT": 2, "WINDOW": 16, "TTA": 0, "DEVICE": 1,
              "OUTPUT": str(out)}
    with pytest.raises(QgsProcessingException) as caught:
        processing.run("dualstream:suggest", params)
    message = str(caught.value)
    assert "has 12 band(s)" in message and "'Bands (in the model's order; empty: by name)' (BANDS)" in message, message
    assert "--" not in message and not out.exists()
    results = processing.run("dualstream:suggest", {**params, "BANDS": "2,3,4,8,11,12", "TILE_SIZE": 32,
                                                    "BATCH_SIZE": 2, "READERS": 1})
    assert results["WINDOWS"] == 2 and out.exists()
