"""Geo-alignment: aux rasters in another CRS/resolution/extent are warped onto each tile's aux grid."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from engine.data import synthetic
from engine.data.raster import compose
from engine.data.scene import SceneReader
from engine.errors import AlignmentError, DataError
from tests.helpers import RecordingCallback

SEED = 0
RATIO = 8
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def aux_centres(transform: Affine, height: int, width: int, ratio: int = RATIO) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates of the aux pixel centres of a tile."""
    t = compose(transform, Affine.scale(ratio))
    cols, rows = np.meshgrid(np.arange(width // ratio) + 0.5, np.arange(height // ratio) + 0.5)
    return t.c + cols * t.a, t.f + rows * t.e


def relative_error(got: np.ndarray, expected: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Mean absolute error per channel in units of the channel's scale (the field amplitude)."""
    scale = synthetic._channel_params(got.shape[0], seed)[1]
    return np.abs(got - expected).mean(axis=(1, 2)) / scale


def naive_resize(path: str, out_h: int, out_w: int) -> np.ndarray:
    """The reference's whole-file resize: the aux file stretched over the image, ignoring georeferencing."""
    from scipy.ndimage import zoom

    with rasterio.open(path) as src:
        data = src.read().astype(np.float64)
    return np.stack([zoom(b, (out_h / b.shape[0], out_w / b.shape[1]), order=1) for b in data])


@pytest.mark.parametrize("aux_crs", ["EPSG:4326", "EPSG:3857"])
def test_aux_tile_matches_the_field_at_map_positions(tmp_path, aux_crs):
    paths = synthetic.make_scene(tmp_path, "geo", size=(192, 192), seed=SEED, aux_crs=aux_crs, aux_channels=48)
    with rasterio.open(paths["aux"][0]) as src:
        assert src.crs.to_string() == aux_crs
        assert not src.transform.almost_equals(Affine.identity())
    with SceneReader(paths["image"], paths["aux"], aux_ratio=RATIO) as reader:
        assert reader.grid.crs.to_epsg() == 32652
        assert reader.aux_channels == 48
        # offsets that are not multiples of the ratio: the aux grid follows the tile, not the file
        for col, row in [(0, 0), (13, 37), (64, 128), (101, 5)]:
            tile = reader.read(col, row, 64, 64)
            assert tile.aux.shape == (48, 8, 8)
            assert tile.aux_valid.all()
            xs, ys = aux_centres(tile.transform, 64, 64)
            expected = synthetic.expected_aux(xs, ys, SEED, 48)
            err = relative_error(tile.aux, expected)
            assert err.max() < 0.04, (col, row, err.max())
            # a read shifted by one aux pixel (8 m) must NOT match: the test can tell alignment errors apart
            shifted = synthetic.expected_aux(xs + RATIO, ys, SEED, 48)
            assert relative_error(tile.aux, shifted).mean() > 0.1


def test_naive_whole_file_resize_does_not_match(synthetic_scene):
    """What an unwarped read would give (the aux file stretched over the image) is far from the truth."""
    with SceneReader(synthetic_scene["image"], synthetic_scene["aux"], aux_ratio=RATIO) as reader:
        h, w = reader.grid.shape
        tile = reader.read(0, 0, w, h)
    xs, ys = aux_centres(tile.transform, h, w)
    expected = synthetic.expected_aux(xs, ys, SEED, 48)
    naive = naive_resize(synthetic_scene["aux"][0], h // RATIO, w // RATIO)
    good, bad = relative_error(tile.aux, expected), relative_error(naive, expected)
    assert good.max() < 0.04
    assert bad.mean() > 0.25 and bad.mean() > 8 * good.mean()


def test_aux_class_signal_predicts_the_label(synthetic_scene):
    """The class is recoverable from the warped aux field exactly where the label says it is."""
    with SceneReader(synthetic_scene["image"], synthetic_scene["aux"], synthetic_scene["label"],
                     label_mapping={"90": 1}) as reader:
        tile = reader.read(0, 0, 128, 128)
    base, scale, sign, _ = synthetic._channel_params(48, SEED)
    # channel 0 = base + scale*(sign*f + 0.35*drift): remove the drift using the known formula, recover f
    xs, ys = aux_centres(tile.transform, 128, 128)
    drift_free = synthetic.expected_aux(xs, ys, SEED, 48, informative=False)
    field = (tile.aux[0] - drift_free[0]) / (scale[0] * sign[0])
    predicted = field > synthetic.THRESHOLD
    truth = synthetic.class_at(xs, ys, SEED).astype(bool)
    assert (predicted == truth).mean() > 0.95
    coarse_label = tile.label.reshape(16, 8, 16, 8).mean(axis=(1, 3)) > 0.5
    assert (coarse_label == truth).mean() > 0.9


def test_partial_aux_coverage_is_invalid_outside(tmp_path):
    paths = synthetic.make_scene(tmp_path, "edge", size=(128, 128), seed=1, aux_channels=3)
    with SceneReader(paths["image"], paths["aux"]) as reader:
        # far beyond the image and the aux margin: nothing valid, values 0
        tile = reader.read(2000, 2000, 64, 64)
        assert not tile.aux_valid.any()
        assert not tile.valid.any()
        assert np.all(tile.aux == 0)
        inside = reader.read(32, 32, 64, 64)
        assert inside.aux_valid.all()


def _write(path, data, crs=None, transform=None, nodata=None):
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=str(data.dtype))
    if crs is not None:
        profile.update(crs=crs, transform=transform)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return str(path)


def test_ungeoreferenced_aux_falls_back_to_whole_file_resize_with_warning(tmp_path, synthetic_scene):
    rng = np.random.default_rng(0)
    coarse = rng.normal(100, 10, size=(5, 16, 16)).astype(np.float32)
    aux = _write(tmp_path / "plain_aux.tif", coarse)
    callback = RecordingCallback()
    with SceneReader(synthetic_scene["image"], [aux], callback=callback) as reader:
        full = reader.read(0, 0, 128, 128)
        part = reader.read(64, 32, 64, 64)
    warnings = callback.messages("warning")
    assert any("plain_aux.tif" in w and "georeferenc" in w for w in warnings)
    # a 16x16 file over a 128x128 image at ratio 8 is an identity resize: the tile crops the file
    np.testing.assert_allclose(full.aux, coarse, rtol=1e-5)
    np.testing.assert_allclose(part.aux, coarse[:, 4:12, 8:16], rtol=1e-5)


def test_ungeoreferenced_image_works_in_pixel_space(tmp_path):
    image = _write(tmp_path / "img.tif", np.full((3, 64, 64), 500, dtype=np.uint16))
    label = _write(tmp_path / "lbl.tif", np.tile(np.array([0, 255], dtype=np.uint8).repeat(32), (1, 64, 1)))
    aux = _write(tmp_path / "aux.tif", np.arange(2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8))
    callback = RecordingCallback()
    with SceneReader(image, [aux], label, label_mapping={"255": 1}, callback=callback) as reader:
        tile = reader.read(0, 0, 64, 64)
        assert reader.crs_wkt is None
    assert any("img.tif" in w for w in callback.messages("warning"))
    assert tile.label[:, :32].max() == 0 and tile.label[:, 32:].min() == 1
    np.testing.assert_allclose(tile.aux, np.arange(128, dtype=np.float32).reshape(2, 8, 8))


def test_ungeoreferenced_image_with_georeferenced_aux_is_an_error(tmp_path, synthetic_scene):
    image = _write(tmp_path / "img.tif", np.full((3, 64, 64), 500, dtype=np.uint16))
    with pytest.raises(DataError, match="img.tif"):
        SceneReader(image, synthetic_scene["aux"])


def test_aux_without_overlap_is_an_alignment_error(tmp_path, synthetic_scene):
    far = _write(tmp_path / "far_aux.tif", np.ones((2, 10, 10), dtype=np.float32), "EPSG:4326",
                 Affine(0.01, 0, -60.0, 0, -0.01, -30.0))
    with pytest.raises(AlignmentError) as info:
        SceneReader(synthetic_scene["image"], [far])
    assert "far_aux.tif" in str(info.value) and "scene_image.tif" in str(info.value)


def test_too_few_aux_bands_names_the_file_and_counts(tmp_path):
    paths = synthetic.make_scene(tmp_path, "few", size=(64, 64), seed=2, aux_channels=[12, 5])
    with pytest.raises(DataError) as info:
        SceneReader(paths["image"], paths["aux"], aux_bands_per_file=12)
    message = str(info.value)
    assert paths["aux"][1].split("/")[-1] in message and "5 band" in message and "12" in message


def test_first_n_bands_of_each_aux_file_are_used(tmp_path):
    paths = synthetic.make_scene(tmp_path, "extra", size=(64, 64), seed=3, aux_channels=[12, 12, 12, 12],
                                 aux_extra_bands=2)
    with rasterio.open(paths["aux"][0]) as src:
        assert src.count == 14
    with SceneReader(paths["image"], paths["aux"], aux_bands_per_file=12) as reader:
        assert reader.aux_channels == 48
        tile = reader.read(0, 0, 64, 64)
    xs, ys = aux_centres(tile.transform, 64, 64)
    assert relative_error(tile.aux, synthetic.expected_aux(xs, ys, 3, 48), seed=3).max() < 0.04


def test_label_raster_on_another_grid_is_warped_nearest(tmp_path, synthetic_scene):
    from osgeo import gdal

    gdal.UseExceptions()
    other = str(tmp_path / "label_3857.tif")
    gdal.Warp(other, synthetic_scene["label"], dstSRS="EPSG:3857", xRes=0.6, yRes=0.6, resampleAlg="near")
    with SceneReader(synthetic_scene["image"], label=synthetic_scene["label"], label_mapping={"90": 1}) as same, \
            SceneReader(synthetic_scene["image"], label=other, label_mapping={"90": 1}) as warped:
        a = same.read(0, 0, 128, 128).label
        b = warped.read(0, 0, 128, 128).label
    inside = b != 255
    assert inside.mean() > 0.95  # the warped raster covers (almost) the whole image
    assert (a[inside] == b[inside]).mean() > 0.97
    assert 0.1 < a.mean() < 0.9  # both classes present, so agreement is not trivial


def test_label_without_overlap_names_both_files(tmp_path, synthetic_scene):
    far = _write(tmp_path / "far_label.tif", np.full((1, 32, 32), 90, dtype=np.uint8), "EPSG:32652",
                 Affine(1, 0, 100000, 0, -1, 1000000))
    with pytest.raises(AlignmentError) as info:
        SceneReader(synthetic_scene["image"], label=far)
    assert "far_label.tif" in str(info.value) and "scene_image.tif" in str(info.value)



def test_aux_nodata_and_nan_are_invalid(tmp_path):
    paths = synthetic.make_scene(tmp_path, "holes", size=(128, 128), seed=6, aux_channels=2)
    with rasterio.open(paths["aux"][0]) as src:
        profile, data = src.profile, src.read()
    data[0, :, : data.shape[2] // 2] = -9999.0  # western half nodata
    data[1, 0:3, :] = np.nan  # a NaN strip along the northern edge (north of the image)
    profile["nodata"] = -9999.0
    with rasterio.open(tmp_path / "holes.tif", "w", **profile) as dst:
        dst.write(data)
    with SceneReader(paths["image"], [str(tmp_path / "holes.tif")]) as reader:
        tile = reader.read(0, 0, 128, 128)
        outside = reader.read(-64, -200, 128, 128)  # reaches the NaN strip and beyond the aux
    assert not tile.aux_valid[:, :2].any() and tile.aux_valid[:, -2:].all()
    assert np.all(tile.aux[:, ~tile.aux_valid] == 0)
    assert not outside.aux_valid.all() and np.isfinite(outside.aux).all()


def test_global_aux_grid_in_degrees(tmp_path, synthetic_scene):
    """A world-wide coarse grid (cannot be projected whole into UTM) still aligns over the tile."""
    lon = np.linspace(-179.5, 179.5, 360)
    lat = np.linspace(89.5, -89.5, 180)
    grid = (lon[None, :] + 1000 * lat[:, None]).astype(np.float32)[None]  # value encodes the 1-degree cell
    path = _write(tmp_path / "world.tif", grid, "EPSG:4326", Affine(1, 0, -180, 0, -1, 90))
    with SceneReader(synthetic_scene["image"], [path]) as reader:
        tile = reader.read(0, 0, 128, 128)
    assert tile.aux_valid.all()
    # the scene lies near 37.47 N, 126.97 E: bilinear between the cells around it
    expected_lon, expected_lat = 126.97, 37.47
    expected = (expected_lon + 1000 * expected_lat)
    assert abs(float(tile.aux.mean()) - expected) < 5


def test_aux_files_of_one_grid_are_warped_in_one_stack_with_the_same_values(tmp_path, monkeypatch):
    """Four 12-band files on one grid (the reference layout, one with nodata holes): warped together per tile, one
    warp call, and every tile's values equal those of the files warped one by one (on and off the aux lattice,
    reaching outside the image and the aux)."""
    from engine.data import align, scene_aux

    paths = synthetic.make_scene(tmp_path, "stack", size=(128, 128), seed=3, aux_channels=[12, 12, 12, 12])
    holes = tmp_path / "holes.tif"
    with rasterio.open(paths["aux"][1]) as src:
        profile, data = src.profile, src.read()
    data[:, :, : data.shape[2] // 3] = -9999.0
    data[2, 0:4, :] = np.nan
    profile["nodata"] = -9999.0
    with rasterio.open(holes, "w", **profile) as dst:
        dst.write(data)
    aux = [paths["aux"][0], str(holes), paths["aux"][2], paths["aux"][3]]
    for path in aux[2:]:  # the same nodata as the file with holes: the three share one grid key
        with rasterio.open(path, "r+") as dst:
            dst.nodata = -9999.0
    windows = [(0, 0, 128, 128), (13, 5, 64, 64), (-40, 70, 96, 96), (3, -200, 128, 128), (57, 33, 48, 48)]
    calls: list[int] = []
    real = align.warp_to_grid

    def counting(source, *args, **kwargs):
        calls.append(1)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(scene_aux, "warp_to_grid", counting)
    with SceneReader(paths["image"], aux) as reader:
        assert reader._aux_stacks == [[0], [1, 2, 3]]  # the first file has no nodata
        stacked = [reader.read(*w) for w in windows]
        held = reader._handles[("stack", 1)]
        assert held.count == 36 and not held.closed  # the three files' bands, one in-memory dataset
        # the stack as a numpy array (how it was warped before: rasterio then works on the whole array every call)
        files = [rasterio.open(path) for path in aux[1:]]
        array = np.concatenate([f.read(out_dtype="float32") for f in files])
        for f in files:
            f.close()
        key = reader._aux[1].grid_key
        for window, tile in zip(windows, stacked):
            grid = align.aux_grid(align.tile_grid(reader.grid, *window), reader.aux_ratio)
            data, ok = real(array, grid, src_transform=key[1], src_crs=key[0], src_nodata=key[3])
            valid = tile.aux_valid
            assert not (valid & ~ok).any() and np.array_equal(tile.aux[12:][:, valid], data[:, valid])
    assert held.closed  # closed with the reader's files
    assert len(calls) == 2 * len(windows)
    monkeypatch.setattr(scene_aux, "STACK_BYTES", 0)  # every file alone, as before stacks
    calls.clear()
    with SceneReader(paths["image"], aux) as reader:
        assert len(reader._aux_stacks) == 4
        alone = [reader.read(*w) for w in windows]
    assert len(calls) == 4 * len(windows)
    for a, b in zip(stacked, alone):
        assert a.aux.shape[0] == 48 and np.array_equal(a.aux, b.aux) and np.array_equal(a.aux_valid, b.aux_valid)
    assert any(not t.aux_valid.all() for t in stacked) and any(t.aux_valid.any() for t in stacked)


def test_integer_aux_files_stack_with_the_values_of_their_own_warps(tmp_path, monkeypatch):
    """Files of 8- and 16-bit integers (float32 holds them exactly) stack with a float32 file on their grid, and
    warp to the values each file's own warp gives."""
    from engine.data import scene_aux

    paths = synthetic.make_scene(tmp_path, "ints", size=(96, 96), seed=4, aux_channels=[3, 3, 3, 3])
    aux = []
    for index, (path, dtype, top) in enumerate(zip(paths["aux"], ("int16", "uint16", "uint8", "float32"),
                                                   (30000, 60000, 250, 1))):
        with rasterio.open(path) as src:
            profile, data = src.profile, src.read()
        data = ((data - data.min()) / (np.ptp(data) + 1e-9) * top).astype(dtype)
        aux.append(_write(tmp_path / f"a{index}.tif", data, profile["crs"], profile["transform"]))
    windows = [(0, 0, 96, 96), (13, 5, 48, 48), (-40, 50, 64, 64)]
    with SceneReader(paths["image"], aux) as reader:
        assert reader._aux_stacks == [[0, 1, 2, 3]]
        stacked = [reader.read(*w) for w in windows]
    monkeypatch.setattr(scene_aux, "STACK_BYTES", 0)
    with SceneReader(paths["image"], aux) as reader:
        alone = [reader.read(*w) for w in windows]
    for a, b in zip(stacked, alone):
        assert np.array_equal(a.aux, b.aux) and np.array_equal(a.aux_valid, b.aux_valid)
