"""When and where a scene was taken, for the encoders that take it (Prithvi-EO-2.0's TL releases; the sources of
the date and the place: docs/foundation-encoders.md). Each tile gets ``(year, day of year, latitude, longitude)``,
NaN where unknown (``encoders.prithvi.COORDS``). A STAC item's datetime is carried by an input read from the item as
the tag ``STAC_DATETIME``, the first of ACQUISITION_TAGS; ``TIFFTAG_DATETIME`` is the file's creation time, not the
scene's, and is never used. A date no satellite scene can have (a year before Landsat 1, 1972, or after next year; a
day of the year past the year's end) is no date: the scene's date is then unknown (NaN), and the log says which
source gave what.

Torch-free; rasterio for the CRS transform.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..file_dates import GIVE, match_date, name_date
from .raster import apply
from .stac import looks_like_stac, read_item

STAC_TAG = "STAC_DATETIME"
ACQUISITION_TAGS = (STAC_TAG, "ACQUISITIONDATETIME", "ACQUISITION_DATETIME", "ACQUISITION_DATE", "DATE_ACQUIRED",
                    "SENSING_TIME", "DATATAKE_1_DATATAKE_SENSING_START", "PRODUCT_START_TIME", "SENSING_START")
_ISO = re.compile(r"(\d{4})[-:](\d{2})[-:](\d{2})")
FIRST_YEAR = 1972  # Landsat 1: no Earth-observation scene is older


def parse_date(text: str) -> dt.date | None:
    """The calendar date at the start of ``text`` (ISO 8601, ``YYYY:MM:DD``, ``YYYY-MM-DDTHH:MM:SS.ffZ``)."""
    match = _ISO.match(str(text).strip())
    return match_date(match) if match else None


def _plausible(date: dt.date, where: str) -> str:
    """'' when ``date`` can be a satellite scene's; else why it is taken as unknown."""
    latest = dt.date.today().year + 1
    return "" if FIRST_YEAR <= date.year <= latest else (
        f"{where} gives {date.isoformat()}, a date no satellite scene has (only {FIRST_YEAR} to {latest}){GIVE}")


def stac_datetime(properties: dict[str, Any]) -> str | None:
    """An item's acquisition time: ``datetime``, else ``start_datetime`` (an item with a range has null datetime)."""
    when = properties.get("datetime") or properties.get("start_datetime")
    return str(when) if when else None


def scene_date(path: str, tags: dict[str, str]) -> tuple[dt.date | None, str]:
    """(the acquisition date, where it came from in words) of the raster at ``path`` with dataset ``tags``;
    (None, why none) when neither its tags nor its name give one."""
    upper = {str(k).upper(): v for k, v in tags.items()}
    found = [(parse_date(upper[key]), "", "its STAC item's datetime" if key == STAC_TAG else f"its tag {key}")
             for key in ACQUISITION_TAGS if key in upper]
    found.append((*name_date(path), "its file name"))  # (date, why it is none, where it is from)
    refused = []  # dates found that no scene can have, said when no other source gives one
    for date, why, where in found:
        why = why or (_plausible(date, where) if date is not None else "")
        if date is not None and not why:
            return date, where
        refused += [why] if why else []
    return None, "; ".join(refused) or "no acquisition date in its tags or file name"


