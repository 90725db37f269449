"""``resample_to_training_gsd``: predict at the training pixel size, write the outputs on the input grid.

Bundles are built directly (tiny preset, random seeded weights, metadata gsd [1, 1]); scenes are synthetic at
0.5 m (shrunk by averaging) and 2 m (enlarged bilinearly).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from osgeo import gdal

from engine.cli.main import build_parser
from engine.cli.segment import segment_config_from_args
from engine.config import SegmentConfig
from engine.data import synthetic
from engine.errors import CanceledError, ConfigError
from engine.segment import segment
from engine.segment.tiling import tile_count
from tests.helpers import NAMES, RecordingCallback, make_bundle

gdal.UseExceptions()


@pytest.fixture(scope="module")
def fine_scene(tmp_path_factory) -> dict:
    """A 150x190 px 4-band scene at 0.5 m with nodata 0 in its top-left 30x40 px corner."""
    scene = synthetic.make_scene(tmp_path_factory.mktemp("fine"), "fine", size=(150, 190), gsd=0.5, seed=2,
                                 aux_channels=0)
    with rasterio.open(scene["image"], "r+") as ds:
        ds.nodata = 0
        data = ds.read()
        data[:, :30, :40] = 0
        ds.write(data)
    return scene


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> str:
    return make_bundle(tmp_path_factory.mktemp("rs_bundles") / "m1.dsmodel", gsd=1.0)


def _grid(path: str) -> tuple:
    with rasterio.open(path) as ds:
        return ds.crs, ds.transform, ds.width, ds.height


def test_resampled_run_is_on_the_input_grid_with_nodata_style_and_agreeing_rasters(fine_scene, bundle, tmp_path):
    callback = RecordingCallback()
    out, probs_path = tmp_path / "classes.tif", tmp_path / "probs.tif"
    result = segment(SegmentConfig(image=fine_scene["image"], models=[bundle], output=str(out),
                                   probabilities=str(probs_path), polygons=str(tmp_path / "poly.gpkg"),
                                   device="cpu", resample_to_training_gsd=True), callback)
    assert _grid(str(out)) == _grid(fine_scene["image"]) == _grid(str(probs_path))
    # the model saw the scene at 1 m: 95x75 px -> 4 tiles of 64 px (the 0.5 m grid would need 12)
    assert result.working_gsd == pytest.approx([1.0, 1.0])
    assert result.tiles == tile_count(95, 64, 48) * tile_count(75, 64, 48) == 4
    assert (result.width, result.height, result.pixels) == (190, 150, 190 * 150)
    info = " ".join(callback.messages("info"))
    assert "factor 0.50" in info and "average" in info and "95x75 px" in info
    assert not callback.messages("warning"), "resampling must replace the resolution warning"

    with rasterio.open(fine_scene["image"]) as src:
        nodata = (src.read() == 0).all(axis=0)
    with rasterio.open(out) as ds:
        classes = ds.read(1)
        assert ds.nodata == 255 and ds.colormap(1)[1][:3] == (255, 0, 0)
        assert ds.tags()["DUALSTREAM_WORKING_GSD"] == "1 1"
        assert not ds.overviews(1), "190x150 px: no overviews (at most 512 px)"
    ds = gdal.Open(str(out))
    assert str(out) + ".aux.xml" in ds.GetFileList()  # loads GDAL's sidecar, where the category names live
    assert ds.GetRasterBand(1).GetCategoryNames()[:2] == NAMES
    ds = None
    assert (tmp_path / "classes.qml").is_file() and (tmp_path / "poly.gpkg").is_file()
    np.testing.assert_array_equal(classes == 255, nodata)  # nodata exactly where the input has it
    with rasterio.open(probs_path) as ds:
        probs = ds.read(1)
    assert np.isnan(probs[nodata]).all() and np.isfinite(probs[~nodata]).all()
    np.testing.assert_array_equal(classes[~nodata], (probs[~nodata] >= 0.5).astype(np.uint8))
    assert sorted(os.listdir(tmp_path)) == ["classes.qml", "classes.tif", "classes.tif.aux.xml", "poly.gpkg",
                                            "probs.tif"], "temp files or folders left behind"


def test_resampled_probabilities_are_those_of_the_scene_warped_to_the_training_gsd(fine_scene, bundle, tmp_path):
    """Same as: gdalwarp to 1 m (average), segment, warp the probabilities back bilinearly; unlike no resampling."""
    segment(SegmentConfig(image=fine_scene["image"], models=[bundle], output=str(tmp_path / "r.tif"),
                          probabilities=str(tmp_path / "r_p.tif"), device="cpu", resample_to_training_gsd=True))
    coarse = tmp_path / "coarse.tif"
    gdal.Warp(str(coarse), fine_scene["image"], xRes=1.0, yRes=1.0, resampleAlg="average")
    segment(SegmentConfig(image=str(coarse), models=[bundle], output=str(tmp_path / "c.tif"),
                          probabilities=str(tmp_path / "c_p.tif"), device="cpu"))
    crs, transform, width, height = _grid(fine_scene["image"])
    left, top = transform.c, transform.f
    back = gdal.Warp("", str(tmp_path / "c_p.tif"), format="MEM", width=width, height=height,
                     outputBounds=(left, top - 0.5 * height, left + 0.5 * width, top), resampleAlg="bilinear",
                     srcNodata="nan", dstNodata="nan").ReadAsArray()
    segment(SegmentConfig(image=fine_scene["image"], models=[bundle], output=str(tmp_path / "n.tif"),
                          probabilities=str(tmp_path / "n_p.tif"), device="cpu"))
    with rasterio.open(tmp_path / "r_p.tif") as a, rasterio.open(tmp_path / "n_p.tif") as b:
        resampled, plain = a.read(1), b.read(1)
    ok = np.isfinite(resampled)
    np.testing.assert_allclose(resampled[ok], back[ok], atol=1e-4)
    assert np.abs(resampled[ok] - plain[ok]).max() > 0.05, "the model must have seen other pixels than at 0.5 m"


def test_without_the_option_a_warning_gives_the_factor(fine_scene, bundle, tmp_path):
    callback = RecordingCallback()
    result = segment(SegmentConfig(image=fine_scene["image"], models=[bundle], output=str(tmp_path / "o.tif"),
                                   device="cpu"), callback)
    warning = " ".join(callback.messages("warning"))
    assert "0.50 times the training pixel size" in warning and "resample_to_training_gsd" in warning
    assert result.working_gsd == [0.5, 0.5] and result.tiles == 12


def test_coarse_image_enlarged_with_extent_ensemble_and_uint8_probabilities(tmp_path):
    """2 m image, extent cutting pixels, two members (1 m and 2 m: warned, the first one's pixel size is used)."""
    scene = synthetic.make_scene(tmp_path / "coarse", "coarse", size=(40, 50), gsd=2.0, seed=4, aux_channels=0)
    first = make_bundle(tmp_path / "a.dsmodel", gsd=1.0, seed=1)
    second = make_bundle(tmp_path / "b.dsmodel", gsd=2.0, seed=2)
    _, t, _, _ = _grid(scene["image"])
    extent = [t.c + 10.5, t.f - 61.0, t.c + 77.3, t.f - 4.2]
    plain, resampled = tmp_path / "plain.tif", tmp_path / "resampled.tif"
    segment(SegmentConfig(image=scene["image"], models=[first, second], output=str(plain), extent=extent,
                          device="cpu"))
    callback = RecordingCallback()
    result = segment(SegmentConfig(image=scene["image"], models=[first, second], output=str(resampled),
                                   extent=extent, probabilities=str(tmp_path / "p.tif"), probability_dtype="uint8",
                                   device="cpu", resample_to_training_gsd=True), callback)
    assert _grid(str(resampled)) == _grid(str(plain)) == _grid(str(tmp_path / "p.tif"))
    assert (result.width, result.height) == (39 - 5, 31 - 2)  # snapped outward like the plain run
    assert result.working_gsd == pytest.approx([1.0, 1.0], rel=0.02)
    assert "bilinear" in " ".join(callback.messages("info"))
    assert any("different pixel sizes" in w for w in callback.messages("warning"))
    with rasterio.open(resampled) as ds, rasterio.open(tmp_path / "p.tif") as p:
        classes, scaled = ds.read(1), p.read(1)
        assert p.dtypes[0] == "uint8" and p.scales[0] == pytest.approx(1 / 254)
    assert (classes != 255).all()
    sure = scaled != 127  # round(p * 254) == 127 holds p on both sides of 0.5
    np.testing.assert_array_equal(classes[sure], (scaled[sure] > 127).astype(np.uint8))


def test_image_at_the_training_gsd_is_segmented_as_is(tmp_path, bundle):
    scene = synthetic.make_scene(tmp_path / "s", "s", size=(48, 56), gsd=1.0, seed=5, aux_channels=0)
    callback = RecordingCallback()
    segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(tmp_path / "a.tif"), device="cpu",
                          resample_to_training_gsd=True), callback)
    segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(tmp_path / "b.tif"), device="cpu"))
    assert any("without resampling" in m for m in callback.messages("info"))
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_ungeoreferenced_image_is_refused_and_cancel_leaves_nothing(fine_scene, bundle, tmp_path):
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=40, height=40, count=4, dtype="uint16") as ds:
        ds.write(np.full((4, 40, 40), 1000, np.uint16))
    with pytest.raises(ConfigError, match="georeferencing"):
        segment(SegmentConfig(image=str(plain), models=[bundle], output=str(tmp_path / "x.tif"), device="cpu",
                              resample_to_training_gsd=True))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for cancel_after in (2, 9):  # during the prediction, then while warping back
        with pytest.raises(CanceledError):
            segment(SegmentConfig(image=fine_scene["image"], models=[bundle], output=str(out_dir / "c.tif"),
                                  polygons=str(out_dir / "c.gpkg"), device="cpu", batch_size=1,
                                  resample_to_training_gsd=True), RecordingCallback(cancel_after=cancel_after))
        assert list(out_dir.iterdir()) == [], f"cancel after {cancel_after} progress calls left files"


