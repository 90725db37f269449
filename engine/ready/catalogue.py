"""The catalogue of ready models: typed entries read from ``catalogue.json`` (shipped beside this module) and from the
catalogue files named in ``$DUALSTREAM_CATALOGUE``, each checked when it is read.

An entry says what the graph expects (bands in its order, value scaling ``graph input = (raw * scale - mean) / std``,
classes and colours, tile size, output kind) and where its files come from, with their SHA-256 (:class:`Source`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bundle.validate import Origin, checked_values
from ..errors import ConfigError

#: Extra catalogue files (``os.pathsep``-separated): an organisation's own models beside the shipped ones.
CATALOGUE_ENV = "DUALSTREAM_CATALOGUE"
SHIPPED = Path(__file__).with_name("catalogue.json")
SOURCE_KINDS = ("pypi", "http")
STATISTICS_FORMATS = ("ukis-csmask",)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# PEP 508 without ``packaging``: a name, extras, a version specifier and markers; nothing pip would take as an
# option (a leading "-") or as a path or URL
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,\s-]*\])?\s*"
                          r"([<>=!~]=?\s*[A-Za-z0-9.*+!_-]+(\s*,\s*[<>=!~]=?\s*[A-Za-z0-9.*+!_-]+)*)?\s*(;.*)?$")


@dataclass(frozen=True)
class Source:
    """Where an entry's ONNX graph comes from (``sha256``: its checksum): ``pypi``, files inside the installed package
    ``module`` that pip installs from ``requirement``; ``http``, ``url``."""

    kind: str
    sha256: str
    url: str | None = None
    requirement: str | None = None
    module: str | None = None
    model: str | None = None
    statistics: str | None = None
    statistics_sha256: str | None = None
    statistics_format: str | None = None

    def describe(self) -> str:
        return f"pip {self.requirement}" if self.kind == "pypi" else str(self.url)


@dataclass(frozen=True)
class Entry:
    """One ready model. Without ``classes`` (and bands, mean, std) the graph's own (Deepness) metadata describes it."""

    name: str
    task: str
    sensor: str
    source: Source
    licence: str
    bands: list[str] = field(default_factory=list)
    band_hint: str | None = None
    scale: float = 1.0
    value_range: list[float] | None = None  # [low, high] of the raw values the graph expects (reflectance 0-1)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    class_colors: list[str] = field(default_factory=list)
    output: str = "probabilities"
    tile_size: int | None = None
    overlap: float | None = None
    border: int = 0
    resolution: float | None = None
    url: str | None = None
    citation: str | None = None
    polygon_treatment: dict[str, str] | None = None  # class name -> how its polygons are drawn
    origin: str = str(SHIPPED)  # the catalogue file it was read from

    def description_fields(self) -> dict[str, Any] | None:
        """The entry as the import's description takes it (None, an entry without classes: the graph's own metadata)."""
        if not self.classes:
            return None
        return {"bands": len(self.bands), "class_names": list(self.classes), "mean": list(self.mean),
                "std": list(self.std), "scale": self.scale, "value_range": self.value_range,
                "class_colors": list(self.class_colors) or None,
                "band_names": list(self.bands), "tile_size": self.tile_size, "overlap": self.overlap,
                "border": self.border, "output": self.output, "resolution": self.resolution, "name": self.name,
                "task": self.task, "sensor": self.sensor, "source": self.url or self.source.describe(),
                "licence": self.licence, "polygon_treatment": self.polygon_treatment}


def load_catalogue(files: list[Path] | None = None) -> list[Entry]:
    """Every entry of ``files`` (default: the shipped catalogue, then those named in ``$DUALSTREAM_CATALOGUE``),
    checked; a name given twice is an error."""
    if files is None:
        files = [SHIPPED, *(Path(p).expanduser() for p in os.environ.get(CATALOGUE_ENV, "").split(os.pathsep)
                            if p.strip())]
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for path in files:
        for entry in read_catalogue(Path(path)):
            if entry.name in seen:
                raise ConfigError(f"Ready model '{entry.name}' is in two catalogues ({seen[entry.name]} and {path}); "
                                  "rename one of them.")
            seen[entry.name] = str(path)
            entries.append(entry)
    return entries


