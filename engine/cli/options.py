"""Command-line options generated from the settings' declarations (:mod:`engine.declarations`), and read back.

Every generated option defaults to ``argparse.SUPPRESS``: only flags actually given override the config file and
the dataclass defaults. An option's dest is ``section.field``, so two sections may declare the same field name.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from ..api import (
    COMMANDS,
    SETTINGS_SECTIONS,
    ConfigError,
    Setting,
    declared,
    find_setting,
    format_default,
    from_front_end,
    left_unset,
    plain_name,
)


def flag_name(key: str) -> str:
    """How the command line names the setting ``key`` in messages: its flag (``--tile-size``). A scene's part
    (``data.train_scenes#aoi``) is named by the flag that gives it (``--labelled-area``, ``--val-aux``)."""
    base, _, part = key.partition("#")
    found, scene = find_setting(base), find_setting(f"scene.{part}") if part else None
    if found is None or not found.flag or key in COMMANDS:
        return plain_name(key)
    return found.flag.replace("image", scene.flag[2:] if scene and scene.flag else part) if part else found.flag


def _typed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type that reports the engine's ConfigError as a usage error with its own message."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(exc.render(flag_name)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _help(s: Setting) -> str:
    text = s.decl.help
    if s.choices and s.decl.open_choices:
        text += f" One of {', '.join(s.choices)}."
    if s.decl.auto or s.decl.default_note:
        text += f" (default: {s.decl.auto or s.decl.default_note})"
    elif s.kind is bool:
        text += f" (default: {'on' if s.default else 'off'})"
    elif isinstance(s.default, (list, tuple)) and s.default:  # spaced, so the help wraps between values
        text += f" (default: {', '.join(str(v) for v in s.default)})"
    elif s.default not in (None, "", [], {}):
        text += f" (default: {format_default(s, s.default)})"
    elif s.default is None and s.decl.off is not None:  # unset is the setting's "off" value (0: automatic)
        text += f" (default: {format_default(s, None)})"
    return text.replace("%", "%%")


def _option(s: Setting) -> dict[str, Any]:
    """argparse keywords of one declared setting."""
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": _help(s)}
    if s.kind is bool:
        kwargs["action"] = "store_true" if not s.default else argparse.BooleanOptionalAction
        return kwargs
    if s.choices and not s.decl.open_choices:
        kwargs["choices"] = list(s.choices)
    else:
        kwargs["metavar"] = s.decl.metavar or s.name.upper()
    if (number := s.item if s.kind is list else s.kind) in (int, float):
        kwargs["type"] = number
    kwargs.update(s.decl.cli)
    if callable(kwargs.get("type")) and kwargs["type"] not in (int, float, str):
        kwargs["type"] = _typed(kwargs["type"])
    return kwargs


class OptionGroups(dict):
    """The parser's help groups by name, made on first use (in the order the command lists them first)."""

    def __init__(self, parser: argparse.ArgumentParser, *names: str):
        super().__init__()
        self.parser = parser
        for name in names:
            self[name]

    def __missing__(self, name: str) -> Any:
        self[name] = self.parser.add_argument_group(name)
        return self[name]


def add_settings(groups: OptionGroups, section: str) -> None:
    """One option per declared setting of ``SETTINGS_SECTIONS[section]`` that has a flag."""
    for s in declared(SETTINGS_SECTIONS[section]):
        if s.flag is None or s.decl.custom_cli:
            continue
        groups[s.decl.group].add_argument(s.flag, dest=f"{section}.{s.name}", **_option(s))


def add_result_flags(p: argparse.ArgumentParser | argparse._ArgumentGroup, quiet: str = "only the result",
                     json: str | None = None) -> None:
    """``--quiet`` (its help ``quiet``) and, where the command prints JSON, ``--json`` (its help ``json``)."""
    p.add_argument("--quiet", action="store_true", help=quiet)
    if json:
        p.add_argument("--json", action="store_true", help=json)


def settings_arguments(section: str, *groups: str, quiet: str = "only the result",
                       json: str | None = None) -> Callable[[argparse.ArgumentParser], None]:
    """A command's ``add_arguments``: ``section``'s settings (the help groups ``groups`` first), the result flags."""
    def add_arguments(p: argparse.ArgumentParser) -> None:
        add_settings(OptionGroups(p, *groups), section)
        add_result_flags(p, quiet, json)

    return add_arguments


def given_settings(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """The settings of ``section`` given on the command line, as the dataclass takes them."""
    given = vars(args)
    out: dict[str, Any] = {}
    for s in declared(SETTINGS_SECTIONS[section]):
        dest = f"{section}.{s.name}"
        if dest not in given:
            continue
        value = given[dest]
        if s.kind is dict and isinstance(value, list):  # repeated --label-map: one mapping
            value = {k: v for part in value for k, v in part.items()}
        value = from_front_end(s, value)
        if not left_unset(s, value):  # --model auto: left to the engine, as if not given
            out[s.name] = value
    return out
