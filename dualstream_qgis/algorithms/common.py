"""Helpers shared by the train, segment and evaluate algorithms: parameter construction with help strings,
small text parsers, and the extent -> engine (extent, CRS) mapping (layers -> files: ``sources``).

Nothing here does raster or ML work; it only turns what QGIS hands the algorithm into what the engine's
config dataclasses expect, and says clearly what to change when that is impossible.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterString,
    QgsVectorLayer,
)

from ..compat import CRS_WKT_PREFERRED, PARAMETER_ADVANCED

#: Parameter metadata giving a multiple-raster parameter the widget that keeps values set on the dialog
#: (dualstream_qgis/widgets.py; a string, so qgis_process never imports Processing's GUI).
LAYER_LIST_WRAPPER = {"widget_wrapper": {"class": f"{__package__.rpartition('.')[0]}.widgets.LayerListWrapper"}}
#: The same widget for layers read in their own order (a season's dates, sorted by the engine): the chosen layers are
#: listed without the numbers that say a stacking order.
ANY_ORDER_LIST_WRAPPER = {**LAYER_LIST_WRAPPER, "dualstream_any_order": True}
#: The class field's dialog widget: the label layer's fields in an editable list (dualstream_qgis/widgets.py).
CLASS_FIELD_WRAPPER = {"widget_wrapper": {"class": f"{__package__.rpartition('.')[0]}.widgets.ClassFieldWrapper",
                                          "parent": "LABELS"}}
#: Class colours as colour buttons, one per class name (dualstream_qgis/widgets.py).
CLASS_COLORS_WRAPPER = {"widget_wrapper": {"class": f"{__package__.rpartition('.')[0]}.widgets.ClassColorsWrapper",
                                           "names": "CLASS_NAMES"}}


def add_parameter(algorithm: QgsProcessingAlgorithm, parameter: QgsProcessingParameterDefinition, help_text: str,
                  advanced: bool = False) -> QgsProcessingParameterDefinition:
    """Add ``parameter`` with its help string (shown as the tooltip/help in the dialog), optionally advanced."""
    parameter.setHelp(help_text)
    if advanced:
        parameter.setFlags(parameter.flags() | PARAMETER_ADVANCED)
    algorithm.addParameter(parameter)
    return parameter


def parameters_help(algorithm: QgsProcessingAlgorithm) -> str:
    """An HTML list of every parameter's name, description and help, for ``shortHelpString``."""
    items = []
    for parameter in algorithm.parameterDefinitions():
        advanced = " (advanced)" if parameter.flags() & PARAMETER_ADVANCED else ""
        items.append(f"<li><b>{parameter.name()}</b> ({html.escape(parameter.description())}){advanced}: "
                     f"{html.escape(parameter.help())}</li>")
    return "<h3>Parameters</h3><ul>" + "".join(items) + "</ul>"


def class_field_parameter(name: str, description: str) -> QgsProcessingParameterString:
    """The polygon labels' class field, as a plain string.

    Not a ``QgsProcessingParameterField``: its parent, the label layer, may be a raster, and QGIS 3.22's field
    widget then dereferences a null vector layer and crashes QGIS (``QgsProcessingFieldWidgetWrapper::
    setParentLayerWrapperValue``). :func:`label_field` checks the name against the layer's fields instead.
    """
    parameter = QgsProcessingParameterString(name, description, optional=True)
    parameter.setMetadata(CLASS_FIELD_WRAPPER)
    return parameter


#: Name starts of fields that hold each polygon's class, in order of preference (case-insensitive).
CLASS_FIELD_NAMES = ("class", "label", "categor")


def likely_class_field(names: list[str]) -> str | None:
    """The field that probably holds the polygons' classes: the first named class*, else label*, else categor*."""
    for start in CLASS_FIELD_NAMES:
        for name in names:
            if name.lower().startswith(start):
                return name
    return None


def label_field(layer: QgsMapLayer | None, field: str | None, parameter: str,
                feedback: QgsProcessingFeedback | None) -> str | None:
    """The class field to use for ``layer``: None for raster labels (with a warning when one was given);
    for polygons, a field the layer has, else a QgsProcessingException listing the fields it does have. The log
    says which field is used, or that every polygon is class 1 (and which field looks like the classes)."""
    field = (field or "").strip() or None
    if field is None:
        if isinstance(layer, QgsVectorLayer) and feedback is not None:
            guess = likely_class_field([f.name() for f in layer.fields()])
            if guess:
                feedback.pushWarning(f"{parameter} is empty: every polygon of '{layer.name()}' is class 1. Its "
                                     f"field '{guess}' looks like the classes: choose it as Class field if it is.")
            else:
                feedback.pushInfo(f"{parameter} is empty: every polygon of '{layer.name()}' is class 1.")
        return None
    if not isinstance(layer, QgsVectorLayer):
        if feedback is not None:
            feedback.pushWarning(f"{parameter} '{field}' is ignored: the labels are a raster.")
        return None
    names = [f.name() for f in layer.fields()]
    if field not in names:
        matches = [name for name in names if name.lower() == field.lower()]
        if len(matches) != 1:
            raise QgsProcessingException(
                f"Parameter {parameter}: the label layer '{layer.name()}' has no field '{field}'; its fields are "
                f"{', '.join(names) or 'none'}. Write one of them, or leave it empty (every polygon is class 1).")
        field = matches[0]
    if feedback is not None:
        feedback.pushInfo(f"Class field: '{field}' of '{layer.name()}' (its values are the polygons' classes).")
    return field


