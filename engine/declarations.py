"""Each setting declared once: a config dataclass field carries its help, command-line flag, Processing parameter,
choices, bounds and "advanced" flag in its metadata, and both front ends are generated from it.

    epochs: int = setting(40, label="Epochs (all layers trained)", minimum=0,
                          help="Epochs of full training after the warm-up epochs.")

The flag defaults to ``--epochs`` and the Processing parameter id to ``EPOCHS``; a field that one front end does
not offer says why (``no_cli=`` / ``no_qgis=``), which the exposure test reads. A section's settings may come from
several classes (the model families' configurations): :func:`declared` takes their union, and a family that only
changes a default keeps the base's declaration with :func:`redeclared`. The command line is built by
:mod:`engine.cli.options`, the Processing parameters by ``dualstream_qgis/algorithms/parameters.py``; neither
copies a default, a bound or a choice list. The :class:`Settings` base and ``check`` are here too: the engine's
settings (engine/config/) and the model families' configurations both build on them, and this module imports only
the errors, so neither imports the other for it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, TypeVar, Union

from .errors import ConfigError, mention

T = TypeVar("T", bound="Settings")


def check(condition: bool, message: str) -> None:
    """ConfigError(``message``) unless ``condition``: the checks of the settings' ``__post_init__``."""
    if not condition:
        raise ConfigError(message)


class Settings:
    """Mixin: dict round-trip with unknown-key checking (nested sections convert in ``__post_init__``)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__}: expected a mapping of settings, got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if unknown := sorted(set(data) - names):
            raise ConfigError(f"{cls.__name__}: unknown setting(s) {unknown}; valid settings are {sorted(names)}.")
        return cls(**data)  # nested sections (dicts) become their dataclasses in __post_init__

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


METADATA_KEY = "setting"
AUTOMATIC = "automatic"  # how a form shows a setting left to the engine's choice (Declaration.auto)
CONFIG_ONLY = "a fine-tuning setting: a config file can change it"
SAME = "same as the dataclass"  # Declaration.qgis_default when the dialog's default is the dataclass's
Text = Union[str, Callable[[], str]]  # a declaration's text, or a function writing it when asked
# the Declaration fields that may be a Text function (written from the model families'; :func:`declared` calls it)
TEXTS = ("help", "label", "auto", "default_note")


@dataclass(frozen=True)
class Declaration:
    """What the front ends need to offer one setting."""

    help: Text  # one or two sentences a user can act on (the CLI help and the Processing tooltip)
    label: Text | None = None  # the Processing parameter's label; None: not offered in QGIS (``no_qgis`` says why)
    flag: str | None = ""  # the command-line flag; "" derives ``--field-name``; None: not on it (``no_cli``)
    param: str = ""  # the Processing parameter id; "" derives ``FIELD_NAME``. Ids are stable (batch files use them)
    # the valid values of a text setting, or a function returning them (a registry's: the presets)
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    open_choices: bool = False  # other values are valid too (``cuda:1``): the CLI takes free text, QGIS the choices
    # bounds the Processing widget enforces (the dataclass check stays the authority)
    minimum: float | None = None
    maximum: float | None = None
    advanced: bool = False  # shown under "Advanced parameters" in the dialog
    # the value a front end gives for "unset" (None), e.g. 0 = no early stopping, or the choice "auto" (the engine
    # chooses); a required setting left unset keeps its default or is chosen (``auto``)
    off: int | float | str | None = None
    group: str = "settings"  # the command line's help group
    metavar: str | None = None  # the CLI value placeholder
    cli: dict[str, Any] = dataclasses.field(default_factory=dict)  # extra argparse keywords (nargs, action, type)
    custom_cli: bool = False  # the command defines this option itself (scene grouping, ensemble weights); still listed
    custom_qgis: bool = False  # the algorithm defines this parameter itself (a layer, file, extent or output)
    # how a Processing text parameter becomes the value: "list" (comma-separated), "label_map" (VALUE=CLASS pairs)
    # or "" (the text itself; empty = unset)
    text: str = ""
    qgis_default: Any = SAME  # the dialog's default where it deliberately differs from the dataclass's (help says why)
    no_cli: str = ""  # why the command line deliberately does not offer the setting
    no_qgis: str = ""  # why QGIS deliberately does not offer it
    # how the value is chosen from the data and the device when left unset (:mod:`engine.training.auto`)
    auto: Text = ""
    # the default in words where it is not one value (each model family has its own); the front ends show it, or
    # ``auto``, in place of the default
    default_note: Text = ""


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING, help: Text,
            **declaration: Any) -> Any:
    """A dataclass field with its :class:`Declaration` (keywords as its attributes)."""
    decl = Declaration(help=help, **declaration)
    shown = help[:40] if isinstance(help, str) else getattr(help, "__name__", "")
    if decl.flag is None and not decl.no_cli:
        raise TypeError(f"setting declared without a flag must say why (no_cli=...): {shown}")
    if decl.label is None and not decl.no_qgis:
        raise TypeError(f"setting declared without a Processing label must say why (no_qgis=...): {shown}")
    return dataclasses.field(default=default, default_factory=default_factory, metadata={METADATA_KEY: decl})


def config_only(default: Any = dataclasses.MISSING, **field: Any) -> Any:
    """A fine-tuning setting neither front end offers: a config file changes it (:data:`CONFIG_ONLY`)."""
    return setting(default, no_cli=CONFIG_ONLY, no_qgis=CONFIG_ONLY, **field)


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
        return None if self.decl.no_cli else self.decl.flag or "--" + self.name.replace("_", "-")

    @property
    def param(self) -> str | None:
        return None if self.decl.label is None else self.decl.param or self.name.upper()

    @property
    def qgis_default(self) -> Any:
        return self.default if self.decl.qgis_default is SAME else self.decl.qgis_default

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The valid values of a text setting (a registry's, looked up now), None for free values."""
        found = self.decl.choices
        return tuple(found() if callable(found) else found) if found is not None else None


