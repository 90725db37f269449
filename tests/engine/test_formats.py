"""The one format table: every suffix list the engine and the plugin use is the table's, so a format added there
is read everywhere (vector labels were five different lists, raster suffixes two, model suffixes hard-coded)."""

from __future__ import annotations

import engine.api as api
from engine import evaluate
from engine.data import sources
from engine.io import safety
from engine.io.formats import FORMAT_TABLE, MODEL_FILTER, RASTER, VECTOR, is_vector_path


def test_every_suffix_list_is_the_tables():
    assert all(safety.FORMATS[key] == FORMAT_TABLE[key].suffixes for key in safety.FORMATS)
    assert all(safety.FORMAT_NAMES[key] == FORMAT_TABLE[key].article for key in safety.FORMATS)
    assert safety.RASTER_SUFFIXES == api.RASTER_SUFFIXES == RASTER.suffixes
    assert api.VECTOR_SUFFIXES == VECTOR.suffixes and set(VECTOR.suffixes) <= set(evaluate.LABEL_SUFFIXES)
    assert set(RASTER.suffixes) <= set(evaluate.PREDICTION_SUFFIXES)
    assert sources.GEOTIFF_SUFFIXES == FORMAT_TABLE["geotiff"].suffixes and not hasattr(sources, "VECTOR_SUFFIXES")
    assert api.MODEL_SUFFIXES == (".dsmodel", ".onnx")
    # the input folders' data files: rasters, vectors (not a stale .json) and a Shapefile's parts
    assert set(RASTER.suffixes) | set(VECTOR.suffixes) - {".json"} <= set(safety.DATA_SUFFIXES)
    assert ".json" not in safety.DATA_SUFFIXES


def test_file_filters_and_vector_paths_come_from_the_table():
    assert MODEL_FILTER == api.MODEL_FILTER == ("Models (*.dsmodel *.onnx);;DualStream model (*.dsmodel);;"
                                                "ONNX model (*.onnx)")
    assert FORMAT_TABLE["geotiff"].file_filter() == "GeoTIFF (*.tif *.tiff)"
    assert is_vector_path("labels.GPKG|layername=roads") and is_vector_path("https://h/x/labels.geojson?v=2")
    assert is_vector_path("a.fgb") and not is_vector_path("scene.tif") and not is_vector_path("https://h/x.tif")
