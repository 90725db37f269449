"""Change detection between two dates: the Siamese family, the scene of two dates, training and segmenting pairs
from the command line, and the errors of bad pairs. Pairs are made here (``engine.data.synthetic_pairs``): buildings
built and torn down between the dates, each date in its own light; a sensor pair with nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from engine.cli.main import main
from engine.config import AugmentConfig
from engine.data.augment import AugmentParams, augment_dates
from engine.data.scene import SceneReader
from engine.data.synthetic_pairs import make_pair
from engine.errors import AlignmentError, DataError
from engine.models import build_model
from tests.helpers import LogLines, make_bundle, read_pixels


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def f1(prediction: str, truth: str) -> tuple[float, int]:
    """(change F1, changed pixels predicted) of a class raster against a change mask."""
    with rasterio.open(prediction) as p, rasterio.open(truth) as t:
        pred, true = p.read(1) == 1, t.read(1) == 1
    tp = int((pred & true).sum())
    return 2 * tp / max(int(pred.sum() + true.sum()), 1), int(pred.sum())


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    made = {f"p{i}": make_pair(root, seed=i, name=f"p{i}") for i in range(3)}
    made["sensor"] = make_pair(root, seed=9, changes=0, name="sensor")
    made["coarser"] = make_pair(root, seed=2, after_grid="coarser", name="coarser")
    return made


@pytest.fixture(scope="module")
def trained(pairs, tmp_path_factory):
    """A tiny change model trained once on two pairs (about 15 s on 2 cores), validated on a third."""
    out = tmp_path_factory.mktemp("trained") / "change.dsmodel"
    args = []
    for key, prefix in (("p0", ""), ("p1", ""), ("p2", "val-")):
        pair = pairs[key]
        args += [f"--{prefix}image", pair.before, f"--{prefix}after", pair.after, f"--{prefix}label", pair.change]
    code = main(["train", *args, "--model", "change", "--preset", "tiny", "--epochs", "12", "--tile-size", "64",
                 "--tiles-per-epoch", "64", "--lr", "0.003", "--out", str(out), "--quiet"])
    assert code == 0
    return str(out)


# ------------------------------------------------------------------------------------------------ the family
def test_one_encoder_reads_both_dates_and_the_difference_is_the_same_either_way():
    torch.manual_seed(0)
    model = build_model("change", preset="tiny", vision_channels=3, num_classes=1, dropout=0.0).eval()
    backbones = [m for m in model.modules() if type(m).__name__ == "ResNetBackbone"]
    assert len(backbones) == 1  # shared, not one per date
    before, after = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        one = model(torch.cat([before, after], 1))["logits"]
        other = model(torch.cat([after, before], 1))["logits"]
        same = model(torch.cat([before, before], 1))["logits"]
    assert torch.allclose(one, other, atol=1e-5) and not torch.allclose(one, same, atol=1e-3)
    concat = build_model("change", preset="tiny", vision_channels=3, fusion="concat").eval()
    with torch.no_grad():  # concatenation learns which way a change went: the order matters
        assert not torch.allclose(concat(torch.cat([before, after], 1))["logits"],
                                  concat(torch.cat([after, before], 1))["logits"], atol=1e-4)


def test_dates_share_the_geometry_and_have_their_own_light():
    rng = np.random.default_rng(0)
    before = rng.random((3, 32, 32), dtype=np.float32)
    vision = np.concatenate([before, before])  # the same picture on both dates
    label = (rng.random((32, 32)) > 0.5).astype(np.uint8)
    params = AugmentParams(hflip=True, k90=1, brightness=0.1)
    augment = AugmentConfig(color_jitter=0.3, swap_dates=0.0)
    v, _, lab = augment_dates(vision, np.ones((32, 32), bool), None, label, params, 2, augment, True, [0, 1, 2], 32, 1,
                              255)
    moved = np.flip(np.rot90(label, 1), -1)
    assert np.array_equal(lab.numpy(), moved)  # the label moved with the pixels
    first, second = v[:3].numpy(), v[3:].numpy()
    assert np.allclose(first - first.mean(), np.flip(np.rot90(before, 1, (1, 2)), -1) - before.mean(), atol=0.35)
    assert not np.allclose(first, second)  # each date its own brightness and contrast
    assert np.corrcoef(first.ravel(), second.ravel())[0, 1] > 0.9  # but the same place, in the same geometry
    swapped, _, _ = augment_dates(np.concatenate([before, before + 1]), np.ones((32, 32), bool), None, label,
                                  AugmentParams(), 2, AugmentConfig(color_jitter=0.0, gray_probability=0.0,
                                                                    swap_dates=1.0), True, [0, 1, 2], 32, 1, 255)
    assert np.allclose(swapped[:3].numpy(), before + 1)  # a change mask: the dates may swap


# ------------------------------------------------------------------------------------------------ the scene
def test_a_scene_of_two_dates_stacks_them_and_brings_another_grid_onto_the_first(pairs):
    log = LogLines()
    same = SceneReader(pairs["p2"].before, after=[pairs["p2"].after], label=pairs["p2"].change, callback=log)
    moved = SceneReader(pairs["coarser"].before, after=[pairs["coarser"].after], callback=log)
    tile, other = same.read(0, 0, 128, 128), moved.read(0, 0, 128, 128)
    assert same.dates == 2 and tile.vision.shape == (6, 128, 128) and tile.label.sum() == pairs["p2"].changed_pixels
    assert any("resampled (bilinear)" in line and "coarser_after" in line for line in log.lines)
    assert not any("p2_after" in line and "resampled" in line for line in log.lines)
    # the same ground on both grids: the resampled later date agrees with the first date's picture
    inner = (slice(None), slice(8, 120), slice(8, 120))
    assert np.corrcoef(other.vision[3:][inner].ravel(), other.vision[:3][inner].ravel())[0, 1] > 0.7


def test_bad_pairs_are_named_with_what_to_do(pairs, tmp_path):
    from rasterio.enums import ColorInterp

    pair = pairs["p0"]
    with rasterio.open(pair.after) as src:
        profile, data = src.profile, src.read()
    far = tmp_path / "far.tif"
    with rasterio.open(far, "w", **{**profile, "transform": src.transform * src.transform.translation(5000, 0)}) as dst:
        dst.write(data)
    with pytest.raises(AlignmentError, match=r"later date '.*far.tif' does not overlap the first date .*footprints"):
        SceneReader(pair.before, after=[str(far)])
    two = tmp_path / "two_bands.tif"
    with rasterio.open(two, "w", **{**profile, "count": 2}) as dst:
        dst.write(data[:2])
    with pytest.raises(DataError, match="two_bands.tif' has 2 band.*same bands"):
        SceneReader(pair.before, after=[str(two)])
    masked = tmp_path / "two_bands_and_alpha.tif"  # three in the file, the third its mask: not a third band
    with rasterio.open(masked, "w", **profile) as dst:
        dst.write(np.concatenate([data[:2], np.full_like(data[:1], np.iinfo(data.dtype).max)]))
        dst.colorinterp = [ColorInterp.gray, ColorInterp.undefined, ColorInterp.alpha]
    with pytest.raises(DataError, match="two_bands_and_alpha.tif' has 2 band.*same bands"):
        SceneReader(pair.before, after=[str(masked)])
    empty = tmp_path / "cloud.tif"
    with rasterio.open(empty, "w", **{**profile, "nodata": 0}) as dst:
        dst.write(np.zeros_like(data))
    with pytest.raises(DataError, match="cloud.tif' has no valid pixel"):
        SceneReader(pair.before, after=[str(empty)])
    early = tmp_path / "S2_20190501T103031.tif"  # dates in the file names, as Sentinel-2's
    late = tmp_path / "S2_20210501T103031.tif"
    for path, source in ((early, pair.after), (late, pair.before)):
        path.write_bytes(open(source, "rb").read())
    log = LogLines()
    SceneReader(str(late), after=[str(early)], callback=log)
    assert any(line.startswith("warning: ") and "taken on 2019-05-01, before the first date" in line
               and "Swap them" in line for line in log.lines)


def test_train_refuses_pairs_for_a_family_of_one_date_and_singles_for_a_change_family(pairs, tmp_path, capsys):
    pair = pairs["p0"]
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", pair.after, "--label", pair.change,
                       "--model", "unet", "--preset", "tiny", "--out", str(tmp_path / "u.dsmodel"), "--quiet")
    assert code != 0 and "but the unet family takes one date: train a season model" in err
    assert "a change model on one later date to map what changed (--model change)" in err
    code, _, err = cli(capsys, "train", "--image", pair.before, "--label", pair.change, "--model", "change",
                       "--preset", "tiny", "--out", str(tmp_path / "c.dsmodel"), "--quiet")
    assert code != 0 and "give each scene one later date (--after)" in err
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", pair.after, "--label", pair.change,
                       "--model", "change", "--preset", "tiny", "--out", pair.after, "--quiet")
    assert code != 0 and "--after" in err  # the bundle would overwrite the later date
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written


# ------------------------------------------------------------------------------------------------ trained
def test_a_trained_change_model_finds_the_buildings_that_changed_and_not_the_light(trained, pairs, tmp_path,
                                                                                     capsys):
    from engine.bundle.model_files import read_model_metadata

    meta = read_model_metadata(trained)
    assert meta.data.dates == 2 and meta.data.vision_bands == 3 and meta.data.vision_stats.bands == 6
    scores = {}
    for key in ("p2", "sensor", "coarser"):
        for backend in ("torch", "onnxruntime"):
            out = tmp_path / f"{key}_{backend}.tif"
            code, _, err = cli(capsys, "segment", "--model", trained, "--image", pairs[key].before, "--after",
                               pairs[key].after, "--out", str(out), "--backend", backend, "--quiet")
            assert code == 0, err
            scores[key, backend] = f1(str(out), pairs[key].change)
    print(f"change F1 and changed pixels: {scores}")
    for backend in ("torch", "onnxruntime"):  # onnxruntime: the export's two inputs, before and after
        assert scores["p2", backend][0] > 0.6 and scores["coarser", backend][0] > 0.5
        assert scores["sensor", backend][1] < 0.01 * 128 * 128  # other light is no change


def test_a_change_model_wants_both_dates_and_a_model_of_one_date_refuses_a_pair(trained, pairs, tmp_path, capsys):
    pair = pairs["p2"]
    code, _, err = cli(capsys, "segment", "--model", trained, "--image", pair.before, "--out",
                       str(tmp_path / "x.tif"), "--quiet")
    assert code != 0 and "change model of 2 dates (before, after)" in err and "--after" in err
    one = make_bundle(tmp_path / "one.dsmodel", vision_bands=3)
    code, _, err = cli(capsys, "segment", "--model", one, "--image", pair.before, "--after", pair.after, "--out",
                       str(tmp_path / "y.tif"), "--quiet")
    assert code != 0 and "trained on one date" in err and "post-classification comparison" in err
    code, _, err = cli(capsys, "segment", "--model", trained, "--image", pair.before, "--after", pair.after,
                       "--out", pair.after, "--quiet")
    assert code != 0 and "later date" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.dsmodel"]


# ------------------------------------------------------------------------------------------------ outputs
def test_the_comparison_of_two_class_rasters_finds_each_transition_and_its_hectares(pairs, tmp_path, capsys):
    pair = pairs["p0"]
    out, table, polygons = tmp_path / "change.tif", tmp_path / "change.csv", tmp_path / "change.gpkg"
    code, stdout, err = cli(capsys, "compare", "--before-classes", pair.before_classes, "--after-classes",
                            pair.after_classes, "--out", str(out), "--change-table", str(table), "--polygons",
                            str(polygons), "--quiet")
    assert code == 0, err
    with rasterio.open(out) as got, rasterio.open(pair.transitions) as truth:
        assert np.array_equal(got.read(1), truth.read(1))  # 1 built (0 -> 1), 2 torn down (1 -> 0)
    lines = table.read_text(encoding="utf-8").splitlines()
    built = int((rasterio.open(pair.transitions).read(1) == 1).sum())
    assert lines[0] == "class,name,from,to,pixels,hectares"
    assert lines[1] == f"1,0 → 1,0,1,{built},{built / 10_000:g}"  # 1 m pixels
    qml = out.with_suffix(".qml").read_text(encoding="utf-8")
    assert 'value="0" color="#000000" alpha="0" label="no change"' in qml and 'alpha="255" label="1 → 0"' in qml
    import sqlite3

    with sqlite3.connect(polygons) as db:  # each polygon's transition, and its from and to classes as fields
        classes = set(db.execute("SELECT class_name, from_class, to_class FROM change"))
    assert classes == {("0 → 1", "0", "1"), ("1 → 0", "1", "0")}
    code, stdout, err = cli(capsys, "evaluate", "--pred", str(out), "--label", pair.change, "--out",
                            str(tmp_path / "scores.json"), "--quiet")
    assert code == 0 and "Change: precision 1.0000, recall 1.0000, f1 1.0000, iou 1.0000" in stdout
    code, _, err = cli(capsys, "compare", "--before-classes", pair.before_classes, "--after-classes",
                       pair.after_classes, "--out", pair.after_classes, "--quiet")
    assert code != 0 and "--after-classes" in err  # an output onto an input is refused


def test_class_rasters_of_another_tool_name_their_transitions_by_their_own_legend(pairs, tmp_path, capsys):
    """Category names (a raster attribute table, an .aux.xml) or a paletted QGIS style beside the raster name the
    classes; a value past the names is still a class."""
    from osgeo import gdal

    pair = pairs["p0"]
    before, after = str(tmp_path / "before.tif"), str(tmp_path / "after.tif")
    gdal.Translate(before, pair.before_classes)
    gdal.Translate(after, pair.after_classes)
    dataset = gdal.Open(before, gdal.GA_Update)
    dataset.GetRasterBand(1).SetCategoryNames(["bare ground", "building"])
    dataset = None
    table = tmp_path / "by_categories.csv"
    code, _, err = cli(capsys, "compare", "--before-classes", before, "--after-classes", after, "--out",
                       str(tmp_path / "c1.tif"), "--change-table", str(table), "--quiet")
    assert code == 0, err
    rows = table.read_text(encoding="utf-8").splitlines()[1:]
    assert [r.split(",")[1:4] for r in rows] == [["bare ground → building", "bare ground", "building"],
                                                 ["building → bare ground", "building", "bare ground"]]

    plain = str(tmp_path / "plain.tif")
    gdal.Translate(plain, pair.before_classes)
    Path(plain).with_suffix(".qml").write_text(  # a style QGIS saved: only value 0 labelled
        '<qgis><pipe><rasterrenderer type="paletted"><colorPalette>'
        '<paletteEntry value="0" label="fields" color="#ffff00" alpha="255"/>'
        '</colorPalette></rasterrenderer></pipe></qgis>', encoding="utf-8")
    table = tmp_path / "by_style.csv"
    code, _, err = cli(capsys, "compare", "--before-classes", plain, "--after-classes", pair.after_classes,
                       "--out", str(tmp_path / "c2.tif"), "--change-table", str(table), "--quiet")
    assert code == 0, err
    rows = table.read_text(encoding="utf-8").splitlines()[1:]
    assert [r.split(",")[1] for r in rows] == ["fields → 1", "1 → fields"]


def test_the_comparison_segments_both_dates_with_a_model_of_one_date(trained, pairs, tmp_path, capsys):
    pair = pairs["p1"]
    one = make_bundle(tmp_path / "buildings.dsmodel", vision_bands=3, vision_high=10000.0)
    out = tmp_path / "out" / "change.tif"
    out.parent.mkdir()
    code, stdout, err = cli(capsys, "compare", "--model", one, "--image", pair.before, "--after", pair.after, "--out",
                            str(out), "--mask", "--backend", "torch")
    assert code == 0, err
    assert "Segmenting the first date" in err and "Segmenting the later date" in err
    assert sorted(p.name for p in out.parent.iterdir()) == ["change.qml", "change.tif", "change.tif.aux.xml"]
    with rasterio.open(out) as got:
        assert set(np.unique(got.read(1))) <= {0, 1}
    code, _, err = cli(capsys, "compare", "--model", trained, "--image", pair.before, "--after", pair.after, "--out",
                       str(tmp_path / "x.tif"), "--quiet")
    assert code != 0 and "is a change model: it compares the dates itself" in err


def test_the_comparison_over_an_extent_segments_both_dates_over_it(pairs, tmp_path, capsys):
    pair = pairs["p1"]
    one = make_bundle(tmp_path / "buildings.dsmodel", vision_bands=3, vision_high=10000.0)
    out = tmp_path / "half.tif"
    left_half = ["500000", "4649872", "500064", "4650000"]  # the pairs' first 64 columns (1 m pixels)
    code, _, err = cli(capsys, "compare", "--model", one, "--image", pair.before, "--after", pair.after, "--out",
                       str(out), "--extent", *left_half, "--extent-crs", "EPSG:32619", "--backend", "torch", "--quiet")
    assert code == 0, err
    with rasterio.open(out) as got:
        assert (got.width, got.height) == (64, 128) and got.bounds.left == 500000
    code, _, err = cli(capsys, "compare", "--before-classes", pair.before_classes, "--after-classes",
                       pair.after_classes, "--out", str(tmp_path / "x.tif"), "--extent", *left_half, "--quiet")
    assert code != 0 and "--extent applies when a model segments the dates" in err


def test_a_change_model_writes_its_change_table(trained, pairs, tmp_path, capsys):
    pair = pairs["p2"]
    out, table, polygons = tmp_path / "change.tif", tmp_path / "change.csv", tmp_path / "change.gpkg"
    code, stdout, err = cli(capsys, "segment", "--model", trained, "--image", pair.before, "--after", pair.after,
                            "--out", str(out), "--change-table", str(table), "--polygons", str(polygons),
                            "--backend", "torch", "--quiet")
    assert code == 0, err
    import sqlite3

    with sqlite3.connect(polygons) as db:  # a change mask's change: no way said, the fields empty
        assert set(db.execute("SELECT class_name, from_class, to_class FROM change")) == {("change", "", "")}
    changed = int((rasterio.open(out).read(1) == 1).sum())
    assert table.read_text(encoding="utf-8").splitlines()[1] == f"1,change,,,{changed},{changed / 10_000:g}"
    assert f"Change: change {changed / 10_000:,.2f} ha ({changed:,} px)" in stdout
    code, stdout, err = cli(capsys, "evaluate", "--pred", str(out), "--label", pair.change, "--out",
                            str(tmp_path / "scores.json"), "--quiet")
    f1_said = float(stdout.split("Change: ")[1].split("f1 ")[1].split(",")[0])
    assert code == 0 and abs(f1_said - f1(str(out), pair.change)[0]) < 1e-4



def test_a_change_model_segments_a_finer_pair_at_its_training_pixel_size(trained, pairs, tmp_path, capsys):
    """The resample mode warps both dates onto the working grid; a pair at half the training pixel size is read at
    the training one and written back on its own grid, with the change a run at the training size finds."""
    from osgeo import gdal

    pair = pairs["p2"]
    with rasterio.open(pair.before) as src:
        size, shape = src.res[0] / 2, (src.height * 2, src.width * 2)
    finer = [str(tmp_path / f"{name}.tif") for name in ("before", "after")]
    for given, made in zip((pair.before, pair.after), finer):
        gdal.Translate(made, given, xRes=size, yRes=size, resampleAlg="nearest")
    native, resampled = tmp_path / "native.tif", tmp_path / "resampled.tif"
    for image, after, out, extra in ((pair.before, pair.after, native, []),
                                     (*finer, resampled, ["--resample-to-training-gsd"])):
        code, _, err = cli(capsys, "segment", "--model", trained, "--image", image, "--after", after, "--out", str(out),
                           "--backend", "torch", "--quiet", *extra)
        assert code == 0, err
    with rasterio.open(resampled) as out:
        assert (out.height, out.width) == shape
    changed_native, changed_resampled = (int((rasterio.open(out).read(1) == 1).sum()) for out in (native, resampled))
    assert changed_native > 0 and abs(changed_resampled / 4 - changed_native) < 0.15 * changed_native

def _no_read_back(monkeypatch) -> None:
    """Reading a change raster back to count its classes fails: the writer's counts must serve."""
    from engine.segment import change_table

    def read_back(*args, **kwargs):
        raise AssertionError("the change raster was read back to count its classes")

    monkeypatch.setattr(change_table, "_read_counts", read_back)


