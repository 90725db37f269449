"""Places: rasters of the same place told apart from others by their footprints, and a season model's places.

One rule for what is one place: footprints overlapping by ``SAME_PLACE`` of the smaller, linked transitively
(:func:`places`); a change model's pairs by date (``segment/bulk/pairs.py``), a season model's bulk run and its
unlabelled imagery use it. A season model's places (:func:`season_places`): a folder given holds a place in each of
its subfolders (the subfolder's rasters are its dates, named after the subfolder); the rasters given loose (files,
globs, a folder's own rasters) are grouped by footprint, each group named after the folder that holds its dates alone
(a glob ``places/**/*.tif``), else after what its files' names share (``ljubljana_2024-05-01.tif``,
``ljubljana_2024-06-01.tif`` -> ``ljubljana``), else after its first file. Cloud masks beside a date
(``<name>_cloud.tif``) are no dates. STAC items (an item, an ItemCollection's items, a list of them) are dates as
rasters are, each item's footprint that of its first data asset, grouped by the same rule and named after what
their ids share. A place's dates are sorted, checked and masked as ``--dates`` does when it is read; a raster or
item whose place cannot be told (unreadable, no georeferencing) is a place of its own with the reason.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, mention
from ..io import locations
from ..io.safety import RASTER_SUFFIXES

#: A place's images overlap by at least this share of the smaller footprint.
SAME_PLACE = 0.5


@dataclass
class Dated:
    """One image with its acquisition date and footprint (west, south, east, north in degrees), or why not."""

    image: str
    date: Any = None
    footprint: tuple[float, float, float, float] | None = None
    error: str | None = None


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """The share of the smaller of two footprints that the other covers."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / smaller if smaller > 0 else 0.0


def places(dated: list[Dated]) -> list[list[Dated]]:
    """The images grouped by place (footprints overlapping by SAME_PLACE, linked transitively), each in time order
    (then by name), the places in the order of their first image."""
    groups: list[set[int]] = []
    for i, a in enumerate(dated):
        linked = [g for g in groups if any(_overlap(a.footprint, dated[j].footprint) >= SAME_PLACE for j in g)]
        groups = [g for g in groups if g not in linked] + [{i}.union(*linked)]
    return [sorted((dated[j] for j in group), key=lambda d: (d.date, d.image)) for group in sorted(groups, key=min)]


@dataclass
class Place:
    """One place of a season: its name (an output's stem), its dates as given, or why it cannot be read."""

    name: str
    dates: list[str] = field(default_factory=list)
    error: str | None = None


def _rasters(folder: Path) -> list[str]:
    """The dates in ``folder`` itself: its raster files (not hidden, not a date's cloud mask), sorted by name."""
    from .season import is_cloud_file

    return sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES
                  and not p.name.startswith(".") and not is_cloud_file(str(p)))


def _located(image: str) -> Dated:
    """``image`` (a raster or a STAC item) with its footprint in degrees (no date: a place's dates are read with the
    place), or why its place cannot be told."""
    from rasterio.warp import transform_bounds

    from ..data.raster import grid_of, open_raster
    from ..data.stac import looks_like_stac, read_item

    if looks_like_stac(image):  # an item's place: its first data asset's footprint
        try:
            item = read_item(image)
        except DataError as exc:
            return Dated(image, error=str(exc))
        first = _located(item.bands[0].href) if item.bands else Dated(image, error="it lists no data asset")
        return Dated(image, footprint=first.footprint, error=first.error and (
            f"The STAC item '{image}': its place cannot be told ({first.error})"))

    try:
        dataset = open_raster(image, "date")
    except DataError as exc:
        return Dated(image, error=str(exc))
    with dataset:
        if dataset.crs is None or not grid_of(dataset).georeferenced:
            return Dated(image, error=(
                f"The raster '{image}' has no georeferencing, so its place cannot be told from the other dates' "
                f"footprints; put each place's dates in a subfolder of their own (the subfolder names the place)."))
        return Dated(image, footprint=transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds))


