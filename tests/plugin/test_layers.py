"""Every layer QGIS shows as an input: scratch (memory) and multi-layer GeoPackage polygons, selected features
only, a raster over HTTP (/vsicurl/), an XYZ tile layer from a tile server on 127.0.0.1.

Real QgsApplication, real processing.run, real GDAL over a real HTTP server (bench/http_files.py); nothing mocked.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import rasterio

from bench.http_files import FileServer
from tests.helpers import make_bundle
from tests.plugin.keeping_feedback import Log

TRAIN = {"PRESET": "tiny", "EPOCHS": "1", "WARMUP_EPOCHS": "0", "BATCH_SIZE": "4", "TILE_SIZE": "64",
         "DEVICE": "cpu", "TILES_PER_EPOCH": "8", "SEED": "0", "VALIDATION_SHARE": "0.2"}


@pytest.fixture(autouse=True)
def clean_project():
    """Layers a test adds to the project leave with it."""
    yield
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()


@pytest.fixture(scope="module")
def scene(scenes):
    return scenes["train"]


def _scratch_copy(path: str, name: str = "scratch"):
    """The polygons of ``path`` copied into a memory layer, as digitised labels are."""
    from qgis.core import QgsFeature, QgsProject, QgsVectorLayer

    source = QgsVectorLayer(path, "source", "ogr")
    scratch = QgsVectorLayer(f"Polygon?crs={source.crs().authid()}", name, "memory")
    scratch.dataProvider().addAttributes(source.fields().toList())
    scratch.updateFields()
    features = []
    for feature in source.getFeatures():
        copy = QgsFeature(scratch.fields())
        copy.setGeometry(feature.geometry())
        copy.setAttributes(feature.attributes())
        features.append(copy)
    scratch.dataProvider().addFeatures(features)
    QgsProject.instance().addMapLayer(scratch)
    return scratch


def test_scratch_layer_labels_train_as_the_same_polygons_in_a_geopackage(plugin, scene, tmp_path):
    """A memory layer was refused ("save it as a GeoPackage first"); now Processing hands it over and the
    training sees exactly the data the GeoPackage gives."""
    import processing

    summaries, logs = {}, {}
    for name, labels in (("gpkg", scene["label_vector"]), ("scratch", _scratch_copy(scene["label_vector"]).id())):
        logs[name] = log = Log()
        processing.run("dualstream:train", dict(TRAIN, INPUT=scene["image"], LABELS=labels,
                                                OUTPUT=str(tmp_path / f"{name}.dsmodel")), feedback=log)
        summaries[name] = log.line("Data: ", "foreground")
    assert "foreground" in summaries["gpkg"]
    assert summaries["scratch"] == summaries["gpkg"]
    # the training's lines named the temporary GeoPackage ('LABELS.gpkg'); they name the layer the user chose
    handed = logs["scratch"].line("LABELS: 'scratch' (memory provider) handed over as the temporary GeoPackage")
    others = [line for line in logs["scratch"].lines if line != handed]
    assert not [line for line in others if "LABELS.gpkg" in line], others
    said = logs["scratch"].line("No labelled area for 'train_image.tif': ")
    assert "every pixel outside the label polygons of 'scratch' (scratch layer) is class 0" in said, said


@pytest.fixture(scope="module")
def prediction(scene, tmp_path_factory):
    """The scene's label raster as a class raster (90 -> 1): a perfect prediction."""
    path = tmp_path_factory.mktemp("prediction") / "prediction.tif"
    with rasterio.open(scene["label"]) as src:
        profile = src.profile
        classes = (src.read(1) == 90).astype("uint8")
    profile.update(dtype="uint8", nodata=255, count=1)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(classes, 1)
    return str(path)


def _evaluate(prediction: str, labels, tmp_path, name: str):
    import processing

    log = Log()
    result = processing.run("dualstream:evaluate", {"INPUT": prediction, "LABELS": labels, "LABEL_VALUES": 1,
                                                    "OUTPUT": str(tmp_path / f"{name}.json")}, feedback=log)
    return result, log


def test_selected_features_only_is_honoured(plugin, scene, prediction, tmp_path):
    """processing.run with QgsProcessingFeatureSourceDefinition(..., selectedFeaturesOnly=True) was refused as
    "neither a layer of the project nor a file that exists"; now only the selection is the labels."""
    from qgis.core import QgsProcessingFeatureSourceDefinition

    layer = _scratch_copy(scene["label_vector"], "selection")
    whole, _ = _evaluate(prediction, layer.id(), tmp_path, "whole")
    assert whole["MIOU"] == pytest.approx(1.0)
    layer.selectByIds([f.id() for f in layer.getFeatures()][:1])
    part, log = _evaluate(prediction, QgsProcessingFeatureSourceDefinition(layer.id(), True), tmp_path, "part")
    assert part["MIOU"] < 0.9  # the other polygons' pixels are now background in the labels
    assert any("1 selected feature(s) of 'selection'" in line for line in log.lines)
    layer.removeSelection()
    with pytest.raises(Exception, match="no feature of 'selection' is selected"):
        _evaluate(prediction, QgsProcessingFeatureSourceDefinition(layer.id(), True), tmp_path, "none")


