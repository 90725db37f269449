"""Validation labels without foreground: found before training, said with the settings to change, and the
bundle then keeps the last epoch instead of the first (the validation IoU is 0 every epoch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.callbacks import Callback
from engine.config import DataConfig, SceneSpec, TrainConfig
from engine.data.dataset import build_datasets
from engine.errors import mention
from engine.models import AutoModelConfig
from engine.training.trainer import train
from tests.helpers import write_geotiff


class RawCallback(Callback):
    """Keeps the warnings as the engine wrote them, setting markers included."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def _write(path: Path, data: np.ndarray) -> str:
    return write_geotiff(path, data, "EPSG:32652", (320000.0, 4150000.0), 1.0)


def _scene(root: Path, name: str, foreground: tuple[slice, slice] | None) -> SceneSpec:
    """A 256 x 128 scene (cut across its width: the held-out band is the first or last 64 columns) whose label
    is raw 90 in ``foreground``, 0 elsewhere."""
    rng = np.random.default_rng(1)
    image = rng.integers(1, 255, (3, 128, 256), dtype=np.uint8)
    label = np.zeros((128, 256), np.uint8)
    if foreground is not None:
        label[foreground] = 90
        image[:, foreground[0], foreground[1]] //= 4  # the class shows in the imagery
    root.mkdir(parents=True, exist_ok=True)
    return SceneSpec(image=_write(root / f"{name}.tif", image), label=_write(root / f"{name}_label.tif", label))


MIDDLE = (slice(20, 110), slice(96, 160))  # inside the training part whichever end is held out
STRIPE = (slice(40, 70), slice(0, 256))  # across the whole width: in the held-out band too


def _data(*scenes: SceneSpec, **settings) -> DataConfig:
    return DataConfig(train_scenes=list(scenes), tile_size=64, tiles_per_epoch=8, statistics_tiles=4,
                      val_fraction=0.25, **settings)


def _train(tmp_path: Path, data_cfg: DataConfig, epochs: int) -> tuple:
    callback = RawCallback()
    cfg = TrainConfig(output=str(tmp_path / "model.dsmodel"), epochs=epochs, warmup_epochs=0, batch_size=4,
                      device="cpu", preview_tiles=0, early_stop_patience=1)
    return train(AutoModelConfig.for_family("unet", preset="tiny"), data_cfg, cfg, callback), callback.warnings


def test_a_held_out_band_without_foreground_is_said_and_the_last_epoch_kept(tmp_path):
    data_cfg = _data(_scene(tmp_path, "middle", MIDDLE))
    result, warnings = _train(tmp_path, data_cfg, epochs=3)
    said = [w for w in warnings if "holds no foreground" in w]
    assert len(said) == 1
    # the settings are named by marker: each front end writes its own control
    for key in ("data.val_fraction", "train.seed", "data.val_scenes", "train.early_stop_metric"):
        assert mention(key) in said[0]
    assert "keep the last epoch" in said[0]
    # IoU 0 every epoch: picked by it, epoch 1 would be kept and patience 1 would stop at epoch 2
    assert [e["val_iou"] for e in result.history] == [0.0, 0.0, 0.0]
    assert result.epochs_run == 3 and not result.stopped_early
    assert result.best_epoch == 3 and result.kept_last


def test_a_held_out_band_with_foreground_is_not_warned_about(tmp_path):
    train_ds, val_ds, summary = build_datasets(_data(_scene(tmp_path, "stripe", STRIPE)))
    assert summary.holdout and len(val_ds) and summary.val_has_foreground is True
    result, warnings = _train(tmp_path, _data(_scene(tmp_path, "stripe", STRIPE)), epochs=1)
    assert not [w for w in warnings if "holds no foreground" in w] and not result.kept_last


def test_validation_scenes_without_foreground_are_found(tmp_path):
    data_cfg = _data(_scene(tmp_path, "train", STRIPE), val_scenes=[_scene(tmp_path / "val", "empty", None)])
    _, val_ds, summary = build_datasets(data_cfg)
    assert not summary.holdout and len(val_ds) and summary.val_has_foreground is False
    data_cfg = _data(_scene(tmp_path, "train", STRIPE), val_scenes=[_scene(tmp_path / "val", "stripe", STRIPE)])
    assert build_datasets(data_cfg)[2].val_has_foreground is True