def shared_name(images: list[str]) -> str:
    """What the file names of a place share, before its dates (a year after a separator) or else up to a separator
    (``a_2024-05-01.tif``, ``a_2024-06-01.tif`` -> ``a``); the first file's name where they share nothing (or it
    is one file)."""
    stems = [_stem(i) for i in images]
    if len(stems) < 2:
        return stems[0]
    common = os.path.commonprefix(stems)
    year = re.search(r"[_\-. ]\d{4}", common)
    cut = year.start() if year else max((m.start() for m in re.finditer(r"[_\-. ]", common)), default=0)
    return common[:cut].strip("_-. ") or stems[0]


def season_places(sources: list[str], setting: str, exclude: set[Path] | frozenset = frozenset()) -> list[Place]:
    """The places of ``sources`` (folders, globs, files; ``setting``: the setting that gave them, for messages), in
    the order given; ``exclude``: files never dates (an earlier run's outputs). ConfigError where a folder holds no
    date at all."""
    from ..data.stac import expand_items, looks_like_stac
    from .season import expand_sources

    found: list[Place] = []
    loose: list[str] = []
    for entry in map(str, sources):
        path = Path(entry).expanduser()
        if locations.is_remote(entry) or not path.is_dir():
            try:
                loose += [i for e in expand_sources([entry])  # an ItemCollection: each of its items a date
                          for i in (expand_items(e) if looks_like_stac(e) and "#" not in e else [e])]
            except DataError as exc:  # a missing file or an empty pattern: a place that says so
                found.append(Place(locations.stem(entry), [entry], str(exc)))
            continue
        subfolders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        held = [Place(sub.name, dates) for sub in subfolders
                if (dates := [d for d in _rasters(sub) if Path(d).resolve() not in exclude])]
        found += held
        own = [d for d in _rasters(path) if Path(d).resolve() not in exclude]
        if not own and not held:
            raise ConfigError(f"The folder '{entry}' holds no dated rasters ({', '.join(RASTER_SUFFIXES)}), neither "
                              f"itself nor in subfolders; give a folder with a subfolder of dates per place, or the "
                              f"places' dated rasters ({mention(setting)}).")
        loose += own
    seen: set[Any] = set()
    unique = [p for p in loose if not ((k := _key(p)) in seen or seen.add(k))]  # each file once
    located = [_located(image) for image in unique]
    found += [Place(_stem(d.image), [d.image], d.error) for d in located if d.error]
    groups = [[d.image for d in group] for group in places([d for d in located if not d.error])]
    for group in groups:
        # a folder holding one place's dates and nothing else given (a glob such as 'places/**/*.tif') names it
        folders = {_parent(i) for i in group}
        alone = len(folders) == 1 and sum(_parent(d.image) in folders for d in located) == len(group)
        found.append(Place(Path(next(iter(folders))).name if alone and not locations.is_remote(group[0])
                           else shared_name(group), group))
    return distinct_names(found)


def resolve_places(sources: list[str], setting: str, folder: Path | None) -> list[list[str]]:
    """The places of ``sources`` (:func:`season_places`; ``setting`` names them in
    messages), each read as ``--dates`` reads a season (sorted, clouds masked, a date entirely cloudy dropped), its
    VRTs in ``folder``: each place's dates to read. DataError naming a raster whose place cannot be told."""
    from ..callbacks import QuietCallback
    from ..data.input_vrt import InputFiles
    from .season import resolve_season

    read = []
    for place in season_places(sources, setting):
        if place.error:
            raise DataError(f"{place.error} ({mention(setting)})")
        read.append(resolve_season(place.dates, QuietCallback(), files=InputFiles(folder=folder)).paths)
    return read


def _stem(source: str) -> str:
    """A date's name: an ItemCollection's item (``FILE#ID``) by its id, else as outputs are named."""
    from ..data.stac import looks_like_stac

    return source.partition("#")[2] if looks_like_stac(source) and "#" in source else locations.stem(source)


def _key(source: str) -> Any:
    return source if locations.is_remote(source) else Path(source).resolve()


def _parent(image: str) -> str:
    return str(Path(image).resolve().parent) if not locations.is_remote(image) else image.rsplit("/", 1)[0]


def distinct_names(found: list[Place]) -> list[Place]:
    """Places named alike by their files (two places of Sentinel-2 file names) named after their first file."""
    names = [p.name for p in found]
    for place in found:
        if names.count(place.name) > 1 and place.dates:
            place.name = _stem(place.dates[0])
    return found