def find_entry(name: str, entries: list[Entry] | None = None) -> Entry:
    """The entry called ``name``; ConfigError listing the names there are."""
    entries = load_catalogue() if entries is None else entries
    for entry in entries:
        if entry.name == name:
            return entry
    raise ConfigError(f"No ready model called '{name}'; the catalogue has: "
                      f"{', '.join(e.name for e in entries) or 'none'} (`dualstream models list`).")


def read_catalogue(path: Path) -> list[Entry]:
    """The entries of one catalogue file; ConfigError naming the file and the entry for anything wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"The catalogue file '{path}' does not exist (named in ${CATALOGUE_ENV}?).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"The catalogue file '{path}' cannot be read as JSON: {exc}.") from exc
    if not isinstance(document, dict) or document.get("version") != 1 or not isinstance(document.get("models"), list):
        raise ConfigError(f"The catalogue file '{path}' is not a version 1 catalogue: it needs "
                          '{"version": 1, "models": [...]}.')
    return [parse_entry(item, f"{path}, model {i + 1}", str(path)) for i, item in enumerate(document["models"])]


def _treatments(value: dict | None, classes: list[str], where: str) -> dict[str, str] | None:
    """An entry's ``polygon_treatment``: its class names -> regularise, smooth or as_is."""
    from ..io.polygons import TREATMENTS

    if value is None:
        return None
    for name, treatment in value.items():
        if name not in classes or treatment not in TREATMENTS:
            raise ConfigError(f"{where}: polygon_treatment '{name}': '{treatment}' must name one of its classes "
                              f"({', '.join(classes)}) and one of {', '.join(TREATMENTS)}.")
    return dict(value)


def parse_entry(item: Any, where: str, origin: str = str(SHIPPED)) -> Entry:
    """One catalogue entry from its JSON object, checked (``where`` names it in messages)."""
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: an entry is a JSON object, not {type(item).__name__}.")
    check = _Checker(item, where)
    name = check.text("name")
    if not _NAME.match(name):
        raise ConfigError(f"{where}: name '{name}' must be lower case letters, digits, '.', '_' or '-'.")
    check.where = f"{where} ('{name}')"
    classes = check.optional("classes", list) or []
    names, colors = [], []
    for i, value in enumerate(classes):
        if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"].strip():
            raise ConfigError(f'{check.where}: class {i} needs a name: {{"name": "cloud", "color": "#ffffff"}}.')
        names.append(value["name"])
        if value.get("color") is not None:
            if not isinstance(value["color"], str) or not _COLOR.match(value["color"]):
                raise ConfigError(f"{check.where}: class '{value['name']}' has colour {value['color']!r}; "
                                  "give #rrggbb.")
            colors.append(value["color"])
    if colors and len(colors) != len(names):
        raise ConfigError(f"{check.where}: give a colour for every class or for none.")
    # the description's values, checked as every model description is (engine.bundle.validate)
    described = checked_values({key: item.get(key) for key in ("mean", "std", "scale", "tile_size", "overlap",
                                                               "border", "resolution", "output")}
                               | {"class_names": names or None, "band_names": item.get("bands")},
                               Origin(check.where, keys={"class_names": "classes", "band_names": "bands"}))
    bands = check.optional("bands", list) or []
    mean, std = described["mean"] or [], described["std"] or []  # floats, std > 0 (checked_values)
    if names:
        if not bands or len(mean) != len(bands) or len(std) != len(bands):
            raise ConfigError(f"{check.where}: bands, mean and std must have one value per band "
                              f"({len(bands)} bands, {len(mean)} means, {len(std)} stds).")
    elif bands or mean or std:
        raise ConfigError(f"{check.where}: bands, mean and std come with classes; give all of them or none "
                          "(then the ONNX file's own metadata describes the model).")
    value_range = check.optional("value_range", list)
    if value_range is not None and (len(value_range) != 2 or not all(isinstance(v, (int, float)) for v in value_range)
                                    or not value_range[0] < value_range[1]):
        raise ConfigError(f"{check.where}: value_range must be [low, high] with low < high, not {value_range!r}.")
    output = check.optional("output", str) or "probabilities"  # its values checked by bundle/validate.py
    tile_size = check.optional("tile_size", int)  # at least 16 px, an overlap in 0..0.5 (checked_values)
    overlap = check.optional("overlap", (int, float))
    border = int(check.optional("border", int) or 0)
    if tile_size is not None and border >= tile_size:
        raise ConfigError(f"{check.where}: border {border} must be in 0..tile_size-1 pixels.")
    return Entry(name=name, task=check.text("task"), sensor=check.text("sensor"),
                 source=parse_source(item.get("source"), check.where), licence=check.text("licence"),
                 bands=[str(b) for b in bands], band_hint=check.optional("band_hint", str),
                 scale=float(check.optional("scale", (int, float)) or 1.0),
                 value_range=None if value_range is None else [float(v) for v in value_range], mean=mean, std=std,
                 classes=names, class_colors=colors, output=output, tile_size=tile_size, overlap=overlap, border=border,
                 resolution=check.optional("resolution", (int, float)), url=check.optional("url", str),
                 citation=check.optional("citation", str), origin=origin,
                 polygon_treatment=_treatments(check.optional("polygon_treatment", dict), names, check.where))


