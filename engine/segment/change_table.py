"""The change table: the area of each kind of change in a change raster, in hectares, the table a report quotes.

A change raster's class 0 is "no change", the others one "change" (a change mask) or one per transition named
``from → to``. One row per kind of change: its class, from and to (empty for a change mask), pixels and hectares
(each row's pixels at their own latitude in degrees or Mercator; none without a CRS); as CSV, and as rows for a summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.ground import row_square_metres
from ..data.labels import transition_of
from ..data.raster import grid_of, open_raster
from ..errors import DataError
from ..io.atomic import write_text_atomic
from ..io.formats import csv_text
from ..io.prediction_tags import class_names_of
from ..models.configuration_utils import NO_CHANGE

BLOCK_ROWS = 1024
HEADER = ("class", "name", "from", "to", "pixels", "hectares")


@dataclass
class ChangeRow:
    """One kind of change and its area."""

    value: int  # its class in the change raster
    name: str
    from_class: str  # "" for a change mask's "change"
    to_class: str
    pixels: int
    hectares: float | None  # None: the raster has no CRS

    def cells(self) -> list[Any]:
        return [self.value, self.name, self.from_class, self.to_class, self.pixels,
                "" if self.hectares is None else round(self.hectares, 4)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_change_raster(class_names: Sequence[str] | None) -> bool:
    """Whether a raster of these classes is a change raster: class 0 "no change" (a change model's or a comparison's;
    a season model given two dates maps classes, not change)."""
    return bool(class_names) and str(class_names[0]).strip().lower() == NO_CHANGE


def transition_fields(class_names: Sequence[str]) -> dict[str, list[str]] | None:
    """The polygons' ``from_class`` and ``to_class`` of each class of a change raster (class 0 "no change"; a change
    mask's "change" has them empty); None for a raster of other classes."""
    if not is_change_raster(class_names):
        return None
    pairs = [transition_of(str(name)) for name in class_names]
    return {"from_class": [before for before, _ in pairs], "to_class": [after for _, after in pairs]}


def row_hectares(dataset: Any, ground_pixel_size: float | None = None) -> np.ndarray | None:
    """The ground area of one pixel of each row of ``dataset`` in hectares: one value for a projected CRS, each
    row's own in degrees or Mercator (:func:`~engine.data.ground.row_square_metres`); without georeferencing a
    square of ``ground_pixel_size`` metres (the user's word), else None."""
    grid = grid_of(dataset)
    if not grid.georeferenced or grid.crs is None:
        return None if not ground_pixel_size else np.full(grid.height, ground_pixel_size ** 2 / 10_000.0)
    area = row_square_metres(grid.crs.to_wkt(), grid.transform, grid.width, grid.height)
    return None if area is None else area / 10_000.0


def class_counts(raster: str, counted: list[int] | None = None, ground_pixel_size: float | None = None
                 ) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """(pixels of each class, the class names, hectares of each class or None without georeferencing) of a class
    raster, nodata left out; ``counted``: the pixels as its writer counted them (``SegmentResult.class_pixels``):
    not read again where every row's pixels are the same size; ``ground_pixel_size``: see :func:`row_hectares`."""
    names = class_names_of(raster) or []  # none recorded: numbered
    with open_raster(raster, "change raster") as dataset:
        rows = row_hectares(dataset, ground_pixel_size)
        if counted is not None and (rows is None or np.ptp(rows) == 0):
            counts = np.asarray(counted, np.int64)
            hectares = None if rows is None else counts * float(rows[0])
        else:
            counts, hectares = _read_counts(dataset, len(names), rows)
    names += [str(i) for i in range(len(names), counts.size)]
    return counts, names, hectares


