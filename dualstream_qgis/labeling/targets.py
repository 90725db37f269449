"""Where accepted masks go: a polygon layer of the user's (a file or a scratch layer), with a class value.

Accepting adds the mask's polygons as features, reprojected into the layer's CRS, with the class value in the
layer's class field; each accept is one step that Undo takes back whole. A scratch layer made here has the field
the engine's training reads as the class (``class``) and lives in the project CRS.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from ..engine_bridge import engine_api
from ..styling import style_labels_by_class

#: The field a scratch layer made here holds the class in (what Train's Label field defaults to).
CLASS_FIELD = "class"
#: The field the mask's score goes into, where the layer has one.
SCORE_FIELD = "score"


def new_scratch_layer(crs: QgsCoordinateReferenceSystem, name: str = "DualStream labels") -> QgsVectorLayer:
    """A memory polygon layer in ``crs`` with ``class`` (integer) and ``score`` (real) fields, drawn by class
    (outlines over a light see-through fill), added to the project."""
    integer, _text, real = field_types()
    layer = QgsVectorLayer(f"MultiPolygon?crs={crs.authid() or crs.toWkt()}", name, "memory")
    layer.dataProvider().addAttributes([QgsField(CLASS_FIELD, integer), QgsField(SCORE_FIELD, real)])
    layer.updateFields()
    style_labels_by_class(layer, CLASS_FIELD)  # not QGIS's random opaque fill, which hid the image under each label
    QgsProject.instance().addMapLayer(layer)
    return layer


def is_polygon_layer(layer) -> bool:
    return isinstance(layer, QgsVectorLayer) and layer.geometryType() == GEOMETRY_POLYGON


@dataclass(frozen=True)
class ClassTarget:
    """The field of a layer the class value goes into, as the engine's rule takes it (``rule``: its name, its
    kind and the value written)."""

    layer: str
    rule: object  # engine.api.ClassField

    @property
    def field(self) -> str:
        return self.rule.name

    @property
    def text(self) -> bool:
        """A text field, given the number as its digits."""
        return self.rule.kind == "text"

    def value(self, class_value: int) -> int | str:
        return self.rule.value(class_value)

    def said(self, class_value: int | None = None) -> str:
        if self.text:
            written = "as text" if class_value is None else f"as the text '{int(class_value)}'"
            return f"the field '{self.field}' of '{self.layer}' is a text field: the class is written {written}"
        return f"the class goes into the integer field '{self.field}' of '{self.layer}'"


def _is_integer(field) -> bool:
    return field.isNumeric() and field.precision() == 0 and field.typeName().lower().startswith(("int", "long"))


def _is_null(value) -> bool:
    """A field's null: None in QGIS 4, a null QVariant in QGIS 3 (not compared with ``qgis.core.NULL``, which
    tests/data/qgis4_api.json does not list)."""
    return value is None or bool(getattr(value, "isNull", lambda: False)())


def _is_text(field) -> bool:
    return field.type() == field_types()[1]


#: What the panel's messages advise when a layer cannot take the class.
INSTEAD = "add an integer field for it (e.g. 'class_id') or accept into a scratch layer."


def class_target(layer: QgsVectorLayer) -> ClassTarget:
    """The field of ``layer`` the class value goes into: an integer field named like the classes (``class`` first,
    then class*, label*, categor*), else a text field so named, else another integer field; never the provider's
    feature id (a GeoPackage's ``fid``) nor the score field. Whether the field takes the class, and how, is the
    engine's rule (``engine.api.class_field``, the one ``accept`` applies): a text field only where every value it
    holds is a class number (or blank), the number then written as text, as those are.

    Raises ValueError naming the layer, the field and what to do: not a polygon layer, a text class field holding
    class names (a number beside them would mix the two), or no field at all."""
    from ..algorithms.common import likely_class_field

    api = engine_api()
    api.check_polygon_layer(f"'{layer.name()}'", QgsWkbTypes.displayString(layer.wkbType()),
                            "choose a polygon layer or accept into a scratch layer.")
    keys = set(layer.primaryKeyAttributes())
    fields = [f for i, f in enumerate(layer.fields()) if i not in keys and f.name().lower() != SCORE_FIELD]
    integers = [f.name() for f in fields if _is_integer(f)]
    texts = [f.name() for f in fields if _is_text(f)]
    exact = [name for name in integers + texts if name.lower() == CLASS_FIELD]
    named = (exact[0] if exact and exact[0] in integers else None) or likely_class_field(integers)
    text = None if named else exact[0] if exact else likely_class_field(texts)
    chosen = named or text or (integers[0] if integers else None)
    if chosen is None:
        raise ValueError(f"'{layer.name()}' has no class field: add an integer field '{CLASS_FIELD}' to it or "
                         f"accept into a scratch layer.")

    def values() -> list:
        return [None if _is_null(v) else v for v in layer.uniqueValues(layer.fields().indexOf(chosen))]

    return ClassTarget(layer.name(), api.class_field(f"'{layer.name()}'", chosen, "text" if chosen == text else
                                                     "integer", values, INSTEAD))


class Accepted:
    """The features each accept added to which layer, newest last, for Undo."""

    def __init__(self):
        self._steps: list[tuple[QgsVectorLayer, list[int]]] = []

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, layer: QgsVectorLayer, geometries: list[QgsGeometry], source_crs: QgsCoordinateReferenceSystem,
            class_value: int, score: float) -> tuple[int, ClassTarget]:
        """Add ``geometries`` (in ``source_crs``) to ``layer`` with ``class_value``; returns how many were added and
        the field that took the class.

        Raises ValueError with what to do when the layer cannot take them (not editable, no class field; see
        :func:`class_target`)."""
        target = class_target(layer)
        transform = QgsCoordinateTransform(source_crs, layer.crs(), QgsProject.instance())
        features = []
        for geometry in geometries:
            moved = QgsGeometry(geometry)
            moved.transform(transform)
            if QgsWkbTypes.isMultiType(layer.wkbType()):
                moved.convertToMultiType()
            feature = QgsFeature(layer.fields())
            feature.setGeometry(moved)
            feature.setAttribute(target.field, target.value(class_value))
            if layer.fields().indexOf(SCORE_FIELD) >= 0:
                feature.setAttribute(SCORE_FIELD, float(score))
            features.append(feature)
        if not features:
            return 0, target
        provider = layer.dataProvider()
        ok, added = provider.addFeatures(features)
        if not ok:
            raise ValueError(f"'{layer.name()}' did not take the polygons ({provider.lastError() or 'read-only?'}): "
                             f"choose a layer you can edit or make a scratch layer.")
        self._steps.append((layer, [feature.id() for feature in added]))
        layer.triggerRepaint()
        return len(added), target

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
