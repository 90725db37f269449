"""Input layers -> the sources the engine reads, without making QGIS layers out of raster files.

Rasters: a GDAL layer gives its source as it is, a local file or a remote one (``/vsicurl/``, ``/vsis3/``, a
VRT, ...: the engine streams it); a web layer (XYZ, WMS, WMTS, WCS, ArcGIS) gives the GDAL description of its service
(:mod:`.web_layers`), read over the run's extent at a pixel size. Vectors (labels, areas): any vector layer QGIS
reads (a file, a scratch layer, PostGIS, WFS, GeoJSON over HTTP), and only its selected features when asked
(a :class:`QgsProcessingFeatureSourceDefinition`, the dialog's "Selected features only"): Processing's own
conversion (``parameterAsCompatibleSourceLayerPathAndLayerName``) hands over a file layer as
``file.gpkg|layername=NAME`` and writes anything else into a temporary GeoPackage first.

A QGIS raster layer computes band statistics for its default renderer as soon as it exists, and GDAL saves
them: a ``<raster>.aux.xml`` appears beside a GeoTIFF and a VRT is rewritten in place. Processing's
``parameterAsRasterLayer`` makes such a layer for every file path it is given (``qgis_process``, batch
processing, a file picked with the "..." button), so merely reading an input changed it. Here a raster path stays
a path: only values that name a layer already in the project (the user loaded it) are resolved as layers, and
vector labels are opened as vector layers (reading their fields writes nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFeatureSource,
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
from .web_layers import WebLayer, is_web_layer, web_layer

#: The formats a vector layer is handed over in as it is (others are written to a temporary GeoPackage).
COMPATIBLE_VECTOR_FORMATS = ["gpkg", "geojson", "json", "shp", "fgb"]

def layer_file_path(layer: QgsMapLayer | None, parameter: str) -> str:
    """The GDAL source behind a map layer, for the engine: a local file (which must exist) or a remote source
    (``/vsicurl/...``, a URL) as it is. Raises QgsProcessingException when the layer is missing."""
    if layer is None:
        raise QgsProcessingException(f"Parameter {parameter}: no layer was given or it could not be loaded.")
    source = layer.source()
    if engine_api().is_remote(source):
        return source
    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), source)
    path = parts.get("path") or source.split("|")[0]
    if engine_api().is_remote(path):
        return path
    if not path or not Path(path).exists():
        raise QgsProcessingException(
            f"Parameter {parameter}: layer '{layer.name()}' reads '{source}', which is no file here; check that "
            "the file still exists (or save the layer as a GeoTIFF: right-click > Export > Save As).")
    return path


def raster_file(layer: QgsMapLayer | None, parameter: str) -> str | WebLayer:
    """The GDAL source behind a raster layer (a file, or a remote GDAL source as it is), or the web service of a
    web layer (:class:`WebLayer`, read over an extent at a pixel size)."""
    if layer is None:
        raise QgsProcessingException(f"Parameter {parameter}: no raster layer was given or it could not be loaded; "
                                     f"choose a raster layer or a raster file that exists.")
    if is_web_layer(layer):
        return web_layer(layer, parameter)
    if not isinstance(layer, QgsRasterLayer) or layer.providerType() != "gdal":
        raise QgsProcessingException(
            f"Parameter {parameter}: layer '{layer.name()}' comes from the '{layer.providerType()}' data provider, "
            "which DualStream cannot read; save it as a GeoTIFF first (right-click > Export > Save As...) and use "
            "that file.")
    return layer_file_path(layer, parameter)


def _items(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def layer_items(value: Any) -> list[Any]:
    """The sources of a multiple-layer value: a list, or the batch cell's ';'-separated text."""
    return [part for item in _items(value) for part in (item.split(";") if isinstance(item, str) else [item])
            if part != ""]


def _unwrap(value: Any, context: QgsProcessingContext) -> Any:
    """The layer reference inside a feature-source definition or a property (models, batch expressions)."""
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        value = value.source
    if isinstance(value, QgsProperty):
        value = value.valueAsString(context.expressionContext())
        value = value[0] if isinstance(value, tuple) else value  # PyQGIS returns (text, ok)
    return value


