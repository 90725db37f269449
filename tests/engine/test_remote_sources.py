"""Sources that are no plain local file: URLs and ``/vsicurl/`` paths in bulk runs, manifests and resume, one layer
of a multi-layer GeoPackage (``file.gpkg|layername=NAME``), and what a failed remote read says.

The remote scenes are served by a real HTTP server on 127.0.0.1 (bench/http_files.py: range requests as an
object store answers them); GDAL reads them through /vsicurl/ exactly as from S3 or a web server.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from osgeo import gdal, ogr

from bench.http_files import FileServer
from engine.config import BulkConfig, SegmentConfig
from engine.data.scene import SceneReader
from engine.errors import DataError
from engine.io import locations
from engine.segment import segment
from engine.segment.bulk.runner import segment_bulk
from tests.helpers import read_pixels

gdal.UseExceptions()


def test_locations_name_urls_and_layers():
    assert locations.gdal_path("https://h:1/a/b%20c.tif?sig=x") == "/vsicurl/https://h:1/a/b%20c.tif?sig=x"
    assert locations.gdal_path("s3://bucket/k/x.tif") == "/vsis3/bucket/k/x.tif"
    assert locations.stem("https://h:1/a/b%20c.tif?sig=x") == "b c"
    assert locations.stem("/vsicurl/https://h/x/scene.TIF") == "scene"
    assert locations.split_layer("/d/p.gpkg|layername=roofs|subset=x") == ("/d/p.gpkg", "roofs")
    assert locations.stem("/d/p.gpkg|layername=roofs") == "roofs"
    assert locations.sibling("https://h/f/a.tif", "a_aux.tif") == "https://h/f/a_aux.tif"
    assert locations.is_remote("/vsis3/b/k.tif") and not locations.is_remote("/data/k.tif")
    assert not locations.exists("/nowhere/x.gpkg|layername=a") and locations.exists("https://h/x.tif")


def test_bulk_reads_urls_as_given_and_resumes(tmp_path, bulk_scenes, bulk_model):
    """--images with an http URL and a /vsicurl/ path: each scene as its local twin segments, named after the
    URL's file; a rerun skips both (the server's size and date are the inputs' stamps)."""
    template = SegmentConfig(image="", output="", models=[bulk_model], tile_size=64, overlap=0.25, device="cpu")
    with FileServer(bulk_scenes) as server:
        images = [f"{server.url}/a.tif", f"/vsicurl/{server.url}/c.tif"]
        bulk = BulkConfig(images=images, aux_patterns=["{stem}_aux.tif"], out_dir=str(tmp_path / "out"))
        first = segment_bulk(bulk, template)
        assert [s.status for s in first.scenes] == ["done", "done"], [s.error for s in first.scenes]
        again = segment_bulk(bulk, template)
        assert [s.status for s in again.scenes] == ["skipped", "skipped"]
    for name in ("a", "c"):
        single = tmp_path / f"{name}_local.tif"
        segment(template.replace(image=str(bulk_scenes / f"{name}.tif"), aux=[str(bulk_scenes / f"{name}_aux.tif")],
                                 output=str(single)))
        assert np.array_equal(read_pixels(tmp_path / "out" / f"{name}.tif"), read_pixels(single))


def test_manifest_rows_may_be_urls(tmp_path, bulk_scenes, bulk_model):
    template = SegmentConfig(image="", output="", models=[bulk_model], tile_size=64, device="cpu")
    with FileServer(bulk_scenes) as server:
        manifest = tmp_path / "m.csv"
        manifest.write_text(f"image,aux,output\n{server.url}/b.tif,{server.url}/b_aux.tif,bee.tif\n")
        result = segment_bulk(BulkConfig(manifest=str(manifest), out_dir=str(tmp_path / "out")), template)
    assert [s.status for s in result.scenes] == ["done"], [s.error for s in result.scenes]
    assert (tmp_path / "out" / "bee.tif").is_file()


def test_a_missing_url_fails_with_its_status_and_leaves_no_output(tmp_path, bulk_scenes, bulk_model):
    with FileServer(bulk_scenes, fail={"/gone.tif": 404}) as server:
        url = f"{server.url}/gone.tif"
        with pytest.raises(DataError) as error:
            segment(SegmentConfig(image=url, aux=[f"{server.url}/a_aux.tif"], output=str(tmp_path / "x.tif"),
                                  models=[bulk_model], device="cpu"))
    assert url in str(error.value) and "HTTP 404" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_transient_server_errors_are_retried(tmp_path, bulk_scenes, bulk_model):
    """The first two requests get 503: GDAL's retries (set by engine/io/network.py) carry the run through."""
    with FileServer(bulk_scenes, flaky=2) as server:
        result = segment(SegmentConfig(image=f"{server.url}/b.tif", aux=[f"{server.url}/b_aux.tif"],
                                       output=str(tmp_path / "b.tif"), models=[bulk_model], device="cpu"))
        assert server.statuses.get(503) == 2
    assert result.pixels == 64 * 64


def _two_layer_gpkg(tmp_path, synthetic_scene):
    """The scene's label polygons as the second layer of a GeoPackage whose first layer is an unrelated square."""
    path = tmp_path / "project.gpkg"
    gdal.VectorTranslate(str(path), synthetic_scene["label_vector"], layerName="my_buildings")
    ds = ogr.Open(str(path), 1)
    source = ds.GetLayerByName("my_buildings")
    first = ds.CreateLayer("roads", source.GetSpatialRef(), ogr.wkbPolygon)
    xmin, xmax, ymin, ymax = source.GetExtent()
    feature = ogr.Feature(first.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON(({xmin} {ymin},{xmin + 5} {ymin},{xmin + 5} {ymin + 5},{xmin} {ymin + 5},{xmin} {ymin}))"))
    first.CreateFeature(feature)
    ds = None
    return path


def test_the_named_geopackage_layer_is_read(tmp_path, synthetic_scene):
    path = _two_layer_gpkg(tmp_path, synthetic_scene)
    with SceneReader(synthetic_scene["image"], label=f"{path}|layername=my_buildings") as reader:
        named = reader.read(0, 0, reader.grid.width, reader.grid.height).label
    with SceneReader(synthetic_scene["image"], label=synthetic_scene["label_vector"]) as reader:
        alone = reader.read(0, 0, reader.grid.width, reader.grid.height).label
    np.testing.assert_array_equal(named, alone)
    with pytest.raises(DataError, match=r"holds 2 layers \(.*roads.*my_buildings|holds 2 layers \(my_buildings"):
        SceneReader(synthetic_scene["image"], label=str(path))
    with pytest.raises(DataError, match="has no layer 'roofs'"):
        SceneReader(synthetic_scene["image"], label=f"{path}|layername=roofs")


def test_a_style_table_is_no_second_layer(tmp_path, synthetic_scene):
    """QGIS saves styles into a table of the GeoPackage: it is no layer to choose between."""
    path = tmp_path / "styled.gpkg"
    shutil.copy(synthetic_scene["label_vector"], path)
    ds = ogr.Open(str(path), 1)
    ds.CreateLayer("layer_styles", None, ogr.wkbNone)
    ds = None
    with SceneReader(synthetic_scene["image"], label=str(path)) as reader:
        assert reader.read(0, 0, 8, 8).label is not None
