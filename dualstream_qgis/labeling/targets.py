"""Where accepted masks go: a polygon layer of the user's (a file or a scratch layer), with a class value.

Accepting adds the mask's polygons as features, reprojected into the layer's CRS, with the class value in the
layer's class field; each accept is one step that Undo takes back whole. A scratch layer made here has the field
the engine's training reads as the class (``class``) and lives in the project CRS.
"""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsProject,
    QgsVectorLayer,
    QgsWkbTypes,
)

from ..compat import GEOMETRY_POLYGON, field_types

#: The field a scratch layer made here holds the class in (what Train's Label field defaults to).
CLASS_FIELD = "class"
#: The field the mask's score goes into, where the layer has one.
SCORE_FIELD = "score"


def new_scratch_layer(crs: QgsCoordinateReferenceSystem, name: str = "DualStream labels") -> QgsVectorLayer:
    """A memory polygon layer in ``crs`` with ``class`` (integer) and ``score`` (real) fields, added to the project."""
    integer, _text, real = field_types()
    layer = QgsVectorLayer(f"MultiPolygon?crs={crs.authid() or crs.toWkt()}", name, "memory")
    layer.dataProvider().addAttributes([QgsField(CLASS_FIELD, integer), QgsField(SCORE_FIELD, real)])
    layer.updateFields()
    QgsProject.instance().addMapLayer(layer)
    return layer


def is_polygon_layer(layer) -> bool:
    return isinstance(layer, QgsVectorLayer) and layer.geometryType() == GEOMETRY_POLYGON


def class_field(layer: QgsVectorLayer) -> str | None:
    """The field the class value goes into: ``class`` where the layer has it, else its first integer field."""
    fields = layer.fields()
    if fields.indexOf(CLASS_FIELD) >= 0:
        return CLASS_FIELD
    for field in fields:
        if field.isNumeric() and field.precision() == 0 and field.typeName().lower().startswith(("int", "long")):
            return field.name()
    return None


class Accepted:
    """The features each accept added to which layer, newest last, for Undo."""

    def __init__(self):
        self._steps: list[tuple[QgsVectorLayer, list[int]]] = []

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, layer: QgsVectorLayer, geometries: list[QgsGeometry], source_crs: QgsCoordinateReferenceSystem,
            class_value: int, score: float) -> int:
        """Add ``geometries`` (in ``source_crs``) to ``layer`` with ``class_value``; returns how many were added.

        Raises ValueError with what to do when the layer cannot take them (not editable, no class field)."""
        if not is_polygon_layer(layer):
            raise ValueError(f"'{layer.name()}' is not a polygon layer: choose a polygon layer or make a scratch one.")
        field = class_field(layer)
        if field is None:
            raise ValueError(f"'{layer.name()}' has no integer field for the class value: add a field "
                             f"'{CLASS_FIELD}' (integer) or make a scratch layer.")
        transform = QgsCoordinateTransform(source_crs, layer.crs(), QgsProject.instance())
        features = []
        for geometry in geometries:
            moved = QgsGeometry(geometry)
            moved.transform(transform)
            if QgsWkbTypes.isMultiType(layer.wkbType()):
                moved.convertToMultiType()
            feature = QgsFeature(layer.fields())
            feature.setGeometry(moved)
            feature.setAttribute(field, int(class_value))
            if layer.fields().indexOf(SCORE_FIELD) >= 0:
                feature.setAttribute(SCORE_FIELD, float(score))
            features.append(feature)
        if not features:
            return 0
        provider = layer.dataProvider()
        ok, added = provider.addFeatures(features)
        if not ok:
            raise ValueError(f"'{layer.name()}' did not take the polygons ({provider.lastError() or 'read-only?'}): "
                             f"choose a layer you can edit or make a scratch layer.")
        self._steps.append((layer, [feature.id() for feature in added]))
        layer.triggerRepaint()
        return len(added)

    def undo(self) -> int:
        """Remove the features of the last accept; returns how many were removed (0 when nothing is left)."""
        while self._steps:
            layer, ids = self._steps.pop()
            try:
                layer.id()
            except RuntimeError:  # the layer was removed from the project meanwhile: nothing to take back there
                continue
            layer.dataProvider().deleteFeatures(ids)
            layer.triggerRepaint()
            return len(ids)
        return 0