def _resolve(value: Any, context: QgsProcessingContext, parameter: str) -> QgsMapLayer | str:
    """A layer the project (or the run's layer store) already holds, else the source ``value`` names: a file
    that exists, or a remote GDAL source (a URL, ``/vsicurl/...``) as it is."""
    value = _unwrap(value, context)
    if isinstance(value, QgsMapLayer):
        return value
    text = str(value).strip()
    layer = QgsProcessingUtils.mapLayerFromString(text, context, False)  # False: never load a new layer
    if layer is not None:
        return layer
    if engine_api().is_remote(text):
        return text
    path = text.split("|")[0]
    special = special_file_problem(path)
    if special:
        raise QgsProcessingException(f"Parameter {parameter}: {special}; choose a layer or a raster or vector file.")
    if not Path(path).is_file():
        raise QgsProcessingException(f"Parameter {parameter}: '{text}' is neither a layer of the project nor a file "
                                     f"that exists; choose a raster layer or an existing raster file.")
    return text


def raster_source(parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> str | WebLayer:
    """The raster of parameter ``name``: a GDAL source (a project layer's, or the path or URL as given), or a
    web layer to window (:func:`.web_layers.window_path`)."""
    items = _items(parameters.get(name))
    if not items:
        raise QgsProcessingException(f"Parameter {name}: no raster layer was given; choose a raster layer or a "
                                     f"raster file that exists.")
    resolved = _resolve(items[0], context, name)
    return resolved.split("|")[0] if isinstance(resolved, str) else raster_file(resolved, name)


def raster_sources(parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> list[str | WebLayer]:
    """The rasters of multiple-layer parameter ``name``, in the given order (see :func:`raster_source`)."""
    out: list[str | WebLayer] = []
    for item in layer_items(parameters.get(name)):
        resolved = _resolve(item, context, name)
        out.append(resolved.split("|")[0] if isinstance(resolved, str) else raster_file(resolved, name))
    return out


def _is_vector(resolved: QgsMapLayer | str) -> bool:
    if isinstance(resolved, QgsVectorLayer):
        return True
    if isinstance(resolved, str):
        return engine_api().is_vector_path(resolved)
    return False


def label_source(algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str,
                 context: QgsProcessingContext, feedback: QgsProcessingFeedback | None = None
                 ) -> tuple[str, QgsVectorLayer | None]:
    """(source, vector layer or None) of a label parameter (raster or polygons): a raster stays its GDAL source;
    polygons go through :func:`vector_source` (any provider; selected features when asked)."""
    items = _items(parameters.get(name))
    if not items:
        raise QgsProcessingException(f"Parameter {name}: choose the label layer (a raster of class values or a "
                                     f"polygon layer).")
    resolved = _resolve(items[0], context, name)
    if _is_vector(resolved):
        return vector_source(algorithm, parameters, name, context, feedback)
    source = resolved.split("|")[0] if isinstance(resolved, str) else raster_file(resolved, name)
    if isinstance(source, WebLayer):
        raise QgsProcessingException(f"Parameter {name}: '{source.name}' is a web layer ({source.kind}), a picture "
                                     f"of a map, not class values; choose a raster of class numbers or polygons.")
    if isinstance(items[0], QgsProcessingFeatureSourceDefinition) and items[0].selectedFeaturesOnly:
        if feedback is not None:
            feedback.pushWarning(f"{name}: 'selected features only' applies to polygons; the raster labels are "
                                 f"used whole.")
    return source, None


def vector_source(algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str,
                  context: QgsProcessingContext, feedback: QgsProcessingFeedback | None = None
                  ) -> tuple[str, QgsVectorLayer]:
    """(source for the engine, the vector layer) of a polygon parameter: a file layer as ``file|layername=NAME``
    (the very layer chosen, never the file's first); any other provider (memory, PostGIS, WFS, ...), a layer
    filter or only its selected features written by Processing into a temporary GeoPackage first."""
    value = parameters.get(name)
    value = value[0] if isinstance(value, (list, tuple)) and value else value
    reference = _unwrap(value, context)
    layer = reference if isinstance(reference, QgsMapLayer) else QgsProcessingUtils.mapLayerFromString(
        str(reference), context, True, QgsProcessingUtils.LayerHint.Vector)
    if not isinstance(layer, QgsVectorLayer) or not layer.isValid():
        raise QgsProcessingException(f"Parameter {name}: '{reference}' could not be opened as a polygon layer; "
                                     f"choose a polygon layer, or a GeoPackage, GeoJSON or Shapefile.")
    _check_filter(layer, name)
    selected = isinstance(value, QgsProcessingFeatureSourceDefinition) and value.selectedFeaturesOnly
    if selected and layer.selectedFeatureCount() == 0:
        raise QgsProcessingException(f"Parameter {name}: 'selected features only' is set, but no feature of "
                                     f"'{layer.name()}' is selected; select the polygons to use, or clear the box.")
    converted = dict(parameters)
    converted[name] = value if isinstance(value, QgsProcessingFeatureSourceDefinition) else layer
    path, layer_name = algorithm.parameterAsCompatibleSourceLayerPathAndLayerName(
        converted, name, context, COMPATIBLE_VECTOR_FORMATS, "gpkg", feedback)
    if not path:
        raise QgsProcessingException(f"Parameter {name}: the features of '{layer.name()}' could not be handed over "
                                     f"(QGIS wrote no file); save the layer as a GeoPackage and use that file.")
    source = engine_api().join_layer(path, layer_name or None)
    if feedback is not None and Path(path).resolve() != Path(layer.source().split("|")[0]).resolve():
        what = f"{layer.selectedFeatureCount()} selected feature(s) of " if selected else ""
        feedback.pushInfo(f"{name}: {what}'{layer.name()}' ({layer.providerType()} provider) handed over as the "
                          f"temporary GeoPackage '{path}'.")
    return source, layer


def handed_names(parameters: dict[str, Any], handed: dict[str, tuple[str | None, QgsVectorLayer | None]]
                 ) -> dict[str, str]:
    """{source: how the engine's messages name it} for each polygon parameter (``handed``: name -> (source,
    layer), :func:`vector_source`'s) whose layer QGIS wrote into a temporary file (a scratch layer, a selection,
    another provider's): the layer's name and what it is, never 'LABELS.gpkg' (the engine's rule,
    ``shown_layer``)."""
    api, names = engine_api(), {}
    for name, (source, layer) in handed.items():
        if not source or layer is None:
            continue
        own = layer.source().split("|")[0]
        if Path(api.split_layer(source)[0]).resolve() == Path(own).resolve():
            continue  # the layer's own file: its path is what the user chose
        value = parameters.get(name)
        selected = isinstance(value, QgsProcessingFeatureSourceDefinition) and value.selectedFeaturesOnly
        names[source] = api.shown_layer(layer.name(), api.vector_layer_kind(layer.providerType(), own, selected))
    return names


def _check_filter(layer: QgsVectorLayer, name: str) -> None:
    """A file layer's filter (Query Builder, ``|subset=``) read as OGR reads it: QGIS takes any filter and shows no
    features for one it cannot read, so the run would go on with none."""
    if not layer.subsetString() or layer.providerType() != "ogr":
        return
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    path = parts.get("path") or ""
    if not path or engine_api().is_remote(path) or not Path(path).is_file():
        return
    api = engine_api()
    source = f"{api.join_layer(path, parts.get('layerName') or None)}|subset={layer.subsetString()}"
    try:
        api.check_layer_filter(source, f"layer '{layer.name()}' of {name}")
    except api.DualStreamError as exc:
        raise QgsProcessingException(f"Parameter {name}: {exc}") from exc


def special_file_problem(value: Any) -> str | None:
    """What a layer value's file is when it is no regular file nor folder (a FIFO, a device, a socket), else None.

    QGIS opens such a path with GDAL to see whether it is a layer, and the open of a FIFO blocks forever."""
    api = engine_api()
    for item in layer_items(value):
        if isinstance(item, str):
            path = item.split("|")[0]
            kind = api.path_kind(path)
            if kind not in (None, "a folder"):
                return f"'{path}' is {kind}, not a file"
    return None


def _names_files_only(value: Any, context: QgsProcessingContext) -> bool:
    """Whether every item of a layer value is text that names no layer the project or the run already holds
    (a file path or a URL), so that QGIS's check with a context would load each one as a new layer."""
    items = layer_items(value)
    return bool(items) and all(isinstance(item, str) and
                               QgsProcessingUtils.mapLayerFromString(item, context, False) is None for item in items)


def _files_exist(value: Any) -> bool:
    """Whether each local path of a layer value is a file (URLs and /vsi paths are read, and judged, by the run)."""
    api = engine_api()
    return all(api.is_remote(item) or Path(item.split("|")[0]).is_file() for item in layer_items(value))


class _RefusesSpecialFiles:
    """A layer parameter whose check refuses a FIFO or device path, and checks a file path without making it a
    layer.

    ``qgis_process`` calls each parameter's ``checkValueIsAcceptable`` with its context itself, before the
    algorithm's own ``checkParameterValues``; QGIS's check then loads the path as a layer: GDAL's open of a FIFO
    never returns, and a raster layer's default renderer computes band statistics that GDAL saves as
    ``<input>.aux.xml`` beside the input (see the module's note). A path is checked as a file that exists here;
    values naming a layer already held go to QGIS's check."""

    def checkValueIsAcceptable(self, value: Any, context: QgsProcessingContext | None = None  # noqa: N802
                               ) -> bool:
        if special_file_problem(value):
            return False
        if context is not None and _names_files_only(value, context):
            return super().checkValueIsAcceptable(value, None) and _files_exist(value)  # type: ignore[misc]
        return super().checkValueIsAcceptable(value, context)  # type: ignore[misc]


class RasterLayerParameter(_RefusesSpecialFiles, QgsProcessingParameterRasterLayer):
    """QgsProcessingParameterRasterLayer that refuses FIFOs and devices (see :class:`_RefusesSpecialFiles`)."""


class MapLayerParameter(_RefusesSpecialFiles, QgsProcessingParameterMapLayer):
    """QgsProcessingParameterMapLayer that refuses FIFOs and devices (see :class:`_RefusesSpecialFiles`)."""


class MultipleLayersParameter(_RefusesSpecialFiles, QgsProcessingParameterMultipleLayers):
    """QgsProcessingParameterMultipleLayers that refuses FIFOs and devices (see :class:`_RefusesSpecialFiles`)."""


class LabelLayerParameter(_RefusesSpecialFiles, QgsProcessingParameterFeatureSource):
    """A label layer: polygons as a feature source, so the dialog offers "Selected features only" and Processing
    hands over only the selection (:func:`vector_source`), or a raster of class values. Processing's feature-source
    check refuses a raster layer (an object, or its id or path once the project holds it); this one takes it.
    The dialog's list offers raster layers too (``widgets.offer_raster_labels``)."""

    def checkValueIsAcceptable(self, value: Any, context: QgsProcessingContext | None = None  # noqa: N802
                               ) -> bool:
        resolving = context or QgsProcessingContext()
        layer = _unwrap(value, resolving)
        if isinstance(layer, str) and layer:
            layer = QgsProcessingUtils.mapLayerFromString(layer, resolving, False)  # False: never load a new one
            if layer is None:
                # a path or URL (a raster one too): QGIS's check with a context takes only text that opens as a
                # vector layer, without one any text; the run checks that the file exists and reads it
                return super().checkValueIsAcceptable(value, None)
        if isinstance(layer, QgsRasterLayer):
            return True
        return super().checkValueIsAcceptable(value, context)


LAYER_PARAMETERS = (QgsProcessingParameterRasterLayer, QgsProcessingParameterMultipleLayers,
                    QgsProcessingParameterMapLayer, LabelLayerParameter)


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
    if any(isinstance(item, QgsProcessingFeatureSourceDefinition) for item in items):
        # a feature source with its options (selected features only, a limit, a filter): its layer is checked
        items = [_unwrap(item, context) if isinstance(item, QgsProcessingFeatureSourceDefinition) else item
                 for item in items]
        value = items if isinstance(value, (list, tuple)) else items[0]
    items = [item for item in items if not (isinstance(item, str) and engine_api().is_remote(item))]
    if not items:
        return None  # URLs and /vsi paths: reading them says what is wrong, with the server's answer
    value = items if isinstance(value, (list, tuple)) else items[0]
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
    return vector_source(alg, parameters, name, context, feedback)[0]


def input_name(value: Any, source: str, context: QgsProcessingContext) -> str:
    """What a result is named after: the input layer's own name when the value names a project layer (a
    scratch layer, a web layer, a layer renamed in the Layers panel), else ``source``'s file name without its
    extension."""
    value = _unwrap(value[0] if isinstance(value, (list, tuple)) and value else value, context)
    layer = value if isinstance(value, QgsMapLayer) else (
        QgsProcessingUtils.mapLayerFromString(str(value), context, False) if value else None)
    return layer.name() if layer is not None else engine_api().source_stem(str(source))