def add_counts(counts: np.ndarray, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """``counts`` (of each class value) with ``values`` counted in (``weights``: each value's own, such as its
    pixel's hectares; else 1), grown where a value lies past its end (a class beyond the names is a class too)."""
    found = np.bincount(values.ravel(), weights=None if weights is None else weights.ravel(), minlength=counts.size)
    if found.size > counts.size:
        counts = np.pad(counts, (0, found.size - counts.size))
    counts += found.astype(counts.dtype)
    return counts


def class_values(block: np.ndarray, path: str, what: str) -> np.ndarray:
    """The class values of a block of a class raster as int64, nodata already left out; DataError naming the file
    for a value that is no class (negative, NaN, not whole): read as a class it would end in a wrong table."""
    if block.dtype.kind == "f":
        if np.isnan(block).any():
            raise DataError(f"The {what} '{path}' holds NaN pixels and no nodata value says they are no data; mark "
                            f"them as nodata (gdal_edit -a_nodata nan '{path}') or give a raster of class values.")
        if (block != np.floor(block)).any():
            value = block[block != np.floor(block)][0]
            raise DataError(f"The {what} '{path}' holds the value {value:g}, which is no class (classes are whole "
                            f"numbers from 0); give a raster of class values.")
    if block.size and block.min() < 0:
        raise DataError(f"The {what} '{path}' holds the value {block.min():g}, which is no class (classes are whole "
                        f"numbers from 0); mark it as nodata (gdal_edit -a_nodata {block.min():g} '{path}') or give a "
                        f"raster of class values.")
    return block.astype(np.int64)


def _read_counts(dataset: Any, classes: int, rows: np.ndarray | None,
                 what: str = "class raster") -> tuple[np.ndarray, np.ndarray | None]:
    """The pixels (and hectares, each row's ``rows``) of each class value in band 1 of ``dataset``, nodata left
    out."""
    from rasterio.windows import Window

    counts = np.zeros(max(classes, 1), np.int64)
    hectares = None if rows is None else np.zeros(counts.size)
    nodata = dataset.nodata
    for row in range(0, dataset.height, BLOCK_ROWS):
        height = min(BLOCK_ROWS, dataset.height - row)
        block = dataset.read(1, window=Window(0, row, dataset.width, height))
        keep = ~np.isnan(block) if nodata is not None and np.isnan(nodata) else (
            block != nodata if nodata is not None else np.ones(block.shape, bool))
        values = class_values(block[keep], dataset.name, what)
        counts = add_counts(counts, values)
        if hectares is not None:
            area = np.broadcast_to(rows[row:row + height, None], block.shape)[keep]
            hectares = add_counts(hectares, values, area)
    return counts, hectares


def class_areas(raster: str, counted: list[int] | None = None, ground_pixel_size: float | None = None
                ) -> list[ChangeRow]:
    """One row per class of a class raster (a season's land cover or crops): its pixels and hectares, from and to
    empty; ``counted`` and ``ground_pixel_size`` as for :func:`class_counts`."""
    return class_rows(*class_counts(raster, counted, ground_pixel_size))


def class_rows(counts: np.ndarray, names: list[str], hectares: np.ndarray | None) -> list[ChangeRow]:
    """One row per class, from and to empty, with its pixels and hectares (None without georeferencing)."""
    counts = np.pad(counts, (0, max(0, len(names) - counts.size)))
    return [ChangeRow(value, name, "", "", int(counts[value]),
                      None if hectares is None or value >= hectares.size else float(hectares[value]))
            for value, name in enumerate(names)]


def change_rows(counts: np.ndarray, names: list[str], hectares: np.ndarray | None) -> list[ChangeRow]:
    """One row per kind of change (every class but 0, no change), with its pixels and hectares (of each class; None
    without georeferencing)."""
    counts = np.pad(counts, (0, max(0, len(names) - counts.size)))  # a class past the counts has no pixel
    if hectares is not None:
        hectares = np.pad(hectares, (0, max(0, len(names) - hectares.size)))
    return [ChangeRow(value, names[value], *transition_of(names[value]), int(counts[value]),
                      None if hectares is None else float(hectares[value])) for value in range(1, len(names))]


def change_table(raster: str, output: str | Path | None = None, counted: list[int] | None = None,
                 ground_pixel_size: float | None = None) -> list[ChangeRow]:
    """The change table of ``raster``, written as CSV to ``output`` (atomically) when given; ``counted``,
    ``ground_pixel_size``: see :func:`class_counts`."""
    rows = change_rows(*class_counts(raster, counted, ground_pixel_size))
    if output:
        write_change_table(output, rows)
    return rows


def area_table(raster: str, output: str | Path | None = None, counted: list[int] | None = None,
               ground_pixel_size: float | None = None) -> tuple[bool, list[ChangeRow]]:
    """The table of a class raster of several dates: a change raster's kinds of change (True), another's area of each
    class (False: a season model's classes of a pair, whose class 0 is no "no change"); written as CSV to ``output``
    when given."""
    counts, names, hectares = class_counts(raster, counted, ground_pixel_size)
    change = is_change_raster(names)
    rows = (change_rows if change else class_rows)(counts, names, hectares)
    if output:
        write_change_table(output, rows)
    return change, rows


def write_change_table(output: str | Path, rows: list[ChangeRow]) -> str:
    return write_text_atomic(output, csv_text(HEADER, (row.cells() for row in rows)))

