"""Training on dates of one place: more dates than any model takes are refused with what can be trained from them,
before any choice is said."""

from __future__ import annotations

import pytest

from engine.cli.main import main
from engine.data.synthetic_pairs import make_pair


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("places")
    return [make_pair(root, seed=i, size=96, name=f"p{i}") for i in range(3)]


def test_six_dates_with_a_land_cover_label_say_what_can_be_trained_not_a_change_model(places, tmp_path, capsys):
    first, *later = [path for pair in places for path in (pair.before, pair.after)]
    dates = [arg for path in later for arg in ("--after", path)]
    out = tmp_path / "m.dsmodel"
    for model in ([], ["--model", "unet", "--preset", "tiny"], ["--model", "change", "--preset", "tiny"]):
        code = main(["train", "--image", first, *dates, "--label", places[0].before_classes, *model,
                     "--out", str(out)])
        _, err = capsys.readouterr()
        assert code != 0
        assert "hold 6 dates of each place (the image and 5 later dates, --after)" in err
        assert "a model takes one date, or 2 for change detection" in err
        assert "train on one date and leave the later dates out" in err
        assert "train a change model" not in err and "takes one image" not in err
        assert "chosen:" not in err  # refused before the automatic choices, which assumed a change mask
    assert list(tmp_path.iterdir()) == []
