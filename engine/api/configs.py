"""The settings as the front ends see them: each declared once (help, flag, Processing parameter, bounds), the
config classes a request is made of, and the model registry's answers (families, presets, encoders)."""

from __future__ import annotations

import dataclasses

from ..config import (
    BULK,
    SETTINGS_SECTIONS,
    BulkConfig,
    CompareConfig,
    DataConfig,
    EvaluateConfig,
    ExportConfig,
    PolygonsConfig,
    SegmentConfig,
    SuggestConfig,
    TrainConfig,
    fill_class_colors,
    load_config_file,
    parse_label_pairs,
)
from ..config.bands import parse_band_list
from ..config.polygons import DIALOG_OPTIONS as POLYGON_DIALOG_OPTIONS
from ..config.polygons import PolygonOptions
from ..config.reading import GROUP as READING_GROUP
from ..config.reading import READING_FIELDS, UNIT_FIELDS, UNITS_GROUP
from ..declarations import (
    AUTOMATIC,
    Setting,
    declared,
    find,
    format_default,
    from_front_end,
    left_unset,
    split_list,
)
from ..file_dates import DATED_NAMES
from ..models import AutoModelConfig, ModelConfig, describe_models, list_encoders, list_models, list_presets
from ..models.configuration_utils import (
    season_encoder_note,
    season_families,
    season_family,
    season_family_note,
    season_family_notes,
    season_form_problem,
    season_model_settings,
)
from ..training.auto import AUTO_SETTINGS, CHOICE_INPUTS

__all__ = ["AUTOMATIC", "AUTO_SETTINGS", "BULK", "CHOICE_INPUTS", "DATED_NAMES", "SETTINGS_SECTIONS", "BulkConfig",
           "CompareConfig", "DataConfig",
           "EvaluateConfig", "ExportConfig", "ModelConfig", "POLYGON_DIALOG_OPTIONS", "PolygonOptions",
           "PolygonsConfig", "SegmentConfig", "Setting", "SuggestConfig", "TrainConfig", "READING_FIELDS",
           "READING_GROUP", "UNITS_GROUP", "UNIT_FIELDS", "declared", "describe_models", "family_setting",
           "fill_class_colors", "find_setting", "format_default", "from_front_end", "left_unset", "list_encoders",
           "list_models", "list_presets", "load_config_file", "parse_band_list", "parse_label_pairs",
           "season_encoder_note", "season_families", "season_family", "season_family_note", "season_family_notes",
           "season_form_problem", "season_model_settings", "split_list"]


def find_setting(key: str) -> Setting | None:
    """The declared setting ``section.field`` (``train.epochs``), or None when no section declares it."""
    return find(SETTINGS_SECTIONS, key)


def family_setting(key: str, family: str | None) -> Setting | None:
    """The declared setting ``key`` as the training form of model family ``family`` offers it (the family's
    ``FORM``: its own texts, choices and the form's default); as declared where the family says nothing."""
    found = find_setting(key)
    changes = AutoModelConfig.config_class(family).FORM.get(key) if found is not None and family else None
    if not changes:
        return found
    # functions are called now (a registry's choices stay one: the Setting calls those when asked)
    given = {name: value() if callable(value) and name != "choices" else value for name, value in changes.items()}
    return dataclasses.replace(found, decl=dataclasses.replace(found.decl, **given))
