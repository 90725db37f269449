"""Processing parameters generated from the engine's settings declarations, and read back as settings.

An algorithm lists the settings it offers, in dialog order (``add_settings(self, "train.epochs", ...)``); the
label, help, default, bounds, choices and "advanced" flag come from the field's declaration in engine/config/.
Layer, file and output parameters are not settings: the algorithms define those themselves.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..compat import NUMBER_DOUBLE, NUMBER_INTEGER
from ..engine_bridge import engine_api
from .common import add_parameter, enum_value, split_list


def _setting(key: str, alg: QgsProcessingAlgorithm | None = None) -> Any:
    """The engine's declared setting ``section.field``, as the form of ``alg``'s model family (``FAMILY``: Train
    change detection's) offers it."""
    found = engine_api().family_setting(key, getattr(alg, "FAMILY", None))
    if found is None or found.param is None:
        raise KeyError(f"{key} is not a setting offered in QGIS")
    return found


#: Parameter metadata of a number the engine chooses when it is left unset: the dialog shows the engine's word for
#: it (``widgets.show_automatic``) instead of QGIS's "Not set".
AUTOMATIC_KEY = "dualstream_automatic"


def declared_text(alg: QgsProcessingAlgorithm, key: str) -> tuple[str, str, str]:
    """(parameter id, label, help) of a setting whose parameter the algorithm makes itself (``custom_qgis``: a
    file or layer widget), from its declaration."""
    s = _setting(key, alg)
    return s.param, alg.tr(s.decl.label), alg.tr(s.decl.help)


def parameter(alg: QgsProcessingAlgorithm, key: str) -> QgsProcessingParameterDefinition:
    """The Processing parameter of the setting ``key``, as its declaration describes it."""
    s = _setting(key, alg)
    label, default = alg.tr(s.decl.label), s.qgis_default
    if s.kind is bool:
        return QgsProcessingParameterBoolean(s.param, label, defaultValue=bool(default))
    if s.choices:
        choices = list(s.choices)
        return QgsProcessingParameterEnum(s.param, label, options=choices,
                                          defaultValue=choices.index(s.decl.off if default is None else default))
    if s.kind in (int, float):
        kind = NUMBER_INTEGER if s.kind is int else NUMBER_DOUBLE
        bounds = {name: value for name, value in (("minValue", s.decl.minimum), ("maxValue", s.decl.maximum))
                  if value is not None}
        if _unset_allowed(s, default):  # "not set": the engine takes the model's or chooses (the help says which)
            number = QgsProcessingParameterNumber(s.param, label, kind, None, optional=True, **bounds)
            if s.decl.auto:
                number.setMetadata({AUTOMATIC_KEY: engine_api().AUTOMATIC})
            return number
        number = QgsProcessingParameterNumber(s.param, label, kind, s.decl.off if default is None else default,
                                              **bounds)
        if s.decl.auto and s.decl.off is not None and s.decl.off == s.decl.minimum:  # its least value: chosen
            number.setMetadata({AUTOMATIC_KEY: engine_api().AUTOMATIC})
        return number
    text = engine_api().format_default(s, default)
    return QgsProcessingParameterString(s.param, label, text, optional=not text)


def _unset_allowed(s: Any, default: Any) -> bool:
    """A number the user may leave unset, with no value standing for unset (``off``), or that the engine chooses
    when the form gives it no default (``auto``): an optional parameter."""
    return default is None and s.decl.off is None and (s.optional or bool(s.decl.auto))


def add_settings(alg: QgsProcessingAlgorithm, *keys: str) -> dict[str, QgsProcessingParameterDefinition]:
    """Add the parameters of the settings ``keys`` (``section.field``), in this order; returns them by id."""
    added = {}
    for key in keys:
        s = _setting(key, alg)
        # a setting chosen when left at its default (or left unset: automatic) says how (engine.training.auto)
        text = s.decl.help
        if s.decl.auto:
            automatic = s.kind in (int, float) and _unset_allowed(s, s.qgis_default)
            text += f" {engine_api().AUTOMATIC.capitalize() if automatic else 'Left at its default'}: {s.decl.auto}."
        if s.decl.default_note and _unset_allowed(s, s.qgis_default):
            text += f" Not set: {s.decl.default_note}."
        added[s.param] = add_parameter(alg, parameter(alg, key), alg.tr(text), advanced=s.decl.advanced)
    return added


def read_settings(alg: QgsProcessingAlgorithm, parameters: dict[str, Any], context: QgsProcessingContext,
                  section: str, only: Collection[str] | None = None, skip: Collection[str] = ()) -> dict[str, Any]:
    """The settings of ``section`` whose generated parameters ``alg`` has, as the engine's dataclass takes them
    (``only`` those fields, none of ``skip``: a parameter group reads its own)."""
    api = engine_api()
    defined = {p.name() for p in alg.parameterDefinitions()}
    out: dict[str, Any] = {}
    family = getattr(alg, "FAMILY", None)
    for s in api.declared(engine_api().SETTINGS_SECTIONS[section]):
        s = api.family_setting(f"{section}.{s.name}", family) or s if family else s
        if s.param is None or s.decl.custom_qgis or s.param not in defined:
            continue
        if (only is not None and s.name not in only) or s.name in skip:
            continue
        value = api.from_front_end(s, _value(alg, parameters, context, section, s))
        if not api.left_unset(s, value):  # Model family "auto": left to the engine
            out[s.name] = value
    return out


def _value(alg: QgsProcessingAlgorithm, parameters: dict[str, Any], context: QgsProcessingContext, section: str,
           s: Any) -> Any:
    if s.kind is bool:
        return alg.parameterAsBool(parameters, s.param, context)
    if s.choices:
        return enum_value(alg, parameters, s.param, context, s.choices)
    if s.kind in (int, float) and _unset_allowed(s, s.qgis_default) and parameters.get(s.param) in (None, ""):
        return None
    if s.kind is int:
        return alg.parameterAsInt(parameters, s.param, context)
    if s.kind is float:
        return alg.parameterAsDouble(parameters, s.param, context)
    text = (alg.parameterAsString(parameters, s.param, context) or "").strip()
    if s.decl.text == "list":
        return split_list(text)
    if s.decl.text == "label_map":  # the engine's one VALUE=CLASS parser; its errors name the parameter
        return engine_api().parse_label_pairs(text, f"{section}.{s.name}")
    return text or None


def changed_settings(alg: QgsProcessingAlgorithm, parameters: dict[str, Any], context: QgsProcessingContext,
                     *keys: str) -> set[str]:
    """Of the settings ``keys`` (``section.field``), those whose parameters were changed from their defaults. A
    setting left at its default is unset: the engine may choose it from the data and the device."""
    changed = set()
    for key in keys:
        s = engine_api().family_setting(key, getattr(alg, "FAMILY", None))
        if s is None or s.param is None:  # not offered in QGIS: never given in a dialog, the engine may choose it
            continue
        if parameters.get(s.param) in (None, "") or alg.parameterDefinition(s.param) is None:
            continue
        section = key.rpartition(".")[0]
        # the parameter read as given and as QGIS reads a missing one: its default
        if _value(alg, parameters, context, section, s) != _value(alg, {}, context, section, s):
            changed.add(key)
    return changed
