"""How a class raster becomes polygons, per class: the settings (offered by ``segment``, ``bulk`` and
``polygons``), the defaults a class's name and its model give, and the classes drawn transparent.

Per class: a treatment (``regularise``, ``smooth``, ``as_is``), a minimum area and the holes filled. A model declares
its own treatments in its bundle (``data.polygon_treatment``); otherwise the class's name decides; the user's setting
wins over both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..declarations import Settings, check, declared, setting
from ..errors import ConfigError, mention
from ..io.polygons import TREATMENTS, ClassRule

POLYGONS = "polygons"  # the command line's help group
# class names that mean a built structure (squared outlines) and the ones that mean "nothing here" (transparent)
BUILT = re.compile(r"build|house|roof|struct|footprint|dwelling|shed|garage|warehouse|tank", re.IGNORECASE)
EMPTY = re.compile(r"^(background|clear|clear sky|no ?data|nodata|none|unlabell?ed|unknown|void|other|bg|"
                   r"not? [a-z ]+|non[- ][a-z ]+)$", re.IGNORECASE)
SYNONYMS = {"regularize": "regularise", "square": "regularise", "asis": "as_is", "as-is": "as_is", "raw": "as_is",
            "none": "as_is"}


def default_treatment(name: str) -> str:
    """A class's treatment by its name: built structures ``regularise``; everything else (forest, water, cloud,
    fields) ``smooth``; a class meaning "nothing here" ``as_is``."""
    return "regularise" if BUILT.search(name) else "as_is" if EMPTY.match(name.strip()) else "smooth"


def default_transparent(class_names: Sequence[str]) -> list[int]:
    """The classes a mask draws transparent so it overlays its image: the "nothing here" ones (background, clear,
    no data, unlabelled), never every class."""
    found = [i for i, name in enumerate(class_names) if EMPTY.match(str(name).strip())]
    return found if len(found) < len(class_names) else []


def _listed(class_names: Sequence[str]) -> str:
    """``0 background, 1 building`` (a class named by its number once: ``0, 1``), the first 20."""
    listed = ", ".join(f"{i} {n}" if str(n) != str(i) else str(i) for i, n in enumerate(class_names[:20]))
    return listed + (f", ... ({len(class_names)} classes)" if len(class_names) > 20 else "")


def chosen_polygon_classes(cfg: Any, class_names: Sequence[str], binary: bool = False,
                           section: str = "segment") -> list[int]:
    """The classes polygonised: ``cfg.polygon_classes`` when given (each a class of ``class_names``; a number
    outside them would give no polygon, silently), else a binary model's foreground, else every class but the
    "nothing here" ones (a background polygon holding every other one as a hole says nothing)."""
    if cfg.polygon_classes is None:
        empty = set(default_transparent(class_names))
        return [1] if binary else [i for i in range(len(class_names)) if i not in empty]
    if wrong := [c for c in cfg.polygon_classes if not 0 <= int(c) < len(class_names)]:
        raise ConfigError(f"{mention(section + '.polygon_classes')}: there is no class {wrong[0]}; the classes are "
                          f"{_listed(class_names)}. Give class numbers from 0 to {len(class_names) - 1}.")
    return list(dict.fromkeys(int(c) for c in cfg.polygon_classes))


def transparent_classes(text: str | None, class_names: Sequence[str], what: str) -> list[int]:
    """The classes a palette draws transparent: ``text`` (names or numbers, comma-separated; ``none``: none), by
    default :func:`default_transparent`."""
    if text is None or not str(text).strip():
        return default_transparent(class_names)
    if str(text).strip().lower() == "none":
        return []
    return sorted({class_index(part, class_names, what) for part in str(text).replace(";", ",").split(",")
                   if part.strip()})


def parse_class_values(text: str | None, what: str) -> dict[str, str]:
    """``"building=regularise, 3=smooth"`` -> ``{"building": "regularise", "3": "smooth"}`` (CLASS=VALUE pairs,
    commas or semicolons; CLASS a class name or number)."""
    pairs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in str(text or "").replace(";", ",").split(","))):
        key, sep, value = part.rpartition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{mention(what)}: '{part}' is not CLASS=VALUE; write pairs like building=regularise "
                              f"(a class name or number = its value), separated by commas.")
        pairs[key.strip()] = value.strip()
    return pairs


def class_index(key: str, class_names: Sequence[str], what: str) -> int:
    """The class a CLASS of a setting names: its number or its name (case-insensitive)."""
    lowered = [str(n).strip().lower() for n in class_names]
    if key.strip().lower() in lowered:
        return lowered.index(key.strip().lower())
    if key.strip().isascii() and key.strip().isdigit():  # '²' is a digit to isdigit(), not to int()
        return int(key)
    raise ConfigError(f"{mention(what)}: there is no class '{key}'; the classes are {_listed(class_names)} (give a "
                      f"name or a number).")


def _treatment(value: str, what: str) -> str:
    treatment = SYNONYMS.get(value.strip().lower(), value.strip().lower())
    if treatment not in TREATMENTS:
        raise ConfigError(f"{mention(what)}: '{value}' is not a treatment; use one of {', '.join(TREATMENTS)}.")
    return treatment


def _number(value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < math.inf:
        raise ConfigError(f"{mention(what)}: '{value}' is not an area >= 0.")
    return number


#: The per-class settings (CLASS=VALUE pairs) and how each value is read.
CLASS_SETTINGS = {"polygon_treatment": _treatment, "class_min_area": _number, "class_fill_holes": _number}


def _per_class(cfg: Any, name: str, section: str, class_names: Sequence[str] | None = None) -> dict[Any, Any]:
    """``cfg``'s per-class setting ``name`` read, keyed by class (its number where ``class_names`` are given)."""
    key = f"{section}.{name}"
    return {k if class_names is None else class_index(k, class_names, key): CLASS_SETTINGS[name](v, key)
            for k, v in parse_class_values(getattr(cfg, name), key).items()}


