"""The one format table: each kind of file the engine reads or writes. Every suffix list and every file filter a
front end shows is derived from it, and ``engine.api`` hands it on."""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import locations


@dataclass(frozen=True)
class Format:
    """A kind of file: ``label`` (how messages and file dialogs name it: "GeoTIFF"), ``article`` (in a sentence:
    "a GeoTIFF"), ``suffixes`` (lower case, the first to suggest) and ``driver`` (the GDAL/OGR driver that writes
    it; None: GDAL reads several, or it is no GDAL file)."""

    key: str
    label: str
    article: str
    suffixes: tuple[str, ...]
    driver: str | None = None

    def matches(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` (a file, a URL, ``file.gpkg|layername=x``) ends in one of the suffixes."""
        return locations.suffix(path) in self.suffixes

    def file_filter(self) -> str:
        """A Qt file dialog's filter: ``"GeoTIFF (*.tif *.tiff)"``."""
        return f"{self.label} ({' '.join('*' + s for s in self.suffixes)})"


RASTER = Format("raster", "Raster", "a raster file (GeoTIFF or another GDAL format)",
                (".tif", ".tiff", ".vrt", ".img", ".jp2"))
GEOTIFF = Format("geotiff", "GeoTIFF", "a GeoTIFF", (".tif", ".tiff"), "GTiff")
VECTOR = Format("vector", "Vector layer", "a vector layer (GeoPackage, GeoJSON, Shapefile, ...)",
                (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".gml", ".kml", ".sqlite"))
GPKG = Format("gpkg", "GeoPackage", "a GeoPackage", (".gpkg",), "GPKG")
BUNDLE = Format("bundle", "DualStream model", "a DualStream model bundle", (".dsmodel",))
ONNX = Format("onnx", "ONNX model", "an ONNX model", (".onnx",))
MODEL = Format("model", "Models", "a model (a DualStream bundle or an ONNX model)", (*BUNDLE.suffixes, *ONNX.suffixes))
REPORT = Format("html", "HTML report", "HTML", (".html", ".htm"))
JSON = Format("json", "JSON", "JSON", (".json",))
CSV = Format("csv", "CSV", "CSV", (".csv",))

#: Every format by key.
FORMAT_TABLE: dict[str, Format] = {f.key: f for f in (RASTER, GEOTIFF, VECTOR, GPKG, BUNDLE, ONNX, MODEL, REPORT, JSON,
                                                      CSV)}
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
