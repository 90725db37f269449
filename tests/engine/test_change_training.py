"""Training on dates of one place: more dates than any model takes are refused with what can be trained from them,
before any choice is said; a change model that learned nothing is called out wherever it is seen (the training log,
its report, its summary, evaluate's hint); pairs whose change is small parts train on tiles of a part's size, and
on a CPU a change mask's 256-px tiles become 16 of 128 px a step with the weight average; the training paths of a
change model (torchrun in two processes, a frozen shared encoder cached once for both dates)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest
import rasterio

from engine.bundle.describe import learned_nothing
from engine.bundle.store import read_metadata
from engine.cli.main import main
from engine.config import DataConfig, SceneSpec, TrainConfig
from engine.data.synthetic_pairs import make_pair
from engine.models import AutoModelConfig
from engine.training.auto import choose_settings
from tests.helpers import cli


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("places")
    return [make_pair(root, seed=i, size=96, name=f"p{i}") for i in range(3)]


def test_six_dates_with_a_land_cover_label_say_what_can_be_trained_not_a_change_model(places, tmp_path, capsys):
    first, *later = [path for pair in places for path in (pair.before, pair.after)]
    dates = [arg for path in later for arg in ("--after", path)]
    out = tmp_path / "m.dsmodel"
    # (left to the engine, six dates train the season family: tests/engine/test_season_inputs.py)
    for model in (["--model", "unet", "--preset", "tiny"], ["--model", "change", "--preset", "tiny"]):
        code = main(["train", "--image", first, *dates, "--label", places[0].before_classes, *model,
                     "--out", str(out)])
        _, err = capsys.readouterr()
        assert code != 0
        assert "hold 6 dates (the image and 5 later date(s), --after) of each place" in err
        assert {"unet": "but the unet family takes one date: train a season model to map classes from the dates "
                        "(train, --model season, or leave the model to the engine)",
                "change": "but the change family takes 2 dates of each place (before, after): give each scene one "
                          "later date (--after), or train a season model"}[model[1]] in err, err
        assert "--model season" in err and ("leave the later dates out" in err) == (model[1] == "unet")
        assert "train a change model" not in err and "takes one image" not in err
        assert "chosen:" not in err  # refused before the automatic choices, which assumed a change mask
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ a model that learned nothing
def test_learned_nothing_names_a_model_that_finds_nothing_or_less_than_calling_everything_change():
    names = ["no change", "change"]
    shares = {"val_labelled_share": 0.05}
    assert "finds no change anywhere on its validation pixels, where 5 % are change" in learned_nothing(
        {**shares, "val_predicted_share": 0.0, "val_iou": 0.0}, names, binary=True)
    below = learned_nothing({**shares, "val_predicted_share": 0.5, "val_iou": 0.04}, names, binary=True)
    assert "validation IoU 0.040 is below the 0.050 of calling every pixel change" in below
    everywhere = learned_nothing({"val_labelled_share": 1.0, "val_predicted_share": 0.916, "val_iou": 0.916}, names,
                                 binary=True)  # a share of 100 % was written "1e+02 %"
    assert "change on 92 % of its validation pixels, where 100 % are" in everywhere
    assert learned_nothing({**shares, "val_predicted_share": 0.06, "val_iou": 0.6}, names, binary=True) is None
    assert learned_nothing({"val_labelled_share": 0.0, "val_predicted_share": 0.0}, names, binary=True) is None
    assert learned_nothing({"val_iou": 0.0}, names, binary=True) is None  # a bundle that records no shares
    many = ["ground", "road", "roof"]
    assert "predicts ground everywhere" in learned_nothing({**shares, "val_predicted_share": 0.0}, many, False)
    assert learned_nothing({**shares, "val_predicted_share": 0.01, "val_iou": 0.0}, many, False) is None


def test_a_model_of_several_classes_painting_one_nearly_everywhere_learned_nothing():
    """Seen in QGIS: a 6-class land-cover model from one NDVI date predicted forest on every validation pixel, where
    the labels hold grassland and others too; its validation IoU never moved, and nothing said it learned nothing
    (the rule knew class 0 everywhere only). Its shares come from the validation's confusion matrix (rows: labels)."""
    from engine.training.metrics import foreground_shares

    names = ["background", "forest", "grassland"]
    matrix = [[0, 10, 0], [0, 700, 0], [0, 290, 0]]  # every pixel predicted forest; 70 % are forest
    shares = foreground_shares({"confusion_matrix": matrix})
    assert shares["val_top_class"] == 1 and shares["val_top_predicted_share"] == 1.0
    assert shares["val_top_labelled_share"] == pytest.approx(0.7)
    assert "it predicts forest on 100 % of its validation pixels, where 70 % are forest" == learned_nothing(
        shares, names, binary=False)
    mostly = foreground_shares({"confusion_matrix": [[0, 0, 0], [0, 950, 0], [0, 45, 5]]})
    assert learned_nothing(mostly, names, binary=False) is None  # 95 % forest labelled: painting it is no proof
    spread = foreground_shares({"confusion_matrix": [[0, 0, 0], [0, 690, 10], [0, 20, 280]]})
    assert learned_nothing(spread, names, binary=False) is None
    assert learned_nothing({**shares, "val_top_class": 1}, ["no change", "change"], binary=True) is None


