"""A change model's pairs in a bulk run by date: the images of each place paired by their acquisition dates
(``bulk.pair_by_date``; :mod:`.scenes` pairs by name, ``bulk.after_pattern``).

Each image's date comes from its metadata (:mod:`~engine.data.acquisition`; STAC items given as scenes
are not paired yet), its place from its footprint (``SAME_PLACE``). A place's images in time order make its pairs:
each later date with the first (``first``: a monitoring series) or with the date before it (``previous``: what
changed since the last look). An image without a date, without georeferencing, or of a place seen once is a scene
that fails alone, saying what to do; of two taken on one day the first by name makes the place's pairs and the
other fails alone, saying which was kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import DataError, mention
from ...io import locations

#: A place's images overlap by at least this share of the smaller footprint.
SAME_PLACE = 0.5


@dataclass
class Dated:
    """One image with its acquisition date and footprint (west, south, east, north in degrees), or why not."""

    image: str
    date: Any = None
    footprint: tuple[float, float, float, float] | None = None
    error: str | None = None


def _dated(image: str) -> Dated:
    from rasterio.warp import transform_bounds

    from ...data.acquisition import of_dataset
    from ...data.raster import grid_of, open_raster

    try:
        dataset = open_raster(image, "image")
    except DataError as exc:
        return Dated(image, error=str(exc))
    with dataset:
        date = of_dataset(image, dataset).date
        if dataset.crs is None or not grid_of(dataset).georeferenced:
            return Dated(image, date, error=(
                f"The image '{image}' has no georeferencing, so its place cannot be matched with other dates "
                f"({mention('bulk.pair_by_date')}); pair it by name with {mention('bulk.after_pattern')}."))
        footprint = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
    if date is None:
        return Dated(image, error=(
            f"The image '{image}' has no acquisition date in its metadata (a tag such as ACQUISITIONDATETIME, a "
            f"Sentinel-2 or HLS file name, a STAC item's datetime), so it cannot be paired by date "
            f"({mention('bulk.pair_by_date')}); tag it (gdal_edit -mo ACQUISITIONDATETIME=2023-06-01) or pair by "
            f"name with {mention('bulk.after_pattern')}."))
    return Dated(image, date, footprint)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """The share of the smaller of two footprints that the other covers."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / smaller if smaller > 0 else 0.0


def places(dated: list[Dated]) -> list[list[Dated]]:
    """The images grouped by place (footprints overlapping by SAME_PLACE, linked transitively), each in time order,
    the places in the order of their first image."""
    groups: list[set[int]] = []
    for i, a in enumerate(dated):
        linked = [g for g in groups if any(_overlap(a.footprint, dated[j].footprint) >= SAME_PLACE for j in g)]
        groups = [g for g in groups if g not in linked] + [{i}.union(*linked)]
    return [sorted((dated[j] for j in group), key=lambda d: (d.date, d.image)) for group in sorted(groups, key=min)]


def pair_name(before: str, after: str) -> str:
    """The stem of a pair's outputs: ``<first date>_to_<later date>``."""
    return f"{locations.stem(before)}_to_{locations.stem(after)}"


def pairs_by_date(images: list[str], how: str) -> list[tuple[str, str | None, str | None]]:
    """(first date, later date or None, error or None) of every pair (``how``: "first" or "previous") and every
    image that makes no pair, in the order of the places."""
    dated = [_dated(image) for image in images]
    out: list[tuple[str, str | None, str | None]] = [(d.image, None, d.error) for d in dated if d.error]
    for group in places([d for d in dated if not d.error]):
        kept: list[Dated] = []
        for image in group:  # one image per day of a place: the first by name; the others fail alone, saying so
            if kept and kept[-1].date == image.date:
                out.append((image.image, None, (
                    f"The image '{image.image}' was taken on the same day ({image.date}) as '{kept[-1].image}' of "
                    f"its place by their metadata, so their order is unknown ({mention('bulk.pair_by_date')}); "
                    f"'{kept[-1].image}' (the first by name) is that day's date of the place's pairs, this one is "
                    f"left out. Keep one image per day of a place (a mosaic of the day), or pair them by name with "
                    f"{mention('bulk.after_pattern')}.")))
            else:
                kept.append(image)
        if len(kept) == 1:
            out.append((kept[0].image, None, (
                f"The image '{kept[0].image}' ({kept[0].date}) is the only {'date' if len(group) > 1 else 'one'} of "
                f"its place among the images, so it has no other date to be compared with "
                f"({mention('bulk.pair_by_date')}); give the place's other dates too.")))
        else:
            out += [((kept[0] if how == "first" else kept[i - 1]).image, kept[i].image, None)
                    for i in range(1, len(kept))]
    return out
