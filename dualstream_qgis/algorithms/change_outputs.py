"""What the change detection algorithms share: their Toolbox group, the later date's layer, and the change table as
a QGIS table layer (one row per kind of change, its hectares), filled from the engine's rows.

The engine writes the change raster (no change transparent, each kind of change its colour), its confidence and its
polygons; the table is the one output QGIS writes itself (a feature sink: a scratch layer, a GeoPackage, a CSV or a
spreadsheet, as the user picks), so that it opens as a table layer beside the maps it sums up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterFeatureSink,
)

from ..compat import SOURCE_VECTOR, WKB_NO_GEOMETRY, field_types, long_field_type
from ..layer_tree import RunLayers
from ..styling import layer_post_processor
from .common import add_parameter
from .parameters import add_settings, declared_text
from .sources import RasterLayerParameter
from .train_form import is_temporary

#: The Toolbox folder the change detection algorithms share.
GROUP, GROUP_ID = "Change detection", "change"
AFTER = "AFTER"
OUTPUT_TABLE = "OUTPUT_TABLE"
TABLE_RANK = 100  # the table's place among the run's layers: under every map
#: The table's fields: the engine's change rows (``ChangeRow.to_dict``) by name, and each one's type.
TABLE_FIELDS = (("value", "integer"), ("name", "text"), ("from_class", "text"), ("to_class", "text"),
                ("pixels", "long"), ("hectares", "real"))


class ChangeGroup:
    """The Toolbox folder "Change detection" (the other DualStream algorithms stand at the provider's top)."""

    def group(self) -> str:
        return self.tr(GROUP)  # type: ignore[attr-defined]

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return GROUP_ID


def add_after_parameter(alg: QgsProcessingAlgorithm, key: str, note: str = "", optional: bool = False) -> None:
    """AFTER, the later date: any raster layer QGIS shows, as the first date (``key``: its declared setting;
    ``optional``: to Processing, where a form's mode requires it)."""
    param, label, text = declared_text(alg, key)
    add_parameter(alg, RasterLayerParameter(param, label, optional=optional),
                  text + (alg.tr(" " + note) if note else ""))


def add_table_output(alg: QgsProcessingAlgorithm, section: str) -> None:
    """OUTPUT_TABLE: the change table as a table layer (no geometry), and the pixel size that gives its hectares
    where the dates have no georeferencing (``section``'s declared setting)."""
    add_parameter(alg, QgsProcessingParameterFeatureSink(
        OUTPUT_TABLE, alg.tr("Change table (hectares of each kind of change)"), SOURCE_VECTOR, optional=True),
        alg.tr("A table layer with one row per kind of change: value (its class in the change raster), name "
               "(from → to, or change), from_class, to_class (empty for a change mask), pixels and hectares (the "
               "area a report quotes; empty when the raster has no CRS and no pixel size is given below)."))
    add_settings(alg, f"{section}.ground_pixel_size")


def table_fields() -> QgsFields:
    integer, text, real = field_types()
    kinds = {"integer": integer, "text": text, "real": real, "long": long_field_type()}
    fields = QgsFields()
    for name, kind in TABLE_FIELDS:
        fields.append(QgsField(name, kinds[kind]))
    return fields


def row_dict(row: Any) -> dict[str, Any]:
    """An engine change row (a ``ChangeRow`` or its dict) as a dict."""
    return row if isinstance(row, dict) else row.to_dict()


def say_rows(feedback: QgsProcessingFeedback, rows: list[Any], title: str = "Change table") -> None:
    """The change table in the log (``title``): each kind of change (or class), its hectares and pixels."""
    said = []
    for row in map(row_dict, rows):
        area = "" if row["hectares"] is None else f"{row['hectares']:,.2f} ha, "
        said.append(f"{row['name']}: {area}{row['pixels']:,} pixels")
    feedback.pushInfo(f"{title}: {'; '.join(said) or 'no kind of change in the change raster'}.")


def write_table(alg: QgsProcessingAlgorithm, parameters: dict[str, Any], context: QgsProcessingContext,
                rows: list[Any], change_layer: str, run: RunLayers | None = None) -> str | None:
    """The change table's rows into OUTPUT_TABLE when it is asked for; its destination, loaded named after the file
    chosen, or when temporary after the change raster (``change_layer``: its layer's name, the output's file or the
    dates'): a table named after the first date alone was the same for every run of that date."""
    default_name = f"{change_layer} table"
    if parameters.get(OUTPUT_TABLE) in (None, ""):
        return None
    fields = table_fields()
    sink, destination = alg.parameterAsSink(parameters, OUTPUT_TABLE, context, fields, WKB_NO_GEOMETRY)
    if sink is None:
        return None
    for row in map(row_dict, rows):
        feature = QgsFeature(fields)
        hectares = row["hectares"]  # to the square metre, as the engine's CSV (no float noise in the table)
        feature.setAttributes([round(hectares, 4) if name == "hectares" and hectares is not None else row[name]
                               for name, _ in TABLE_FIELDS])
        sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
    if context.willLoadLayerOnCompletion(destination):
        path = str(destination).split("|")[0]
        name = Path(path).stem if Path(path).suffix and not is_temporary(path) else default_name
        context.layerToLoadOnCompletionDetails(destination).setPostProcessor(
            layer_post_processor(name, run=run, rank=TABLE_RANK))
    return destination
