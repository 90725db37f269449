"""The base of every settings dataclass: dict/JSON round trip with unknown-key checking, and ``check``.

The engine's settings (engine/config/) and the model families' configurations (engine/models/) both build on
this module, which imports nothing else of the engine but its errors, so neither imports the other for it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from .errors import ConfigError

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
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown setting(s) {unknown}; valid settings are {sorted(names)}.")
        return cls(**data)  # nested sections (dicts) become their dataclasses in __post_init__

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]
