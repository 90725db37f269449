"""The change detection dialogs in the real QGIS desktop under Xvfb (issue 79): what they say before Run.

One QGIS session (``tests/gui/change_session.py``) opens the dialogs and records what they show; the tests assert on
that record. The models are tiny bundles with random weights (a change model, a model of one date): the dialogs read
their headers only. Screenshots are kept with ``DUALSTREAM_GUI_SCREENS=DIR``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gui.desktop import finished_session

pytestmark = [pytest.mark.qgis, pytest.mark.gui]


def png(path: Path) -> str:
    """A PNG tile without georeferencing, as LEVIR-CD publishes them."""
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return str(path)


@pytest.fixture(scope="module")
def session(tmp_path_factory, deploy_plugin, venv_site_packages):
    from engine.data.synthetic_pairs import make_pair
    from tests.helpers import make_bundle, make_change_bundle

    root = tmp_path_factory.mktemp("change-desktop")
    pair = make_pair(root / "pair", seed=2, size=64, name="p")
    config = {"pair": pair.__dict__, "change_model": make_change_bundle(root / "change.dsmodel"),
              "one_date_model": make_bundle(root / "one_date.dsmodel", vision_bands=3),
              "dataset": [png(root / "LEVIR" / folder / "train_36_0512_0512.png") for folder in ("A", "B", "label")],
              "compare_outputs": [str(root / "out" / f"p_{years}_change.tif") for years in ("2019_2021", "2019_2023")]}
    deploy_plugin(root, venv_site_packages)
    return finished_session(Path(__file__).with_name("change_session.py"), root, config, timeout=300,
                            env={"OMP_NUM_THREADS": "1"})


def test_segment_warns_before_run_that_a_change_model_takes_the_pair_in_detect_change(session):
    text = session["segment_change_model"]["text"]
    assert "Not for this algorithm:</b> the model is a change model of 2 dates (before, after)" in text, text
    assert "give one pair at a time to Detect change, the later date as &#x27;Later date (after)&#x27; (AFTER)" in text


def test_detect_change_warns_before_run_that_a_model_of_one_date_compares_no_pair(session):
    text = session["detect_one_date_model"]["text"]
    assert "Not for this algorithm:</b> the model was trained on one date" in text, text
    assert "Compare classifications" in text and "Train change detection" in text


def test_a_change_datasets_files_of_one_name_are_told_apart_by_folder(session):
    """Issue 79, item 5: LEVIR's A/, B/ and label/ files share one name; every combo listed it three times."""
    combos = session["dataset_combos"]
    assert combos["layers"] == ["A/train_36_0512_0512", "B/train_36_0512_0512", "label/train_36_0512_0512"]
    listed = [entry.split(" [")[0] for entry in combos["first_date_combo"]]
    assert {"A/train_36_0512_0512", "B/train_36_0512_0512", "label/train_36_0512_0512"} <= set(listed), listed


def test_train_change_detection_shows_automatic_and_the_change_familys_choices(session):
    """Issue 79, item 3: the form showed Train DualStream's values (background,foreground, 40 epochs, 2 warm-up
    epochs, tile 512, 3e-4, the presets b0/b1/b2) that the run did not use."""
    form = session["train_change_form"]
    shown = form["shown"]
    assert all(shown[name] == "automatic" for name in ("EPOCHS", "WARMUP_EPOCHS", "LEARNING_RATE", "TILE_SIZE",
                                                       "TIME_BUDGET")), shown  # the budget's 0 showed "0.000000"
    labels = form["shown_labels"]
    assert labels["EPOCHS"] == f"{form['labels']['EPOCHS']} [automatic]", labels  # was "... [optional]"
    assert shown["CLASS_NAMES"] == "no change,change" and shown["PRESET"] == "default"
    assert form["presets"] == ["tiny", "light", "base", "default"]
    assert form["labels"]["ENCODER"] == "Encoder (shared by both dates)"
    assert "both encoders" not in form["help"]["WARMUP_EPOCHS"]


def test_each_change_table_layer_is_named_after_its_change_raster(session):
    """Issue 79, item 5: every table was "<first date> change table", the same after each run."""
    names = session["change_tables"]["names"]
    assert names == ["p_2019_2021_change", "p_2019_2021_change table", "p_2019_2023_change",
                     "p_2019_2023_change table"], names
