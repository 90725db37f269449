"""Hostile inputs on the change surfaces (issue 79): areas in degrees, class rasters holding no class, outputs in
folders still to make, same-day images of a place, from-to labels, dates of other bands, export's notes, rotated
dates and all-changed masks. Each case failed before its fix."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from engine.cli.main import main
from engine.data.ground import METRES_PER_DEGREE, row_square_metres
from tests.helpers import cli

# 1e-5 degree pixels whose top edge lies at 42.0005 N (about 1.11 x 0.83 m there)
GEO = Affine(1e-5, 0, 12.0, 0, -1e-5, 42.0005)




def write(path: Path, data: np.ndarray, crs: str | None = "EPSG:4326", transform: Affine = GEO, **extra) -> str:
    data = data if data.ndim == 3 else data[None]
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=str(data.dtype), crs=crs, transform=transform, **extra) as dst:
        dst.write(data)
    return str(path)


def ground_hectares(rows: range, columns: int, transform: Affine = GEO) -> float:
    """The true area of ``columns`` pixels in each of ``rows`` (a sphere of WGS84's semi-major axis)."""
    total = 0.0
    for row in rows:
        latitude = transform.f + transform.e * (row + 0.5)
        total += columns * abs(transform.a) * METRES_PER_DEGREE * math.cos(math.radians(latitude)) \
            * abs(transform.e) * METRES_PER_DEGREE
    return total / 10_000


# ------------------------------------------------------------------------------------------------ areas
def test_a_row_of_degrees_holds_cos_latitude_of_the_equator_s_ground_and_metres_stay_flat():
    at_42 = row_square_metres("EPSG:4326", GEO, 10, 3)
    expected = [1e-10 * METRES_PER_DEGREE ** 2 * math.cos(math.radians(42.0005 - 1e-5 * (r + 0.5))) for r in range(3)]
    assert np.allclose(at_42, expected, rtol=1e-9)
    assert at_42[0] < at_42[2]  # the northern row holds less ground
    utm = row_square_metres("EPSG:32633", Affine(2, 0, 500000, 0, -2, 4650000), 10, 3)
    assert np.allclose(utm, 4.0)
    mercator = row_square_metres("EPSG:3857", Affine(10, 0, 0, 0, -10, 5_160_979.0), 10, 1)  # about 42 N
    assert mercator[0] == pytest.approx(100 * math.cos(math.radians(42.0)) ** 2, rel=1e-3)
    assert row_square_metres(None, GEO, 10, 3) is None


def test_a_change_table_in_degrees_counts_the_ground_each_row_holds(tmp_path, capsys):
    """0.0394 ha was reported where the ground held 0.0530 ha at 42 degrees: the pixel's degrees were shrunk by
    cos(latitude) both ways."""
    first, later = np.zeros((100, 100), np.uint8), np.zeros((100, 100), np.uint8)
    later[40:60, 40:60] = 1
    before, after = write(tmp_path / "b.tif", first), write(tmp_path / "a.tif", later)
    table = tmp_path / "t.csv"
    code, _, err = cli(capsys, "compare", "--before-classes", before, "--after-classes", after, "--out",
                       str(tmp_path / "c.tif"), "--change-table", str(table), "--quiet")
    assert code == 0, err
    row = table.read_text(encoding="utf-8").splitlines()[1].split(",")
    assert row[1] == "0 → 1" and row[4] == "400"
    assert float(row[5]) == pytest.approx(ground_hectares(range(40, 60), 20), abs=1e-4)  # 0.0368 ha


def test_a_change_model_s_table_in_degrees_weighs_each_row_also_from_the_writer_s_counts(tmp_path):
    """segment --change-table takes the writer's counts: in degrees the rows' pixels differ, so each is weighed."""
    from engine.segment.change_table import change_table

    classes = np.zeros((200, 10), np.uint8)
    classes[:100] = 1  # the northern half changed, the southern not
    tall = Affine(1e-3, 0, 12.0, 0, -1e-3, 60.0)  # 0.2 degrees of latitude: the rows differ by 0.6 %
    raster = write(tmp_path / "change.tif", classes, transform=tall)
    truth = ground_hectares(range(0, 100), 10, tall)
    for counted in (None, [1000, 1000]):
        rows = change_table(raster, tmp_path / "t.csv", counted=counted)
        assert rows[0].pixels == 1000
        assert rows[0].hectares == pytest.approx(truth, rel=1e-6)


# ------------------------------------------------------------------------------------------------ compare's inputs
@pytest.mark.parametrize("kind", ["negative", "nan"])
def test_a_class_raster_holding_no_class_is_refused_naming_it(tmp_path, capsys, kind):
    values = np.zeros((16, 16), np.int16 if kind == "negative" else np.float32)
    values[:4] = -1 if kind == "negative" else np.nan
    bad, good = write(tmp_path / "bad.tif", values), write(tmp_path / "good.tif", np.zeros((16, 16), np.uint8))
    code, _, err = cli(capsys, "compare", "--before-classes", bad, "--after-classes", good, "--out",
                       str(tmp_path / "c.tif"), "--quiet")
    assert code == 2 and "Traceback" not in err
    said = "holds the value -1" if kind == "negative" else "holds NaN pixels"
    assert f"The class raster '{bad}' {said}" in err and "gdal_edit -a_nodata" in err
    assert not (tmp_path / "c.tif").exists()


def test_class_codes_too_many_for_transitions_point_to_a_change_mask(tmp_path, capsys):
    thousand = np.zeros((16, 16), np.uint16)
    thousand[:8] = 1000
    zero = write(tmp_path / "zero.tif", np.zeros((16, 16), np.uint16))
    later = write(tmp_path / "thousand.tif", thousand)
    code, _, err = cli(capsys, "compare", "--before-classes", zero, "--after-classes", later, "--out",
                       str(tmp_path / "c.tif"), "--quiet")
    assert code == 2 and "1,001,001" not in err and "model" not in err
    assert "hold class values up to 1000" in err and "--mask" in err
    code, out, err = cli(capsys, "compare", "--before-classes", zero, "--after-classes", later, "--mask", "--out",
                         str(tmp_path / "m.tif"), "--quiet")
    assert code == 0, err
    with rasterio.open(tmp_path / "m.tif") as ds:
        assert int((ds.read(1) == 1).sum()) == 128


def test_compare_makes_its_output_s_missing_folder_and_a_refused_run_leaves_none(tmp_path, capsys):
    first, later = np.zeros((16, 16), np.uint8), np.ones((16, 16), np.uint8)
    before, after = write(tmp_path / "b.tif", first), write(tmp_path / "a.tif", later)
    out = tmp_path / "not" / "yet" / "c.tif"
    code, _, err = cli(capsys, "compare", "--before-classes", before, "--after-classes", after, "--out", str(out),
                       "--change-table", str(tmp_path / "tables" / "t.csv"), "--quiet")
    assert code == 0, err
    assert out.exists() and (tmp_path / "tables" / "t.csv").exists()
    bad = write(tmp_path / "bad.tif", np.full((16, 16), -1, np.int16))
    code, _, err = cli(capsys, "compare", "--before-classes", bad, "--after-classes", after, "--out",
                       str(tmp_path / "other" / "c.tif"), "--quiet")
    assert code == 2 and "free" not in err.lower() and not (tmp_path / "other").exists()


# ------------------------------------------------------------------------------------------------ from-to labels
TINY = ("--model", "change", "--preset", "tiny", "--tile-size", "64", "--epochs", "1", "--warmup-epochs", "0",
        "--tiles-per-epoch", "2", "--batch-size", "2", "--device", "cpu", "--preview-tiles", "0")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from engine.data.synthetic_pairs import make_pair

    return make_pair(tmp_path_factory.mktemp("pair"), seed=5, size=64, buildings=5, changes=2, name="p")


def test_a_model_of_from_to_polygons_has_a_stac_card_naming_its_transitions(pair, tmp_path, capsys):
    """Its label mapping's keys are transitions ('0 → 1'): the card was refused with Python's int() error."""
    import json

    out = tmp_path / "ft.dsmodel"
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", pair.after, "--label",
                       pair.change_polygons, "--label-field", "before", "--label-after-field", "after", *TINY,
                       "--out", str(out))
    assert code == 0, err
    assert "STAC model card could not be written" not in err and "invalid literal" not in err
    card = tmp_path / "card.json"
    code, _, err = cli(capsys, "export", "--model", str(out), "--stac", str(card))
    assert code == 0, err
    classes = json.loads(card.read_text(encoding="utf-8"))["properties"]["mlm:output"][0]["classification:classes"]
    described = {c["name"]: c["description"] for c in classes}
    assert described["0 → 1"] == "0 → 1 (the transition(s) 0 → 1 of the from-to training labels)"
    assert described["1 → 0"].endswith("(the transition(s) 1 → 0 of the from-to training labels)")