def _changed_pixels(path) -> int:
    with rasterio.open(path) as got:
        values = got.read(1)
        return int((values[values != got.nodata] == 1).sum())


def test_a_pair_s_change_table_takes_the_writer_s_counts_not_a_read_back(trained, pairs, tmp_path, capsys,
                                                                         monkeypatch):
    """The class raster's writer counts each class as it writes it (reading the raster back decoded all of it
    again): the table's pixels are the raster's own."""
    _no_read_back(monkeypatch)
    pair = pairs["p2"]
    out, table = tmp_path / "change.tif", tmp_path / "change.csv"
    code, stdout, err = cli(capsys, "segment", "--model", trained, "--image", pair.before, "--after", pair.after,
                            "--out", str(out), "--change-table", str(table), "--backend", "torch", "--quiet")
    assert code == 0, err
    changed = _changed_pixels(out)
    assert changed > 0 and table.read_text(encoding="utf-8").splitlines()[1].split(",")[4] == str(changed)


def test_a_later_date_covering_part_of_the_first_says_so_in_segment_and_train(trained, pairs, tmp_path, capsys):
    """Where only one date holds data no change can be seen: the change raster is nodata there, and the run says
    how much of the region the later date covers (an extent inside both says nothing)."""
    from osgeo import gdal

    pair = pairs["p2"]
    with rasterio.open(pair.before) as first:
        width, height, bounds = first.width, first.height, first.bounds
    east = str(tmp_path / "east_half.tif")  # the later date's east half, in place
    gdal.Translate(east, pair.after, srcWin=[width // 2, 0, width - width // 2, height])
    out = tmp_path / "change.tif"
    code, _, err = cli(capsys, "segment", "--model", trained, "--image", pair.before, "--after", east, "--out",
                       str(out), "--backend", "torch", "--quiet")
    assert code == 0, err
    assert f"The later date '{east}' covers only 50 % of the segmented region of '{pair.before}'" in err
    with rasterio.open(out) as got:
        classes = got.read(1)
        assert (classes[:, :width // 2] == got.nodata).all() and (classes[:, width // 2:] != got.nodata).all()
    middle = (bounds.left + bounds.right) / 2
    code, _, err = cli(capsys, "segment", "--model", trained, "--image", pair.before, "--after", east, "--out",
                       str(tmp_path / "inside.tif"), "--extent", str(middle + 10), str(bounds.bottom + 10),
                       str(bounds.right - 10), str(bounds.top - 10), "--backend", "torch", "--quiet")
    assert code == 0 and "covers only" not in err, err
    east_classes = str(tmp_path / "east_classes.tif")  # the comparison of two class rasters says the same
    gdal.Translate(east_classes, pair.after_classes, srcWin=[width // 2, 0, width - width // 2, height])
    code, _, err = cli(capsys, "compare", "--before-classes", pair.before_classes, "--after-classes", east_classes,
                       "--out", str(tmp_path / "compared.tif"), "--quiet")
    assert code == 0 and f"The later date '{east_classes}' covers only 50 % of the first date" in err, err
    train = ["train", "--image", pair.before, "--after", east, "--label", pair.change, "--model", "change",
             "--preset", "tiny", "--epochs", "1", "--tile-size", "64", "--tiles-per-epoch", "8", "--quiet"]
    code, _, err = cli(capsys, *train, "--val-image", pair.before, "--val-after", pair.after, "--val-label",
                       pair.change, "--out", str(tmp_path / "c.dsmodel"))
    assert code == 0 and f"The later date '{east}' covers only 50 % of the first date '{pair.before}'" in err, err
    assert "training draws its tiles and holds out its validation band where every date holds data" in err
    # held out of the small scene where both dates hold data: before, the band took the covered half and left
    # training only pixels without a later date (no valid pixel for the statistics)
    code, _, err = cli(capsys, *train, "--out", str(tmp_path / "held.dsmodel"))
    assert code == 0, err


def test_a_later_date_from_a_web_layer_is_read_over_the_first_date_s_footprint(trained, pairs, tmp_path, capsys):
    """A later date from a web layer (as QGIS hands it) with no extent of its own is read over the first date's
    footprint at the first date's pixel size, exactly as with those given, not refused for covering the world."""
    import subprocess

    from engine.imagery.web import wms_description
    from tests.ogc_server import OgcServer

    pair = pairs["p0"]
    rgb = tmp_path / "after_rgb.tif"  # what a WMS serves: 8-bit RGB
    subprocess.run(["gdal_translate", "-q", "-ot", "Byte", "-scale", pair.after, str(rgb)], check=True)
    with rasterio.open(pair.before) as first:
        b, crs, size = first.bounds, first.crs.to_string(), first.res[0]
    base = ["segment", "--model", trained, "--image", pair.before, "--backend", "torch", "--accept-one-class"]
    with OgcServer(rgb) as server:
        later = f"{wms_description(f'{server.url}/wms', 'scene', crs)}|layername=Later WMS"
        code, out, said = cli(capsys, *base, "--after", later, "--out", str(tmp_path / "footprint.tif"))
        assert code == 0, said
        code, _, err = cli(capsys, *base, "--after", later, "--extent", str(b.left), str(b.bottom), str(b.right),
                           str(b.top), "--extent-crs", crs, "--pixel-size", str(size), "--out",
                           str(tmp_path / "given.tif"), "--quiet")
        assert code == 0, err
        assert server.requests("GetMap") > 0
    said = " ".join(said.split())  # the 8-bit layer's values are called out by the layer's name
    assert "The WMS layer 'Later WMS' (uint8) looks unlike the data" in said and "<GDAL_WMS>" not in said, said
    assert "--pixel-size" not in said, said  # nothing given, so nothing to say about it
    assert (read_pixels(tmp_path / "footprint.tif") == read_pixels(tmp_path / "given.tif")).all()


def test_a_pair_opens_each_date_once(trained, pairs, tmp_path, capsys, monkeypatch):
    """The image door's dataset of each date is the one the plan checks and the reader reads: one open a file,
    as for one date (three a date before: the door, the plan's band check, the reader)."""
    from collections import Counter

    opened: Counter = Counter()
    real = rasterio.open

    def counted(path, *args, **kwargs):
        opened[str(path)] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", counted)
    pair = pairs["p2"]
    code, _, err = cli(capsys, "segment", "--model", trained, "--image", pair.before, "--after", pair.after,
                       "--out", str(tmp_path / "change.tif"), "--quiet")
    assert code == 0, err
    assert opened[str(pair.before)] == 1 and opened[str(pair.after)] == 1, opened


def _with_alpha(path: str, out: Path, hole: bool) -> str:
    """``path`` with a 4th band tagged alpha: opaque everywhere, or transparent over a corner (``hole``)."""
    from rasterio.enums import ColorInterp

    with rasterio.open(path) as src:
        data, profile = src.read(), src.profile
    alpha = np.full(data.shape[1:], np.iinfo(data.dtype).max, data.dtype)
    if hole:
        alpha[:16, :16] = 0
    profile.update(count=4, photometric="RGB", alpha="YES")
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(np.concatenate([data, alpha[None]]))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return str(out)


def test_a_pair_with_alpha_bands_reads_them_as_each_date_s_mask(trained, pairs, tmp_path, capsys):
    """RGBA dates (as PNGs and GeoTIFFs come from many tools) are 3 bands and a mask for a model of 3 bands: an
    opaque alpha changes nothing, a transparent part of the later date is no change but nodata."""
    pair = pairs["p2"]
    plain = tmp_path / "plain.tif"
    code, _, err = cli(capsys, "segment", "--model", trained, "--image", pair.before, "--after", pair.after,
                       "--out", str(plain), "--quiet")
    assert code == 0, err
    for hole in (False, True):
        before = _with_alpha(pair.before, tmp_path / f"before_{hole}.tif", False)
        after = _with_alpha(pair.after, tmp_path / f"after_{hole}.tif", hole)
        out = tmp_path / f"alpha_{hole}.tif"
        code, _, err = cli(capsys, "segment", "--model", trained, "--image", before, "--after", after,
                           "--out", str(out), "--quiet")
        assert code == 0, err
        with rasterio.open(plain) as a, rasterio.open(out) as b:
            expected, got = a.read(1), b.read(1)
            if not hole:
                assert np.array_equal(expected, got)
            else:
                assert (got[:16, :16] == b.nodata).all() and (got[32:, 32:] != b.nodata).all()

# ------------------------------------------------------------------------------------------------ training paths
def test_torchrun_trains_a_change_model_in_two_processes(pairs, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from engine.bundle.model_files import read_model_metadata

    repo = Path(__file__).resolve().parents[2]
    out, pair = tmp_path / "ddp.dsmodel", pairs["p0"]
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         "-m", "engine", "train", "--image", pair.before, "--after", pair.after, "--label", pair.change, "--model",
         "change", "--preset", "tiny", "--tile-size", "64", "--tiles-per-epoch", "16", "--batch-size", "4",
         "--warmup-epochs", "0", "--epochs", "1", "--device", "cpu", "--out", str(out), "--json"],
        capture_output=True, text=True, cwd=repo, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(repo)),
        timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "cpu x2 processes" in done.stderr and "2 steps of 4 tiles per epoch" in done.stderr
    assert json.loads(done.stdout[done.stdout.index("{"):])["bundle"] == str(out)
    assert read_model_metadata(str(out)).data.dates == 2


def test_a_frozen_shared_encoder_is_cached_once_for_both_dates(pairs, tmp_path, capsys):
    pair = pairs["p1"]
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", pair.after, "--label", pair.change,
                       "--model", "change", "--preset", "tiny", "--tile-size", "64", "--tiles-per-epoch", "8",
                       "--batch-size", "4", "--epochs", "2", "--frozen-encoder", "cached", "--pretrained", "none",
                       "--out", str(tmp_path / "cached.dsmodel"))
    assert code == 0, err
    assert "Caching the frozen encoder's features of 8 training tile(s)" in err
    assert "Frozen encoder, cached features: the decoder trains every epoch on the same 8 tiles" in err


def test_bulk_segments_pairs_matched_by_name(trained, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "pairs"
    made = [make_pair(folder, seed=i, size=64, buildings=4, changes=2, name=f"site{i}") for i in range(2)]
    out = tmp_path / "out"
    _no_read_back(monkeypatch)
    code, stdout, err = cli(capsys, "segment", "--model", trained, "--images", str(folder / "*_before.tif"),
                            "--after-pattern", "{stem:_before=_after}.tif", "--out-dir", str(out), "--quiet")
    assert code == 0, err
    import csv

    table = {r["image"].rsplit("/", 1)[-1]: r for r in csv.DictReader((out / "change_table.csv").open())}
    for name in ("site0_before.tif", "site1_before.tif"):  # the writer's counts, the rasters' own
        written = name.replace("_before.tif", "_before_to_" + name.replace("_before.tif", "_after.tif"))
        assert int(table[name]["pixels"]) == _changed_pixels(out / written)
    written = sorted(p.name for p in out.glob("*.tif"))
    # one change raster per pair, named after both dates (issue 79: not after the first date); later dates no scene
    assert written == ["site0_before_to_site0_after.tif", "site1_before_to_site1_after.tif"]
    for pair in made:
        with rasterio.open(out / f"{Path(pair.before).stem}_to_{Path(pair.after).stem}.tif") as got:
            assert got.count == 1 and got.width == 64
    # no first date recurs: none of their encoder maps is kept for a later pair (a series keeps them)
    assert "first_dates" not in json.loads((out / "summary.json").read_text())["ranks"]["0"]
    code, stdout, err = cli(capsys, "segment", "--model", trained, "--images", str(folder / "*_before.tif"),
                            "--after-pattern", "{stem}_later.tif", "--out-dir", str(tmp_path / "out2"))
    said = stdout + err  # each scene fails alone, saying why
    assert code != 0 and "No later date for the scene" in said and "--after-pattern" in said
    assert "the pattern '{stem}_later.tif' (read from the image's folder) gives" in said  # where it looked
