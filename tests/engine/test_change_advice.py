"""Advice that points somewhere (issue 79, item 1): a change model given one date, a model of one date given a pair,
and a change model given to the comparison say which command takes what, in the command line's words; the words
come from one table (``engine.errors.COMMANDS``) that QGIS renders as its algorithms."""

from __future__ import annotations

import pytest

from engine.bundle.expects import dates_problem
from engine.cli.main import main
from engine.data.synthetic_pairs import make_pair
from engine.errors import COMMANDS, render
from tests.helpers import make_bundle, make_change_bundle


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("advice")
    pair = make_pair(root, seed=3, size=64, name="p")
    return pair, make_change_bundle(root / "change.dsmodel"), make_bundle(root / "one.dsmodel", vision_bands=3)


def error_of(capsys, *argv: str) -> str:
    code = main([*argv, "--quiet"])
    err = capsys.readouterr().err
    assert code != 0, err
    return err


def test_a_change_model_given_one_date_names_the_command_and_option_that_take_the_pair(models, tmp_path, capsys):
    pair, change, _ = models
    err = error_of(capsys, "segment", "--model", change, "--image", pair.before, "--out", str(tmp_path / "x.tif"))
    assert "change model of 2 dates (before, after), and no later date is given: give one pair at a time to " \
           "segment, the later date as --after" in err, err
    assert "Detect change" not in err and "AFTER" not in err


def test_a_model_of_one_date_given_a_pair_names_compare_and_train(models, tmp_path, capsys):
    pair, _, one = models
    err = error_of(capsys, "segment", "--model", one, "--image", pair.before, "--after", pair.after, "--out",
                   str(tmp_path / "y.tif"))
    assert f"with the later date '{pair.after}' (--after) does not fit" in err, err
    assert "the dates (the post-classification comparison, compare), or train a change model on pairs (train)" in err


def test_compare_given_a_change_model_names_segment_and_its_later_date_option(models, tmp_path, capsys):
    pair, change, _ = models
    err = error_of(capsys, "compare", "--model", change, "--image", pair.before, "--after", pair.after, "--out",
                   str(tmp_path / "z.tif"))
    assert "Give the pair to segment with it, the later date as --after" in err, err


def test_the_dates_rule_and_its_words_without_a_front_end():
    assert dates_problem(1, 1) is None and dates_problem(2, 2) is None
    said = render(dates_problem(2, 1))
    assert said.endswith("give one pair at a time to segment, the later date as after")  # plain names
    # a season model takes any count (fewer padded and masked): the one rule says so for every front end
    assert dates_problem(3, 1, "season") is None and dates_problem(3, 7, "season") is None
    assert dates_problem(3, 1, "season", trained=False) is None
    # a model of one date given three: what it takes, and the season model for the dates' classes
    three = render(dates_problem(1, 3, "unet"))
    assert three.startswith("the model was trained on one date, so it takes no later date")
    assert "a season model to map classes from the dates (train, name season)" in three
    many = render(dates_problem(2, 4, "change"))
    assert "4 dates are given: give one pair at a time" in many and "train a season model" in many
    assert {name: c.algorithm for name, c in COMMANDS.items()}["detect_change"] == "detectchange"
