"""Input layers -> the files behind them, without making QGIS layers out of files.

A layer the project holds gives its local file (a GDAL raster, or polygons in GeoPackage/GeoJSON/Shapefile);
other providers (web services, databases) are refused with what to do instead.

A QGIS raster layer computes band statistics for its default renderer as soon as it exists, and GDAL saves
them: a ``<raster>.aux.xml`` appears beside a GeoTIFF and a VRT is rewritten in place. Processing's
``parameterAsRasterLayer`` makes such a layer for every file path it is given (``qgis_process``, batch
processing, a file picked with the "..." button), so merely reading an input changed it. Here a path stays a
path: only values that name a layer already in the project (the user loaded it) are resolved as layers, and
vector labels are opened as vector layers (reading their fields writes nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsProperty,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ..compat import PARAMETER_OPTIONAL
from ..engine_bridge import engine_api

#: Vector formats the engine rasterises as labels (see engine/data/labels.py).
VECTOR_LABEL_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp")


def layer_file_path(layer: QgsMapLayer | None, parameter: str) -> str:
    """The local file behind a map layer, for the engine (which reads files, not QGIS layers).

    Raises QgsProcessingException when the layer is missing or not a local file (e.g. a web service).
    """
    if layer is None:
        raise QgsProcessingException(f"Parameter {parameter}: no layer was given or it could not be loaded.")
    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    path = parts.get("path") or layer.source().split("|")[0]
    if not path or not Path(path).is_file():
        raise QgsProcessingException(
            f"Parameter {parameter}: layer '{layer.name()}' is not a local file ({layer.source()}); "
            "save it as a GeoTIFF/GeoPackage first (right-click > Export > Save As) and use that file."
        )
    return path


def raster_file(layer: QgsMapLayer | None, parameter: str) -> str:
    """The GeoTIFF/other GDAL file behind a raster layer; other providers (WMS, WCS, ...) are refused."""
    if layer is None:
        raise QgsProcessingException(f"Parameter {parameter}: no raster layer was given or it could not be loaded; "
                                     f"choose a raster layer or a raster file that exists.")
    if not isinstance(layer, QgsRasterLayer) or layer.providerType() != "gdal":
        raise QgsProcessingException(
            f"Parameter {parameter}: layer '{layer.name()}' comes from the '{layer.providerType()}' data provider; "
            "DualStream reads file-based GDAL rasters only. Save it as a GeoTIFF first (right-click > Export > "
            "Save As...) and use that file."
        )
    return layer_file_path(layer, parameter)


def label_file(layer: QgsMapLayer | None, parameter: str) -> tuple[str, bool]:
    """(file, is_vector) for a label layer: a GDAL raster, or polygons in GeoPackage/GeoJSON/Shapefile."""
    if layer is None:
        raise QgsProcessingException(f"Parameter {parameter}: no label layer was given or it could not be loaded; "
                                     f"choose a raster of class values or a polygon layer.")
    if isinstance(layer, QgsRasterLayer):
        return raster_file(layer, parameter), False
    if isinstance(layer, QgsVectorLayer):
        if layer.providerType() != "ogr":
            raise QgsProcessingException(
                f"Parameter {parameter}: layer '{layer.name()}' comes from the '{layer.providerType()}' provider; "
                "save it as a GeoPackage first (right-click > Export > Save Features As...) and use that file.")
        path = layer_file_path(layer, parameter)
        if Path(path).suffix.lower() not in VECTOR_LABEL_SUFFIXES:
            raise QgsProcessingException(
                f"Parameter {parameter}: '{path}' is not a GeoPackage, GeoJSON or Shapefile; save the layer as a "
                "GeoPackage (right-click > Export > Save Features As...) and use that file.")
        if "layername=" in layer.source() and Path(path).suffix.lower() == ".gpkg":
            _check_single_layer_gpkg(layer, path, parameter)
        return path, True
    raise QgsProcessingException(f"Parameter {parameter}: layer '{layer.name()}' is neither a raster nor a vector "
                                 f"layer; choose a raster of class values or a polygon layer.")


def _check_single_layer_gpkg(layer: QgsVectorLayer, path: str, parameter: str) -> None:
    """The engine reads the first layer of a GeoPackage; refuse a later layer rather than read the wrong one."""
    sublayers = layer.dataProvider().subLayers()
    if len(sublayers) > 1:
        name = layer.source().split("layername=", 1)[1].split("|")[0]
        first = sublayers[0].split("!!::!!")[1] if "!!::!!" in sublayers[0] else ""
        if first and name != first:
            raise QgsProcessingException(
                f"Parameter {parameter}: '{path}' holds {len(sublayers)} layers and the labels are in '{name}', "
                f"not the first one; export '{name}' to its own GeoPackage and use that file.")


def _items(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def layer_items(value: Any) -> list[Any]:
    """The sources of a multiple-layer value: a list, or the batch cell's ';'-separated text."""
    return [part for item in _items(value) for part in (item.split(";") if isinstance(item, str) else [item])
            if part != ""]