def check_polygon_settings(cfg: Any, section: str) -> None:
    """The polygon settings' own checks (the classes they name are checked once the classes are known)."""
    check(cfg.polygon_classes is None or all(int(c) >= 0 for c in cfg.polygon_classes),
          f"{mention(section + '.polygon_classes')}: class numbers are 0 or more (got "
          f"{' '.join(str(c) for c in cfg.polygon_classes or [])}).")
    for name in ("min_polygon_area", "fill_holes", "simplify_tolerance"):
        value = getattr(cfg, name)  # infinity is no size: every polygon left out (or every hole filled), silently
        check(0 <= value < math.inf, f"{mention(section + '.' + name)} must be a number >= 0 (got {value}).")
    for name in CLASS_SETTINGS:
        _per_class(cfg, name, section)


def class_rules(cfg: Any, class_names: Sequence[str], declared: Mapping[str, str] | None = None,
                section: str = "segment") -> dict[int, ClassRule]:
    """Each class's :class:`~engine.io.polygons.ClassRule` from ``cfg``'s polygon settings over the model's
    ``declared`` treatments (class name -> treatment) over :func:`default_treatment`."""
    rules = {}
    by_model = {str(k).strip().lower(): v for k, v in (declared or {}).items()}
    chosen, areas, holes = (_per_class(cfg, name, section, class_names) for name in CLASS_SETTINGS)
    for index, name in enumerate(class_names):
        treatment = chosen.get(index) or by_model.get(str(name).strip().lower()) or default_treatment(str(name))
        # the setting for every class fills the holes of things, not of "nothing here": a background polygon's
        # holes are the things found in it (its own value, class_fill_holes, still applies)
        every = 0.0 if EMPTY.match(str(name).strip()) else cfg.fill_holes
        rules[index] = ClassRule(_treatment(treatment, f"{section}.polygon_treatment"),
                                 areas.get(index, cfg.min_polygon_area), holes.get(index, every))
    return rules


