"""The families' configurations come from one explicit factory (AutoModelConfig), which also picks the family of a
preset given alone, so that every front end's request with only a preset means the same model."""

from __future__ import annotations

import pytest

from engine import api
from engine.errors import ConfigError
from engine.models import AutoModelConfig, list_models, list_presets


def _request(tmp_path, model: dict) -> api.TrainRequest:
    return api.train_request({"model": model, "data": {"data_dir": str(tmp_path)},
                              "train": {"output": str(tmp_path / "m.dsmodel")}})


def test_a_preset_given_alone_takes_the_family_that_has_it(tmp_path):
    default = AutoModelConfig.for_family()
    assert "light" not in list_presets(default.name)  # else the default family would keep it
    first = next(f for f in list_models() if "light" in list_presets(f))
    request = _request(tmp_path, {"preset": "light"})
    assert (request.model.name, request.model.preset) == (first, "light")
    assert type(request.model) is AutoModelConfig.config_class(first)
    assert _request(tmp_path, {}).model == default  # nothing given: the default family at its default preset


def test_a_preset_or_encoder_the_family_lacks_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="'light' is not a preset of the dualstream family"):
        _request(tmp_path, {"name": "dualstream", "preset": "light"})
    with pytest.raises(ConfigError, match="cmx family has a fixed encoder"):
        _request(tmp_path, {"name": "cmx", "encoder": "resnet18"})
    # DualStream's vision stream takes a named encoder (issue 56), its aux stream stays its own
    assert _request(tmp_path, {"name": "dualstream", "encoder": "dinov3_convnext_tiny"}).model.encoder == \
        "dinov3_convnext_tiny"


def test_the_factory_is_never_a_config_itself():
    with pytest.raises(TypeError, match="for_family"):
        AutoModelConfig()
    cfg = AutoModelConfig.for_family("unet", preset="tiny")
    assert type(cfg) is AutoModelConfig.config_class("unet") and AutoModelConfig.from_dict(cfg.to_dict()) == cfg
