"""Model registry: ``list_models()`` and ``build_model(name, **settings)``.

Settings are :class:`~engine.config.ModelConfig` fields (preset, vision_channels, aux_channels, num_classes,
aux_ratio, dropout, drop_path, pretrained, vision_encoder). Torch is imported only when a model is built.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..callbacks import Callback
from ..config import ModelConfig
from ..environment import require
from ..errors import ConfigError


def _build_dualstream(config: ModelConfig, callback: Callback | None) -> Any:
    from .dualstream import DualStreamModel

    return DualStreamModel(config, callback=callback)


_REGISTRY: dict[str, Callable[[ModelConfig, Callback | None], Any]] = {
    "dualstream": _build_dualstream,
}


def register_model(name: str, builder: Callable[[ModelConfig, Callback | None], Any]) -> None:
    """Add a model family (used by sibling model modules such as CMX and the baselines)."""
    _REGISTRY[name] = builder


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return sorted(_REGISTRY)


def build_model(name: str, callback: Callback | None = None, **settings: Any) -> Any:
    """Build model ``name`` from ModelConfig settings; ``model.config`` is the resulting ModelConfig.

    Raises:
        KeyError: ``name`` is not registered (the message lists the valid names).
        ConfigError: a setting is unknown or invalid.
        ModelError: the model cannot be built (e.g. a pretrained folder that is not a SegFormer checkpoint).
    """
    if name not in _REGISTRY:
        raise KeyError(f"Unknown model '{name}'; valid models are {list_models()}.")
    valid = {f.name for f in dataclasses.fields(ModelConfig)} - {"name"}
    unknown = sorted(set(settings) - valid)
    if unknown:
        raise ConfigError(f"Unknown model setting(s) {unknown}; valid settings are {sorted(valid)}.")
    require("torch")
    require("transformers")
    config = ModelConfig(name=name, **settings)
    return _REGISTRY[name](config, callback)


__all__ = ["build_model", "list_models", "register_model"]
