"""A season model's bulk run (``segment --images PLACES --out-dir DIR``): the places of a folder (a subfolder of dates
each, or loose dated rasters grouped by footprint), one output per place named after it, the places that cannot
run failed with their reason, a rerun skipping the finished; real GeoTIFFs of a few pixels, a tiny season model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from engine.cli.main import main
from engine.config import BulkConfig
from engine.errors import ConfigError
from engine.imagery.places import season_places, shared_name
from engine.segment.bulk.runner import segment_bulk
from tests.helpers import SEASON_SIZE as SIZE
from tests.helpers import bundle_of, dated


@pytest.fixture(scope="module")
def season_model(tmp_path_factory, tiny_model) -> str:
    return str(bundle_of(tiny_model("season", classes=3, dates=3), tmp_path_factory.mktemp("sm") / "s.dsmodel"))


def _cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["segment", "--device", "cpu", "--backend", "torch", *args])
    said = capsys.readouterr()
    return code, said.out + said.err


def test_a_folder_of_places_gives_one_output_per_place_and_says_what_failed(tmp_path, season_model, capsys):
    places = tmp_path / "places"
    dated(places / "north" / "n_b.tif", "2024-06-01", cloud=True, seed=1)  # listed first, taken later
    dated(places / "north" / "n_a.tif", "2024-04-01", seed=2)
    dated(places / "north" / "n_c.tif", "2024-09-01", seed=3)
    dated(places / "south" / "s_1.tif", "2024-05-01", x=600000.0, seed=4)
    dated(places / "apart" / "here.tif", "2024-05-01", seed=5)  # two dates of different places
    dated(places / "apart" / "there.tif", "2024-07-01", x=900000.0, seed=6)
    (places / "no_dates").mkdir()
    out = tmp_path / "out"
    code, err = _cli(capsys, "--images", str(places), "--model", season_model, "--out-dir", str(out))
    assert code == 1, err  # a place failed
    summary = json.loads((out / "summary.json").read_text())
    by_name = {s["name"]: s for s in summary["scenes"]}
    assert set(by_name) == {"north", "south", "apart"}  # a subfolder without dates is no place
    assert by_name["north"]["status"] == by_name["south"]["status"] == "done"
    assert len(by_name["north"]["dates"]) == 3 and not any("_cloud" in d for d in by_name["north"]["dates"])
    assert by_name["apart"]["status"] == "failed"
    assert "here.tif" in by_name["apart"]["error"] and "there.tif" in by_name["apart"]["error"]
    assert sorted(p.name for p in out.glob("*.tif")) == ["north.tif", "south.tif"]
    with rasterio.open(out / "north.tif") as result:
        assert result.width == SIZE and set(np.unique(result.read(1))) <= {0, 1, 2}
    # the places said before the run; nothing written beside the inputs
    assert "3 place(s)" in err and "'north' (3 date(s))" in err
    assert sorted(p.name for p in (places / "north").iterdir()) == ["n_a.tif", "n_b.tif", "n_b_cloud.tif",
                                                                     "n_c.tif"]
    # a rerun skips the finished places and tries the failed one again
    code, _ = _cli(capsys, "--images", str(places), "--model", season_model, "--out-dir", str(out))
    again = {s["name"]: s["status"] for s in json.loads((out / "summary.json").read_text())["scenes"]}
    assert code == 1 and again == {"north": "skipped", "south": "skipped", "apart": "failed"}
    # a date changed since: its place is redone
    dated(places / "south" / "s_1.tif", "2024-05-01", x=600000.0, seed=7)
    _cli(capsys, "--images", str(places), "--model", season_model, "--out-dir", str(out))
    again = {s["name"]: s["status"] for s in json.loads((out / "summary.json").read_text())["scenes"]}
    assert again["south"] == "done" and again["north"] == "skipped"


def test_loose_dated_rasters_are_grouped_by_footprint_and_named_after_their_place(tmp_path, season_model):
    flat = tmp_path / "flat"
    for i, day in enumerate(("2024-04-01", "2024-06-01", "2024-08-01")):
        dated(flat / f"ljubljana_{day}.tif", day, seed=i)
        dated(flat / f"maribor_{day}.tif", day, x=700000.0, seed=10 + i)
    found = season_places([str(flat)], "bulk.images")
    assert sorted((p.name, len(p.dates)) for p in found) == [("ljubljana", 3), ("maribor", 3)]
    result = segment_bulk(BulkConfig(images=[str(flat)], out_dir=str(tmp_path / "out")),
                          _template(season_model))
    assert result.ok and sorted(r.name for r in result.scenes) == ["ljubljana", "maribor"]
    assert (tmp_path / "out" / "maribor.tif").is_file() and (tmp_path / "out" / "ljubljana.tif").is_file()


def test_a_glob_over_place_folders_names_each_place_after_its_folder(tmp_path):
    """QGIS's folder and pattern come as a glob ('places/**/*.tif'): a folder holding one place's dates alone
    names it, as a folder of place subfolders does."""
    for place, x in (("north", 500000.0), ("south", 800000.0)):
        for day in ("2024-04-01", "2024-06-01"):
            dated(tmp_path / "places" / place / f"d_{day}.tif", day, x=x, cloud=True)
    found = season_places([str(tmp_path / "places" / "**" / "*.tif")], "bulk.images")
    assert sorted((p.name, len(p.dates)) for p in found) == [("north", 2), ("south", 2)]


def _template(model: str):
    from engine.config import SegmentConfig

    return SegmentConfig(models=[model], device="cpu", backend="torch")


def test_place_names_from_what_file_names_share():
    assert shared_name(["/a/ljubljana_2024-05-01.tif", "/a/ljubljana_2024-06-01.tif"]) == "ljubljana"
    assert shared_name(["/a/field_7_20240501.tif", "/a/field_7_20240601.tif"]) == "field_7"
    assert shared_name(["/a/S2_20240501T1_B.tif", "/a/S2_20240601T1_B.tif"]) == "S2"
    assert shared_name(["/a/x_20240501.tif", "/a/y_20240601.tif"]) == "x_20240501"  # nothing shared: the first
    assert shared_name(["/a/only.tif"]) == "only"


def test_a_place_without_georeferencing_fails_alone_saying_what_to_do(tmp_path):
    flat = tmp_path / "flat"
    dated(flat / "good_2024-05-01.tif", "2024-05-01")
    with rasterio.open(flat / "plain.tif", "w", driver="GTiff", width=8, height=8, count=3, dtype="uint8") as out:
        out.write(np.zeros((3, 8, 8), np.uint8))
    by_name = {p.name: p for p in season_places([str(flat)], "bulk.images")}
    assert by_name["good_2024-05-01"].error is None
    assert "no georeferencing" in by_name["plain"].error and "subfolder" in by_name["plain"].error


def test_pair_settings_and_a_folder_without_dates_are_refused_before_any_work(tmp_path, season_model):
    dated(tmp_path / "places" / "p" / "a.tif", "2024-05-01")
    with pytest.raises(ConfigError, match="pair_by_date|pair-by-date"):
        segment_bulk(BulkConfig(images=[str(tmp_path / "places")], out_dir=str(tmp_path / "out"),
                                pair_by_date="first"), _template(season_model))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no dated rasters"):
        season_places([str(tmp_path / "empty")], "bulk.images")
    assert not (tmp_path / "out").exists()


def test_a_season_model_given_a_pair_says_the_area_of_each_class_not_change(tmp_path, season_model, capsys):
    """``segment --image --after`` with a season model maps classes of two dates: the summary and the table give the
    area of every class (class 0 too), never a "Change:" that would leave class 0 out as "no change"."""
    before, after = dated(tmp_path / "a.tif", "2024-05-01"), dated(tmp_path / "b.tif", "2024-07-01", seed=2)
    table = tmp_path / "t.csv"
    code, said = _cli(capsys, "--model", season_model, "--image", str(before), "--after", str(after),
                      "--out", str(tmp_path / "classes.tif"), "--change-table", str(table))
    assert code == 0, said
    assert "Area of each class: class0" in said and "Change:" not in said
    rows = table.read_text().splitlines()
    assert rows[0].startswith("class,name,from,to") and [r.split(",")[1] for r in rows[1:]] == ["class0", "class1",
                                                                                                 "class2"]