def test_the_chosen_layer_of_a_project_geopackage_is_read(plugin, scene, prediction, tmp_path):
    """Labels saved as the second layer of a GeoPackage: the first layer was read (issue #40 item 11)."""
    from osgeo import gdal, ogr
    from qgis.core import QgsProject, QgsVectorLayer

    path = tmp_path / "project.gpkg"
    gdal.VectorTranslate(str(path), scene["label_vector"], layerName="my_buildings")
    ds = ogr.Open(str(path), 1)
    source = ds.GetLayerByName("my_buildings")
    first = ds.CreateLayer("aaa_roads", source.GetSpatialRef(), ogr.wkbPolygon)
    xmin, _, ymin, _ = source.GetExtent()
    feature = ogr.Feature(first.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON(({xmin} {ymin},{xmin + 9} {ymin},{xmin + 9} {ymin + 9},{xmin} {ymin + 9},{xmin} {ymin}))"))
    first.CreateFeature(feature)
    ds = None
    layer = QgsVectorLayer(f"{path}|layername=my_buildings", "my_buildings", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    result, _ = _evaluate(prediction, layer.id(), tmp_path, "layer")
    assert result["MIOU"] == pytest.approx(1.0)
    by_path, _ = _evaluate(prediction, f"{path}|layername=my_buildings", tmp_path, "path")
    assert by_path["MIOU"] == pytest.approx(1.0)


def test_a_raster_over_http_segments_as_the_file(plugin, scene, tmp_path):
    """A GDAL layer reading /vsicurl/http://... (a COG in an object store) was "not a local file"."""
    import processing
    from qgis.core import QgsProject, QgsRasterLayer

    model = make_bundle(tmp_path / "m.dsmodel", vision_bands=4, seed=1)
    folder = tmp_path / "served"
    folder.mkdir()
    gdal_translate = ["gdal_translate", "-q", "-of", "COG", scene["image"], str(folder / "scene.tif")]
    subprocess.run(gdal_translate, check=True)
    local = processing.run("dualstream:segment", {"INPUT": str(folder / "scene.tif"), "MODEL": model,
                                                  "OUTPUT": str(tmp_path / "local.tif")})
    with FileServer(folder) as server:
        layer = QgsRasterLayer(f"/vsicurl/{server.url}/scene.tif", "remote scene", "gdal")
        assert layer.isValid()
        QgsProject.instance().addMapLayer(layer)
        remote = processing.run("dualstream:segment", {"INPUT": layer.id(), "MODEL": model,
                                                       "OUTPUT": str(tmp_path / "remote.tif")})
        assert server.requests > 0
    with rasterio.open(local["OUTPUT"]) as a, rasterio.open(remote["OUTPUT"]) as b:
        assert np.array_equal(a.read(), b.read())


@pytest.fixture(scope="module")
def tiles(scene, tmp_path_factory):
    """XYZ tiles of the scene's first three bands (gdal2tiles.py) at zoom levels 15 and 16 (here ~3.8 and ~1.9 m
    on the ground): GDAL reads the level nearest to the pixel size asked for, and a level the server lacks is
    nodata."""
    root = tmp_path_factory.mktemp("xyz")
    rgb = root / "rgb.tif"
    subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-ot", "Byte", "-scale",
                    scene["image"], str(rgb)], check=True)
    subprocess.run(["gdal2tiles.py", "--xyz", "-q", "-z", "15-16", "-w", "none", "--processes", "1", str(rgb),
                    str(root / "tiles")], check=True, capture_output=True)
    return root / "tiles"


def test_an_xyz_layer_is_read_over_the_extent_at_the_pixel_size(plugin, tiles, scene, tmp_path):
    """A web layer was refused ("comes from the 'wms' provider"). It now needs an extent, and is read at the
    pixel size (default: the model's training pixel size, said in the log)."""
    import processing
    from qgis.core import QgsProcessingException, QgsProject, QgsRasterLayer

    model = make_bundle(tmp_path / "m3.dsmodel", vision_bands=3, seed=2, vision_high=255.0, gsd=4.0,
                        crs="EPSG:32633")
    with FileServer(tiles) as server:
        layer = QgsRasterLayer(f"type=xyz&url={server.url}/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax=16&zmin=16",
                               "tiles", "wms")
        assert layer.isValid()
        QgsProject.instance().addMapLayer(layer)
        params = {"INPUT": layer.id(), "MODEL": model, "OUTPUT": str(tmp_path / "xyz.tif")}
        with pytest.raises(QgsProcessingException, match="XYZ layer 'tiles' covers far more.*\\(EXTENT\\)"):
            processing.run("dualstream:segment", params)
        with rasterio.open(scene["image"]) as src:
            b = src.bounds
            extent = f"{b.left},{b.right},{b.bottom},{b.top} [{src.crs.to_string()}]"
        log = Log()
        result = processing.run("dualstream:segment", dict(params, EXTENT=extent), feedback=log)
        assert server.requests > 0
    assert any("read at 4 m per pixel, the model's training pixel size" in line for line in log.lines)
    with rasterio.open(result["OUTPUT"]) as out:
        assert out.crs.to_epsg() == 3857 and out.read(1).size == result["PIXELS"] > 0
        # the tiles were fetched: the scene's pixels are classes, not the nodata of missing tiles
        assert out.read(1, masked=True).count() > 0.8 * out.width * out.height


