"""Change detection on real pairs (opt-in: ``pytest -m realdata``): LEVIR-CD's and DSIFN-CD's sample pairs
(``realdata/change_pairs``, kept out of the repository; see its README), with the split and recipe of
``bench/change_real.py``. A short training from random weights must already find change on LEVIR-CD's held-out
test pairs better than calling every pixel change; the F1 table of the full budget, against the post-classification
baseline, is ``bench/change.py --realdata``'s (docs/benchmarks.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import rasterio

from bench.change_real import LEVIR, predict, scores, split, train_change
from engine.cli.main import main

pytestmark = pytest.mark.realdata

SHORT_BUDGET = 4.0  # minutes: enough to beat the floor on 2 cores (the bench trains 15)


@pytest.fixture(scope="module")
def pairs(realdata):
    if not (realdata / LEVIR).is_dir():
        pytest.skip(f"'{realdata / LEVIR}' is absent: the change pairs are fetched apart (realdata README)")
    return split(realdata)


@pytest.fixture(scope="module")
def trained(pairs, tmp_path_factory):
    train, _ = pairs
    model = tmp_path_factory.mktemp("change") / "levir.dsmodel"
    train_change(model, train, SHORT_BUDGET)
    return str(model)


def test_the_split_holds_levir_cds_test_pairs_out_of_training(pairs):
    train, test = pairs
    names = {Path(before).name for before, _, _ in train}
    assert len(test) == 7 and all(Path(before).name.startswith("test_") for before, _, _ in test)
    assert not names & {Path(before).name for before, _, _ in test}
    assert len(train) == 14 and sum("samples_DSIFN" in before for before, _, _ in train) == 10


def test_a_short_training_finds_change_on_held_out_pairs(trained, pairs, tmp_path):
    _, test = pairs
    found = scores(predict(tmp_path, trained, None, test)["change_model"])
    floor = scores([("", label) for _, _, label in test])  # every pixel called change
    print(f"change model after {SHORT_BUDGET:g} min: {found}; every pixel change: {floor}")
    assert found["f1"] > floor["f1"] and found["precision"] > floor["precision"]
    assert 0.05 < found["recall"] < 0.98  # neither nothing nor everything


def test_a_real_pairs_change_comes_with_its_table_and_polygons(trained, pairs, tmp_path, capsys):
    before, after, _ = pairs[1][0]
    out, table, polygons = tmp_path / "change.tif", tmp_path / "change.csv", tmp_path / "change.gpkg"
    code = main(["segment", "--model", trained, "--image", before, "--after", after, "--out", str(out),
                 "--change-table", str(table), "--polygons", str(polygons)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "no georeferencing" in err  # plain PNGs: pixel space, said
    with rasterio.open(out) as got:
        changed = int((got.read(1) == 1).sum())
    lines = table.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "class,name,from,to,pixels,hectares" and lines[1] == f"1,change,,,{changed},"  # no CRS: no ha
    with sqlite3.connect(polygons) as db:
        rows = db.execute("SELECT class_name, from_class, to_class FROM change").fetchall()
    assert rows and {r[0] for r in rows} == {"change"} and changed > 0