def test_a_from_to_polygon_without_its_after_class_is_refused_naming_the_fields(pair, tmp_path, capsys):
    """It became a change class named '0 → None'."""
    import shutil

    from osgeo import ogr

    labels = tmp_path / "null.gpkg"
    shutil.copyfile(pair.change_polygons, labels)
    data = ogr.Open(str(labels), 1)
    layer = data.GetLayer(0)
    feature = layer.GetNextFeature()
    feature.SetFieldNull("after")
    layer.SetFeature(feature)
    data = layer = feature = None
    out = tmp_path / "null.dsmodel"
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", pair.after, "--label", str(labels),
                       "--label-field", "before", "--label-after-field", "after", *TINY, "--out", str(out))
    assert code == 2 and "None" not in err and not out.exists()
    assert f"The label layer '{labels}' has 1 polygon(s) whose class before ('before') or after ('after') is empty" \
        in err


# ------------------------------------------------------------------------------------------------ export's notes
@pytest.fixture(scope="module")
def bundle(pair, tmp_path_factory):
    """A tiny change model of the pair."""
    out = tmp_path_factory.mktemp("bundle") / "c.dsmodel"
    assert main(["train", "--image", pair.before, "--after", pair.after, "--label", pair.change, *TINY, "--out",
                 str(out), "--quiet"]) == 0
    return str(out)