def test_cli_flag(tmp_path):
    args = build_parser().parse_args(["segment", "--image", "i.tif", "--model", "m.dsmodel", "--out",
                                      str(Path(tmp_path) / "o.tif"), "--resample-to-training-gsd"])
    assert segment_config_from_args(args).resample_to_training_gsd is True
    args = build_parser().parse_args(["segment", "--image", "i.tif", "--model", "m.dsmodel", "--out", "o.tif"])
    assert segment_config_from_args(args).resample_to_training_gsd is False


def test_the_warped_image_is_what_the_model_reads_units_stated(tmp_path):
    """The warp starts from what the plan reads (bands picked, values in the model's units), not the file as given:
    before, digital numbers with ``value_scale`` 0.0001 were warped as digital numbers (86 % of the classes of
    the same scene given as reflectance); bands picked from a larger file failed ("The data has 12 band(s)",
    tests/engine/test_image_reading.py)."""
    from rasterio.transform import from_origin

    model = make_bundle(tmp_path / "r.dsmodel", vision_high=1.0, seed=3, num_classes=2, class_names=["a", "b"],
                        gsd=10.0)
    reflectance = ((np.random.default_rng(7).uniform(0.0, 0.5, size=(4, 48, 56)) * 10000).round() / 10000)
    paths = {}
    for name, values in (("refl", reflectance.astype(np.float32)), ("dn", np.rint(reflectance * 10000)
                                                                     .astype(np.uint16))):
        paths[name] = tmp_path / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", width=56, height=48, count=4, dtype=values.dtype.name,
                           crs="EPSG:32633", transform=from_origin(500000, 6000000, 20, 20)) as ds:
            ds.write(values)
    outs = {name: tmp_path / f"{name}_classes.tif" for name in paths}
    segment(SegmentConfig(image=str(paths["refl"]), models=[model], output=str(outs["refl"]), device="cpu",
                          resample_to_training_gsd=True))
    segment(SegmentConfig(image=str(paths["dn"]), models=[model], output=str(outs["dn"]), device="cpu",
                          resample_to_training_gsd=True, value_scale=0.0001))
    with rasterio.open(outs["refl"]) as a, rasterio.open(outs["dn"]) as b:
        expected, got = a.read(1), b.read(1)
    assert len(np.unique(expected)) > 1 and (got == expected).mean() >= 0.999


def test_the_training_pixel_size_is_metres_on_the_ground_in_the_image_crs(tmp_path):
    """A model trained at 1 m in UTM, an image in Web Mercator at 60 N whose 2-unit pixels are 1 m on the ground:
    already at the training pixel size (before: 2 units against 1, resampled to half a metre)."""
    from rasterio.transform import from_origin

    model = make_bundle(tmp_path / "utm.dsmodel", gsd=1.0, crs="EPSG:32633")
    image = tmp_path / "mercator.tif"
    with rasterio.open(image, "w", driver="GTiff", width=40, height=40, count=4, dtype="uint16",
                       crs="EPSG:3857", transform=from_origin(1_500_000, 8_399_738, 2.0, 2.0)) as ds:
        ds.write(np.random.default_rng(1).integers(100, 4000, size=(4, 40, 40), dtype=np.uint16))
    callback = RecordingCallback()
    segment(SegmentConfig(image=str(image), models=[model], output=str(tmp_path / "m.tif"), device="cpu",
                          resample_to_training_gsd=True), callback)
    said = [m for m in callback.messages("info") if "already has the training pixel size" in m]
    assert said and "without resampling" in said[0], callback.messages("info")
