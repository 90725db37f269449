"""``segment.zoom``: the image enlarged for the model, the outputs written on the image's grid (a georeferenced
image warped, one without georeferencing scaled in pixels), as the resample mode does (engine/segment/resample.py)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from osgeo import gdal

from engine.config import SegmentConfig
from engine.data import synthetic
from engine.errors import ConfigError
from engine.segment import segment
from tests.helpers import RecordingCallback, make_bundle

gdal.UseExceptions()


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict:
    return synthetic.make_scene(tmp_path_factory.mktemp("zoom"), "z", size=(70, 90), gsd=1.0, seed=3,
                                aux_channels=0)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> str:
    return make_bundle(tmp_path_factory.mktemp("zoom_bundle") / "m.dsmodel", gsd=1.0)


def _read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_zoom_reads_the_image_enlarged_and_writes_on_its_grid(scene, bundle, tmp_path):
    """Same as: the image enlarged twice (bilinear), segmented, its probabilities brought back bilinearly."""
    callback = RecordingCallback()
    result = segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(tmp_path / "z.tif"),
                                   probabilities=str(tmp_path / "z_p.tif"), device="cpu", zoom=2.0), callback)
    with rasterio.open(scene["image"]) as src, rasterio.open(tmp_path / "z.tif") as out:
        assert (out.crs, out.transform, out.width, out.height) == (src.crs, src.transform, src.width, src.height)
    assert result.working_gsd == pytest.approx([0.5, 0.5])
    assert any("zoom 2" in m and "180x140 px" in m for m in callback.messages("info"))
    big = tmp_path / "big.tif"
    gdal.Translate(str(big), scene["image"], width=180, height=140, resampleAlg="bilinear")
    segment(SegmentConfig(image=str(big), models=[bundle], output=str(tmp_path / "b.tif"),
                          probabilities=str(tmp_path / "b_p.tif"), device="cpu"))
    back = gdal.Translate("", str(tmp_path / "b_p.tif"), format="MEM", width=90, height=70,
                          resampleAlg="bilinear").ReadAsArray()
    zoomed = _read(tmp_path / "z_p.tif")
    np.testing.assert_allclose(zoomed, back, atol=1e-4)
    segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(tmp_path / "n.tif"),
                          probabilities=str(tmp_path / "n_p.tif"), device="cpu"))
    assert np.abs(zoomed - _read(tmp_path / "n_p.tif")).max() > 0.05, "the model must have read other pixels"


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_zoom_scales_an_image_without_georeferencing_in_pixels(bundle, tmp_path):
    plain = tmp_path / "plain.tif"
    rng = np.random.default_rng(0)
    with rasterio.open(plain, "w", driver="GTiff", width=50, height=40, count=4, dtype="uint16") as ds:
        ds.write(rng.integers(0, 4000, (4, 40, 50)).astype(np.uint16))
    callback = RecordingCallback()
    segment(SegmentConfig(image=str(plain), models=[bundle], output=str(tmp_path / "z.tif"),
                          probabilities=str(tmp_path / "z_p.tif"), device="cpu", zoom=1.5), callback)
    assert _read(tmp_path / "z.tif").shape == (40, 50)
    assert any("(pixels)" in m and "75x60 px" in m for m in callback.messages("info"))
    warned = callback.messages("warning")  # said once, of the image given, not of the enlarged copy read
    assert [m for m in warned if "no georeferencing" in m] == [m for m in warned if str(plain) in m] != []
    segment(SegmentConfig(image=str(plain), models=[bundle], output=str(tmp_path / "n.tif"),
                          probabilities=str(tmp_path / "n_p.tif"), device="cpu"))
    assert np.abs(_read(tmp_path / "z_p.tif") - _read(tmp_path / "n_p.tif")).max() > 0.05


def test_zoom_1_is_the_image_as_it_is_and_less_is_refused(scene, bundle, tmp_path):
    result = segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(tmp_path / "b.tif"),
                                   device="cpu", zoom=1.0))
    assert result.working_gsd == [1.0, 1.0]
    with pytest.raises(ConfigError, match=r"zoom must be in \[1, 4\]"):
        SegmentConfig(image=scene["image"], models=[bundle], output=str(tmp_path / "c.tif"), zoom=0.5)


def test_zoom_beside_the_training_pixel_size_and_on_the_command_line(bundle, tmp_path):
    """A 2 m image, a model of 1 m: resample_to_training_gsd with zoom 2 reads it at 0.5 m."""
    from engine.cli.main import build_parser
    from engine.cli.segment import segment_config_from_args

    coarse = synthetic.make_scene(tmp_path / "c", "c", size=(30, 40), gsd=2.0, seed=5, aux_channels=0)
    result = segment(SegmentConfig(image=coarse["image"], models=[bundle], output=str(tmp_path / "z.tif"),
                                   device="cpu", resample_to_training_gsd=True, zoom=2.0))
    assert result.working_gsd == pytest.approx([0.5, 0.5])
    assert _read(tmp_path / "z.tif").shape == (30, 40)
    args = build_parser().parse_args(["segment", "--image", "i.tif", "--model", "m.dsmodel", "--out",
                                      str(tmp_path / "o.tif"), "--zoom", "1.5"])
    assert segment_config_from_args(args).zoom == 1.5


def test_an_image_fill_collar_is_never_read_when_enlarged(bundle, tmp_path):
    """The bottom rows one value in every band (a fill collar, no nodata declared): enlarged, they are no output
    and the rows above do not depend on their value (the warp would blend it into them)."""
    probabilities = []
    for value in (1, 7777):
        scene = synthetic.make_scene(tmp_path / str(value), "s", size=(60, 70), gsd=1.0, seed=6, aux_channels=0)
        with rasterio.open(scene["image"], "r+") as ds:
            pixels = ds.read()
            pixels[:, -3:, :] = value
            ds.write(pixels)
        segment(SegmentConfig(image=scene["image"], models=[bundle], output=str(tmp_path / f"{value}.tif"),
                              probabilities=str(tmp_path / f"{value}_p.tif"), device="cpu", zoom=2.0))
        classes = _read(tmp_path / f"{value}.tif")
        assert (classes[-3:] == 255).all() and (classes[:-4] != 255).all()
        probabilities.append(_read(tmp_path / f"{value}_p.tif")[:-4])
    np.testing.assert_array_equal(probabilities[0], probabilities[1])


def test_a_season_is_refused_with_what_to_do(tmp_path, tiny_model):
    from rasterio.transform import from_origin

    from tests.helpers import bundle_of

    model = bundle_of(tiny_model("season", vision=1, classes=2), tmp_path / "season.dsmodel", bands=1, tile=32)
    profile = {"driver": "GTiff", "width": 40, "height": 40, "count": 1, "dtype": "float32", "crs": "EPSG:32633",
               "transform": from_origin(500000.0, 5000000.0, 10.0, 10.0)}
    dates = []
    for day in ("2024-03-01", "2024-05-01", "2024-07-01"):
        with rasterio.open(tmp_path / f"ndvi_{day}.tif", "w", **profile) as out:
            out.write(np.random.default_rng(0).random((1, 40, 40), dtype=np.float32))
            out.update_tags(ACQUISITIONDATETIME=f"{day}T10:00:00")
        dates.append(str(tmp_path / f"ndvi_{day}.tif"))
    with pytest.raises(ConfigError, match="not a season's dates: resample the dates with gdalwarp first"):
        segment(SegmentConfig(dates=dates, models=[str(model)], output=str(tmp_path / "s.tif"), device="cpu",
                              zoom=1.5))
    assert not (tmp_path / "s.tif").exists()


def test_a_rotated_image_is_refused_with_what_to_do(bundle, tmp_path):
    from affine import Affine

    rotated = tmp_path / "rotated.tif"
    with rasterio.open(rotated, "w", driver="GTiff", width=40, height=40, count=4, dtype="uint16", crs="EPSG:32633",
                       transform=Affine(1.0, 0.2, 500000.0, 0.2, -1.0, 5000000.0)) as ds:
        ds.write(np.full((4, 40, 40), 1000, np.uint16))
    with pytest.raises(ConfigError, match="rotated or not north-up; warp it to a north-up grid"):
        segment(SegmentConfig(image=str(rotated), models=[bundle], output=str(tmp_path / "r.tif"), device="cpu",
                              zoom=2.0))
    assert not (tmp_path / "r.tif").exists()
