"""One check of a model description, wherever it comes from (Deepness's metadata, a sidecar or ``--description``
file, the ``import`` flags, a ready-model catalogue entry, an imported bundle): every value's type and range before
anything is built from it (no list of a billion means), the error naming the source and the value
(``m.json: `threshold` must be in (0, 1), got 7``, ``--scale must be finite, got inf``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config.values import CLASS_NAME_MAX, invalid_colors
from ..errors import ConfigError
from ..models.imported.configuration_imported import LAYOUTS, OUTPUTS

MAX_BANDS = 65535  # a GeoTIFF holds at most 65535 bands: no image can feed a graph taking more
MIN_TILE = 16  # px: below, a tile is nearly all context padding
MAX_CLASSES = 65535  # a UInt16 class raster holds classes 0..65534, 65535 being nodata


@dataclass(frozen=True)
class Origin:
    """Where description values come from, and how a message names each key."""

    where: str  # the file: ``m.json``, ``model.onnx (Deepness metadata)``, ``catalogue.json, model 2``
    flags: Mapping[str, str] = field(default_factory=dict)  # keys given by a flag, named by it alone
    keys: Mapping[str, str] = field(default_factory=dict)  # the source's own names (Deepness's ``tiles_size``)

    def name(self, key: str) -> str:
        """The key as the user wrote it: its flag, else ``where: `key```."""
        return self.flags[key] if key in self.flags else f"{self.where}: `{self.keys.get(key, key)}`"


class _Bad(ValueError):
    """A value that breaks its rule; the rule in words."""


def _rule(ok: Callable[[Any], bool], words: str, first: Callable[[Any], Any] = lambda value: value,
          then: Callable[[Any], Any] = lambda value: value) -> Callable[[Any], Any]:
    """A check: ``first`` (another check, or none), then ``ok`` of what it gives, else _Bad(``words``)."""

    def check(value: Any) -> Any:
        value = first(value)
        if not ok(value):
            raise _Bad(words)
        return then(value)

    return check


_number = _rule(lambda value: isinstance(value, (int, float)) and not isinstance(value, bool), "a number")
_finite = _rule(math.isfinite, "finite", lambda value: float(_number(value)))
_positive = _rule(lambda number: number > 0, "finite and > 0", _finite)
_text = _rule(lambda value: isinstance(value, str), "text")


def _integer(low: int, high: int | None = None) -> Callable[[Any], int]:
    return _rule(lambda value: (not isinstance(value, bool) and isinstance(value, (int, float))
                                and float(value).is_integer() and low <= value and (high is None or value <= high)),
                 f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]", then=int)


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    return _rule(lambda value: isinstance(value, str) and value in choices, f"one of {', '.join(choices)}")


def _list(item: Callable[[Any], Any], what: str) -> Callable[[Any], list[Any]]:
    def check(value: Any) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise _Bad(f"a list of {what}")  # a string is no list: "abc" is not the classes a, b, c
        out = []
        for i, entry in enumerate(value):
            try:
                out.append(item(entry))
            except _Bad as exc:
                raise _Bad(f"a list of {what} (item {i}, {entry!r}, is not {exc})") from None
        return out

    return check


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("non-blank text")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise _Bad("printable text (no control characters)")
    if len(value) > CLASS_NAME_MAX:
        raise _Bad(f"at most {CLASS_NAME_MAX} characters")
    return value


def _unique_names(what: str) -> Callable[[Any], list[str]]:
    listed = _list(_name, what)

    def check(value: Any) -> list[str]:
        names = listed(value)
        if twice := sorted({n for i, n in enumerate(names) if n in names[:i]}):
            raise _Bad(f"a list of distinct {what} ({', '.join(map(repr, twice))} given twice)")
        return names

    return check


_colour = _rule(lambda value: not invalid_colors([value]),
                "a '#rrggbb' hex colour (e.g. #ff0000; colour names are not stored)", then=str.strip)


def _treatments(value: Any) -> dict[str, str]:
    """Class name -> how its polygons are drawn (``regularise``, ``smooth``, ``as_is``)."""
    from ..io.polygons import TREATMENTS

    if not isinstance(value, dict) or not all(isinstance(k, str) and v in TREATMENTS for k, v in value.items()):
        raise _Bad(f"an object of class name -> one of {', '.join(TREATMENTS)}")
    return dict(value)


#: description key -> its check (returns the value as the description holds it)
FIELDS: dict[str, Callable[[Any], Any]] = {
    "bands": _integer(1, MAX_BANDS),
    "class_names": _unique_names("class names"),
    "mean": _list(_finite, "finite numbers"),
    "std": _list(_positive, "finite numbers > 0"),
    "scale": _positive,
    "class_colors": _list(_colour, "'#rrggbb' colours"),
    "band_names": _list(_name, "band names"),
    "value_range": _list(_finite, "finite numbers"),
    "tile_size": _integer(MIN_TILE),
    "overlap": _rule(lambda number: 0 <= number < 0.5, "in [0, 0.5) of the tile", _finite),
    "border": _integer(0),
    "output": _choice(OUTPUTS),
    "threshold": _rule(lambda number: 0 < number < 1, "in (0, 1)", _finite),
    "layout": _choice(LAYOUTS),
    "input_name": _text,
    "output_name": _text,
    "resolution": _positive,
    "name": _text,
    "task": _text,
    "sensor": _text,
    "source": _text,
    "licence": _text,
    "polygon_treatment": _treatments,
}


def _shown(value: Any) -> str:
    text = str(value) if isinstance(value, (int, float)) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def checked_values(values: Mapping[str, Any], origin: Origin) -> dict[str, Any]:
    """Every value of ``values`` (description keys; None: not given) checked by its rule in FIELDS (ConfigError
    naming the source and the value)."""
    out = {}
    for key, value in values.items():
        rule = FIELDS.get(key)
        try:
            out[key] = rule(value) if rule is not None and value is not None else value
        except _Bad as exc:
            raise ConfigError(f"{origin.name(key)} must be {exc}, got {_shown(value)}.") from None
    return out
