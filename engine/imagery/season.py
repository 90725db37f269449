"""A season: N >= 1 dated rasters of one place, as users have them, put in time order before any tile is read.

The dates come as a list of rasters, folders of them, glob patterns (``s2/*.tif``), STAC items, or one multi-band
stack with a band group per date and the dates given. Each raster's date comes from its acquisition tag, its
product's file name (``file_dates.py``) or its STAC item (``data/acquisition.py``, the one rule); the dates are sorted
and the order said. A date's clouds leave it out where it is cloudy: a band named ``cloud`` in it, a raster beside it
named ``<name>_cloud.<ext>`` (non-zero = cloud; a web date's on its server), or its nodata; a VRT gives the date
those clouds as its mask, so every reader sees them as invalid pixels, nothing copied, nothing written beside the
inputs. A date with no valid pixel (all cloud or nodata) is dropped and said. Every date is checked against the
first: the same place (the footprints overlap) and the same bands. The scene reader (``data/scene.py``) then
reads every date onto the first date's grid, warping where its CRS or pixel size differ, as it reads a change
model's later date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..callbacks import Callback
from ..data.acquisition import parse_date, scene_date, stac_datetime
from ..data.align import check_overlap
from ..data.checks import sample_values
from ..data.input_vrt import InputFiles, cloud_masked_vrt, pick_vrt
from ..data.raster import band_count, grid_of, image_band_names, open_raster
from ..data.stac import looks_like_stac, read_item
from ..errors import DataError
from ..file_dates import DATED_NAMES, NAME_EXAMPLES
from ..io import locations
from ..io.formats import RASTER_SUFFIXES
from ..time_axis import day_of_year, days_since, month
from .door import web_source

CLOUD_NAMES = ("cloud", "clouds", "cloud_mask", "cloudmask")  # a band or a file-name ending that holds the clouds
GIVE_A_DATE = ("give its date in its metadata (gdal_edit.py -mo ACQUISITIONDATETIME=2024-05-01 FILE), keep its "
               f"{DATED_NAMES} file name ({NAME_EXAMPLES}), give its STAC item instead, or name the dates of a "
               "stack (dates=[...])")


@dataclass(frozen=True)
class SeasonDate:
    """One date of a season: ``source`` as the user gave it, ``path`` what a reader opens (the file, or a VRT of its
    bands with its clouds as its mask), its ``date``, where that date was ``found`` and its ``cloud`` mask in words."""

    source: str
    path: str
    date: dt.date
    found: str
    cloud: str | None = None


@dataclass
class Season:
    """The dates of one place in time order; ``files`` holds the VRTs made (removed by :meth:`close`)."""

    dates: list[SeasonDate]
    files: InputFiles = field(default_factory=InputFiles)

    @property
    def paths(self) -> list[str]:
        return [d.path for d in self.dates]

    def encodings(self) -> dict[str, Any]:
        """The dates as the models take them: int64 (T,) ``doy``, ``month`` and ``days`` (see ``engine.time_axis``)."""
        when = [d.date for d in self.dates]
        return {"doy": day_of_year(when), "month": month(when), "days": days_since(when)}

    def reader(self, callback: Callback | None = None, **kwargs: Any) -> Any:
        """A scene reader of every date onto the first date's grid, each date's validity its own (a STAC item read as
        the VRT of its assets); ``kwargs``: the reader's other settings (label, aux, bands, ...)."""
        from ..data.scene import SceneReader
        from .stac_assets import stac_raster

        paths = [stac_raster(p, self.files, callback) if looks_like_stac(p) else p for p in self.paths]
        return SceneReader(paths[0], after=paths[1:], each_date=True, dates_hold_data=True, callback=callback,
                           **kwargs)

    def close(self) -> None:
        self.files.close()


def expand_sources(sources: list[str]) -> list[str]:
    """Each source as the rasters it names: a folder's rasters (its cloud masks left out), a glob pattern's matches
    (sorted), a STAC item, a file or a remote source (a URL, a ``/vsi`` path: a web layer's date) as it is; DataError
    for a folder or pattern with no raster, or a missing file."""
    found: list[str] = []
    for source in map(str, sources):
        if looks_like_stac(source) or locations.is_remote(source):  # never a local path: "?" is no glob there
            found.append(source)
        elif Path(source).is_dir() or any(c in source for c in "*?["):
            names = (sorted(str(p) for p in Path(source).iterdir()) if Path(source).is_dir()
                     else sorted(glob.glob(source)))
            rasters = [n for n in names if Path(n).suffix.lower() in RASTER_SUFFIXES and not is_cloud_file(n)]
            if not rasters:
                raise DataError(f"'{source}' holds no raster ({', '.join(RASTER_SUFFIXES)}); give the folder or "
                                f"pattern of the season's dated rasters.")
            found += rasters
        elif not Path(source).is_file():
            raise DataError(f"The date '{source}' does not exist; check the path.")
        else:
            found.append(source)
    return found


