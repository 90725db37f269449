"""Classes named by a polygon label layer's text values (``forest``, ``grassland``...), as its users have them: each
value a class after the background, unless the label mapping is given; a polygon with no name (empty, NULL) is
background, as the pixels no polygon covers. From-to polygons are the change family's
(:func:`.change_choices.choose_transitions`)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..errors import ConfigError, DataError, mention
from .choice import Choice, Chosen

BACKGROUND = "background"  # class 0: the pixels no polygon covers


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def text_values(path: str, field: str) -> list[str]:
    """The distinct values of ``field`` in the polygon layer ``path`` when any is text (not a number), sorted; []
    when they are all numbers (class numbers, as they are)."""
    from ..data.vector_layer import VectorLayer

    opened = VectorLayer(path, "label layer")  # holds the data source the layer lives in
    defn = opened.layer.GetLayerDefn()
    if defn.GetFieldIndex(field) < 0:
        return []  # the label reader names the fields the layer has
    values = {feature.GetField(field) for feature in opened.layer}
    values = {value for value in values if value is not None and str(value).strip()}  # no name: no class
    if all(_is_number(value) for value in values):
        return []
    return sorted(str(value) for value in values)


def choose_text_classes(chosen: Chosen, specs: list[Any], given: Collection[str]) -> bool:
    """Polygon labels whose class field holds text: each value a class (after ``background``, or at its place in the
    class names given), the label mapping from the values; whether it chose so."""
    if "data.label_mapping" in given:
        return False
    found: set[str] = set()
    for spec in specs:
        if spec.label and spec.label_field and not spec.label_after_field:
            found.update(text_values(str(spec.label), spec.label_field))
    if not found:
        return False
    fields = ", ".join(sorted({f"'{spec.label_field}'" for spec in specs if spec.label_field}))
    if "data.class_names" in given:
        names = list(chosen.data.class_names)
        missing = sorted(found - set(names))
        if missing:
            raise ConfigError(f"The polygon labels' class field {fields} holds {', '.join(sorted(found))}, and "
                              f"{mention('data.class_names')} does not name {', '.join(missing)}: name every value "
                              f"(class 0, '{names[0]}', is the pixels no polygon covers), leave the class names out "
                              f"to take the values as they are, or give a {mention('data.label_mapping')}.")
    else:
        names = [BACKGROUND, *sorted(found - {BACKGROUND})]
    if len(names) > 255:
        raise DataError(f"The polygon labels' class field {fields} holds {len(found)} different values; a class "
                        f"field holds classes (forest, water ...), not names or identifiers of each polygon: "
                        f"choose the field of the classes.")
    from ..config.values import fill_class_colors

    colors = list(chosen.data.class_colors) if "data.class_colors" in given else fill_class_colors(
        [chosen.data.class_colors[0]], len(names), names)
    mapping = {value: names.index(value) for value in sorted(found)}
    chosen.data = chosen.data.replace(label_mapping=mapping, class_names=names, class_colors=colors)
    chosen.choices.append(Choice({"data.label_mapping": ", ".join(f"{k}={v}" for k, v in mapping.items())}, (
        f"the polygon labels' class field {fields} holds names, not class numbers: each name is a class "
        + ("at its place in the class names given" if "data.class_names" in given else
           f"after '{BACKGROUND}' (class 0: the pixels no polygon covers)"))))
    return True