def parse_source(item: Any, where: str) -> Source:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: source must be an object with a kind ({', '.join(SOURCE_KINDS)}).")
    check = _Checker(item, f"{where}, source")
    kind = check.text("kind")
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{check.where}: kind '{kind}' is not one of {', '.join(SOURCE_KINDS)}.")
    sha256 = check.checksum("sha256")
    if kind == "http":
        url = check.text("url")
        if not url.startswith(("https://", "http://", "file://")):
            raise ConfigError(f"{check.where}: url '{url}' must start with https://, http:// or file://.")
        return Source(kind, sha256, url=url)
    statistics = check.optional("statistics", str)
    statistics_format = check.optional("statistics_format", str)
    if statistics and statistics_format not in STATISTICS_FORMATS:
        raise ConfigError(f"{check.where}: statistics_format {statistics_format!r} is not one of "
                          f"{', '.join(STATISTICS_FORMATS)}.")
    if statistics is not None:
        statistics = check.member("statistics")
    return Source(kind, sha256, requirement=check.requirement("requirement"), module=check.module("module"),
                  model=check.member("model"), statistics=statistics,
                  statistics_sha256=check.checksum("statistics_sha256") if statistics else None,
                  statistics_format=statistics_format)


class _Checker:
    """Reads typed fields of one JSON object, naming the object and the field in every error."""

    def __init__(self, item: dict[str, Any], where: str):
        self.item, self.where = item, where

    def text(self, key: str) -> str:
        value = self.item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.where}: '{key}' is required (text).")
        return value

    def optional(self, key: str, kind: type | tuple[type, ...]) -> Any:
        value = self.item.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ConfigError(f"{self.where}: '{key}' must be {names}, not {value!r}.")
        return value

    def member(self, key: str) -> str:
        """A file inside the package: a relative path without ".."."""
        value = self.text(key)
        parts = value.replace("\\", "/").split("/")
        if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value) or any(p in ("", ".", "..") for p in parts):
            raise ConfigError(f"{self.where}: '{key}' must be a file inside the package, a relative path without "
                              f"'..' (like model.onnx or models/model.onnx), not {value!r}.")
        return value

    def module(self, key: str) -> str:
        value = self.text(key)
        if not _MODULE.match(value):
            raise ConfigError(f"{self.where}: '{key}' must be a Python module name (like ukis_csmask), not "
                              f"{value!r}.")
        return value

    def requirement(self, key: str) -> str:
        """A pip requirement (``packaging``'s PEP 508 parser where installed): never an option, path or URL for pip."""
        value = self.text(key).strip()
        problem = requirement_problem(value)
        if problem:
            raise ConfigError(f"{self.where}: '{key}' must be a requirement like ukis-csmask==1.0.0, not {value!r} "
                              f"({problem}).")
        return value

    def checksum(self, key: str) -> str:
        value = self.text(key).lower()
        if not _SHA256.match(value):
            raise ConfigError(f"{self.where}: '{key}' must be a SHA-256 (64 hex digits), not {value!r}.")
        return value


def requirement_problem(text: str) -> str | None:
    """Why ``text`` is not a plain pip requirement (a name with extras, versions and markers), None if it is."""
    if text.startswith("-"):
        return "pip would take it as an option"
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:
        return None if _REQUIREMENT.match(text) else "not a requirement"
    try:
        parsed = Requirement(text)
    except InvalidRequirement as exc:
        return str(exc).splitlines()[0]
    return "a URL requirement; name the package and its version" if parsed.url else None
