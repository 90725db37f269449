"""The model sized to the data: channel counts, classes and aux ratio taken from the data (a family may decline the
aux), said when they differ from the given settings; an injected model checked against the data instead."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import ModelConfig
from ..data.metadata import DataMetadata
from ..errors import ConfigError


def fit_to_data(model_cfg: ModelConfig, meta: DataMetadata, model: Any, num_classes: int, tile_size: int,
                say: Any) -> tuple[ModelConfig, DataMetadata]:
    """(model config, bundle data metadata): channel counts, classes and aux ratio come from the data
    (``fit_data``: a family may decline the aux); say so when the given config differed. A model that takes
    no aux makes a bundle that needs none."""
    data_aux = meta.aux_channels
    fitted = model_cfg.fit_data(vision_channels=meta.vision_bands, aux_channels=data_aux,
                                num_classes=num_classes, aux_ratio=meta.aux_ratio)
    keys = ("vision_channels", "aux_channels", "num_classes", "aux_ratio")
    wanted = {k: getattr(fitted, k) for k in keys}
    changed = {k: v for k, v in wanted.items() if getattr(model_cfg, k) != v}
    if changed and model is None:  # none of these is a user setting: words, not the config's field names
        words = dict(vision_channels="image bands", aux_channels="aux channels", num_classes="outputs",
                     aux_ratio="aux ratio")
        sized = ", ".join(f"{words[k]} {v}" for k, v in changed.items())
        say.info(f"The model is sized to the data: {sized}.")
    if model is not None:
        # An injected model is what it is: its config must already agree with the data.
        fitted = getattr(model, "config", model_cfg)
        bad = {k: (getattr(fitted, k), v) for k, v in wanted.items() if getattr(fitted, k) != v}
        if bad:
            raise ConfigError(f"the given model does not fit the data: {bad} (model, data).")
    note = fitted.aux_input_note(int(tile_size))
    if note:
        say.info(note)
    if data_aux and not fitted.aux_channels:
        say.warning(f"{fitted.name} uses the imagery only: the {data_aux} aux channel(s) are not used (set "
                    f"aux_fusion: early to fuse them) and the model will not ask for aux rasters.")
        meta = dataclasses.replace(meta, aux_channels=0, aux_stats=None)
    return fitted, meta