def test_exporting_a_change_model_names_its_two_dates_not_aux_or_one_input(bundle, tmp_path, capsys):
    """It said the model "also takes aux on a coarser grid" (it has none) and, with --single-input, that "its graph
    has one input anyway" (it has two)."""
    for extra in ((), ("--single-input",)):
        code, out, err = cli(capsys, "export", "--model", str(bundle), "--onnx", str(tmp_path / "c.onnx"), *extra)
        assert code == 0, err
        said = out + err
        assert "coarser grid" not in said and "one input anyway" not in said
        assert "this one takes 2 dates, one input each (before, after)" in said
        if extra:
            assert "is a change model: its graph takes each of its 2 dates as an input of its own" in err


# ------------------------------------------------------------------------------------------------ rotated dates
def test_a_rotated_later_date_is_said_to_cover_what_its_footprint_covers(tmp_path, capsys):
    """Its bounding box was taken for its footprint (98 % said where the footprints overlapped by 84 %). Turned by
    20 degrees about the first date's corner, a square covers tan(45 - 10) degrees of it: 70 %."""
    from engine.data.align import covered_fraction
    from engine.data.raster import RasterGrid

    straight = Affine(1, 0, 500000, 0, -1, 4650000)
    turned = straight * Affine.rotation(20)
    share = covered_fraction(RasterGrid("EPSG:32633", straight, 64, 64), RasterGrid("EPSG:32633", turned, 64, 64))
    assert share == pytest.approx(math.tan(math.radians(35)), abs=0.002)
    classes = np.zeros((64, 64), np.uint8)
    before = write(tmp_path / "b.tif", classes, "EPSG:32633", straight)
    after = write(tmp_path / "a.tif", classes, "EPSG:32633", turned)
    code, _, err = cli(capsys, "compare", "--before-classes", before, "--after-classes", after, "--out",
                       str(tmp_path / "c.tif"), "--quiet")
    assert code == 0, err
    assert f"The later date '{after}' covers only 70 % of the first date" in err


