"""Model registry: one line per family; listing is torch-free, building imports torch.

A family ``X`` is the package ``engine/models/X/`` with ``configuration_X.py`` (a torch-free
:class:`ModelConfig` subclass bound to ``CONFIG``: presets and options) and ``modeling_X.py`` (a
:class:`~engine.models.base.SegmentationModel` subclass bound to ``MODEL``). Adding a family = that folder plus
its line in ``_FAMILIES``.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType
from typing import Any

from ..callbacks import Callback
from ..errors import ConfigError
from ..runtime.environment import require
from .configuration_utils import ModelConfig

_FAMILIES: dict[str, str] = {  # registry name -> package under engine/models
    "dualstream": "dualstream",
    "cmx": "cmx",
    "unet": "unet",
    "pspnet": "pspnet",
    "deeplabv3plus": "deeplabv3plus",
}


def _family_module(name: str, kind: str) -> ModuleType:
    """``engine.models.<pkg>.<kind>_<pkg>`` (kind = configuration or modeling)."""
    package = _FAMILIES[name]
    return importlib.import_module(f"{__name__}.{package}.{kind}_{package}")


def list_models() -> list[str]:
    """Family names accepted by :func:`build_model`, in registry order."""
    return list(_FAMILIES)


def _check_name(name: str) -> None:
    if name not in _FAMILIES:
        raise KeyError(f"Unknown model '{name}'; valid models are {list_models()}.")


def config_class(name: str) -> type[ModelConfig]:
    """The config class of family ``name`` (KeyError listing the valid names when unknown)."""
    _check_name(name)
    return _family_module(name, "configuration").CONFIG


def model_class(name: str) -> type:
    """The model class of family ``name`` (imports torch); its ``num_side_outputs`` says how many deep-supervision
    side outputs it returns, known before any model is built."""
    _check_name(name)
    require("torch")
    return _family_module(name, "modeling").MODEL


def list_presets(name: str | None = None) -> list[str]:
    """Presets of family ``name``; without a name, every preset of any family (for CLI choices)."""
    if name is not None:
        return list(config_class(name).PRESETS)
    seen: dict[str, None] = {}
    for family in _FAMILIES:
        seen.update(dict.fromkeys(config_class(family).PRESETS))
    return list(seen)


def list_encoders(name: str | None = None) -> list[str]:
    """Encoder names family ``name`` accepts in its ``encoder`` option (empty: fixed encoder); all without a name."""
    from .encoders import ENCODER_NAMES

    if name is None:
        return list(ENCODER_NAMES)
    return list(getattr(config_class(name), "ENCODERS", ()))


def describe_models() -> list[dict[str, Any]]:
    """One entry per family for the CLI and the plugin: name, description, presets, default preset, the encoders
    its ``encoder`` option accepts (empty: fixed encoders) and each preset's encoder."""
    out = []
    for family in _FAMILIES:
        cls = config_class(family)
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        out.append({"name": family, "description": cls.description, "presets": list(cls.PRESETS),
                    "default_preset": defaults["preset"], "encoders": list(getattr(cls, "ENCODERS", ())),
                    "preset_encoders": {name: getattr(p, "encoder", "MiT") for name, p in cls.PRESETS.items()}})
    return out


def model_config(name: str, **settings: Any) -> ModelConfig:
    """Family ``name``'s config from keyword settings; ConfigError naming unknown settings and the valid ones."""
    cls = config_class(name)
    valid = {f.name for f in dataclasses.fields(cls)} - {"name"}
    unknown = sorted(set(settings) - valid)
    if unknown:
        raise ConfigError(f"Unknown setting(s) {unknown} for model '{name}'; valid settings are {sorted(valid)}.")
    return cls(name=name, **settings)


def build_model(name: str, callback: Callback | None = None, **settings: Any) -> Any:
    """Build family ``name``: ``build_model("cmx", preset="b0", vision_channels=3, aux_channels=1, num_classes=2)``.

    ``model.config`` is the resulting family config (with anything a pretrained checkpoint fixed filled in).

    Raises:
        KeyError: ``name`` is not registered (the message lists the valid names).
        ConfigError: a setting is unknown or invalid.
        ModelError: the model cannot be built (e.g. a pretrained folder that does not fit the encoder).
    """
    _check_name(name)
    return build_model_from_config(model_config(name, **settings), callback)


def build_model_from_config(config: ModelConfig, callback: Callback | None = None) -> Any:
    """Build the model a family config describes."""
    _check_name(config.name)
    require("torch")
    require("transformers")
    return _family_module(config.name, "modeling").MODEL(config, callback=callback)


__all__ = ["ModelConfig", "build_model", "build_model_from_config", "config_class", "describe_models",
           "list_encoders", "list_models", "list_presets", "model_class", "model_config"]
