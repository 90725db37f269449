"""What the engine chooses for a season model's training: its tiles' values as they are (no brightness/contrast
jitter), since its classes are told by how the values rise and fall over the dates."""

from __future__ import annotations

from engine.config import DataConfig, TrainConfig
from engine.models import AutoModelConfig
from engine.training.auto import choose_settings


def test_a_season_model_trains_on_its_values_without_jitter():
    """On the real Ljubljana NDVI season (seed 0, 320 steps) per-date brightness/contrast jitter held the season
    family's validation mIoU at 0.33-0.36, 0.51 without it; a config file's augment section keeps its values; other
    families keep theirs."""
    season = AutoModelConfig.config_class("season")
    chosen = choose_settings(season(), DataConfig(), TrainConfig(), ("model.name",), device="cpu")
    assert chosen.data.augment.color_jitter == 0 and chosen.data.augment.gray_probability == 0
    line = next(line for line in chosen.lines() if line.startswith("color_jitter 0"))
    assert "how the values rise and fall over the dates" in line
    assert DataConfig().augment.color_jitter == 0.2  # the default every other model keeps
    given = choose_settings(season(), DataConfig(), TrainConfig(), ("model.name", "data.augment"), device="cpu")
    assert given.data.augment.color_jitter == 0.2
    other = choose_settings(AutoModelConfig.config_class("unet")(), DataConfig(), TrainConfig(), ("model.name",),
                            device="cpu")
    assert other.data.augment.color_jitter == 0.2 and not any("color_jitter" in line for line in other.lines())
