"""The one rule for a class number written into someone's label layer: ``accept`` and a map tool's Accept alike.

Labels are polygons: a layer of points or lines is refused. An integer or real field takes the number as it is; a
text field takes its digits only where every value it holds is a class number (or blank): beside class names such as
'building', a number would be a class of its own in training. A field of any other type (a date) is refused. Each
front end reads the layer its own way (OGR, QGIS); the messages name the layer as the caller words it and end with
the caller's advice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import DataError


@dataclass(frozen=True)
class ClassField:
    """The field of a label layer the class goes into, and its kind: integer, real or text."""

    name: str
    kind: str

    def value(self, number: int) -> int | float | str:
        """``number`` as the field takes it: an int, a float, or its digits as text."""
        if self.kind == "text":
            return str(int(number))
        return float(number) if self.kind == "real" else int(number)


def check_polygon_layer(layer: str, geometry: str, instead: str) -> None:
    """DataError unless a layer of ``geometry`` (OGR's or QGIS's name: "Multi Polygon", "MultiPolygonZ", "Unknown
    (any)") takes polygons: polygons, surfaces or any geometry. ``layer`` names it, ``instead`` says what to do."""
    kind = re.sub(r"[^a-z]", "", str(geometry).lower())
    if "polygon" in kind or "surface" in kind or kind.startswith("unknown") or kind == "geometry":
        return
    noun = ("points" if "point" in kind else "lines" if "line" in kind or "curve" in kind
            else "no geometry" if "none" in kind or "nogeometry" in kind else f"{geometry} geometries")
    raise DataError(f"{layer} is a layer of {noun}, and labels are polygons: {instead}")


def class_field(layer: str, name: str, kind: str, values: Callable[[], Iterable[Any]], instead: str) -> ClassField:
    """The field ``name`` of ``layer`` as a class field, by its ``kind`` ("integer", "real", "text", or a type's name)
    and, for a text field, ``values()``: its distinct values (asked only then). DataError for a text field holding
    class names, or a field of another kind; ``instead`` ends the message."""
    if kind in ("integer", "real"):
        return ClassField(name, kind)
    if kind != "text":
        lower = layer[:1].lower() + layer[1:] if layer.startswith("The ") else layer
        raise DataError(f"The field '{name}' of {lower} is of type {kind}, not a number: {instead}")
    names = sorted(str(v) for v in values() if v is not None and str(v).strip() and not _is_number(str(v)))
    if names:
        raise DataError(f"{layer} keeps its classes as text in the field '{name}' ('{names[0]}'), and the class is "
                        f"a number (beside names it would be a class of its own in training): {instead}")
    return ClassField(name, "text")


def _is_number(text: str) -> bool:
    return text.strip().isascii() and text.strip().isdigit()
