"""GeoTIFF stream writer (tiling, compression, overviews, colour table, category names), QML, polygons."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr
from rasterio.crs import CRS
from rasterio.transform import from_origin

from engine.errors import DataError
from engine.io.polygons import ClassRule, polygonize
from engine.io.safety import check_writable
from engine.io.writers import GeoTiffStreamWriter, qml_path_for, qml_text, set_palette

gdal.UseExceptions()
NAMES = ["background", "building", "road & <path>"]
COLORS = ["#000000", "#ff0000", "#00ff80"]


def _write_classes(path: Path, array: np.ndarray, chunk: int = 37) -> GeoTiffStreamWriter:
    writer = GeoTiffStreamWriter(path, width=array.shape[1], height=array.shape[0], count=1, dtype="uint8",
                                 crs=CRS.from_epsg(32652), transform=from_origin(500000, 4000000, 2, 2),
                                 nodata=255, block=64)
    for row in range(0, array.shape[0], chunk):
        writer.write_rows(row, array[None, row:row + chunk])
    return writer


def test_class_geotiff_is_styled_tiled_and_atomic(tmp_path):
    array = np.zeros((1100, 1040), np.uint8)  # overviews down to 512 px or less, as GDAL's COG driver: 1/2, 1/4
    array[80:240, 120:360] = 1
    array[400:560, 40:200] = 2
    array[:20] = 255
    dest = tmp_path / "classes.tif"
    writer = _write_classes(dest, array)
    writer.finalize(category_names=NAMES, describe=lambda band: set_palette(band, NAMES, COLORS))  # as segment does
    assert not dest.exists()  # nothing at the destination before commit
    writer.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif", "classes.tif.aux.xml"]
    ds = gdal.Open(str(dest))
    band = ds.GetRasterBand(1)
    np.testing.assert_array_equal(band.ReadAsArray(), array)
    assert band.GetNoDataValue() == 255
    assert band.GetCategoryNames()[:3] == NAMES
    table = band.GetColorTable()
    assert table.GetColorEntry(1)[:3] == (255, 0, 0) and table.GetColorEntry(2)[:3] == (0, 255, 128)
    assert band.GetBlockSize() == [64, 64]
    assert [band.GetOverview(i).XSize for i in range(band.GetOverviewCount())] == [520, 260]
    assert ds.GetMetadata("IMAGE_STRUCTURE").get("COMPRESSION") == "DEFLATE"
    assert "CLASS_NAMES" in band.GetMetadata()
    assert ds.GetGeoTransform() == (500000, 2, 0, 4000000, 0, -2)


def test_a_raster_of_at_most_512_px_gets_no_overviews(tmp_path):
    dest = tmp_path / "small.tif"
    writer = _write_classes(dest, np.ones((512, 300), np.uint8))
    writer.finalize(category_names=NAMES)
    writer.commit()
    assert gdal.Open(str(dest)).GetRasterBand(1).GetOverviewCount() == 0


def test_abort_leaves_previous_file_untouched(tmp_path):
    dest = tmp_path / "classes.tif"
    dest.write_bytes(b"previous")
    writer = _write_classes(dest, np.ones((64, 64), np.uint8))
    writer.abort()
    assert dest.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["classes.tif"]


def test_rows_must_be_in_order(tmp_path):
    writer = GeoTiffStreamWriter(tmp_path / "a.tif", width=20, height=20, count=1, dtype="uint8", crs=None,
                                 transform=from_origin(0, 20, 1, 1), nodata=255)
    with pytest.raises(ValueError):
        writer.write_rows(5, np.zeros((1, 5, 20), np.uint8))
    writer.abort()


def test_qml_parses_and_names_every_class(tmp_path):
    path = tmp_path / "a.qml"
    path.write_text(qml_text(NAMES, COLORS))
    root = ET.parse(path).getroot()
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    entries = renderer.findall("colorPalette/paletteEntry")
    assert [e.get("label") for e in entries] == NAMES
    assert [e.get("value") for e in entries] == ["0", "1", "2"]
    assert entries[2].get("color") == "#00ff80"
    assert qml_path_for("/x/out.tif") == Path("/x/out.qml")


def test_polygonize_with_names_area_and_min_area(tmp_path):
    array = np.zeros((100, 100), np.uint8)
    array[10:30, 10:30] = 1  # 400 px = 1600 m2
    array[50:52, 50:52] = 1  # 4 px = 16 m2, dropped by min_area
    array[60:90, 60:70] = 2
    raster = tmp_path / "c.tif"
    writer = _write_classes(raster, array)
    writer.finalize(category_names=NAMES)
    writer.commit()
    count = polygonize(raster, tmp_path / "p.gpkg", NAMES, classes=[1, 2], simplify=1.0,
                       rules={1: ClassRule(min_area=100.0), 2: ClassRule(min_area=100.0)})
    assert count == 2
    ds = ogr.Open(str(tmp_path / "p.gpkg"))
    layer = ds.GetLayer(0)
    rows = sorted((f.GetField("class_id"), f.GetField("class_name"), round(f.GetField("area_m2"))) for f in layer)
    assert rows == [(1, "building", 1600), (2, "road & <path>", 1200)]
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32652"
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "ok.tif", "output") == tmp_path / "ok.tif"
    with pytest.raises(DataError, match="does not exist"):
        check_writable(tmp_path / "missing" / "x.tif", "output")
    with pytest.raises(DataError, match="folder"):
        check_writable(tmp_path, "output")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    target = readonly / "x.tif" if os.geteuid() != 0 else Path("/sys/dualstream_out.tif")  # root ignores modes
    with pytest.raises(DataError, match="not writable"):
        check_writable(target, "output")


def test_ungeoreferenced_output_has_no_geotransform_and_no_rasterio_warning(tmp_path):
    """38-Cloud quirk: an image without georeferencing gives an output in pixel space, quietly (segmenting one
    printed rasterio's NotGeoreferencedWarning about the identity matrix)."""
    import warnings

    from affine import Affine

    dest = tmp_path / "plain.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        writer = GeoTiffStreamWriter(dest, width=40, height=30, count=1, dtype="uint8", crs=None,
                                     transform=Affine.identity(), nodata=255)
        writer.write_rows(0, np.ones((1, 30, 40), np.uint8))
        writer.finalize(category_names=NAMES)
        writer.commit()
    ds = gdal.Open(str(dest))
    assert ds.GetProjection() == "" and ds.RasterXSize == 40 and ds.RasterYSize == 30
    # none written, like the input: QGIS draws both the same way (an identity one drew the output upside down)
    assert ds.GetGeoTransform(can_return_null=True) is None
    np.testing.assert_array_equal(ds.GetRasterBand(1).ReadAsArray(), 1)


def test_process_alive_tells_a_finished_process_from_a_running_one():
    """What decides whether a hidden temp file is a killed run's (removed) or a live writer's (kept)."""
    import os
    import subprocess
    import sys

    from engine.io.atomic import process_alive

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process_alive(os.getpid()) and process_alive(running.pid) and process_alive(1)
        assert not process_alive(int(done.stdout))
    finally:
        running.kill()
        running.wait()
    assert not process_alive(running.pid)