@dataclass(frozen=True)
class Acquisition:
    """A scene's date (or None) and its georeferencing, giving each tile's ``(year, doy, lat, lon)``."""

    date: dt.date | None
    date_source: str
    crs: Any  # rasterio CRS or None
    transform: Any  # affine pixel -> CRS
    place_source: str

    @property
    def known(self) -> bool:
        return self.date is not None or self.crs is not None

    def coords(self, centres: list[tuple[float, float]]) -> np.ndarray:
        """(N, 4) float32 (year, day of year, latitude, longitude) of pixel ``centres`` (col, row), NaN if unknown."""
        out = np.full((len(centres), 4), np.nan, np.float32)
        if self.date is not None:
            out[:, 0], out[:, 1] = self.date.year, self.date.timetuple().tm_yday
        if self.crs is not None and centres:
            from rasterio.warp import transform as warp

            xs, ys = zip(*(apply(self.transform, c, r) for c, r in centres))
            try:
                lons, lats = warp(self.crs, "EPSG:4326", list(xs), list(ys))
            except Exception:  # noqa: BLE001 - a CRS that does not reach WGS 84: the place stays unknown
                return out
            out[:, 2], out[:, 3] = lats, lons
        return out

    def said(self) -> str:
        """The date and place a log line names."""
        date = f"date {self.date.isoformat()} ({self.date_source})" if self.date else f"no date ({self.date_source})"
        return f"{date}, {self.place_source}"


def of_dataset(path: str, dataset: Any) -> Acquisition:
    """The Acquisition of an open rasterio dataset at ``path``."""
    date, source = scene_date(path, dict(dataset.tags()))
    crs, place = dataset.crs, "place: each tile's centre in WGS 84"
    if crs is None or not dataset.transform or dataset.transform.is_identity:
        crs, place = None, "no place (the image has no CRS)"
    elif getattr(crs, "is_geographic", False) is False and getattr(crs, "is_projected", False) is False:
        crs, place = None, f"no place (its CRS {crs} does not reach WGS 84)"
    return Acquisition(date, source, crs, dataset.transform, place)


def tag_stac_datetime(vrt: str, properties: dict[str, Any]) -> None:
    """Write a STAC item's acquisition time into the VRT made of its assets (tag ``STAC_DATETIME``), so the scene
    carries it like any raster's acquisition tag."""
    if not (when := stac_datetime(properties)):
        return
    from osgeo import gdal

    dataset = gdal.Open(vrt, gdal.GA_Update)
    if dataset is not None:
        dataset.SetMetadataItem(STAC_TAG, when)
        dataset = None  # closing writes the VRT


def record(named: list[tuple[str, Acquisition]]) -> tuple[dict[str, Any], str]:
    """(what a bundle records of the date and place its training scenes gave, one log line saying it)."""
    scenes = [{"image": Path(name).name, "date": a.date.isoformat() if a.date else None, "date_from": a.date_source,
               "place": a.crs is not None, "place_from": a.place_source} for name, a in named]
    dates, places = sum(s["date"] is not None for s in scenes), sum(s["place"] for s in scenes)
    record = {"scenes": scenes, "with_date": dates, "with_place": places}
    if not dates and not places:
        return record, ("The encoder's time/location inputs: no training scene's date or place is known (no "
                        "acquisition tag, no date in its file name, no CRS): they add nothing, as the release run "
                        "without them.")
    said = "; ".join(f"{name}: {a.said()}" for name, a in named[:3]) + (f"; {len(named) - 3} more" if len(named) > 3
                                                                        else "")
    return record, (f"The encoder's time/location inputs fed each tile's date and place where known "
                    f"({dates} of {len(named)} scene(s) with a date, {places} with a place): {said}.")


def of_source(source: str, opened: Acquisition) -> Acquisition:
    """``opened`` (the Acquisition of the file or VRT a reader opened) with the date of what the user gave:
    a STAC item's datetime, or the tags and name of the image file a VRT was made over."""
    source = str(source or "")  # none: neither test below holds
    if looks_like_stac(source):
        when = stac_datetime(read_item(source).properties)
        date = parse_date(when) if when else None
        how = "its STAC item's datetime" if date else "no datetime in its STAC item"
    elif Path(source).is_file():
        import rasterio

        try:
            with rasterio.open(source) as dataset:
                tags = dict(dataset.tags())
        except Exception:  # noqa: BLE001 - not a raster rasterio opens: its name alone
            tags = {}
        date, how = scene_date(source, tags)
    else:
        return opened
    if date is None and opened.date is not None:
        return opened
    return Acquisition(date, how, opened.crs, opened.transform, opened.place_source)

