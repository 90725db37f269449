"""Weight averaging (``train.weight_average``, engine/training/averaging.py): the moving average of the weights is
what each validation scores and what the bundle keeps, the optimiser goes on from the raw weights, and a resume
goes on with the same average."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.bundle.store import load_bundle
from engine.config import DataConfig, TrainConfig
from engine.errors import CanceledError, ConfigError
from engine.models import AutoModelConfig, build_model_from_config
from engine.training.averaging import WeightAverage
from engine.training.checkpoint import load_checkpoint
from engine.training.trainer import train
from tests.helpers import AUX, TILE, RecordingCallback, aux_tile_datasets


def _configs(tmp_path: Path, **settings):
    model_cfg = AutoModelConfig.for_family(preset="tiny", vision_channels=4, aux_channels=AUX, num_classes=1,
                                           aux_ratio=8)
    train_cfg = TrainConfig(**{**dict(output=str(tmp_path / "model.dsmodel"), epochs=2, warmup_epochs=1,
                                      batch_size=4, learning_rate=3e-3, device="cpu", preview_tiles=0,
                                      early_stop_patience=None, weight_average=0.9), **settings})
    return model_cfg, DataConfig(tile_size=TILE, class_names=["background", "field"]), train_cfg


def _model(model_cfg):
    torch.manual_seed(0)
    return build_model_from_config(model_cfg)


def test_the_average_follows_the_weights_and_is_swapped_in_and_out():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    average = WeightAverage(model, 0.5)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    average.update()  # the first step's decay: min(0.5, 2 / 11) -> 2/11 of the old average stays
    expected = start * (2 / 11) + (start + 1.0) * (9 / 11)
    assert torch.allclose(average.averaged_state()["0.weight"], expected)
    raw = model[0].weight.detach().clone()
    with average.applied():
        assert torch.allclose(model[0].weight, expected)
    assert torch.equal(model[0].weight, raw)  # the optimiser's weights back after the block
    # integer buffers (the batch count) are the raw model's; float buffers (running statistics) are averaged
    assert "1.num_batches_tracked" not in average.names and "1.running_mean" in average.names
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, 1.0)


def test_the_bundle_keeps_the_averaged_weights(tmp_path):
    model_cfg, data_cfg, train_cfg = _configs(tmp_path, epochs=3)
    result = train(model_cfg, data_cfg, train_cfg, RecordingCallback(), model=_model(model_cfg),
                   datasets=aux_tile_datasets(16, 4))
    ckpt = load_checkpoint(result.checkpoint)
    bundle = load_bundle(result.bundle).model.state_dict()
    shadow = ckpt["average"]["shadow"]
    assert ckpt["average"]["updates"] == 4 * 4  # one update per optimiser step: 4 epochs of 4 steps
    if result.best_epoch == 4:  # the last epoch's average is the checkpoint's
        assert all(torch.equal(bundle[k], v) for k, v in shadow.items())
    # the bundle's weights are an average, not the raw weights the optimiser stepped
    moved = [k for k in shadow if not torch.equal(bundle[k], ckpt["model"][k])]
    assert len(moved) > len(shadow) // 2, moved


def test_the_validation_scores_the_average(tmp_path):
    model_cfg, data_cfg, off = _configs(tmp_path / "off", weight_average=0.0)
    plain = train(model_cfg, data_cfg, off, RecordingCallback(), model=_model(model_cfg),
                  datasets=aux_tile_datasets(16, 4))
    _, _, on = _configs(tmp_path / "on")
    averaged = train(model_cfg, data_cfg, on, RecordingCallback(), model=_model(model_cfg),
                     datasets=aux_tile_datasets(16, 4))
    # the same steps from the same weights: the training losses agree, the validation (of the average) does not
    for a, b in zip(plain.history, averaged.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    assert [a["val_loss"] for a in plain.history] != pytest.approx([b["val_loss"] for b in averaged.history])


def test_a_resume_goes_on_with_the_same_average(tmp_path):
    model_cfg, data_cfg, cfg_a = _configs(tmp_path / "a")
    ref = train(model_cfg, data_cfg, cfg_a, RecordingCallback(), model=_model(model_cfg),
                datasets=aux_tile_datasets(16, 4))
    _, _, cfg_b = _configs(tmp_path / "b")
    with pytest.raises(CanceledError):
        train(model_cfg, data_cfg, cfg_b, RecordingCallback(cancel_after=7), model=_model(model_cfg),
              datasets=aux_tile_datasets(16, 4))
    resumed = train(model_cfg, data_cfg, cfg_b.replace(resume=True), RecordingCallback(), model=_model(model_cfg),
                    datasets=aux_tile_datasets(16, 4))
    for a, b in zip(ref.history, resumed.history):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    state = load_bundle(ref.bundle).model.state_dict()
    for k, v in load_bundle(resumed.bundle).model.state_dict().items():
        assert torch.allclose(v.float(), state[k].float(), atol=1e-5), k


def test_a_decay_out_of_range_is_refused_naming_the_setting():
    with pytest.raises(ConfigError, match="weight_average"):
        TrainConfig(weight_average=1.0)