def _resolve(value: Any, context: QgsProcessingContext, parameter: str) -> QgsMapLayer | str:
    """A layer the project (or the run's layer store) already holds, else the file path ``value`` names."""
    if isinstance(value, QgsProperty):  # models and batch expressions
        value = value.valueAsString(context.expressionContext())
    if isinstance(value, QgsMapLayer):
        return value
    text = str(value).strip()
    layer = QgsProcessingUtils.mapLayerFromString(text, context, False)  # False: never load a new layer
    if layer is not None:
        return layer
    path = text.split("|")[0]
    special = special_file_problem(path)
    if special:
        raise QgsProcessingException(f"Parameter {parameter}: {special}; choose a layer or a raster or vector file.")
    if not Path(path).is_file():
        raise QgsProcessingException(f"Parameter {parameter}: '{text}' is neither a layer of the project nor a file "
                                     f"that exists; choose a raster layer or an existing raster file.")
    return path


def raster_source(parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> str:
    """The raster file of parameter ``name`` (a project layer's file, or the path as given)."""
    items = _items(parameters.get(name))
    if not items:
        raise QgsProcessingException(f"Parameter {name}: no raster layer was given; choose a raster layer or a "
                                     f"raster file that exists.")
    resolved = _resolve(items[0], context, name)
    return resolved if isinstance(resolved, str) else raster_file(resolved, name)


def raster_sources(parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> list[str]:
    """The raster files of multiple-layer parameter ``name``, in the given order."""
    out = []
    for item in layer_items(parameters.get(name)):
        resolved = _resolve(item, context, name)
        out.append(resolved if isinstance(resolved, str) else raster_file(resolved, name))
    return out


def label_source(parameters: dict[str, Any], name: str,
                 context: QgsProcessingContext) -> tuple[str, QgsVectorLayer | None]:
    """(file, vector layer or None) of a label parameter: a raster file stays a path; polygons are opened as a
    vector layer for the class-field check."""
    items = _items(parameters.get(name))
    if not items:
        raise QgsProcessingException(f"Parameter {name}: choose the label layer (a raster of class values or a "
                                     f"polygon layer).")
    resolved = _resolve(items[0], context, name)
    if isinstance(resolved, str):
        if Path(resolved).suffix.lower() not in VECTOR_LABEL_SUFFIXES:
            return resolved, None
        resolved = QgsVectorLayer(str(items[0]), Path(resolved).stem, "ogr")
        if not resolved.isValid():
            raise QgsProcessingException(f"Parameter {name}: '{items[0]}' could not be opened as a polygon layer; "
                                         f"check that it is a GeoPackage, GeoJSON or Shapefile.")
    path, is_vector = label_file(resolved, name)
    return path, resolved if is_vector else None


def special_file_problem(value: Any) -> str | None:
    """What a layer value's file is when it is no regular file nor folder (a FIFO, a device, a socket), else None.

    QGIS opens such a path with GDAL to see whether it is a layer, and the open of a FIFO blocks forever."""
    safety = engine_api()
    for item in layer_items(value):
        if isinstance(item, str):
            path = item.split("|")[0]
            kind = safety.path_kind(path)
            if kind not in (None, "a folder"):
                return f"'{path}' is {kind}, not a file"
    return None


class _RefusesSpecialFiles:
    """A layer parameter whose check refuses a FIFO or device path before QGIS opens it as a layer.

    ``qgis_process`` calls each parameter's ``checkValueIsAcceptable`` itself, before the algorithm's own
    ``checkParameterValues``; QGIS's check loads the path as a layer, and GDAL's open of a FIFO never returns."""

    def checkValueIsAcceptable(self, value: Any, context: QgsProcessingContext | None = None  # noqa: N802
                               ) -> bool:
        if special_file_problem(value):
            return False
        return super().checkValueIsAcceptable(value, context)  # type: ignore[misc]


class RasterLayerParameter(_RefusesSpecialFiles, QgsProcessingParameterRasterLayer):
    """QgsProcessingParameterRasterLayer that refuses FIFOs and devices (see :class:`_RefusesSpecialFiles`)."""


class MapLayerParameter(_RefusesSpecialFiles, QgsProcessingParameterMapLayer):
    """QgsProcessingParameterMapLayer that refuses FIFOs and devices (see :class:`_RefusesSpecialFiles`)."""


class MultipleLayersParameter(_RefusesSpecialFiles, QgsProcessingParameterMultipleLayers):
    """QgsProcessingParameterMultipleLayers that refuses FIFOs and devices (see :class:`_RefusesSpecialFiles`)."""


LAYER_PARAMETERS = (QgsProcessingParameterRasterLayer, QgsProcessingParameterMultipleLayers,
                    QgsProcessingParameterMapLayer)


def check_layer_value(definition: QgsProcessingParameterDefinition, value: Any,
                      context: QgsProcessingContext) -> str | None:
    """Processing's own check of a layer parameter, minus the layer it would load from a file path (QGIS
    3.22 ``checkValueIsAcceptable`` loads every path as a layer, which computes and saves statistics beside
    the input). Paths are checked for existence here; layer ids and other values go to QGIS. Returns the
    problem, or None."""
    items = layer_items(value)
    if not items:
        return None if definition.flags() & PARAMETER_OPTIONAL else (
            f"Parameter {definition.name()}: no layer was given; choose a layer or a file.")
    special = special_file_problem(value)
    if special:
        return f"Parameter {definition.name()}: {special}; choose a layer or a raster or vector file."
    plain = [item for item in items if isinstance(item, str)]
    if len(plain) < len(items) or any(QgsProcessingUtils.mapLayerFromString(i, context, False) for i in plain):
        return None if definition.checkValueIsAcceptable(value, context) else (
            f"Incorrect parameter value for {definition.name()}")
    missing = [item for item in plain if not Path(item.split("|")[0]).is_file()]
    if missing:
        return (f"Parameter {definition.name()}: '{missing[0]}' is neither a layer of the project nor a file that "
                f"exists; choose a layer or an existing file.")
    return None


def polygon_area_file(alg: Any, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
                      feedback: Any) -> str | None:
    """The polygons of the optional feature-source parameter ``name`` as a file the engine reads, or None.

    Any vector layer QGIS reads (a scratch/memory layer, a database or web service, one layer of a GeoPackage)
    and "Selected features only" are honoured: QGIS writes what is not already a plain file of the right
    features to a temporary GeoPackage of the run (Processing's own compatible-source export).
    """
    value = parameters.get(name)
    if value is None or value == "":
        return None
    path = alg.parameterAsCompatibleSourceLayerPath(parameters, name, context, ["gpkg", "shp", "geojson", "json"],
                                                    "gpkg", feedback)
    if not path:
        raise QgsProcessingException(f"Parameter {name}: the layer could not be read; choose a polygon layer.")
    return path