# ------------------------------------------------------------------------------------------------ dates' bands
def test_train_and_segment_take_a_later_date_of_another_band_count_alike(pair, bundle, tmp_path, capsys):
    """A 4-band later date whose band 4 is tagged alpha but holds data, against a 3-band first date: train used its
    first 3 bands silently, segment refused. One rule: both refuse, saying why band 4 counts; picked bands are
    read from each date alike."""
    from rasterio.enums import ColorInterp

    with rasterio.open(pair.after) as src:
        profile, data = src.profile, src.read()
    profile.update(count=4)
    after = tmp_path / "after_rgba.tif"
    with rasterio.open(after, "w", **profile) as dst:
        dst.write(np.concatenate([data, (data[:1] * 0.5 + 7).astype(data.dtype)]))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    note = "its band 4 is tagged alpha but holds data, not a mask's clear and opaque values, so it counts as a band"
    out = tmp_path / "m.dsmodel"
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", str(after), "--label", pair.change, *TINY,
                       "--out", str(out), "--quiet")
    assert code == 2 and f"The later date '{after}' has 4 band(s) ({note}) but the first date" in err
    assert not out.exists()
    code, _, err = cli(capsys, "segment", "--model", bundle, "--image", pair.before, "--after", str(after), "--out",
                       str(tmp_path / "c.tif"), "--quiet")
    assert code == 2 and "has 4 band(s); the model was trained on 3" in err and note in err
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", str(after), "--label", pair.change, *TINY,
                       "--bands", "1,2,3", "--out", str(out), "--quiet")
    assert code == 0, err  # bands picked: the same from each date


# ------------------------------------------------------------------------------------------------ all-255 masks
def test_change_masks_all_255_are_all_change_and_a_label_of_255_alone_is_said_so(pair, tmp_path, capsys):
    """LEVIR-style masks (0/255, no nodata) that are all 255 were called "no labelled pixel ... check nodata": a
    pair's mask of 255 alone changed everywhere (the 0/255 coding). A label of one date holding 255 alone stays
    unlabelled (255 is its nodata), and the refusal says it holds that value alone and how to map it."""
    from PIL import Image

    from tests.helpers import cli, published

    root = published(tmp_path / "levir", ["p0", "p1"])
    for png in (root / "label").glob("*.png"):
        size = Image.open(png).size
        Image.fromarray(np.full(size[::-1], 255, np.uint8)).save(png)
    code, _, err = cli(capsys, "train", "--data", str(root), *TINY[2:], "--out", str(tmp_path / "l.dsmodel"))
    assert code == 0, err
    assert "no labelled pixel" not in err and "255 is class 1 ('change')" in err
    assert "No pixel of class 0 ('no change') in the training labels" in err
    label = write(tmp_path / "all255.tif", np.full((64, 64), 255, np.uint8), "EPSG:32633",
                  Affine(1, 0, 500000, 0, -1, 4650000))
    image = write(tmp_path / "image.tif", np.random.default_rng(0).integers(0, 200, (3, 64, 64), np.uint8),
                  "EPSG:32633", Affine(1, 0, 500000, 0, -1, 4650000))
    code, _, err = cli(capsys, "train", "--image", image, "--label", label, *TINY[2:], "--out",
                       str(tmp_path / "one.dsmodel"))
    assert code == 2 and f"The label '{label}' of the image '{image}' holds the value 255 alone" in err
    assert "255:1" in err
