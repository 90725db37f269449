"""Advice that points somewhere, in QGIS's words (issue 79, item 1): Segment given a change model, Compare
classifications given a change model and Detect change given a model of one date name the algorithm that takes
what was given, and its fields; the dialogs' model summary says it before Run (tests/gui/test_change_desktop.py)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.qgis]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from engine.data.synthetic_pairs import make_pair
    from tests.helpers import make_bundle, make_change_bundle

    root = tmp_path_factory.mktemp("advice")
    pair = make_pair(root, seed=3, size=64, name="p")
    return pair, make_change_bundle(root / "change.dsmodel"), make_bundle(root / "one.dsmodel", vision_bands=3)


def refusal(algorithm: str, params: dict) -> str:
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException) as raised:
        processing.run(algorithm, params)
    return str(raised.value)


def test_segment_given_a_change_model_names_detect_change_and_its_later_date(plugin, models, tmp_path):
    pair, change, _ = models
    said = refusal("dualstream:segment", {"INPUT": pair.before, "MODEL": change, "OUTPUT": str(tmp_path / "x.tif")})
    assert ("give one pair at a time to Detect change, the later date as 'Later date (after)' (AFTER)") in said, said
    assert "--after" not in said and not (tmp_path / "x.tif").exists()


def test_compare_given_a_change_model_names_detect_change(plugin, models, tmp_path):
    pair, change, _ = models
    said = refusal("dualstream:comparechange", {"INPUT": pair.before, "AFTER": pair.after, "MODEL": change,
                                                "OUTPUT": str(tmp_path / "y.tif")})
    assert "Give the pair to Detect change with it, the later date as 'Later date (after)' (AFTER)" in said, said


def test_detect_change_given_a_model_of_one_date_names_compare_and_train_change_detection(plugin, models, tmp_path):
    pair, _, one = models
    said = refusal("dualstream:detectchange", {"INPUT": pair.before, "AFTER": pair.after, "MODEL": one,
                                               "OUTPUT": str(tmp_path / "z.tif")})
    assert ("(the post-classification comparison, Compare classifications), or train a change model on pairs "
            "(Train change detection)") in said, said
