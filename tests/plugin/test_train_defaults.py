"""Train DualStream with only the image, the labels and the class names filled in: the settings left at their
defaults are chosen from the data and the device, each said in the log, and training stops at the time budget
with a usable bundle (tiny data, a small budget)."""

from __future__ import annotations

import pytest

from tests.helpers import RecordingFeedback

pytestmark = pytest.mark.qgis


def test_train_with_its_defaults_chooses_the_rest_says_why_and_finishes(plugin, tmp_path, monkeypatch):
    import processing

    monkeypatch.setenv("DUALSTREAM_OFFLINE", "1")  # offline: random weights (online the ImageNet ones are taken)

    from engine.bundle.store import read_metadata
    from engine.data.synthetic import make_scene

    # the sample of Create sample data, smaller: labels are class numbers, no aux layers (imagery only)
    scene = make_scene(tmp_path / "data", "sample", size=(128, 160), seed=7, field_seed=7, aux_channels=0,
                       label_value=1)
    feedback = RecordingFeedback.make()
    # DEVICE is no chosen setting; cpu keeps the test the same on a machine with a GPU
    results = processing.run("dualstream:train", {
        "INPUT": scene["image"], "LABELS": scene["label"], "CLASS_NAMES": "background,field", "DEVICE": "cpu",
        "TIME_BUDGET": 0.05, "OUTPUT": str(tmp_path / "model.dsmodel")}, feedback=feedback)
    log = "\n".join(feedback.infos)
    assert ("Tile size: 64, chosen: the largest multiple of 32 that fits the smallest training scene "
            "sample_image.tif (160 x 128 px) with the validation band held out of it.") in log
    assert "Model family: unet; Architecture preset: light, chosen: training on the CPU with imagery only" in log
    assert "Epochs: 100, chosen: an upper bound: the time budget of 0.05 min ends the training." in log
    assert "Warm-up epochs: 0, chosen: the encoders start from random weights" in log
    assert "Time budget:" not in log  # given, so kept
    assert "Stopped at the time budget of 0.05 min after epoch " in log
    assert ("Stopped at the time budget (0.05 min); a larger Time budget (also with Resume from the last "
            "checkpoint) trains longer.") in log
    # with a time budget the bar follows the budget: it reaches the training window's end when the budget does
    assert feedback.progress_values == sorted(feedback.progress_values) and max(feedback.progress_values) >= 99
    meta = read_metadata(results["OUTPUT"])
    assert (meta.model.name, meta.model.preset, meta.data.tile_size) == ("unet", "light", 64)
    assert meta.train_config().time_budget == 0.05 and results["BEST_IOU"] is not None


def test_a_setting_counts_as_given_only_when_changed_from_its_default(plugin):
    from qgis.core import QgsApplication, QgsProcessingContext

    from dualstream_qgis.algorithms.parameters import changed_settings

    train = QgsApplication.processingRegistry().algorithmById("dualstream:train")
    keys = ("data.tile_size", "train.epochs", "train.time_budget")
    context = QgsProcessingContext()
    assert changed_settings(train, {}, context, *keys) == set()
    # the dialog passes every parameter, at its default when untouched; scripts pass numbers as text
    assert changed_settings(train, {"TILE_SIZE": 512, "EPOCHS": "40", "TIME_BUDGET": 0}, context, *keys) == set()
    assert changed_settings(train, {"TILE_SIZE": "256", "EPOCHS": 40, "TIME_BUDGET": 2.5}, context,
                            *keys) == {"data.tile_size", "train.time_budget"}


def test_the_first_round_of_the_labelling_loop_fits_its_choices_to_four_labelled_squares(plugin, tmp_path,
                                                                                            monkeypatch):
    """Issue 61 item 6: a labelled area of four squares (the loop's first round) gets a tile and epochs fitted to it,
    each said, and validates on a whole square, so the epochs are scored on labelled pixels."""
    import processing

    monkeypatch.setenv("DUALSTREAM_OFFLINE", "1")
    from engine.data.synthetic import make_scene
    from tests.helpers import squares_layer

    scene = make_scene(tmp_path / "data", "loop", size=(480, 480), seed=7, field_seed=7, aux_channels=0,
                       label_value=1)
    area = squares_layer(tmp_path / "squares.gpkg", scene["image"], [(32, 32), (288, 32), (32, 288), (288, 288)], 96)
    feedback = RecordingFeedback.make()
    results = processing.run("dualstream:train", {
        "INPUT": scene["image"], "LABELS": scene["label_vector"], "LABEL_FIELD": "class", "LABELLED_AREA": area,
        "CLASS_NAMES": "background,field", "DEVICE": "cpu", "TIME_BUDGET": 0.05,
        "OUTPUT": str(tmp_path / "round0.dsmodel")}, feedback=feedback)
    log = "\n".join(feedback.infos)
    assert ("Tile size: 64, chosen: the labelled area is 4 part(s) of about 96 px (16.0 % of the scene, 36,864 px): "
            "a tile of about 75 % of a part's side keeps most of each tile labelled.") in log
    assert "Tiles per epoch: 72, chosen: the labelled area is 4 part(s) of about 96 px" in log
    assert "Validation: 1 of the 4 parts of the labelled area of 'loop_image.tif'" in log
    assert "64 training tiles per epoch" not in log and "72 training tiles per epoch" in log
    assert results["BEST_IOU"] is not None
