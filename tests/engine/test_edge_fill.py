"""An image's fill collar (engine/data/edge_fill.py): whole edge rows or columns of one value in every band, no nodata
declared (a clipped mosaic's border; the Massachusetts crop's two magenta rows) are read as nodata by training's
tiles, validation and segment's output, said once naming the file; uniform imagery inside the scene, or along part
of an edge, stays imagery, and a class raster read for evaluation is never judged."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from engine.data.edge_fill import find_collar
from engine.data.scene import SceneReader
from tests.helpers import LogLines

MAGENTA = (255, 0, 255)


def _write(path, data, nodata=None) -> str:
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=str(data.dtype), crs="EPSG:32619", transform=Affine(1, 0, 300000, 0, -1, 4700000))
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return str(path)


def _imagery(height: int = 80, width: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 200, (3, height, width), dtype=np.uint8)


def _collared(bottom: int = 2, left: int = 3) -> np.ndarray:
    data = _imagery()
    for band, value in enumerate(MAGENTA):
        data[band, data.shape[1] - bottom:, :] = value
        data[band, :, :left] = value
    return data


def test_a_collar_of_one_value_is_nodata_in_tiles_and_labels(tmp_path):
    image = _write(tmp_path / "scene.tif", _collared())
    label = _write(tmp_path / "label.tif", np.ones((1, 80, 96), np.uint8))  # buildings labelled in the collar too
    said = LogLines()
    with SceneReader(image, label=label, callback=said) as reader:
        assert reader.inside == (3, 0, 96, 78)
        assert reader.dates_window() == (3, 0, 93, 78)  # where training draws tiles and holds out validation
        tile = reader.read(0, 40, 64, 40)  # the left columns and the bottom rows
        assert not tile.valid[-2:].any() and not tile.valid[:, :3].any()
        assert tile.valid[:-2, 3:].all()
        assert (tile.label[~tile.valid] == 255).all() and (tile.label[tile.valid] == 1).all()
        assert (tile.vision[:, ~tile.valid] == 0).all()  # the model sees nodata, not magenta
        # tiles planned together (segment's shared cells) read the same
        reader.share_parts([(0, 40, 64, 40)])
        shared = reader.read(0, 40, 64, 40)
        assert np.array_equal(shared.valid, tile.valid) and np.array_equal(shared.vision, tile.vision)
    collar_lines = [line for line in said.lines if "fill collar" in line]
    assert len(collar_lines) == 1 and "scene.tif" in collar_lines[0]
    assert "2 bottom rows" in collar_lines[0] and "3 left columns" in collar_lines[0]
    assert "255, 0, 255" in collar_lines[0]


def test_uniform_imagery_inside_the_scene_or_along_part_of_an_edge_is_kept(tmp_path):
    data = _imagery()
    data[:, 30:60, 20:70] = 90  # a lake: one value in every band, inside the scene
    data[:, :5, 40:96] = 250  # a flat roof along most of the top edge, reaching the right edge
    data[:, 79, :95] = 10  # a dark road along the bottom row, all but its last pixel
    image = _write(tmp_path / "lake.tif", data)
    with rasterio.open(image) as dataset:
        assert find_collar(dataset, [1, 2, 3]) is None
    said = LogLines()
    with SceneReader(image, callback=said) as reader:
        assert reader.inside is None and reader.read(0, 0, 96, 80).valid.all()
    assert not any("fill collar" in line for line in said.lines)


def test_edges_of_another_value_each_are_not_one_collar(tmp_path):
    data = _imagery()
    data[:, 0, :] = 0  # a black top row ...
    data[:, -1, :] = 255  # ... and a white bottom row: two flat lines, not one fill colour
    with rasterio.open(_write(tmp_path / "two.tif", data)) as dataset:
        collar = find_collar(dataset, [1, 2, 3])
    assert collar is not None and collar.inside == (0, 1, 96, 80) and collar.value == (0.0, 0.0, 0.0)


def test_a_collar_the_file_declares_nodata_or_a_flat_image_is_left_alone(tmp_path):
    data = _imagery()
    data[:, -2:, :] = 0
    declared = _write(tmp_path / "declared.tif", data, nodata=0)
    flat = _write(tmp_path / "flat.tif", np.full((3, 80, 96), 7, np.uint8))
    for path in (declared, flat):
        with rasterio.open(path) as dataset:
            assert find_collar(dataset, [1, 2, 3]) is None
    with SceneReader(declared) as reader:  # the file's own nodata: invalid as before, nothing new said
        assert not reader.read(0, 0, 96, 80).valid[-2:].any()


def test_a_class_raster_read_for_evaluation_is_never_judged(tmp_path):
    classes = np.zeros((1, 80, 96), np.uint8)
    classes[0, 20:40, 20:40] = 1  # background along every edge: the edges are one value
    with SceneReader(_write(tmp_path / "classes.tif", classes), role="prediction") as reader:
        assert reader.inside is None and reader.read(0, 0, 96, 80).valid.all()


def test_segment_writes_nodata_over_the_collar_and_says_it_once(tmp_path):
    pytest.importorskip("torch")
    from engine.api import SegmentConfig, segment
    from tests.helpers import make_bundle

    image = _write(tmp_path / "scene.tif", _collared())
    bundle = make_bundle(tmp_path / "m.dsmodel", vision_bands=3, vision_high=255.0)
    said = LogLines()
    out = tmp_path / "classes.tif"
    segment(SegmentConfig(image=image, models=[bundle], output=str(out), device="cpu"), said)
    with rasterio.open(out) as ds:
        written = ds.read(1)
        nodata = ds.nodata
    assert (written[-2:] == nodata).all() and (written[:, :3] == nodata).all()
    assert (written[:-2, 3:] != nodata).all()
    assert sum("fill collar" in line for line in said.lines) == 1


def test_an_image_of_one_band_is_not_judged(tmp_path):
    """One band cannot tell fill from data: a DEM's or an NDVI's edge row of sea at exactly 0 is data."""
    dem = _imagery()[:1]
    dem[:, -3:, :] = 0
    with rasterio.open(_write(tmp_path / "dem.tif", dem)) as dataset:
        assert find_collar(dataset, [1]) is None
    with rasterio.open(_write(tmp_path / "rgb.tif", np.concatenate([dem] * 3))) as dataset:
        assert find_collar(dataset, [1, 2, 3]).inside == (0, 0, 96, 77)  # the same edge in three bands: fill


def test_a_deep_collar_or_a_huge_flat_image_is_judged_from_a_few_lines(tmp_path, monkeypatch):
    """Defect: each edge was peeled line by line, so a 65536 px sparse (all 0) image read every line of it, and
    qgis_process's segment of it hung past the 300 s a refusal may take. The collar is contiguous from the edge:
    lines 1, 2, 4, ... are probed, then the boundary halved down."""
    from osgeo import gdal

    from engine.data import edge_fill

    calls = []
    line = edge_fill._line
    monkeypatch.setattr(edge_fill, "_line", lambda *a: calls.append(a[3]) or line(*a))
    data = np.random.default_rng(1).integers(20, 200, (3, 700, 600), dtype=np.uint8)
    data[:, :300, :] = 0  # 300 black rows on top
    data[:, :, -7:] = 0  # 7 black columns on the right
    with rasterio.open(_write(tmp_path / "deep.tif", data)) as dataset:
        assert find_collar(dataset, [1, 2, 3]).inside == (0, 300, 593, 700)
    assert len(calls) < 60, len(calls)  # line by line: over 300
    calls.clear()
    huge = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "huge.tif"), 65536, 65536, 3, gdal.GDT_UInt16,
                                                options=["TILED=YES", "SPARSE_OK=TRUE", "BIGTIFF=YES"])
    huge.SetGeoTransform((300000, 1, 0, 4700000, 0, -1))
    huge = None
    with rasterio.open(tmp_path / "huge.tif") as dataset:
        assert find_collar(dataset, [1, 2, 3]) is None  # flat: left to the data checks
    assert len(calls) < 40, len(calls)
