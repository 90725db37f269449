"""Training settings left unset are chosen from the data and the device (engine.training.auto), each printed with
its reason; settings the user gave are kept. The GPU rules are checked on the CPU by passing the device.

Scenes are real GeoTIFFs from engine.data.synthetic (only their headers are read by the choice).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bundle.store import read_metadata
from engine.config import DataConfig, SceneSpec, TrainConfig
from engine.data.synthetic import make_scene
from engine.models import AutoModelConfig
from engine.runtime.resources import ResourceError
from engine.training.auto import AUTO_SETTINGS, CPU_BUDGET_MINUTES, choose_settings
from tests.helpers import squares_layer

REPO = Path(__file__).resolve().parents[2]
ALL = ()  # nothing given: every setting of AUTO_SETTINGS is chosen


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("auto")
    common = {"field_seed": 3, "label_from": "both"}
    return {
        "square": make_scene(root, "square", size=(384, 384), seed=1, aux_channels=0, **common),
        "small": make_scene(root, "small", size=(100, 160), seed=2, aux_channels=0, **common),
        "large": make_scene(root, "large", size=(1100, 1200), seed=3, aux_channels=0, **common),
        "aux": make_scene(root, "aux", size=(384, 384), seed=4, aux_channels=6, **common),
    }


def _configs(*names: str, scenes: dict, val_fraction: float = 0.2, **data: object):
    specs = [SceneSpec(image=scenes[n]["image"], label=scenes[n]["label"], aux=list(scenes[n]["aux"])) for n in names]
    data_cfg = DataConfig(train_scenes=specs, val_fraction=val_fraction, **data)
    return AutoModelConfig.for_family(), data_cfg, TrainConfig(output="/tmp/unused.dsmodel")


def _line(chosen, key: str) -> str:
    """The printed line that names setting ``key`` (rendered as <key>)."""
    lines = [line for line in chosen.lines(lambda k: f"<{k}>") if f"<{key}>" in line]
    assert len(lines) == 1, chosen.lines()
    return lines[0]


def test_cpu_imagery_only_gets_a_light_single_stream_model_a_fitting_tile_and_a_time_budget(scenes, monkeypatch):
    monkeypatch.setenv("DUALSTREAM_OFFLINE", "1")  # offline: the encoder starts from random weights, said so
    chosen = choose_settings(*_configs("square", scenes=scenes), ALL, device="cpu")
    # 384 x 384 with a validation band held out: half the longer side
    assert chosen.data.tile_size == 192
    assert "<data.tile_size> 192, chosen: the largest multiple of 32 that fits the smallest training scene " \
           "square_image.tif (384 x 384 px) with the validation band held out of it." == _line(chosen, "data.tile_size")
    assert (chosen.model.name, chosen.model.preset) == ("unet", "light")
    assert _line(chosen, "model.name").startswith("<model.name> unet <model.preset> light, chosen: training on "
                                                  "the CPU with imagery only")
    assert chosen.train.time_budget == CPU_BUDGET_MINUTES and chosen.train.epochs == 100
    assert chosen.train.warmup_epochs == 0
    assert f"<train.time_budget> {CPU_BUDGET_MINUTES:g}, chosen: training on the CPU" in \
        _line(chosen, "train.time_budget")
    assert "random weights" in _line(chosen, "train.warmup_epochs")
    assert "hf download microsoft/resnet-18" in _line(chosen, "model.pretrained")
    # random encoders learn at the rate of a network trained from scratch, every part alike
    assert (chosen.train.learning_rate, chosen.train.vision_lr_factor, chosen.train.aux_lr_factor) == (1e-3, 1, 1)
    assert _line(chosen, "train.learning_rate") == (
        "<train.learning_rate> 0.001 <train.vision_lr_factor> 1 <train.aux_lr_factor> 1, chosen: the encoders start "
        "from random weights, so they learn at the rate of a network trained from scratch, as the fusion and decoder "
        "do (the lower rates are for pretrained encoders).")
    assert len(chosen.lines()) == 9  # tile, model, zoom, focal alpha, pretrained, budget, epochs, warm-up, rates


def test_fine_tuning_says_it_freezes_the_encoders_first(scenes, tmp_path):
    """Issue 40, item 14: fine-tuning added epochs with frozen encoders without a line saying so."""
    from tests.helpers import make_bundle

    parent = make_bundle(tmp_path / "parent.dsmodel", vision_bands=3)
    model_cfg, data_cfg, train_cfg = _configs("square", scenes=scenes)
    chosen = choose_settings(model_cfg, data_cfg, train_cfg.replace(init_from=parent), ALL, device="cpu")
    line = _line(chosen, "train.warmup_epochs")
    assert chosen.train.warmup_epochs == 2 and line.startswith("<train.warmup_epochs> 2, chosen: fine-tuning "
                                                               "parent.dsmodel: the first 2 epoch(s)"), line
    assert "frozen" in line and "half of it" in line  # the CPU's time budget caps them


def test_tile_comes_from_the_smallest_scene(scenes):
    chosen = choose_settings(*_configs("large", "small", scenes=scenes, val_fraction=0.0), ALL, device="cpu")
    assert chosen.data.tile_size == 96  # 100 px: the largest multiple of 32 below it
    assert "small_image.tif (160 x 100 px)." in _line(chosen, "data.tile_size")
    # without held-out validation a square scene takes a tile of its side, up to the CPU's 256
    only_square = choose_settings(*_configs("square", scenes=scenes, val_fraction=0.0), ALL, device="cpu")
    assert only_square.data.tile_size == 256 and "at most 256 px on the CPU" in _line(only_square, "data.tile_size")


def test_gpu_gets_the_reference_design_where_the_data_allows(scenes):
    chosen = choose_settings(*_configs("large", scenes=scenes), ALL, device="cuda")
    assert chosen.data.tile_size == 512 and "the reference designs' tile on a GPU" in _line(chosen, "data.tile_size")
    assert (chosen.model.name, chosen.model.preset) == ("dualstream", "b1")
    assert (chosen.train.warmup_epochs, chosen.train.epochs, chosen.train.time_budget) == (2, 40, None)
    assert "<train.warmup_epochs> 2 <train.epochs> 40, chosen: training on a GPU" in _line(chosen, "train.epochs")
    assert not [line for line in chosen.lines() if "time_budget" in line]
    # a small scene limits the GPU's tile too
    assert choose_settings(*_configs("square", scenes=scenes), ALL, device="cuda:0").data.tile_size == 192
    # X bands on a GPU: CMX at its own default preset
    x = choose_settings(*_configs("large", scenes=scenes, bands=[1, 2, 3], x_bands=[4]), ALL, device="cuda")
    assert (x.model.name, x.model.preset) == ("cmx", "b2")


@pytest.mark.parametrize("data, family, preset, kind", [
    ({}, "dualstream", "tiny", "aux rasters on a coarser grid"),  # aux ratio 8
    ({"aux_ratio": 1}, "cmx", "tiny", "aux rasters on the image grid (aux ratio 1)"),
])
def test_cpu_model_follows_the_aux_layout(scenes, data, family, preset, kind):
    chosen = choose_settings(*_configs("aux", scenes=scenes, **data), ALL, device="cpu")
    assert (chosen.model.name, chosen.model.preset) == (family, preset)
    assert f"<model.name> {family} <model.preset> {preset}, chosen: training on the CPU with {kind}:" in \
           _line(chosen, "model.name")


def test_cpu_x_bands_get_cmx_tiny(scenes):
    chosen = choose_settings(*_configs("square", scenes=scenes, bands=[1, 2, 3], x_bands=[4]), ALL, device="cpu")
    assert (chosen.model.name, chosen.model.preset) == ("cmx", "tiny")
    assert "X bands on the image grid" in _line(chosen, "model.name")


def test_a_small_labelled_area_of_squares_gets_a_tile_and_epochs_fitted_to_it(scenes, tmp_path):
    large = scenes["large"]  # 1100 x 1200 px: four 96 px squares are 2.8 % of it
    area = squares_layer(tmp_path / "squares.gpkg", large["image"], [(100, 100), (400, 100), (100, 700), (600, 900)],
                         96)
    specs = [SceneSpec(image=large["image"], label=large["label"], aoi=area)]
    configs = AutoModelConfig.for_family(), DataConfig(train_scenes=specs), TrainConfig(output="/tmp/unused.dsmodel")
    chosen = choose_settings(*configs, ALL, device="cpu")
    assert chosen.data.tile_size == 64 and chosen.data.tiles_per_epoch == 72  # 9 tiles cover it, 8 draws each
    assert _line(chosen, "data.tile_size") == (
        "<data.tile_size> 64, chosen: the labelled area is 4 part(s) of about 96 px (2.8 % of the scene, 36,864 px): "
        "a tile of about 75 % of a part's side keeps most of each tile labelled.")
    assert _line(chosen, "data.tiles_per_epoch").startswith("<data.tiles_per_epoch> 72, chosen: the labelled area is 4 "
                                                           "part(s)")
    given = choose_settings(*configs, {"data.tile_size", "data.tiles_per_epoch"}, device="cpu")
    assert (given.data.tile_size, given.data.tiles_per_epoch) == (512, 200)  # what the user gave is kept
    gpu = choose_settings(*configs, ALL, device="cuda")
    assert (gpu.data.tile_size, gpu.data.tiles_per_epoch) == (512, 200)  # the GPU's choices are unchanged
    # a labelled area over most of the scene: the scene's tile and epochs
    whole = squares_layer(tmp_path / "whole.gpkg", large["image"], [(0, 0)], 1000)
    wide = [SceneSpec(image=large["image"], label=large["label"], aoi=whole)]
    chosen = choose_settings(configs[0], DataConfig(train_scenes=wide), configs[2], ALL, device="cpu")
    assert chosen.data.tile_size == 256 and chosen.data.tiles_per_epoch == 200


def test_given_settings_are_kept_and_only_the_others_chosen(scenes):
    model_cfg, data_cfg, train_cfg = _configs("square", scenes=scenes, tile_size=128)
    model_cfg = AutoModelConfig.for_family(name="deeplabv3plus", dropout=0.2)
    train_cfg = train_cfg.replace(epochs=3)
    given = {"data.tile_size", "model.name", "train.epochs", "model.dropout"}
    chosen = choose_settings(model_cfg, data_cfg, train_cfg, given, device="cpu")
    assert chosen.data.tile_size == 128 and chosen.train.epochs == 3
    assert chosen.train.time_budget is None  # epochs given: they decide, no budget
    # the family given, its preset left: the family's small one, with the other model settings kept
    assert (chosen.model.name, chosen.model.preset, chosen.model.dropout) == ("deeplabv3plus", "light", 0.2)
    assert _line(chosen, "model.preset").startswith("<model.preset> light, chosen: training on the CPU")
    keys = " ".join(chosen.lines(lambda k: k))
    assert "data.tile_size" not in keys and "model.name" not in keys and "train.epochs" not in keys
    # everything given: nothing chosen, nothing printed
    from engine.config.loss import LossConfig

    model_cfg, data_cfg, train_cfg = _configs("square", scenes=scenes, tile_size=128)
    train_cfg = train_cfg.replace(loss=LossConfig(focal_alpha=0.25))  # a config file's loss section: its alpha
    none = choose_settings(model_cfg, data_cfg, train_cfg, (*AUTO_SETTINGS, "data.augment"),
                           device="cpu")  # with a config file's augment section, which keeps its zoom
    assert none.lines() == [] and none.model.name == "dualstream" and none.train.epochs == 40


def test_imagenet_weights_leave_the_model_to_be_chosen_a_checkpoint_folder_does_not(scenes, tmp_path):
    model_cfg, data_cfg, train_cfg = _configs("square", scenes=scenes)
    # "imagenet" names the chosen encoder's own checkpoint: on a CPU still the small model, not DualStream b1
    chosen = choose_settings(AutoModelConfig.for_family(pretrained="imagenet"), data_cfg, train_cfg,
                             {"model.pretrained"}, device="cpu")
    assert (chosen.model.name, chosen.model.preset, chosen.model.pretrained) == ("unet", "light", "imagenet")
    assert chosen.train.warmup_epochs == TrainConfig().warmup_epochs  # pretrained: the frozen warm-up stays
    # a checkpoint folder fixes the model's size: nothing about the model is chosen
    folder = choose_settings(AutoModelConfig.for_family(pretrained=str(tmp_path)), data_cfg, train_cfg,
                             {"model.pretrained"}, device="cpu")
    default = AutoModelConfig.for_family()
    assert (folder.model.name, folder.model.preset) == (default.name, default.preset)
    assert not [line for line in folder.lines() if "model.name" in line or "model.preset" in line]


def test_a_given_tile_larger_than_every_scene_fails_before_any_data_is_read(scenes):
    with pytest.raises(ResourceError, match=r"tile_size 512 .* larger than every training scene"):
        choose_settings(*_configs("square", scenes=scenes, tile_size=512), {"data.tile_size"}, device="cpu")


def test_one_date_tiles_are_zoomed_in_and_out_more_unless_the_augmentation_is_given(scenes):
    """One date's imagery reads its training tiles from windows of 0.5-1.5 times the tile (0.75-1.25 before: on one
    Massachusetts scene the larger zoom found the shops' flat roofs, docs/unlabelled.md); a config file's augment
    section, or aux rasters (not measured), keep the setting's own range."""
    chosen = choose_settings(*_configs("square", scenes=scenes), ALL, device="cpu")
    assert chosen.data.augment.scale_range == [0.5, 1.5]
    line = _line(chosen, "augment.scale_range")
    assert line.startswith("<augment.scale_range> 0.5-1.5, chosen: one date's classes: each training tile is read "
                           "from a window of half to 1.5 times its side"), line
    given = choose_settings(*_configs("square", scenes=scenes), ("data.augment",), device="cpu")
    assert given.data.augment.scale_range == [0.75, 1.25]
    assert not [line for line in given.lines() if "scale_range" in line]
    aux = choose_settings(*_configs("aux", scenes=scenes), ALL, device="cpu")
    assert aux.data.augment.scale_range == [0.75, 1.25]


