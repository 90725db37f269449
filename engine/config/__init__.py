"""Settings as dataclasses, checked in ``__post_init__``, serialisable with ``to_dict``/``from_dict``; each field
declares its help, command-line flag, Processing parameter and bounds once (:mod:`engine.declarations`).

Every model bundle stores the model, data and train settings it was made with, so a bundle can be rebuilt and its
training reproduced. The package:

- ``values``: the value lists (devices, TTA modes, optimisers, ...), shared parsers and checks;
- ``bands``: band selection (numbers or names); ``output_kinds``: what a segmentation writes;
- ``training``: DataConfig (with SceneSpec), TrainConfig; ``augment``: AugmentConfig (the data's augmentations);
- ``loss``: LossConfig and the parser of loss terms;
- ``inference``: SegmentConfig, BulkConfig, EvaluateConfig, CompareConfig (two dates compared class by class),
  ExportConfig (the ONNX export's settings);
  ``reading``: how an image is read for a model and its values' units, the area read and its CRS checked;
- ``proposals``: SuggestConfig, PromptedConfig (Segment Anything prompts), ProposeConfig and AcceptConfig;
- ``polygons``: the polygon settings per class, PolygonsConfig (any class raster into polygons).

The :class:`Settings` base and ``check`` are in :mod:`engine.declarations`, which the model families'
configurations share; ModelConfig lives with the families (``engine/models/configuration_utils.py``, one subclass
per family) and is re-exported here.
"""

from __future__ import annotations

from ..declarations import Section
from ..models import AutoModelConfig, list_models
from ..models.configuration_utils import ModelConfig as ModelConfig  # re-exported: every section's settings are here
from .augment import AugmentConfig
from .inference import BulkConfig, CompareConfig, EvaluateConfig, ExportConfig, SegmentConfig
from .loss import LossConfig
from .polygons import PolygonsConfig
from .proposals import AcceptConfig, PromptedConfig, ProposeConfig, SuggestConfig
from .training import DataConfig, SceneSpec, TrainConfig
from .values import (
    BULK,
    CLASS_PALETTE,
    LOSS_ALIASES,
    LOSS_TERMS,
    OPTIMIZERS,
    REFERENCE_AUX_PREFIXES,
    check_tile_size,
    fill_class_colors,
    load_config_file,
    parse_label_pairs,
    repaired_class_colors,
)

__all__ = [
    "AcceptConfig", "AugmentConfig", "BULK", "BulkConfig", "CLASS_PALETTE", "CompareConfig", "DataConfig",
    "EvaluateConfig", "ExportConfig", "LOSS_ALIASES", "LOSS_TERMS", "LossConfig", "OPTIMIZERS", "PolygonsConfig",
    "PromptedConfig", "ProposeConfig", "REFERENCE_AUX_PREFIXES", "SETTINGS_SECTIONS", "SceneSpec", "SegmentConfig",
    "SuggestConfig", "TrainConfig", "check_tile_size", "fill_class_colors", "load_config_file", "parse_label_pairs",
    "repaired_class_colors",
]

#: The declared settings' sections (as in config files and in ``setting("section.field")`` message markers); the
#: model section's settings are the base configuration's and each family's own (``encoder``, ``drop_path``, ...).
SETTINGS_SECTIONS: dict[str, Section] = {
    "model": (ModelConfig, *(AutoModelConfig.config_class(name) for name in list_models())),
    "data": DataConfig, "augment": AugmentConfig, "loss": LossConfig, "train": TrainConfig,
    "segment": SegmentConfig, "bulk": BulkConfig, "evaluate": EvaluateConfig, "export": ExportConfig,
    "polygons": PolygonsConfig, "suggest": SuggestConfig, "label": PromptedConfig,
    "propose": ProposeConfig, "accept": AcceptConfig, "compare": CompareConfig,
    "scene": SceneSpec,  # one training scene's inputs (data.train_scenes' items): last, so no bare name finds it
}
