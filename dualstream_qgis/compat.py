"""QGIS enum values under the spelling QGIS 4 documents, with the QGIS 3.22 spelling where 3.22 predates it.

QGIS 3.30-3.36 moved the enums below from their classes into ``Qgis`` (``QgsProcessing.TypeRaster`` became
``Qgis.ProcessingSourceType.Raster``); QGIS 4's API is written in those, and the old names live on there only as
deprecated aliases. Debian 12's QGIS 3.22, the oldest the plugin supports, has only the old names. Each value is
looked up once, when the module loads: the QGIS 4 spelling first, the old one where this QGIS lacks it. Enums that
3.22 already spells the QGIS 4 way (``Qgis.MessageLevel``, ``QgsFeatureSink.Flag``, ``Qt.*``) are used directly
where they are needed, not through here; tests/plugin/test_compat.py checks that every lookup here needs its
fallback on 3.22 and tests/plugin/test_qt6.py that every QGIS 4 spelling is in QGIS 4's API.
"""

from __future__ import annotations

from typing import Any

from qgis import core


def pick(new: str, old: str) -> Any:
    """The ``qgis.core`` value spelled NEW (e.g. ``"Qgis.ProcessingSourceType.Raster"``), else the one spelled OLD."""
    for path in (new, old):
        value: Any = core
        try:
            for part in path.split("."):
                value = getattr(value, part)
        except AttributeError:
            continue
        return value
    raise AttributeError(f"this QGIS ({core.Qgis.QGIS_VERSION}) has neither {new} nor {old}")


# Processing source (layer) types, for layer parameters and outputs; Qgis.ProcessingSourceType from 3.36.
SOURCE_RASTER = pick("Qgis.ProcessingSourceType.Raster", "QgsProcessing.SourceType.TypeRaster")
SOURCE_VECTOR = pick("Qgis.ProcessingSourceType.Vector", "QgsProcessing.SourceType.TypeVector")
SOURCE_POLYGON = pick("Qgis.ProcessingSourceType.VectorPolygon", "QgsProcessing.SourceType.TypeVectorPolygon")

# Parameter flags and kinds (3.36).
PARAMETER_ADVANCED = pick("Qgis.ProcessingParameterFlag.Advanced", "QgsProcessingParameterDefinition.Flag.FlagAdvanced")
PARAMETER_OPTIONAL = pick("Qgis.ProcessingParameterFlag.Optional", "QgsProcessingParameterDefinition.Flag.FlagOptional")
NUMBER_INTEGER = pick("Qgis.ProcessingNumberParameterType.Integer", "QgsProcessingParameterNumber.Type.Integer")
NUMBER_DOUBLE = pick("Qgis.ProcessingNumberParameterType.Double", "QgsProcessingParameterNumber.Type.Double")
FILE_BEHAVIOR_FILE = pick("Qgis.ProcessingFileParameterBehavior.File", "QgsProcessingParameterFile.Behavior.File")
FILE_BEHAVIOR_FOLDER = pick("Qgis.ProcessingFileParameterBehavior.Folder", "QgsProcessingParameterFile.Behavior.Folder")

# Geometry type of the metrics table (Qgis.WkbType from 3.30) and the WKT of a CRS without an authority id (3.36).
WKB_NO_GEOMETRY = pick("Qgis.WkbType.NoGeometry", "QgsWkbTypes.Type.NoGeometry")
CRS_WKT_PREFERRED = pick("Qgis.CrsWktVariant.Preferred", "QgsCoordinateReferenceSystem.WktVariant.WKT_PREFERRED")

# Layer kinds a layer combo box lists (Qgis.LayerFilter from 3.34).
FILTER_RASTER = pick("Qgis.LayerFilter.RasterLayer", "QgsMapLayerProxyModel.Filter.RasterLayer")
FILTER_POLYGON = pick("Qgis.LayerFilter.PolygonLayer", "QgsMapLayerProxyModel.Filter.PolygonLayer")

# Geometry type of a layer or rubber band (Qgis.GeometryType from 3.30).
GEOMETRY_POLYGON = pick("Qgis.GeometryType.Polygon", "QgsWkbTypes.GeometryType.PolygonGeometry")

# A symbol layer's data-defined colours (a scoped enum in QGIS 4, QgsSymbolLayer.PropertyFillColor before).
SYMBOL_FILL_COLOR = pick("QgsSymbolLayer.Property.FillColor", "QgsSymbolLayer.PropertyFillColor")
SYMBOL_STROKE_COLOR = pick("QgsSymbolLayer.Property.StrokeColor", "QgsSymbolLayer.PropertyStrokeColor")

# Raster contrast stretch limits (Qgis.RasterRangeLimit from 3.42).
RANGE_CUMULATIVE_CUT = pick("Qgis.RasterRangeLimit.CumulativeCut", "QgsRasterMinMaxOrigin.Limits.CumulativeCut")


def field_types() -> tuple[Any, Any, Any]:
    """(integer, text, real) types for ``QgsField``: ``QMetaType.Type`` from QGIS 3.38 on (the only kind QGIS 4's
    Qt6 has), ``QVariant.Type`` before (QGIS 3.22-3.36's ``QgsField`` takes nothing else). Not a name lookup: both
    spellings exist under Qt5, and which one ``QgsField`` accepts depends on the QGIS version."""
    from qgis.PyQt.QtCore import QMetaType

    if core.Qgis.QGIS_VERSION_INT >= 33800:
        return QMetaType.Type.Int, QMetaType.Type.QString, QMetaType.Type.Double
    from qgis.PyQt.QtCore import QVariant  # QGIS < 3.38, always Qt5

    return QVariant.Int, QVariant.String, QVariant.Double


def long_field_type() -> Any:
    """The 64-bit integer type for ``QgsField`` (pixel counts of a whole scene pass 2**31), as :func:`field_types`
    picks the others."""
    from qgis.PyQt.QtCore import QMetaType

    if core.Qgis.QGIS_VERSION_INT >= 33800:
        return QMetaType.Type.LongLong
    from qgis.PyQt.QtCore import QVariant  # QGIS < 3.38, always Qt5

    return QVariant.LongLong
