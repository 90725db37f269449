"""Every destination parameter of every algorithm through the engine's output-safety check, before any work.

Processing hands an algorithm its destinations in several shapes (a path, ``ogr:dbname='x.gpkg' table=...``,
a ``QgsProcessingOutputLayerDefinition``, ``TEMPORARY_OUTPUT``), and a sink (e.g. Evaluate's table) is created
by QGIS itself, so the engine never sees it. :func:`check_destinations` turns each destination into a path
without creating anything, collects the files every input parameter names, and calls the engine's
``check_outputs``: no destination is an input (by file identity), a device, FIFO or socket, a folder where a
file is written (or a file where a folder is), or named for another format. The base algorithm runs it in
``prepareAlgorithm``, which every way of running an algorithm passes (dialog, batch, ``processing.run``,
``qgis_process``, models).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsMapLayer,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingDestinationParameter,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
    QgsProperty,
)

from ..engine_bridge import engine_api
from ..feedback import run_engine
from .sources import LAYER_PARAMETERS, layer_file_path, layer_items

#: Formats (keys of the engine's ``io.safety.FORMATS``) of the destination kinds whose format is fixed.
RASTER_FORMAT = "geotiff"


def _property_text(prop: QgsProperty, context: QgsProcessingContext) -> str:
    """A property's value as text (PyQGIS returns ``(value, ok)``)."""
    value = prop.valueAsString(context.expressionContext())
    return str(value[0] if isinstance(value, tuple) else value)


def destination_path(value: Any, context: QgsProcessingContext) -> str | None:
    """The file or folder a destination value names; None for a temporary or memory output (always new)."""
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        value = value.sink
    if isinstance(value, QgsProperty):
        value = _property_text(value, context)
    text = "" if value is None else str(value).strip()
    if not text or text == QgsProcessing.TEMPORARY_OUTPUT or text.startswith(("memory:", "postgres:", "spatialite:")):
        return None
    if text.startswith("ogr:"):  # ogr:dbname='/path/x.gpkg' table="t" (geom) or ogr:/path/x.gpkg
        text = text[4:]
        match = re.search(r"dbname='([^']*)'", text) or re.search(r'dbname="([^"]*)"', text)
        text = match.group(1) if match else text
    return text.split("|")[0] or None


def _file_format(definition: QgsProcessingParameterFileDestination) -> str | None:
    """The engine format of a file destination, from its filter (``"JSON files (*.json)"`` -> ``json``)."""
    formats = engine_api().FORMATS
    suffixes = {f".{ext.lower()}" for ext in re.findall(r"\*\.(\w+)", definition.fileFilter())}
    for name, endings in formats.items():
        if suffixes & set(endings):
            return name
    return None


def destination_files(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                      context: QgsProcessingContext) -> dict[str, Any]:
    """``"<description> (<NAME>)"`` -> the engine's ``Files`` for every destination parameter that is set."""
    api = engine_api()
    found: dict[str, Any] = {}
    for definition in alg.destinationParameterDefinitions():
        path = destination_path(parameters.get(definition.name()), context)
        if path is None:
            continue
        name = f"{definition.description()} ({definition.name()})"
        if isinstance(definition, QgsProcessingParameterFolderDestination):
            found[name] = api.Files(path, folder=True)
        elif isinstance(definition, QgsProcessingParameterRasterDestination):
            found[name] = api.Files(path, RASTER_FORMAT)
        elif isinstance(definition, QgsProcessingParameterFileDestination):
            found[name] = api.Files(path, _file_format(definition) if Path(path).suffix else None)
        elif isinstance(definition, (QgsProcessingParameterVectorDestination, QgsProcessingParameterFeatureSink,
                                     QgsProcessingDestinationParameter)):
            found[name] = api.Files(path)  # written by QGIS in the format its name says
    return found


def input_files(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                context: QgsProcessingContext) -> dict[str, list[str]]:
    """``"<description> (<NAME>)"`` -> the files (or folders) every layer and file parameter names."""
    from qgis.core import QgsProcessingUtils

    found: dict[str, list[str]] = {}
    for definition in alg.parameterDefinitions():
        if definition.isDestination():
            continue
        paths: list[str] = []
        if isinstance(definition, LAYER_PARAMETERS):
            for item in layer_items(parameters.get(definition.name())):
                if isinstance(item, QgsProperty):
                    item = _property_text(item, context)
                layer = item if isinstance(item, QgsMapLayer) else \
                    QgsProcessingUtils.mapLayerFromString(str(item), context, False)  # never loads a file
                if layer is None:
                    paths.append(str(item).split("|")[0])
                    continue
                try:
                    paths.append(layer_file_path(layer, definition.name()))
                except Exception:  # noqa: BLE001 - a web layer has no file to protect
                    continue
        elif isinstance(definition, QgsProcessingParameterFile):
            value = parameters.get(definition.name())
            paths = [p.strip() for item in (value if isinstance(value, (list, tuple)) else [value])
                     if item not in (None, "") for p in str(item).split(";") if p.strip()]
        if paths:
            found[f"{definition.description()} ({definition.name()})"] = paths
    return found


def check_destinations(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                       context: QgsProcessingContext) -> None:
    """QgsProcessingException (the engine's message) when a destination is an input, is not a regular file or
    a new path, or is named for another format; nothing has been written or read at that point."""
    outputs = destination_files(alg, parameters, context)
    if outputs:
        run_engine(engine_api().check_outputs, input_files(alg, parameters, context), outputs)
