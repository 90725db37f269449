"""One answer for what a model expects (bundle/view.py), whatever made it; the pixel size it was trained at in
metres on the ground. A model trained in EPSG:4326 had its degrees read as metres ("9.1e-05 m per pixel"); an
imported model's recorded resolution was "no training pixel size" to the web reader though the plan read it."""

from __future__ import annotations

import math

import pytest

from engine.bundle.view import model_view
from engine.data.metadata import DataMetadata
from engine.data.normalize import BandStatistics


def _data(gsd=None, crs=None, **extra) -> DataMetadata:
    stats = BandStatistics("percentile", [0.0] * 3, [255.0] * 3)
    return DataMetadata(vision_bands=3, vision_stats=stats, aux_channels=0, class_names=["a", "b"],
                        class_colors=["#000000", "#ffffff"], tile_size=64, gsd=gsd, crs=crs, extra=extra)


@pytest.mark.parametrize("crs, gsd, latitude, metres", [
    ("EPSG:32633", 10.0, 60.0, 10.0),                                 # UTM: true to scale
    ("EPSG:4326", 9.11965e-05, 0.0, 9.11965e-05 * 111_320.0),         # degrees at the equator: about 10 m
    ("EPSG:4326", 9.11965e-05, 60.0, 9.11965e-05 * 111_320.0 * 0.5),  # ... half of it at 60 degrees north
    ("EPSG:3857", 10.0, 60.0, 5.0),                                   # web mercator's units shrink with latitude
    ("EPSG:2263", 10.0, 40.0, 3.048006),                              # US survey feet
])
def test_the_training_pixel_size_is_metres_on_the_ground(crs, gsd, latitude, metres):
    view = model_view(_data([gsd, gsd], crs))
    assert view.resolution.size == (gsd, gsd) and not view.resolution.recorded
    assert math.isclose(view.pixel_size_metres(latitude), metres, rel_tol=1e-5)


def test_imagery_without_a_crs_has_no_size_on_the_ground():
    assert model_view(_data([1.0, 1.0], None)).pixel_size_metres() is None
    assert model_view(_data()).resolution is None


def test_an_imported_model_answers_from_its_record():
    record = {"band_names": ["B04", "B03", "B02"], "value_range": [0, 1], "resolution_m": 10.0, "overlap": 0.25,
              "border": 16, "graph_sha256": "ab" * 32}
    view = model_view(_data(imported=record))
    assert view.imported and view.band_names == ["B04", "B03", "B02"] and view.value_range == [0.0, 1.0]
    assert view.resolution.recorded and view.pixel_size_metres(70.0) == 10.0  # metres already, at any latitude
    assert (view.overlap, view.border, view.record["graph_sha256"]) == (0.25, 16, "ab" * 32)
    own = model_view(_data([0.5, 0.5], "EPSG:32633"))
    assert not own.imported and own.overlap is None and own.band_names is None