def test_segment_in_bulk_reads_a_web_layer_over_the_extent(plugin, tiles, scene, tmp_path):
    """Segment in bulk refused web layers ("segment it with Segment with DualStream"). Now each is read over EXTENT
    at the pixel size (the model's training one when empty), beside file scenes, its outputs named after it."""
    import processing
    from qgis.core import QgsProcessingException, QgsProject, QgsRasterLayer

    model = make_bundle(tmp_path / "m3.dsmodel", vision_bands=3, seed=2, vision_high=255.0, gsd=2.0,
                        crs="EPSG:32633")
    rgb = str(tiles.parent / "rgb.tif")
    with FileServer(tiles) as server:
        layer = QgsRasterLayer(f"type=xyz&url={server.url}/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax=16&zmin=16",
                               "tiles", "wms")
        assert layer.isValid()
        QgsProject.instance().addMapLayer(layer)
        params = {"INPUT": [layer.id(), rgb], "MODEL": model, "DEVICE": 0, "OUTPUT": str(tmp_path / "out")}
        with pytest.raises(QgsProcessingException, match="XYZ layer 'tiles' covers far more.*\\(EXTENT\\)"):
            processing.run("dualstream:segmentbulk", params)
        with rasterio.open(scene["image"]) as src:
            b = src.bounds
            extent = f"{b.left},{b.right},{b.bottom},{b.top} [{src.crs.to_string()}]"
        log = Log()
        result = processing.run("dualstream:segmentbulk", dict(params, EXTENT=extent), feedback=log)
        assert server.requests > 0
        # a web layer whose scene fails is reported by its layer's name, not by the description handed over
        four = make_bundle(tmp_path / "m4.dsmodel", vision_bands=4, seed=2, vision_high=255.0, gsd=2.0,
                           crs="EPSG:32633")
        failed_log = Log()
        failed = processing.run("dualstream:segmentbulk", dict(params, INPUT=[layer.id()], MODEL=four, EXTENT=extent,
                                                               OUTPUT=str(tmp_path / "out4")), feedback=failed_log)
    said = failed_log.line("XYZ layer 'tiles': ")
    assert failed["FAILED"] == 1 and "The XYZ layer 'tiles' has 3 band(s)" in said and ".web.vrt" not in said, said
    assert not [line for line in failed_log.lines if "<GDAL_WMS" in line or "type=xyz" in line]
    assert result["DONE"] == 2 and result["FAILED"] == 0
    log.line("1 web layer(s) read over 'Extent' (EXTENT) at the model's training pixel size (2 m); the other "
             "scenes are segmented whole")
    with rasterio.open(tmp_path / "out" / "tiles.tif") as web, rasterio.open(tmp_path / "out" / "rgb.tif") as file:
        assert web.crs.to_epsg() == 3857 and file.crs == rasterio.open(rgb).crs
        # the tiles were fetched: the scene's pixels are classes, not the nodata of missing tiles
        assert web.read(1, masked=True).count() > 0.8 * web.width * web.height


def test_train_reads_a_web_layer_through_the_engine_over_the_extent(plugin, tiles, scene, tmp_path):
    """Train windowed a web layer itself before the engine saw it. It now hands the layer's service over and the
    engine's image door reads it over the training extent at the pixel size for web layers, keeping the window
    beside the bundle (``NAME_web/``), which records it as the scene."""
    import processing
    from qgis.core import QgsProject, QgsRasterLayer

    with FileServer(tiles) as server:
        layer = QgsRasterLayer(f"type=xyz&url={server.url}/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax=16&zmin=16",
                               "tiles", "wms")
        assert layer.isValid()
        QgsProject.instance().addMapLayer(layer)
        with rasterio.open(scene["image"]) as src:
            b = src.bounds
            extent = f"{b.left},{b.right},{b.bottom},{b.top} [{src.crs.to_string()}]"
        log = Log()
        processing.run("dualstream:train", dict(TRAIN, INPUT=layer.id(), LABELS=scene["label_vector"],
                                                EXTENT=extent, PIXEL_SIZE=4.0,
                                                OUTPUT=str(tmp_path / "web.dsmodel")), feedback=log)
        assert server.requests > 0
    read = log.line("The XYZ layer 'tiles' is read over the extent at 4 m per pixel")
    assert not [line for line in log.lines if ".web.vrt" in line], log.lines  # its window: a file of the run
    log.line(f"No labelled area for 'tiles' (XYZ layer, {server.url}/{{z}}/{{x}}/{{y}}.png): ")
    window = next((tmp_path / "web_web").glob("*/tiles.web.vrt"))
    with rasterio.open(window) as src:
        assert src.crs.to_epsg() == 3857 and f"{src.width} x {src.height} pixels" in read
    assert (tmp_path / "web.dsmodel").is_file()