def resolve_season(sources: list[str], callback: Callback | None = None, *, stack_dates: list[str] | None = None,
                   cloud_values: bool = True, files: InputFiles | None = None) -> Season:
    """The season of ``sources`` (module doc), in time order, each date checked against the first; ``stack_dates``:
    the dates of one multi-band stack's band groups, in band order; ``cloud_values``: drop a date with no valid
    pixel (False: the caller checks values itself); ``files``: where its VRTs go (default a temporary folder)."""
    callback = callback or Callback()
    season = Season([], files or InputFiles())
    try:
        given = (_stack_dates(sources, stack_dates, season.files) if stack_dates
                 else [_dated(s, s not in map(str, sources)) for s in _once(expand_sources(sources), callback)])
        ordered = sorted(given, key=lambda d: d.date)
        if [d.source for d in ordered] != [d.source for d in given]:
            callback.info("The dates were given out of time order; they are read sorted by date: "
                          + ", ".join(f"{d.date.isoformat()} '{d.source}'" for d in ordered) + ".")
        kept = _one_a_day(ordered, callback)
        kept = [_with_clouds(d, season.files) for d in kept]
        if clouded := [d for d in kept if d.cloud]:  # one line for a season of many dates
            callback.info(f"Clouds (non-zero = cloud) are left out of {len(clouded)} date(s): "
                          + "; ".join(f"{d.date.isoformat()} from {d.cloud}" for d in clouded[:3])
                          + (f"; and {len(clouded) - 3} more, each from its own" if len(clouded) > 3 else "") + ".")
        if bare := [d for d in kept if not d.cloud and locations.is_remote(d.path)]:  # a local one: nothing asked
            callback.info(f"No cloud mask beside {len(bare)} date(s) on their server (each date's name with "
                          + ", ".join(f"_{n}" for n in CLOUD_NAMES) + " looked for once): "
                          + ", ".join(f"{d.date.isoformat()} '{d.source}'" for d in bare[:3])
                          + (f" and {len(bare) - 3} more" if len(bare) > 3 else "") + "; their nodata alone is "
                          "left out.")
        _check_same_place_and_bands(kept)
        if cloud_values:
            kept = _drop_empty(kept, callback)
        season.dates = kept
        found = sorted({d.found for d in kept})
        callback.info(f"The season: {len(kept)} date(s) of one place, " + ", ".join(d.date.isoformat() for d in kept)
                      + f" (the dates from {' / '.join(found)}).")
        return season
    except BaseException:
        season.close()
        raise


def season_folder(output: str | Path) -> Path:
    """Where a training keeps its seasons' VRTs (clouds, stacks) for the run: ``<bundle>_season/`` beside the bundle,
    never beside an input."""
    output = Path(output)
    return output.with_name(f"{output.stem}_season")


def season_scene(spec: Any, folder: Path, callback: Callback | None = None) -> Any:
    """A training scene given by its dates (``SceneSpec.dates``) as the image and its later dates in time order, the
    VRTs of clouds and stacks kept in ``folder`` for the run (never beside an input), each named as the user gave
    it in messages."""
    season = resolve_season(list(spec.dates), callback, stack_dates=list(spec.stack_dates) or None,
                            files=InputFiles(folder=folder))
    names = {**spec.names, **{d.path: f"'{d.source}'" for d in season.dates if d.path != d.source}}
    return dataclasses.replace(spec, image=season.paths[0], after=season.paths[1:], dates=[], stack_dates=[],
                               names=names)


def _date_tag(date: dt.date) -> dict[str, str]:
    """The VRT made for a date carries its date as an acquisition tag, as any dated raster does (written with the
    VRT in one piece: processes of one torchrun make the same VRT side by side)."""
    return {"ACQUISITIONDATETIME": date.isoformat()}


def is_cloud_file(path: str) -> bool:
    stem = Path(path).stem.lower()
    return any(stem.endswith("_" + name) for name in CLOUD_NAMES)


