"""Comparing two classifications (``compare``): each transition and its hectares, another tool's legends, both dates
segmented with a model of one date, over an extent. Pairs (``change_pairs``) and the change model trained on them
(``change_model``) are the session's, from tests/engine/conftest.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from tests.helpers import cli, make_bundle


# ------------------------------------------------------------------------------------------------ outputs
def test_the_comparison_of_two_class_rasters_finds_each_transition_and_its_hectares(change_pairs, tmp_path, capsys):
    pair = change_pairs["p0"]
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


def test_class_rasters_of_another_tool_name_their_transitions_by_their_own_legend(change_pairs, tmp_path, capsys):
    """Category names (a raster attribute table, an .aux.xml) or a paletted QGIS style beside the raster name the
    classes; a value past the names is still a class."""
    from osgeo import gdal

    pair = change_pairs["p0"]
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


def test_the_comparison_segments_both_dates_with_a_model_of_one_date(change_model, change_pairs, tmp_path, capsys):
    pair = change_pairs["p1"]
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
    code, _, err = cli(capsys, "compare", "--model", change_model, "--image", pair.before, "--after", pair.after,
                       "--out",
                       str(tmp_path / "x.tif"), "--quiet")
    assert code != 0 and "is a change model: it compares the dates itself" in err


def test_the_comparison_over_an_extent_segments_both_dates_over_it(change_pairs, tmp_path, capsys):
    pair = change_pairs["p1"]
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
