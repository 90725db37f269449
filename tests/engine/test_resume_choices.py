"""A training resumed after an upgrade changed an automatic choice goes on with the checkpoint's choice (said),
while a setting the user gives still has to match the checkpoint's."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main
from engine.data import synthetic
from engine.training.checkpoint import checkpoint_path, load_checkpoint

ARGS = ["--model", "unet", "--preset", "tiny", "--tile-size", "64", "--tiles-per-epoch", "8", "--batch-size", "4",
        "--device", "cpu", "--num-workers", "0", "--seed", "0"]


@pytest.fixture(scope="module")
def started(tmp_path_factory) -> tuple[Path, list[str]]:
    """One epoch trained as an earlier version chose it: the tiles zoomed 0.75-1.25 (today's choice: 0.5-1.5)."""
    root = tmp_path_factory.mktemp("resume_choices")
    scene = synthetic.make_scene(root / "gen", "a", size=(128, 128), seed=0, aux_channels=0)
    inputs = ["--image", scene["image"], "--label", scene["label"]]
    config = root / "earlier.yaml"
    config.write_text("data:\n  augment:\n    scale_range: [0.75, 1.25]\n")
    out = root / "m.dsmodel"
    assert main(["train", *inputs, *ARGS, "--epochs", "1", "--config", str(config), "--out", str(out),
                 "--quiet"]) == 0
    return out, inputs


def test_a_resumed_training_keeps_the_checkpoint_s_automatic_choice(started, capsys):
    out, inputs = started
    capsys.readouterr()
    assert main(["train", *inputs, *ARGS, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    said = capsys.readouterr()
    log = said.out + said.err
    assert "scale_range [0.75, 1.25], chosen: the checkpoint's, kept on resuming it" in log
    assert "window of half to 1.5 times" not in log  # today's choice of it is not said as made
    assert "Resuming from" in log and "going on to epoch 2" in log
    saved = load_checkpoint(checkpoint_path(out))  # rewritten by the resumed run, with its settings
    assert saved["configs"]["data"]["augment"]["scale_range"] == [0.75, 1.25] and saved["epoch"] == 2


def test_a_setting_given_otherwise_than_the_checkpoint_s_is_still_refused(started, capsys):
    out, inputs = started
    capsys.readouterr()
    assert main(["train", *inputs, *ARGS, "--epochs", "2", "--out", str(out), "--resume", "--lr", "0.01"]) == 2
    said = capsys.readouterr()
    assert "it was made with other settings" in said.err and "train.learning_rate" in said.err