@dataclass
class PolygonOptions(Settings):
    """How a class raster becomes polygons, declared once as a group: ``segment`` (and ``bulk``) and ``polygons``
    take these settings by inheriting them; :data:`DIALOG_OPTIONS` are the ones a Processing dialog offers."""

    polygon_treatment: str | None = setting(
        None, flag="--treatment", metavar="CLASS=MODE,...", group=POLYGONS,
        label="Outline per class (CLASS=regularise|smooth|as_is, comma-separated; empty: automatic)",
        help="How each class's outlines are drawn: regularise (squared to the dominant orientation, small notches "
             "removed: buildings), smooth (Chaikin, moves a boundary by under a pixel, no overlaps: natural "
             "classes), as_is (the pixel edges). E.g. building=regularise,forest=smooth. Classes not named: what "
             "the model declares, else by the class name: buildings regularise, no-data-like classes as_is, "
             "others smooth.")
    min_polygon_area: float = setting(
        0.0, flag="--min-area", label="Minimum polygon area (m², map units² without metres)", minimum=0.0,
        advanced=True, group=POLYGONS, help="Polygons smaller than this are left out of the polygon output.")
    class_min_area: str | None = setting(
        None, metavar="CLASS=AREA,...", group=POLYGONS, advanced=True,
        label="Minimum polygon area per class (CLASS=AREA, comma-separated)",
        help="A class's own minimum area (m², map units² without metres), over --min-area, e.g. building=20.")
    fill_holes: float = setting(
        0.0, label="Fill holes smaller than (m², map units² without metres)", minimum=0.0, advanced=True,
        group=POLYGONS, help="Holes of a polygon smaller than this are filled, and the polygons inside them left "
                             "out; the background's islands (buildings in it) are no holes and stay.")
    class_fill_holes: str | None = setting(
        None, metavar="CLASS=AREA,...", group=POLYGONS, advanced=True,
        label="Fill holes per class (CLASS=AREA, comma-separated)",
        help="A class's own hole filling (m², map units² without metres), over --fill-holes, e.g. forest=500.")
    simplify_tolerance: float = setting(
        0.0, flag="--simplify", group=POLYGONS,
        help="Simplify the as_is outlines with this tolerance (map units).",
        no_qgis="the treatments draw the outlines; QGIS's own Simplify tool simplifies further")
    polygon_classes: list[int] | None = setting(
        None, cli={"nargs": "+"}, metavar="CLASS", group=POLYGONS,
        help="Classes to polygonize (default: the foreground of a binary model; otherwise every class but the "
             "no-data-like ones: background, clear, no data, unlabelled).",
        no_qgis="the polygons hold every class; filter them by class_id in QGIS")


#: The polygon settings a Processing dialog offers (the others say why not: ``no_qgis``), in declaration order.
DIALOG_OPTIONS = tuple(s.name for s in declared(PolygonOptions) if s.param)


@dataclass
class PolygonsConfig(PolygonOptions):
    """Any class raster (made earlier or elsewhere) into polygons: the ``polygons`` command and Toolbox algorithm."""

    raster: str = setting("", custom_cli=True, metavar="CLASSES.tif", param="INPUT", custom_qgis=True,
                          label="Class raster",
                          help="A raster of class numbers (one band), e.g. written by segment.")
    output: str = setting("", flag="--out", metavar="OUT.gpkg", param="OUTPUT", custom_qgis=True,
                          label="Polygons", help="GeoPackage to write (one layer named after it).")
    class_names: list[str] | None = setting(
        None, cli={"nargs": "+"}, metavar="NAME", label="Class names (comma-separated; empty: the raster's)",
        text="list", help="The classes' names in class order, where the raster has no category names.")
    confidence: str | None = setting(
        None, metavar="C.tif", custom_qgis=True, label="Confidence raster (optional)",
        help="The confidence raster written with the class raster (same grid): each polygon's mean and minimum "
             "confidence.")
    scene: str | None = setting(None, metavar="NAME", label="Scene name (default: the raster's)",
                                help="The scene attribute of every polygon.")
    model: str | None = setting(None, metavar="NAME", label="Model name (default: the raster's)",
                                help="The model attribute (default: what segment recorded in the raster).")

    def __post_init__(self) -> None:
        check(bool(self.raster), f"No class raster given; give {mention('polygons.raster')}.")
        check(bool(self.output), f"No output given; give {mention('polygons.output')} (a .gpkg).")
        check_polygon_settings(self, "polygons")