def _resolve(hint: Any) -> tuple[type, type | None, bool]:
    """``int | None`` -> (int, None, True); ``list[str]`` -> (list, str, False)."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        return (*_resolve(rest[0])[:2], len(rest) < len(args))
    origin = typing.get_origin(hint) or hint
    return origin, args[0] if origin is list and args else None, False


Section = Union[type, tuple[type, ...]]
"""The config class of a section, or several (the model families') whose settings the section offers together."""


def declared(section: Section) -> list[Setting]:
    """The declared fields of a section's config class(es), in field order; each once, as the first class has it."""
    out: dict[str, Setting] = {}
    for cls in section if isinstance(section, tuple) else (section,):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            decl = f.metadata.get(METADATA_KEY)
            if decl is None or f.name in out:
                continue
            # the text functions called: the texts written from the model families' declarations
            texts = {name: getattr(decl, name)() for name in TEXTS if callable(getattr(decl, name))}
            default = (f.default if f.default is not dataclasses.MISSING
                       else None if f.default_factory is dataclasses.MISSING else f.default_factory())
            out[f.name] = Setting(f.name, dataclasses.replace(decl, **texts), *_resolve(hints[f.name]), default)
    return list(out.values())


def redeclared(cls: type, name: str, default: Any) -> Any:
    """Field ``name`` of ``cls`` with another default and the same declaration (a family changing the base's preset)."""
    base = next(f for f in dataclasses.fields(cls) if f.name == name)
    return dataclasses.field(default=default, metadata=base.metadata)


def find(sections: dict[str, Section], key: str) -> Setting | None:
    """The setting ``key`` names: ``"section.field"`` or a bare ``"field"`` (the first section declaring it)."""
    section, _, name = key.rpartition(".")
    return next((s for sec, cls in sections.items() if not section or sec == section for s in declared(cls)
                 if s.name == name), None)


def format_default(s: Setting, value: Any) -> str:
    """A value as a front end writes it: lists comma-separated, mappings as VALUE=CLASS pairs, None as ""."""
    if value is None:
        off = s.decl.off
        return "" if off is None else off if isinstance(off, str) else f"{off:g}"
    if isinstance(value, dict):
        return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def split_list(value: Any) -> list[Any]:
    """``"a, b;c"`` or ``["a,b", "c"]`` -> ``["a", "b", "c"]``: commas or semicolons, blanks between them dropped;
    items that are not text kept, and so is an item of a list that holds no separator, even blank (a blank
    ``--class-names`` argument is named by the checks, not dropped: the classes after it would shift). The one
    parser of a list a front end gives as text (a QGIS field, ``--class-names a,b,c``)."""
    listed = not isinstance(value, str)
    out: list[Any] = []
    for item in (list(value or []) if listed else [value]):
        if not isinstance(item, str) or (listed and not any(sep in item for sep in ",;")):
            out.append(item)
        else:
            out.extend(part.strip() for part in item.replace(";", ",").split(",") if part.strip())
    return out


def from_front_end(s: Setting, value: Any) -> Any:
    """A front end's value as the setting's: the ``off`` value becomes None; a list given as text (``text="list"``)
    split by :func:`split_list`."""
    if s.decl.text == "list" and isinstance(value, (str, list)):
        value = split_list(value)
    return None if s.decl.off is not None and value is not None and value == s.decl.off else value


def left_unset(s: Setting, value: Any) -> bool:
    """Whether a front end's value (after :func:`from_front_end`) leaves the setting to its default or to the
    engine's choice, as if not given: None for a required setting, or the ``off`` choice ("auto", "default")."""
    return value is None and (not s.optional or isinstance(s.decl.off, str))


def check_choices(settings: Any, section: str) -> None:
    """ConfigError naming ``section``'s setting whose value is none of its declared choices (a registry's are
    checked where the registry is); an open choice, the device, takes ``cuda:N`` too."""
    for f in dataclasses.fields(settings):
        decl, value = f.metadata.get(METADATA_KEY), getattr(settings, f.name)
        choices = None if decl is None or callable(decl.choices) else decl.choices
        if choices is None or value is None or value in choices:
            continue
        if decl.open_choices and str(value).startswith("cuda:") and str(value)[5:].isdigit():
            continue
        raise ConfigError(f"{mention(f'{section}.{f.name}')} '{value}' is unknown; use one of {list(choices)}"
                          f"{' or cuda:N' if decl.open_choices else ''}.")