def test_cli_with_nothing_but_the_data_prints_its_choices_and_stops_at_the_budget(scenes, tmp_path):
    """The command line as a user runs it: only image, labels, class names and a tiny time budget given."""
    out = tmp_path / "auto.dsmodel"
    scene = scenes["small"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "engine", "train", "--image", scene["image"], "--label", scene["label"],
         "--class-names", "background", "field", "--device", "cpu", "--time-budget", "0.02", "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--tile-size 64, chosen: the largest multiple of 32 that fits the smallest training scene " \
           "small_image.tif (160 x 100 px) with the validation band held out of it." in done.stderr
    assert "--model unet --preset light, chosen: training on the CPU with imagery only" in done.stderr
    assert "--epochs 100, chosen: an upper bound: the time budget of 0.02 min ends the training." in done.stderr
    assert "--time-budget" not in done.stderr.split("Training unet")[0]  # given, so not chosen
    assert "Stopped at the time budget (0.02 min); a larger --time-budget (also with --resume)" in done.stdout
    assert "Stopped at the time budget of 0.02 min after epoch " in done.stderr
    meta = read_metadata(out)
    assert meta.model.name == "unet" and meta.data.tile_size == 64
    assert "scale_range 0.5-1.5, chosen: one date" in done.stderr, done.stderr[:3000]
    assert meta.train_config().time_budget == 0.02 and meta.best_epoch >= 1


def test_a_binary_mask_weighs_its_foreground_by_its_kind_unless_told(tmp_path, monkeypatch):
    from engine.config.loss import LossConfig
    from engine.data.synthetic_pairs import make_pair

    monkeypatch.setenv("DUALSTREAM_OFFLINE", "1")
    pair = make_pair(tmp_path, size=96)
    spec = SceneSpec(image=pair.before, after=[pair.after], label=pair.change)
    data_cfg = DataConfig(train_scenes=[spec])
    chosen = choose_settings(AutoModelConfig.for_family(), data_cfg, TrainConfig(output="/tmp/unused.dsmodel"), (),
                             device="cpu")
    assert chosen.model.name == "change" and chosen.train.loss.focal_alpha == 0.75
    assert _line(chosen, "loss.focal_alpha").startswith("<loss.focal_alpha> 0.75, chosen: a change mask")
    given = TrainConfig(output="/tmp/unused.dsmodel", loss=LossConfig(focal_alpha=0.5))
    kept = choose_settings(AutoModelConfig.for_family(), data_cfg, given, (), device="cpu")
    assert kept.train.loss.focal_alpha == 0.5
    # one date's binary mask: its foreground weighs as much as the rest (docs/unlabelled.md, session 7)
    one_date = choose_settings(*_configs("square", scenes=_one(tmp_path)), (), device="cpu")
    assert one_date.train.loss.focal_alpha == 0.5
    assert _line(one_date, "loss.focal_alpha").startswith("<loss.focal_alpha> 0.5, chosen: a binary mask of one date")
    model, data, _ = _configs("square", scenes=_one(tmp_path))
    assert choose_settings(model, data, given, (), device="cpu").train.loss.focal_alpha == 0.5  # given: kept
    three = data.replace(class_names=["a", "b", "c"], class_colors=["#000000", "#ff0000", "#00ff00"])
    assert choose_settings(model, three, TrainConfig(output="/tmp/unused.dsmodel"), (),
                           device="cpu").train.loss.focal_alpha is None  # multi-class: no alpha


def _one(tmp_path):
    return {"square": make_scene(tmp_path, "square", size=(128, 128), aux_channels=0)}
