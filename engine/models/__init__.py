"""Models: look up, describe and build the registered families; listing is torch-free, building imports torch.

``registry`` (the families and where each lives), one folder per family (``dualstream``, ``cmx``, ``unet``,
``deeplabv3plus``, ``pspnet``, ``fpn``, ``change`` for two dates, ``season`` for a season of dates, ``eoseries`` for
Presto or Galileo reading each pixel's season;
``imported`` for graphs made elsewhere), the
model contract (``configuration_utils`` torch-free, ``modeling_utils``), what single-stream families share
(``configuration_single_stream``, ``single_stream``), the decoders several families build (``decoders``),
``encoders``, ``blocks``, ``fusion``; weights by name:
``pretrained``, ``hub`` (the one download path), ``hub_transfer`` (one download watched), ``hub_resume``.
"""

from __future__ import annotations

from typing import Any

from ..callbacks import Callback
from ..runtime.environment import require
from .configuration_utils import AutoModelConfig, ModelConfig
from .encoders.catalog import ENCODER_NAMES, SERIES_ONLY
from .registry import FAMILIES, check_family, family_module, list_models, list_presets


def model_class(name: str) -> type:
    """The model class of family ``name`` (imports torch); ``num_side_outputs`` is known before any model is built."""
    check_family(name)
    require("torch")
    return family_module(name, "modeling").MODEL


def list_encoders(name: str | None = None) -> list[str]:
    """Encoder names family ``name`` accepts in its ``encoder`` option (empty: fixed encoder); all without a name."""
    if name is None:
        return [*ENCODER_NAMES, *SERIES_ONLY]
    return list(getattr(AutoModelConfig.config_class(name), "ENCODERS", ()))


def describe_models() -> list[dict[str, Any]]:
    """One entry per family for the CLI and the plugin: name, description, presets, default preset, the encoders
    its ``encoder`` option accepts (empty: fixed encoders) and each preset's encoder."""
    classes = {family: AutoModelConfig.config_class(family) for family in FAMILIES}
    return [{"name": family, "description": cls.description, "presets": list(cls.PRESETS),
             "default_preset": cls.preset, "encoders": list(getattr(cls, "ENCODERS", ())),
             "preset_encoders": {name: getattr(p, "encoder", "MiT") for name, p in cls.PRESETS.items()}}
            for family, cls in classes.items()]


def build_model(name: str, callback: Callback | None = None, **settings: Any) -> Any:
    """Build family ``name``: ``build_model("cmx", preset="b0", vision_channels=3, aux_channels=1, num_classes=2)``;
    ``model.config`` is its config with anything a pretrained checkpoint fixed filled in. Raises KeyError (``name``
    is not registered; the message lists the valid names), ConfigError (a setting is unknown or invalid) or
    ModelError (the model cannot be built, e.g. a pretrained folder that does not fit the encoder)."""
    check_family(name)
    return build_model_from_config(AutoModelConfig.for_family(name, **settings), callback)


def build_model_from_config(config: ModelConfig, callback: Callback | None = None) -> Any:
    """Build the model a family config describes."""
    cls = model_class(config.name)
    require("transformers")
    return cls(config, callback=callback)


__all__ = ["AutoModelConfig", "ModelConfig", "build_model", "build_model_from_config", "describe_models",
           "list_encoders", "list_models", "list_presets", "model_class"]