@pytest.fixture(scope="module")
def untrained(places, tmp_path_factory):
    """A tiny change model whose one epoch at a rate far too high leaves it predicting no change anywhere: (bundle,
    what the training said)."""
    out = tmp_path_factory.mktemp("untrained") / "empty.dsmodel"
    said = io.StringIO()
    train, val = places[0], places[1]
    with redirect_stderr(said):
        code = main(["train", "--image", train.before, "--after", train.after, "--label", train.change,
                     "--val-image", val.before, "--val-after", val.after, "--val-label", val.change,
                     "--model", "change", "--preset", "tiny", "--epochs", "1", "--tiles-per-epoch", "8",
                     "--tile-size", "64", "--lr", "0.05", "--out", str(out), "--quiet"])
    assert code == 0
    return str(out), said.getvalue()


def test_a_change_model_that_learned_nothing_is_called_out_in_the_log_report_summary_and_evaluate(
        untrained, places, tmp_path, capsys):
    bundle, said = untrained
    assert "warning: The model learned nothing: at its best epoch (1) it finds no change anywhere" in said
    assert "--time-budget" in said and "--resume" in said
    report = Path(bundle).with_name("empty_report.html").read_text()
    assert "The model learned nothing: it finds no change anywhere" in report
    assert main(["info", bundle]) == 0
    out = capsys.readouterr().out
    assert "warning: the model learned nothing (it finds no change anywhere" in out
    meta = read_metadata(bundle)
    assert meta.metrics["val_predicted_share"] == 0.0 and meta.metrics["val_labelled_share"] > 0
    assert meta.model.threshold is None  # no threshold picked: a low one would call every pixel change, hiding it
    pair = places[1]
    prediction = tmp_path / "change.tif"
    assert main(["segment", "--image", pair.before, "--after", pair.after, "--model", bundle,
                 "--out", str(prediction), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(prediction), "--label", pair.change,
                 "--out", str(tmp_path / "metrics.json")]) == 0
    err = capsys.readouterr().err
    assert "Class 1 (change) occurs in the label" in err
    assert "the model 'empty.dsmodel' is the suspect, not the label mapping: it learned nothing" in err
    assert "check the label mapping" not in err


