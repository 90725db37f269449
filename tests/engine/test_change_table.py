"""The change table of a pair: hectares of each kind of change from the writer's counts (never a read-back), a finer
pair at the training pixel size, bulk pairs matched by name. Pairs (``change_pairs``) and the change model trained on
them (``change_model``) are the session's, from tests/engine/conftest.py."""

from __future__ import annotations

import json
from pathlib import Path

import rasterio

from engine.data.synthetic_pairs import make_pair
from tests.helpers import change_f1, cli


def test_a_change_model_writes_its_change_table(change_model, change_pairs, tmp_path, capsys):
    pair = change_pairs["p2"]
    out, table, polygons = tmp_path / "change.tif", tmp_path / "change.csv", tmp_path / "change.gpkg"
    code, stdout, err = cli(capsys, "segment", "--model", change_model, "--image", pair.before, "--after", pair.after,
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
    assert code == 0 and abs(f1_said - change_f1(str(out), pair.change)[0]) < 1e-4



def test_a_change_model_segments_a_finer_pair_at_its_training_pixel_size(change_model, change_pairs, tmp_path, capsys):
    """The resample mode warps both dates onto the working grid; a pair at half the training pixel size is read at
    the training one and written back on its own grid, with the change a run at the training size finds."""
    from osgeo import gdal

    pair = change_pairs["p2"]
    with rasterio.open(pair.before) as src:
        size, shape = src.res[0] / 2, (src.height * 2, src.width * 2)
    finer = [str(tmp_path / f"{name}.tif") for name in ("before", "after")]
    for given, made in zip((pair.before, pair.after), finer):
        gdal.Translate(made, given, xRes=size, yRes=size, resampleAlg="nearest")
    native, resampled = tmp_path / "native.tif", tmp_path / "resampled.tif"
    for image, after, out, extra in ((pair.before, pair.after, native, []),
                                     (*finer, resampled, ["--resample-to-training-gsd"])):
        code, _, err = cli(capsys, "segment", "--model", change_model, "--image", image, "--after", after, "--out",
                           str(out),
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


def test_a_pair_s_change_table_takes_the_writer_s_counts_not_a_read_back(change_model, change_pairs, tmp_path, capsys,
                                                                         monkeypatch):
    """The class raster's writer counts each class as it writes it (reading the raster back decoded all of it
    again): the table's pixels are the raster's own."""
    _no_read_back(monkeypatch)
    pair = change_pairs["p2"]
    out, table = tmp_path / "change.tif", tmp_path / "change.csv"
    code, stdout, err = cli(capsys, "segment", "--model", change_model, "--image", pair.before, "--after", pair.after,
                            "--out", str(out), "--change-table", str(table), "--backend", "torch", "--quiet")
    assert code == 0, err
    changed = _changed_pixels(out)
    assert changed > 0 and table.read_text(encoding="utf-8").splitlines()[1].split(",")[4] == str(changed)



def test_bulk_segments_pairs_matched_by_name(change_model, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "pairs"
    made = [make_pair(folder, seed=i, size=64, buildings=4, changes=2, name=f"site{i}") for i in range(2)]
    out = tmp_path / "out"
    _no_read_back(monkeypatch)
    code, stdout, err = cli(capsys, "segment", "--model", change_model, "--images", str(folder / "*_before.tif"),
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
    code, stdout, err = cli(capsys, "segment", "--model", change_model, "--images", str(folder / "*_before.tif"),
                            "--after-pattern", "{stem}_later.tif", "--out-dir", str(tmp_path / "out2"))
    said = stdout + err  # each scene fails alone, saying why
    assert code != 0 and "No later date for the scene" in said and "--after-pattern" in said
    assert "the pattern '{stem}_later.tif' (read from the image's folder) gives" in said  # where it looked