def _dated(source: str, listed: bool = False) -> SeasonDate:
    """A source with its acquisition date; DataError naming the file and the ways to give one where it has none
    (``listed``: found in a folder or pattern given, which may hold a raster that is no date: a label)."""
    description, _, name = web_source(source)
    if locations.is_web_description(description):
        raise DataError(f"The {name} cannot be a date of a season: a web map carries no acquisition date (its tiles "
                        f"may be of many days, and change). Give the dates as dated rasters: the web layer's window "
                        f"saved as a GeoTIFF (in QGIS: Export > Save As, or gdal_translate) with its date "
                        f"(gdal_edit.py -mo ACQUISITIONDATETIME=2024-05-01 FILE).")
    if looks_like_stac(source):
        when = stac_datetime(read_item(source).properties)
        date = parse_date(when) if when else None
        why = "its STAC item has no datetime"
        found = "its STAC item's datetime"
    else:
        with open_raster(source, "date") as dataset:
            date, found = scene_date(source, dict(dataset.tags()))
        why = found
    if date is None:
        raise DataError(f"The raster '{source}' has no acquisition date ({why}), so its place in the season is "
                        f"unknown: {GIVE_A_DATE}." + (f" It was found in '{Path(source).parent}', given for the dates: "
                                                     f"if it is no date (a label, an aux layer), move it out of that "
                                                     f"folder, which holds only the dates and their cloud masks."
                                                     if listed else ""))
    return SeasonDate(source, source, date, found)


def _stack_dates(sources: list[str], dates: list[str], files: InputFiles) -> list[SeasonDate]:
    """One multi-band stack's band groups as dates: ``dates`` in band order, each group the same number of bands."""
    if len(sources) != 1:
        raise DataError(f"Dates of a stack's band groups ({len(dates)} given) take one multi-band raster; got "
                        f"{len(sources)} sources. Give the stack alone, or the dated rasters without dates.")
    source = str(sources[0])
    with open_raster(source, "stack of dates") as dataset:
        count = band_count(dataset)
    parsed = [parse_date(d) for d in dates]
    if None in parsed:
        bad = dates[parsed.index(None)]
        raise DataError(f"'{bad}' is no date; give the stack's dates as YYYY-MM-DD, one per band group.")
    if count % len(dates):
        raise DataError(f"The stack '{source}' has {count} band(s), which do not split into {len(dates)} dates of "
                        f"as many bands each; give one date per band group, in band order.")
    per = count // len(dates)
    names = image_band_names(source)
    out = []
    for index, date in enumerate(parsed):
        bands = list(range(index * per + 1, (index + 1) * per + 1))
        vrt = pick_vrt(source, bands, [names[b - 1] or "" for b in bands],
                       files.path(f"{Path(source).stem}_date_{index + 1}.vrt"), metadata=_date_tag(date))
        out.append(SeasonDate(f"{source} (bands {bands[0]}-{bands[-1]})", vrt, date, "given for its band group"))
    return out


def _once(sources: list[str], callback: Callback) -> list[str]:
    """Each file once: one given twice (a layer, and again in the folder given beside it) is read once, said."""
    seen: dict[str, str] = {}
    twice: list[str] = []
    for source in sources:
        local = locations.local_file(source)
        key = str(Path(local).resolve()) if local else source
        if key in seen:
            twice.append(f"'{seen[key]}'" + ("" if source == seen[key] else f" (again as '{source}')"))
        else:
            seen[key] = source
    if twice:
        callback.info(f"{len(twice)} date(s) were given twice (as a layer and again in the folder, say) and are read "
                      f"once: {', '.join(twice)}.")
    return list(seen.values())


def _one_a_day(ordered: list[SeasonDate], callback: Callback) -> list[SeasonDate]:
    """One raster a day: the first given of a day is kept, the others left out, said."""
    kept: list[SeasonDate] = []
    for date in ordered:
        same = next((k for k in kept if k.date == date.date), None)
        if same is None:
            kept.append(date)
        else:
            callback.warning(f"'{date.source}' and '{same.source}' are of the same day, {date.date.isoformat()}: "
                             f"'{same.source}' is kept (given first), '{date.source}' left out. Mosaic them first "
                             f"(gdalbuildvrt) if they are two halves of the place.")
    return kept


