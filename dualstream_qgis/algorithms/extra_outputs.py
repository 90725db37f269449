"""The Segment algorithm's optional outputs, one Processing destination per kind the engine declares
(``engine.config.output_kinds.OUTPUT_KINDS`` through ``engine_api().EXTRA_KINDS``): added, read, returned and loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingOutputNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
)

from ..compat import SOURCE_POLYGON
from ..engine_bridge import engine_api
from ..layer_tree import RunLayers
from ..styling import layer_post_processor, style_polygons
from .common import add_parameter, check_suffix, ensure_parent
from .parameters import declared_text
from .train_form import is_temporary


def add_output_destinations(alg: QgsProcessingAlgorithm) -> None:
    """An optional destination per extra output kind, named, labelled and explained by its setting."""
    for kind in engine_api().EXTRA_KINDS:
        param, label, help_text = declared_text(alg, f"segment.{kind.config_key}")
        if kind.raster:
            destination = QgsProcessingParameterRasterDestination(param, label, optional=True,
                                                                  createByDefault=False)
        else:
            destination = QgsProcessingParameterVectorDestination(
                param, label, SOURCE_POLYGON, optional=True, createByDefault=False)
            destination.setSupportsNonFileBasedOutput(False)
        add_parameter(alg, destination, help_text)


def add_report_outputs(alg: QgsProcessingAlgorithm) -> None:
    """A number output per figure an output kind reports (``kind.report``): the share of the pixels below that
    setting, under the setting's parameter id (e.g. LOW_CONFIDENCE)."""
    for kind in engine_api().EXTRA_KINDS:
        if kind.report:
            param, label, _ = declared_text(alg, f"segment.{kind.report}")
            alg.addOutput(QgsProcessingOutputNumber(param, alg.tr(f"Share of pixels of the {kind.noun} below "
                                                                  f"'{label}'")))


def read_output_destinations(alg: QgsProcessingAlgorithm, parameters: dict[str, Any],
                             context: QgsProcessingContext) -> dict[str, str | None]:
    """The SegmentConfig settings of the extra outputs asked for (checked suffix, parent folder made)."""
    settings: dict[str, str | None] = {}
    for kind in engine_api().EXTRA_KINDS:
        param = declared_text(alg, f"segment.{kind.config_key}")[0]
        path = alg.parameterAsOutputLayer(parameters, param, context) or None
        if path:
            check_suffix(path, engine_api().FORMATS[kind.format], param, kind.noun)
            ensure_parent(path, param)
        settings[kind.config_key] = path
    return settings


def output_results(alg: QgsProcessingAlgorithm, result: Any) -> dict[str, str | None]:
    """The algorithm's results of the extra outputs: destination id -> file written (None: not asked for), and
    the figures they report (:func:`add_report_outputs`)."""
    results: dict[str, Any] = {}
    for kind in engine_api().EXTRA_KINDS:
        results[declared_text(alg, f"segment.{kind.config_key}")[0]] = result.path(kind.name)
        if kind.report:
            share = result.report.get(kind.report)
            results[declared_text(alg, f"segment.{kind.report}")[0]] = None if share is None else round(share, 4)
    return results


def output_layer_name(path: str, default: str) -> str:
    """A loaded output's name: the name of the file the user chose (without its extension), or ``default`` for
    a temporary output (QGIS's temporary file names mean nothing)."""
    return default if is_temporary(path) else Path(path.split("|")[0]).stem


def by_layer_name(context: QgsProcessingContext, path: str) -> str:
    """Load the GeoPackage ``path`` on completion as ``path|layername=NAME``, its layer named as the engine names
    it (the file's stem): the file also holds its ``layer_styles`` table, and a GeoPackage of two tables opened
    by its path alone makes QGIS ask which layers to add. Returns the source it is loaded as."""
    source = engine_api().join_layer(path, Path(path).stem)
    layers = context.layersToLoadOnCompletion()
    layers[source] = layers.pop(path)
    context.setLayersToLoadOnCompletion(layers)
    return source


def load_output_layers(context: QgsProcessingContext, result: Any, stem: str, run: RunLayers) -> None:
    """Name the extra outputs loaded on completion after their files, or ``<stem> <kind>`` when temporary
    (:func:`output_layer_name`), and place them under the class raster:
    polygon layers first (outlines over the rasters), then the rasters in their declared order; each raster
    opens with the .qml style written beside it, polygons in the class colours."""
    kinds = sorted(engine_api().EXTRA_KINDS, key=lambda kind: kind.raster)
    for rank, kind in enumerate(kinds, start=1):
        path = result.path(kind.name)
        if not path:
            continue
        qml, style = None, None
        if kind.raster:
            qml = str(Path(path).with_suffix(".qml")) if kind.styled else None
        else:  # stored in the GeoPackage whether loaded or not: the layer opens in the class colours later too
            style = style_polygons(path, result.class_names, result.class_colors)
        if not context.willLoadLayerOnCompletion(path):
            continue
        name = output_layer_name(path, f"{stem} {kind.name}")
        if not kind.raster:
            path = by_layer_name(context, path)
        context.layerToLoadOnCompletionDetails(path).setPostProcessor(
            layer_post_processor(name, qml=qml, style=style, run=run, rank=rank))
