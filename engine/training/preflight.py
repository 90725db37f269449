"""What a training checks before its data is read, and what it says of a validation without foreground: the model's
side outputs (against the loss's side weights), a frozen encoder's weights (never random unless asked), the tile
and a step's memory against the scenes and the device; then the model sized to the data (channel counts, classes
and aux ratio taken from the data, said when they differ from the given settings; an injected model checked
against the data instead)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config import DataConfig, ModelConfig, TrainConfig
from ..data.metadata import DataMetadata
from ..errors import ConfigError, mention
from ..models.encoders.weights import RANDOM, model_pretrained, own_weights


def side_outputs(name: str, model: Any) -> int:
    """How many side (deep-supervision) outputs the model gives: checked against the loss's side weights before
    the data are prepared, so an unknown family or a bad weight list fails in seconds."""
    if model is not None:
        return int(getattr(model, "num_side_outputs", 0))
    from ..models import list_models, model_class

    if name not in list_models():
        raise ConfigError(f"Unknown model '{name}'; valid models are {list_models()}.")
    return int(model_class(name).num_side_outputs)


def check_frozen_weights(model_cfg: ModelConfig, cfg: TrainConfig) -> None:
    """ConfigError, saying what to do, when ``frozen_encoder`` cached has no pretrained weights (none given, or none
    found): frozen random weights give the decoder random features, no model anyone wants unless they ask for it
    (``pretrained none``, a baseline). Checked with the automatic choices, before the data is read."""
    if cfg.frozen_encoder != "cached" or cfg.init_from:
        return
    source = model_pretrained(model_cfg)
    if source.loads or source.kind == RANDOM:
        return
    own = own_weights(source.encoder)
    weights = (f"give {mention('model.pretrained')} {own.word} (its {own.title} {own.hub_id}, downloaded once into "
               f"the Hugging Face cache), a hub id or a local checkpoint" if own else
               f"give {mention('model.pretrained')} a hub id or a local checkpoint (encoder '{source.encoder}' has no "
               f"pretrained weights of its own: pick one that has, such as prithvi_eo2_300m or resnet50)")
    raise ConfigError(f"{mention('train.frozen_encoder')} cached freezes the encoder '{source.encoder}', but it has no "
                      f"pretrained weights (none given{', none found' if own else ''}), so the decoder would learn "
                      f"from random features. To train on pretrained features, {weights}; to train every layer from "
                      f"random weights, set {mention('train.frozen_encoder')} off; to freeze the random weights on "
                      f"purpose (a baseline), give {mention('model.pretrained')} none.")


def check_resources(model_cfg: ModelConfig, data_cfg: DataConfig, cfg: TrainConfig, device: str) -> None:
    """The tile against the training scenes and one step's memory against the device's (ResourceError)."""
    from ..runtime.resources import check_memory, check_training_tile, tile_step
    from .auto import training_scenes

    step = tile_step(data_cfg.aux_ratio)
    check_training_tile(data_cfg.tile_size, training_scenes(data_cfg)[2], step)
    check_memory("train", model_cfg.preset, cfg.batch_size, data_cfg.tile_size, model_cfg.vision_channels or 4,
                 device, step)


def check_dates(model_cfg: ModelConfig, dates: int) -> None:
    """ConfigError when the model takes another number of dates than the training scenes hold (the one rule,
    :func:`~engine.bundle.expects.dates_problem`; a season model takes any count)."""
    from ..bundle.expects import scenes_dates_problem

    problem = scenes_dates_problem(model_cfg.input_dates, dates, model_cfg.name)
    if problem:
        raise ConfigError(problem)


def scene_dates(data_cfg: DataConfig) -> int:
    """The dates of the training scenes as given (1 + the first scene's later dates; a dataset folder: 2 for a
    change-detection dataset's, else 1)."""
    scenes = list(data_cfg.train_scenes)
    if scenes:
        return 1 + len(scenes[0].after)
    from ..data.sources import is_pair_folder

    folder = Path(data_cfg.data_dir) if data_cfg.data_dir else None
    return 2 if folder is not None and folder.is_dir() and is_pair_folder(folder) else 1


def no_validation_foreground(data_cfg: DataConfig, cfg: TrainConfig, holdout: bool) -> str:
    """What it means that the validation labels hold no class but 0, and what to change."""
    where = (f"the band of each training scene held out for validation ({mention('data.val_fraction')} "
             f"{data_cfg.val_fraction:g})" if holdout else "the validation scenes")
    if cfg.early_stop_metric == "iou":
        then = ("so the validation IoU is 0 every epoch and cannot tell the epochs apart: the bundle will keep the "
                "last epoch's weights and early stopping is off")
    else:
        then = "so the validation loss that picks the best epoch measures false alarms on the background only"
    fix = (f"give validation scenes that show the classes ({mention('data.val_scenes')}, or vs_sn/ in "
           f"{mention('data.data_dir')})")
    if holdout:
        fix = (f"raise {mention('data.val_fraction')}, change {mention('train.seed')} (it picks which end of each "
               f"scene is held out), or {fix}")
    by_loss = f"; or set {mention('train.early_stop_metric')} to loss" if cfg.early_stop_metric == "iou" else ""
    return (f"No validation label pixel is of a class other than {data_cfg.class_names[0]!r}: {where} holds no "
            f"foreground, {then}. To validate on the classes, {fix}{by_loss}.")


def fit_to_data(model_cfg: ModelConfig, meta: DataMetadata, model: Any, num_classes: int, tile_size: int,
                say: Any) -> tuple[ModelConfig, DataMetadata]:
    """(model config, bundle data metadata): channel counts, classes and aux ratio come from the data
    (``fit_data``: a family may decline the aux); say so when the given config differed. A model that takes
    no aux makes a bundle that needs none."""
    data_aux = meta.aux_channels
    fitted = model_cfg.fit_data(vision_channels=meta.vision_bands, aux_channels=data_aux,
                                num_classes=num_classes, aux_ratio=meta.aux_ratio)
    keys: tuple[str, ...] = ("vision_channels", "aux_channels", "num_classes", "aux_ratio")
    if fitted.TAKES_DAYS:  # a season model keeps the dates it learned from (its ONNX graph takes as many)
        fitted, keys = fitted.replace(dates=int(meta.dates)), (*keys, "dates")
    if getattr(fitted, "SENSOR_UNITS", False):  # it places the bands in its groups by their names
        fitted, keys = fitted.replace(band_names=list(meta.band_names or [])), (*keys, "band_names")
    wanted = {k: getattr(fitted, k) for k in keys}
    changed = {k: v for k, v in wanted.items() if getattr(model_cfg, k) != v}
    if model is not None:  # an injected model is what it is: its config must already agree with the data
        fitted = getattr(model, "config", model_cfg)
        bad = {k: (getattr(fitted, k), v) for k, v in wanted.items() if getattr(fitted, k) != v}
        if bad:
            raise ConfigError(f"the given model does not fit the data: {bad} (model, data).")
    elif changed:  # none of these is a user setting: words, not the config's field names
        words = dict(vision_channels="image bands", aux_channels="aux channels", num_classes="outputs",
                     aux_ratio="aux ratio", dates="dates", band_names="band names")
        say.info(f"The model is sized to the data: {', '.join(f'{words[k]} {v}' for k, v in changed.items())}.")
    note = fitted.aux_input_note(int(tile_size))
    if note:
        say.info(note)
    if data_aux and not fitted.aux_channels:
        say.warning(f"{fitted.name} uses the imagery only: the {data_aux} aux channel(s) are not used (set "
                    f"aux_fusion: early to fuse them) and the model will not ask for aux rasters.")
        meta = dataclasses.replace(meta, aux_channels=0, aux_stats=None)
    return fitted, meta
