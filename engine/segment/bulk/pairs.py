"""A change model's pairs in a bulk run by date: the images of each place paired by their acquisition dates
(``bulk.pair_by_date``; :mod:`.scenes` pairs by name, ``bulk.after_pattern``).

Each image's date comes from its metadata (:mod:`~engine.data.acquisition`; STAC items given as scenes are not
paired yet), its place from its footprint (:func:`engine.imagery.places.places`). A place's images in time order
make its pairs: each later date with the first (``first``: a monitoring series) or with the date before it
(``previous``: what changed since the last look). An image without a date, without georeferencing, or of a place
seen once is a scene that fails alone, saying what to do; of two taken on one day the first by name makes the
place's pairs and the other fails alone, saying which was kept.
"""

from __future__ import annotations

from ...errors import DataError, mention
from ...file_dates import DATED_NAMES
from ...imagery.places import Dated, places
from ...io import locations


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
            f"{DATED_NAMES} file name, a STAC item's datetime), so it cannot be paired by date "
            f"({mention('bulk.pair_by_date')}); tag it (gdal_edit -mo ACQUISITIONDATETIME=2023-06-01) or pair by "
            f"name with {mention('bulk.after_pattern')}."))
    return Dated(image, date, footprint)


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
