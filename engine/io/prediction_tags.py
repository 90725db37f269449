"""The metadata a class raster carries: the model's classes and label mapping, written by segment, read by
evaluate."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from ..runtime.environment import require

#: Metadata items of a class raster written by segment, read back by evaluate (the model's classes and the
#: label mapping it was trained with travel with the prediction, so scoring it needs neither again).
TAG_CLASS_NAMES = "DUALSTREAM_CLASS_NAMES"
TAG_CLASS_COLORS = "DUALSTREAM_CLASS_COLORS"
TAG_LABEL_MAPPING = "DUALSTREAM_LABEL_MAPPING"
TAG_MODELS = "DUALSTREAM_MODELS"  # the bundles segment ran (';'-separated paths), for the polygons' attributes
TAG_MODEL_SHA256 = "DUALSTREAM_MODEL_SHA256"  # their SHA-256 (';'-separated)


def prediction_tags(class_names: Sequence[str], class_colors: Sequence[str],
                    label_mapping: dict[str, int] | None) -> dict[str, str]:
    """The metadata items segment writes on a class raster (JSON values; ``null`` mapping: values are classes)."""
    return {TAG_CLASS_NAMES: json.dumps([str(n) for n in class_names]),
            TAG_CLASS_COLORS: json.dumps([str(c) for c in class_colors]),
            TAG_LABEL_MAPPING: json.dumps(dict(label_mapping) if label_mapping else None)}


def read_prediction_tags(path: str | os.PathLike) -> dict[str, Any]:
    """The classes and label mapping segment wrote on a class raster: ``{"class_names", "class_colors",
    "label_mapping"}``, each present only when the file carries it."""
    gdal = require("osgeo.gdal")
    ds = gdal.Open(str(path))
    if ds is None:
        return {}
    found: dict[str, Any] = {}
    for key, tag in (("class_names", TAG_CLASS_NAMES), ("class_colors", TAG_CLASS_COLORS),
                     ("label_mapping", TAG_LABEL_MAPPING)):
        text = ds.GetMetadataItem(tag)
        if text is None:
            continue
        try:
            found[key] = json.loads(text)
        except ValueError:
            continue  # not ours after all; the caller falls back to what the user gave
    return found
