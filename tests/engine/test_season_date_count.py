"""A season model given another count of dates than it was trained on (seen in QGIS: a model of 27 dates given 4
painted 10,078 of 10,100 px forest, unsaid): it runs (the missing dates masked), the log names both counts and their
months, the bundle records the months its training saw, and a result of nearly one class from fewer dates is
called out by the one rule of a result of one class nearly everywhere (``bundle.describe.nearly_one_class``,
the learned-nothing rule's share, suggest's too)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from engine.bundle.describe import ONE_CLASS_SHARE, describe_bundle, nearly_one_class
from engine.bundle.expects import season_dates_note
from engine.bundle.store import load_bundle, read_metadata, save_bundle
from engine.data.metadata import DataMetadata
from engine.data.normalize import BandStatistics
from engine.suggest.run import one_class_note
from engine.time_axis import months_said
from tests.engine.season_files import season_scene

DATES = ["2024-07-01", "2024-03-01", "2024-05-01"]


def _data(dates: int, months: list[int] | None) -> DataMetadata:
    return DataMetadata(vision_bands=1, vision_stats=BandStatistics("meanstd", [0.0], [1.0]), aux_channels=0,
                        class_names=["forest", "grass"], class_colors=["#000000", "#ffffff"], tile_size=32,
                        dates=dates, date_months=months)


def test_the_note_names_both_counts_and_their_months():
    given = [dt.date(2017, m, 5) for m in (3, 5, 7, 8)]
    fewer = season_dates_note(_data(27, list(range(1, 13))), given, "m.dsmodel")
    assert fewer is not None
    assert "trained on 27 date(s) of each place (months Jan-Dec) and is given 4 (Mar, May, Jul, Aug)" in fewer
    assert "the 23 missing date(s) are masked" in fewer and "one class nearly everywhere" in fewer
    assert season_dates_note(_data(4, [3, 5, 7, 8]), given, "m.dsmodel") is None  # the count it was trained on
    more = season_dates_note(_data(2, None), given, "m.dsmodel")
    assert more is not None and "(its months not recorded)" in more and "it reads them all" in more
    assert months_said([1, 2, 3, 6, 11, 12]) == "Jan-Mar, Jun, Nov, Dec"


def test_one_rule_of_nearly_one_class_for_segment_and_suggest():
    seen = np.array([10_078, 22, 0])  # the QGIS result: forest at 99.8 %
    assert nearly_one_class(seen) == (0, pytest.approx(10_078 / 10_100))
    assert nearly_one_class(np.array([9_800, 300])) is None  # 97 %: a place mostly of one class
    assert ONE_CLASS_SHARE == 0.99
    assert "'forest' at 99.8 %" in one_class_note(seen, ["forest", "grass", "shrub"])
    assert one_class_note(np.array([9_800, 300]), ["forest", "grass"]) is None


@pytest.fixture(scope="module")
def season_model(tmp_path_factory):
    """A season model trained on three dates (March, May, July) through the command line."""
    from engine.cli.main import main

    root = tmp_path_factory.mktemp("count")
    paths, label = season_scene(root, DATES, size=48)
    out = root / "out" / "m.dsmodel"
    code = main(["train", "--dates", *paths, "--label", label, "--model", "season", "--preset", "tiny",
                 "--tile-size", "32", "--epochs", "1", "--tiles-per-epoch", "2", "--batch-size", "2",
                 "--val-fraction", "0", "--out", str(out)])
    assert code == 0
    return paths, out


def test_training_records_the_months_of_its_dates(season_model):
    _, bundle = season_model
    meta = read_metadata(bundle)
    assert meta.data.dates == 3 and meta.data.date_months == [3, 5, 7]
    assert any(line.startswith("  3 dates in time order (months Mar, May, Jul), each: 2 bands")
               for line in describe_bundle(str(bundle), meta))


def _foreground_everywhere(bundle, out):
    """The bundle's binary model made to answer class 1 everywhere: every one-channel output layer's bias raised."""
    loaded = load_bundle(bundle)
    assert loaded.metadata.model.num_classes == 1
    with torch.no_grad():
        for module in loaded.model.modules():
            width = getattr(module, "out_features", getattr(module, "out_channels", None))
            if width == 1 and getattr(module, "bias", None) is not None:
                module.bias += 100.0
    return save_bundle(out, loaded.model, loaded.metadata)


def test_fewer_dates_are_said_and_a_result_of_one_class_called_out(season_model, tmp_path, capsys):
    from engine.cli.main import main

    paths, bundle = season_model
    biased = _foreground_everywhere(bundle, tmp_path / "one.dsmodel")
    code = main(["segment", "--model", biased, "--dates", paths[1], paths[2], "--backend", "torch",
                 "--out", str(tmp_path / "two.tif")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "trained on 3 date(s) of each place (months Mar, May, Jul) and is given 2 (Mar, May)" in err
    assert "'foreground' is 100.0 % of the pixels" in err and "(2,304 of 2,304)" in err
    assert "from 2 date(s) given to a season model trained on 3" in err

    code = main(["segment", "--model", biased, "--dates", *paths, "--backend", "torch",
                 "--out", str(tmp_path / "three.tif")])
    err = capsys.readouterr().err
    assert code == 0, err  # every date: no line of counts, and one class is the model's answer, not the dates'
    assert "and is given" not in err and "date(s) given to a season model" not in err
