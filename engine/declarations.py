"""Each setting declared once: a config dataclass field carries its help, command-line flag, Processing parameter,
choices, bounds and "advanced" flag in its metadata, and both front ends are generated from it.

    epochs: int = setting(40, label="Epochs (all layers trained)", minimum=0,
                          help="Epochs of full training after the warm-up epochs.")

The flag defaults to ``--epochs`` and the Processing parameter id to ``EPOCHS``; a field that one front end does
not offer says why (``no_cli=`` / ``no_qgis=``), which the exposure test reads. The command line is built by
:mod:`engine.cli.options`, the Processing parameters by ``dualstream_qgis/algorithms/settings.py``; neither
copies a default, a bound or a choice list.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

METADATA_KEY = "setting"
SAME = "same as the dataclass"  # Declaration.qgis_default when the dialog's default is the dataclass's


@dataclass(frozen=True)
class Declaration:
    """What the front ends need to offer one setting.

    Attributes:
        help: one or two sentences a user can act on (the CLI help and the Processing tooltip).
        label: the Processing parameter's label; None when the setting is not offered in QGIS (``no_qgis`` says
            why).
        flag: the command-line flag; "" derives ``--field-name``; None when not on the command line (``no_cli``).
        param: the Processing parameter id; "" derives ``FIELD_NAME``. Ids are stable (batch files use them).
        choices: the valid values of a text setting (one tuple, the engine's own).
        open_choices: other values are valid too (``cuda:1``): the CLI takes free text, QGIS offers the choices.
        minimum, maximum: bounds the Processing widget enforces (the dataclass check stays the authority).
        advanced: shown under "Advanced parameters" in the dialog.
        off: the number a front end gives for "unset" (None), e.g. 0 = no early stopping.
        group: the command line's help group.
        metavar: the CLI value placeholder.
        cli: extra argparse keywords where the flag is not one plain value (``nargs``, ``action``, ``type``).
        custom_cli: the command defines this option itself (scene grouping, ensemble weights); still listed.
        custom_qgis: the algorithm defines this parameter itself (a layer, file, extent or output parameter).
        text: how a Processing text parameter becomes the value: "list" (comma-separated), "label_map"
            (VALUE=CLASS pairs) or "" (the text itself; empty = unset).
        qgis_default: the dialog's default where it deliberately differs from the dataclass's (with the reason in
            the help).
        no_cli, no_qgis: why the setting is deliberately not offered by that front end.
        auto: how the value is chosen from the data and the device when the user leaves the setting unset
            (:mod:`engine.training.auto`); the front ends show it in place of the default.
    """

    help: str
    label: str | None = None
    flag: str | None = ""
    param: str = ""
    choices: tuple[str, ...] | None = None
    open_choices: bool = False
    minimum: float | None = None
    maximum: float | None = None
    advanced: bool = False
    off: int | float | None = None
    group: str = "settings"
    metavar: str | None = None
    cli: dict[str, Any] = dataclasses.field(default_factory=dict)
    custom_cli: bool = False
    custom_qgis: bool = False
    text: str = ""
    qgis_default: Any = SAME
    no_cli: str = ""
    no_qgis: str = ""
    auto: str = ""


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING, help: str,
            **declaration: Any) -> Any:
    """A dataclass field with its :class:`Declaration` (keywords as its attributes)."""
    decl = Declaration(help=help, **declaration)
    if decl.flag is None and not decl.no_cli:
        raise TypeError(f"setting declared without a flag must say why (no_cli=...): {help[:40]}")
    if decl.label is None and not decl.no_qgis:
        raise TypeError(f"setting declared without a Processing label must say why (no_qgis=...): {help[:40]}")
    return dataclasses.field(default=default, default_factory=default_factory, metadata={METADATA_KEY: decl})


@dataclass(frozen=True)
class Setting:
    """One declared field of a config class, resolved: name, declaration, value type and default."""

    name: str
    decl: Declaration
    kind: type  # bool, int, float, str, list or dict
    item: type | None  # the element type of a list (str, int, float)
    optional: bool  # None is a valid value
    default: Any

    @property
    def flag(self) -> str | None:
        if self.decl.no_cli:
            return None
        return self.decl.flag or "--" + self.name.replace("_", "-")

    @property
    def param(self) -> str | None:
        if self.decl.label is None:
            return None
        return self.decl.param or self.name.upper()

    @property
    def qgis_default(self) -> Any:
        return self.default if self.decl.qgis_default is SAME else self.decl.qgis_default


def _resolve(hint: Any) -> tuple[type, type | None, bool]:
    """``int | None`` -> (int, None, True); ``list[str]`` -> (list, str, False)."""
    optional = False
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        hint = rest[0]
        args = typing.get_args(hint)
    origin = typing.get_origin(hint) or hint
    item = args[0] if origin is list and args else None
    return origin, item, optional


def declared(cls: type) -> list[Setting]:
    """The declared fields of config class ``cls``, in field order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        decl = f.metadata.get(METADATA_KEY)
        if decl is None:
            continue
        kind, item, optional = _resolve(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        out.append(Setting(f.name, decl, kind, item, optional, default))
    return out


def undeclared(cls: type) -> list[str]:
    """Fields of ``cls`` without a declaration (the exposure test wants none)."""
    return [f.name for f in dataclasses.fields(cls) if METADATA_KEY not in f.metadata]


def find(sections: dict[str, type], key: str) -> Setting | None:
    """The setting ``key`` names: ``"section.field"`` or a bare ``"field"`` (the first section declaring it)."""
    section, _, name = key.rpartition(".")
    for sec, cls in sections.items():
        if section and sec != section:
            continue
        for s in declared(cls):
            if s.name == name:
                return s
    return None


def format_default(s: Setting, value: Any) -> str:
    """A value as a front end writes it: lists comma-separated, mappings as VALUE=CLASS pairs, None as ""."""
    if value is None:
        return "" if s.decl.off is None else f"{s.decl.off:g}"
    if isinstance(value, dict):
        return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def from_front_end(s: Setting, value: Any) -> Any:
    """A front end's value as the setting's: the ``off`` number becomes None."""
    if s.decl.off is not None and value is not None and value == s.decl.off:
        return None
    return value


Namer = Callable[[str], str]
