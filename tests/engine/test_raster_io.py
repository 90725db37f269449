"""Raster I/O: grids, inspection, boundless reads, nodata/NaN validity, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from engine.data.raster import RasterGrid, band_count, grid_of, image_band_names, open_raster, read_window
from engine.data.scene import SceneReader
from engine.errors import DataError


def _write(path, data, crs="EPSG:32633", transform=Affine(2, 0, 500000, 0, -2, 6000000), nodata=None):
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=str(data.dtype), crs=crs, transform=transform)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return str(path)


def test_raster_grid_geometry():
    grid = RasterGrid("EPSG:32633", Affine(2, 0, 1000, 0, -2, 5000), 30, 20)
    assert grid.bounds == (1000, 4960, 1060, 5000)
    assert grid.res == (2.0, 2.0)
    assert grid.georeferenced
    t = grid.window_transform(5, 3)
    assert (t.c, t.f) == (1010, 4994)
    assert not RasterGrid(None, Affine.identity(), 10, 10).georeferenced


def test_raster_grid_and_bands(synthetic_scene):
    with open_raster(synthetic_scene["image"]) as dataset:
        grid = grid_of(dataset)
        assert band_count(dataset) == 4 and list(dataset.dtypes) == ["uint16"] * 4
    assert grid.crs.to_epsg() == 32652 and (grid.width, grid.height) == (128, 128)
    assert grid.res == (1.0, 1.0)
    assert image_band_names(synthetic_scene["image"]) == [None] * 4
    with open_raster(synthetic_scene["aux"][0]) as aux:
        assert band_count(aux) == 48 and grid_of(aux).crs.to_epsg() == 4326


def test_scene_reader_properties(synthetic_scene):
    with SceneReader(synthetic_scene["image"], synthetic_scene["aux"], synthetic_scene["label"]) as reader:
        assert reader.vision_bands == 4
        assert reader.aux_channels == 48
        assert reader.gsd == (1.0, 1.0)
        assert "UTM zone 52N" in reader.crs_wkt
        assert reader.grid.shape == (128, 128)


def test_boundless_read_marks_outside_invalid(synthetic_scene):
    with rasterio.open(synthetic_scene["image"]) as src:
        direct = src.read().astype(np.float32)
    with SceneReader(synthetic_scene["image"], synthetic_scene["aux"], synthetic_scene["label"],
                     label_mapping={"90": 1}) as reader:
        tile = reader.read(-16, -8, 64, 64)
    assert tile.vision.shape == (4, 64, 64) and tile.vision.dtype == np.float32
    assert not tile.valid[:8].any() and not tile.valid[:, :16].any()
    assert tile.valid[8:, 16:].all()
    assert np.all(tile.vision[:, :8] == 0)
    np.testing.assert_array_equal(tile.vision[:, 8:, 16:], direct[:, :56, :48])
    assert np.all(tile.label[:8] == 255) and np.all(tile.label[:, :16] == 255)
    assert set(np.unique(tile.label[8:, 16:]).tolist()) <= {0, 1}
    # the tile transform is the grid transform shifted by the window offset
    assert tile.transform.c == reader.grid.transform.c - 16 and tile.transform.f == reader.grid.transform.f + 8


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32"])
def test_nodata_and_nan_are_invalid(tmp_path, dtype):
    data = (np.arange(3 * 20 * 20) % 200 + 1).reshape(3, 20, 20).astype(dtype)
    nodata = {"uint8": 0, "uint16": 0, "int16": -9999, "float32": -1.0}[dtype]
    data[:, 0:5, 0:5] = nodata  # all bands nodata -> invalid
    data[0, 10, 10] = nodata  # one band only -> still valid
    if dtype == "float32":
        data[1, 15, 15] = np.nan
    path = _write(tmp_path / f"img_{dtype}.tif", data, nodata=nodata)
    with rasterio.open(path) as src:
        values, valid = read_window(src, 0, 0, 20, 20)
    assert not valid[0:5, 0:5].any()
    assert valid[10, 10]
    assert np.all(values[:, 0:5, 0:5] == 0)
    if dtype == "float32":
        assert not valid[15, 15] and values[1, 15, 15] == 0
    assert valid.sum() == 400 - 25 - (1 if dtype == "float32" else 0)


def test_unreadable_and_non_raster_files_name_the_file(tmp_path, synthetic_scene):
    text = tmp_path / "notes.tif"
    text.write_text("this is not a raster")
    with pytest.raises(DataError, match="notes.tif"):
        image_band_names(text)
    with pytest.raises(DataError, match="missing.tif"):
        image_band_names(tmp_path / "missing.tif")
    with pytest.raises(DataError, match="scene_label.gpkg"):
        image_band_names(synthetic_scene["label_vector"])
    with pytest.raises(DataError, match="notes.tif"):
        SceneReader(str(text))
    with pytest.raises(DataError, match="notes.tif"):
        SceneReader(synthetic_scene["image"], [str(text)])


def test_truncated_file_is_a_data_error(tmp_path, synthetic_scene):
    data = open(synthetic_scene["image"], "rb").read()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="cut.tif"):
        reader = SceneReader(str(cut))
        reader.read(0, 0, 128, 128)


def test_reader_survives_pickling(synthetic_scene):
    import pickle

    with SceneReader(synthetic_scene["image"], synthetic_scene["aux"], synthetic_scene["label_vector"]) as reader:
        first = reader.read(10, 10, 32, 32)
        clone = pickle.loads(pickle.dumps(reader))
    again = clone.read(10, 10, 32, 32)
    clone.close()
    np.testing.assert_array_equal(first.vision, again.vision)
    np.testing.assert_array_equal(first.aux, again.aux)
    np.testing.assert_array_equal(first.label, again.label)