def _with_clouds(date: SeasonDate, files: InputFiles) -> SeasonDate:
    """The date with its cloud mask as its mask (a band named cloud, or a raster beside it), else as it is."""
    if looks_like_stac(date.path):
        return date
    names = [(n or "").strip().lower() for n in image_band_names(date.path)]
    inside = [i + 1 for i, n in enumerate(names) if n in CLOUD_NAMES]
    beside = [] if inside else cloud_files_beside(date.path)
    if not inside and not beside:
        return date
    bands = [i + 1 for i in range(len(names)) if i + 1 not in inside]
    if inside:
        cloud, band, said = date.path, inside[0], f"its band {inside[0]} '{names[inside[0] - 1]}'"
    else:
        cloud, band, said = str(beside[0]), 1, f"the raster '{beside[0]}' beside it"
    if not bands:
        raise DataError(f"The date '{date.source}' holds only its cloud mask ({said}); give its image bands too.")
    name = f"{Path(date.source).stem}_clouds_{date.date.isoformat()}.vrt"
    vrt = cloud_masked_vrt(date.path, bands, cloud, band, files.path(name), metadata=_date_tag(date.date))
    return SeasonDate(date.source, vrt, date.date, date.found, said)


def cloud_files_beside(path: str) -> list[str]:
    """The cloud mask beside the date ``path`` (``<name>_cloud.<ext>``, or another of :data:`CLOUD_NAMES`), as a list
    of one or none; a date on a server (a URL, ``/vsicurl/``) has each name tried once on that server, under the
    network rule (``io.network``), until one opens: an answer of no such file (HTTP 404, 410, or 403 as buckets
    answer a missing key) is none, any other failure (a server stalled, 5xx after the rule's retries) a DataError
    naming the file, since the date's clouds would otherwise be read as data."""
    if not locations.is_remote(path):
        local = Path(path)
        return [str(p) for n in CLOUD_NAMES for p in (local.with_name(f"{local.stem}_{n}{local.suffix}"),)
                if p.is_file()][:1]
    import rasterio

    from ..io import network

    network.apply_defaults()
    name, ending = locations.stem(path), locations.suffix(path)
    for cloud in (locations.sibling(path, f"{name}_{n}{ending}") for n in CLOUD_NAMES):
        try:
            with rasterio.open(locations.gdal_path(cloud)):
                return [cloud]
        except Exception as exc:  # noqa: BLE001 - GDAL raises several error types
            if any(f"HTTP response code: {code}" in str(exc) for code in (403, 404, 410)):
                continue
            raise DataError(f"The cloud mask '{cloud}' beside the date '{path}' on its server could not be looked "
                            f"for ({exc}){network.remote_hint(cloud)}; without it the date's clouds would be read "
                            f"as data. Try again later, or copy the dates and their cloud masks here.") from exc
    return []


def _check_same_place_and_bands(dates: list[SeasonDate]) -> None:
    """Every date overlaps the first and has its bands (the same count; the same names where both name them)."""
    files = [d for d in dates if not looks_like_stac(d.path)]
    if len(files) < 2:
        return
    with open_raster(files[0].path, "date") as first:
        grid, count, names = grid_of(first), band_count(first), image_band_names(files[0].path)
    for date in files[1:]:
        with open_raster(date.path, "date") as other:
            other_grid, other_count = grid_of(other), band_count(other)
        if grid.georeferenced and other_grid.georeferenced:
            check_overlap(grid, other_grid, files[0].source, date.source, "date", "first date")
        other_names = image_band_names(date.path)
        named = all(names) and all(other_names)
        if other_count != count or (named and [n.lower() for n in other_names] != [n.lower() for n in names]):
            raise DataError(f"The date '{date.source}' has {_bands(other_names, other_count)} but the first date "
                            f"'{files[0].source}' has {_bands(names, count)}: every date of a season gives the model "
                            f"the same bands. Give each date with the same bands (a virtual raster of them: "
                            f"gdalbuildvrt -b), in the same order.")


def _bands(names: list[str | None], count: int) -> str:
    return f"{count} band(s)" + (f" ({', '.join(map(str, names))})" if names and all(names) else "")


def _drop_empty(dates: list[SeasonDate], callback: Callback) -> list[SeasonDate]:
    """The dates with a valid pixel; one entirely cloud or nodata dropped and said; DataError when none is left."""
    kept, dropped = [], []
    for date in dates:
        if looks_like_stac(date.path):
            kept.append(date)
            continue
        with open_raster(date.path, "date") as dataset:
            _, valid, sampled = sample_values(dataset, list(range(1, band_count(dataset) + 1)))
        if valid.any():
            kept.append(date)
        else:
            dropped.append(f"{date.date.isoformat()} '{date.source}'{' (in the sampled windows)' if sampled else ''}")
    if dropped:
        callback.warning(f"{len(dropped)} date(s) have no valid pixel (all cloud or nodata) and are left out of the "
                         f"season: {', '.join(dropped)}.")
    if not kept:
        raise DataError("Every date of the season is entirely cloud or nodata: "
                        + ", ".join(f"'{d.source}'" for d in dates) + ". Give dates with clear pixels over the place.")
    return kept