def third_changed(pair, path: Path) -> Path:
    """The pair's change mask with its left third changed as well, written to ``path``: change too large for a
    tile of a part."""
    with rasterio.open(pair.change) as src:
        profile, mask = src.profile, src.read(1)
    mask[:, : mask.shape[1] // 3] = 1
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(mask, 1)
    return path


def test_pairs_whose_change_is_small_parts_get_a_tile_of_a_part_on_a_cpu(places, tmp_path):
    pair = make_pair(tmp_path, seed=5, size=320, name="wide")  # buildings of 6..16 px built or torn down
    data = DataConfig(train_scenes=[SceneSpec(image=pair.before, after=[pair.after], label=pair.change)])
    chosen = choose_settings(AutoModelConfig.config_class("dualstream")(), data, TrainConfig(), (), device="cpu")
    assert chosen.data.tile_size == 64
    line = next(line for line in chosen.lines() if line.startswith("tile_size"))
    assert "the change is" in line and "part(s) of about" in line and "the first epochs learn it" in line
    given = choose_settings(AutoModelConfig.config_class("dualstream")(), data.replace(tile_size=256), TrainConfig(),
                            ("data.tile_size",), device="cpu")
    assert given.data.tile_size == 256  # a tile given is kept
    whole = third_changed(pair, tmp_path / "whole_change.tif")  # a third of the pair changed: the scene's tile
    data = DataConfig(train_scenes=[SceneSpec(image=pair.before, after=[pair.after], label=str(whole))])
    chosen = choose_settings(AutoModelConfig.config_class("dualstream")(), data, TrainConfig(), (), device="cpu")
    assert chosen.data.tile_size == 160


def test_a_change_mask_on_a_cpu_trains_16_tiles_of_128_px_a_step_with_the_weight_average(tmp_path):
    pair = make_pair(tmp_path, seed=6, size=512, name="large")
    # change too large for a part's tile: the CPU's 256 px would be chosen
    whole = third_changed(pair, tmp_path / "third_changed.tif")
    data = DataConfig(train_scenes=[SceneSpec(image=pair.before, after=[pair.after], label=str(whole))])

    def chosen(given=(), device="cpu", **settings):
        return choose_settings(AutoModelConfig.config_class("dualstream")(), data.replace(**settings), TrainConfig(),
                               given, device=device)

    step = chosen()
    assert (step.data.tile_size, step.train.batch_size) == (128, 16)
    assert (step.data.tiles_per_epoch, step.train.weight_average) == (800, 0.99)  # 50 steps an epoch, as at batch 4
    line = next(line for line in step.lines() if line.startswith("tile_size 128"))
    assert "batch_size 16" in line and "weight_average 0.99" in line and "the pixels of 4 of 256 px" in line
    assert len([line for line in step.lines() if "tile_size" in line]) == 1  # the 256 px it replaced is not said
    kept = chosen(("data.tile_size",), tile_size=256)  # a tile given: the step and the average as they were
    assert (kept.data.tile_size, kept.train.batch_size, kept.train.weight_average) == (256, 4, 0.0)
    assert chosen(("train.batch_size",)).data.tile_size == 256  # a batch given: the scene's tile
    averaged = chosen(("data.tiles_per_epoch",), tiles_per_epoch=96)
    assert (averaged.data.tiles_per_epoch, averaged.train.batch_size) == (96, 16)  # tiles given: kept
    gpu = chosen(device="cuda")
    assert gpu.train.batch_size == 4 and gpu.train.weight_average == 0.0 and gpu.data.tile_size != 128
    one_date = DataConfig(train_scenes=[SceneSpec(image=pair.before, label=pair.before_classes)])
    single = choose_settings(AutoModelConfig.config_class("dualstream")(), one_date, TrainConfig(), (), device="cpu")
    assert (single.data.tile_size, single.train.batch_size, single.train.weight_average) == (256, 4, 0.0)


def test_evaluate_keeps_the_label_mapping_hint_when_the_model_is_gone(untrained, places, tmp_path, capsys):
    bundle = tmp_path / "moved.dsmodel"
    bundle.write_bytes(Path(untrained[0]).read_bytes())
    pair, prediction = places[1], tmp_path / "change.tif"
    assert main(["segment", "--image", pair.before, "--after", pair.after, "--model", str(bundle),
                 "--out", str(prediction), "--quiet"]) == 0
    bundle.unlink()  # moved since: nothing tells what the model learned
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(prediction), "--label", pair.change,
                 "--out", str(tmp_path / "metrics.json")]) == 0
    err = capsys.readouterr().err
    assert "but never in the prediction; check the label mapping" in err and "suspect" not in err


# ------------------------------------------------------------------------------------------------ training paths
def test_torchrun_trains_a_change_model_in_two_processes(change_pairs, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from engine.bundle.model_files import read_model_metadata

    repo = Path(__file__).resolve().parents[2]
    out, pair = tmp_path / "ddp.dsmodel", change_pairs["p0"]
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         "-m", "engine", "train", "--image", pair.before, "--after", pair.after, "--label", pair.change, "--model",
         "change", "--preset", "tiny", "--tile-size", "64", "--tiles-per-epoch", "16", "--batch-size", "4",
         "--warmup-epochs", "0", "--epochs", "1", "--device", "cpu", "--out", str(out), "--json"],
        capture_output=True, text=True, cwd=repo, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(repo)),
        timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "cpu x2 processes" in done.stderr and "2 steps of 4 tiles per epoch" in done.stderr
    assert json.loads(done.stdout[done.stdout.index("{"):])["bundle"] == str(out)
    assert read_model_metadata(str(out)).data.dates == 2


def test_a_frozen_shared_encoder_is_cached_once_for_both_dates(change_pairs, tmp_path, capsys):
    pair = change_pairs["p1"]
    code, _, err = cli(capsys, "train", "--image", pair.before, "--after", pair.after, "--label", pair.change,
                       "--model", "change", "--preset", "tiny", "--tile-size", "64", "--tiles-per-epoch", "8",
                       "--batch-size", "4", "--epochs", "2", "--frozen-encoder", "cached", "--pretrained", "none",
                       "--out", str(tmp_path / "cached.dsmodel"))
    assert code == 0, err
    assert "Caching the frozen encoder's features of 8 training tile(s)" in err
    assert "Frozen encoder, cached features: the decoder trains every epoch on the same 8 tiles" in err