def split_list(text: str | None) -> list[str]:
    """``"a, b;c"`` -> ``["a", "b", "c"]`` (commas or semicolons; blanks dropped): the engine's one list parser."""
    from ..engine_bridge import engine_api

    return engine_api().split_list(str(text or ""))


def parse_floats(text: str | None, parameter: str) -> list[float]:
    """Comma/semicolon-separated numbers, with the parameter named in the error."""
    values = []
    for part in split_list(text):
        try:
            values.append(float(part))
        except ValueError:
            raise QgsProcessingException(f"Parameter {parameter}: '{part}' is not a number; give numbers separated "
                                         f"by commas, e.g. 1,0.5.") from None
    return values


def extent_settings(algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str,
                    context: QgsProcessingContext) -> tuple[list[float] | None, str | None]:
    """The EXTENT parameter as the engine's ``(extent, extent_crs)``: None when unset; the CRS as WKT
    (any CRS works: the engine reprojects it onto the image grid)."""
    if parameters.get(name) in (None, ""):
        return None, None
    rect = algorithm.parameterAsExtent(parameters, name, context)
    if rect is None or rect.isNull() or rect.isEmpty():
        return None, None
    crs: QgsCoordinateReferenceSystem = algorithm.parameterAsExtentCrs(parameters, name, context)
    crs_text = None
    if crs is not None and crs.isValid():
        crs_text = crs.authid() if crs.authid() else crs.toWkt(CRS_WKT_PREFERRED)
    else:
        # "xmin,xmax,ymin,ymax [EPSG:999999]": QGIS gives an invalid CRS and the extent would silently be taken in
        # the image's CRS; the engine's CRS check refuses the text instead, naming it
        given = re.search(r"\[(.*)\]\s*$", str(parameters.get(name)))
        crs_text = given.group(1).strip() if given and given.group(1).strip() else None
    return [rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()], crs_text


def _option_index(value: Any, options: list[str]) -> int | None:
    """Index of ``value`` when it is an option's name (case-insensitive), else None."""
    if isinstance(value, str) and value.strip():
        lowered = [option.lower() for option in options]
        if value.strip().lower() in lowered:
            return lowered.index(value.strip().lower())
    return None


def enum_names_to_indexes(algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``parameters`` where enum values given by option name (``DEVICE=cpu``) become indexes.

    QGIS 3.22 enum parameters accept only indexes; scripts and qgis_process calls read better with names.
    """
    converted = dict(parameters)
    for definition in algorithm.parameterDefinitions():
        if isinstance(definition, QgsProcessingParameterEnum) and definition.name() in converted:
            index = _option_index(converted[definition.name()], definition.options())
            if index is not None:
                converted[definition.name()] = index
    return converted


class EnumNamesMixin:
    """Lets enum parameters take option names as well as indexes (see :func:`enum_names_to_indexes`)."""

    def checkParameterValues(self, parameters: dict[str, Any], context: QgsProcessingContext  # noqa: N802
                             ) -> tuple[bool, str]:
        return super().checkParameterValues(enum_names_to_indexes(self, parameters), context)


def enum_value(algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str,
               context: QgsProcessingContext, options: tuple[str, ...]) -> str:
    """The chosen option text of an enum parameter, given as an index or as the option's name."""
    index = _option_index(parameters.get(name), list(options))
    if index is None:
        index = algorithm.parameterAsEnum(parameters, name, context)
    return options[index]


def check_suffix(path: str, suffixes: tuple[str, ...], parameter: str, what: str) -> str:
    """Refuse destinations whose format the engine does not write (it writes GeoTIFF / GeoPackage only)."""
    if Path(path).suffix.lower() not in suffixes:
        raise QgsProcessingException(f"Parameter {parameter}: '{path}' - the {what} is written as "
                                     f"{'/'.join(suffixes)}; choose a file name ending in {suffixes[0]}.")
    return path


def ensure_parent(path: str | None, parameter: str) -> str | None:
    """Create the folder of a destination file, as QGIS users expect from Processing outputs."""
    if path:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QgsProcessingException(f"Parameter {parameter}: the folder of '{path}' cannot be created ({exc}); "
                                         f"choose a destination in a folder you can write to.") from exc
    return path
