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
