"""The metadata a class raster carries: the model's classes and label mapping, written by segment, read by
evaluate; and the one rule for the class names of any class raster (ours or another tool's)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
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
    """``{"class_names", "class_colors", "label_mapping"}`` as segment wrote them, each only where present."""
    ds = require("osgeo.gdal").Open(str(path))
    return {} if ds is None else _tags_of(ds)


def prediction_models(path: str | os.PathLike) -> list[str]:
    """The model files segment ran to make the class raster ``path``, as it recorded them (empty: none recorded)."""
    ds = require("osgeo.gdal").Open(str(path))
    text = None if ds is None else ds.GetMetadataItem(TAG_MODELS)
    return [part for part in (text or "").split(";") if part]


def _tags_of(ds: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, tag in (("class_names", TAG_CLASS_NAMES), ("class_colors", TAG_CLASS_COLORS),
                     ("label_mapping", TAG_LABEL_MAPPING)):
        text = ds.GetMetadataItem(tag)
        with suppress(ValueError):  # not ours after all; the caller falls back to what the user gave
            if text is not None:
                found[key] = json.loads(text)
    return found


def class_names_of(path: str | os.PathLike) -> list[str] | None:
    """The class names of a class raster, value by value: segment's tags, else GDAL's category names (a raster
    attribute table or ``.aux.xml``, as most classifiers write them), else the labels of a paletted ``.qml`` style
    beside it; unnamed values in between are named by their number. None when the raster names none."""
    ds = require("osgeo.gdal").Open(str(path))  # once, for the tags and the category names
    names = None if ds is None else _tags_of(ds).get("class_names")
    if names:
        return [str(n) for n in names]
    if ds is not None:
        ds.GetFileList()  # loads the .aux.xml, where the category names are (GTiff reads it lazily)
        found = ds.GetRasterBand(1).GetCategoryNames()
        if named := _numbered_gaps(dict(enumerate(found or []))):
            return named
    return _qml_labels(Path(path).with_suffix(".qml"))


def _numbered_gaps(by_value: dict[int, str]) -> list[str] | None:
    """Names for values 0..the largest named one (an unnamed value keeps its number); None if none is named."""
    named = {v: str(n).strip() for v, n in by_value.items() if 0 <= v <= 65535 and str(n).strip()}
    return [named.get(v, str(v)) for v in range(max(named) + 1)] if named else None


def _qml_labels(qml: Path) -> list[str] | None:
    """The labels of a paletted QGIS raster style."""
    if not qml.is_file():
        return None
    try:
        root = ET.parse(qml).getroot()
    except (ET.ParseError, OSError):
        return None  # a style QGIS would not read either: the classes stay numbers
    entries = {}
    for entry in root.iter("paletteEntry"):
        with suppress(ValueError):
            entries[int(float(entry.get("value", "")))] = entry.get("label", "")
    return _numbered_gaps(entries)
