"""The change table: the area of each kind of change in a change raster, in hectares, the table a report quotes.

A change raster's class 0 is "no change", the others one "change" (a change mask) or one per transition named
``from → to``. One row per kind of change: its class, from and to (empty for a change mask), pixels and hectares
(geographic CRSs at the raster's middle latitude; none without a CRS); as CSV, and as rows for a summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.ground import map_units_per_metre
from ..data.labels import NO_CHANGE, transition_of
from ..data.raster import grid_of, open_raster
from ..io.atomic import write_text_atomic
from ..io.formats import csv_text
from ..io.prediction_tags import class_names_of

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


def transition_fields(class_names: Sequence[str]) -> dict[str, list[str]] | None:
    """The polygons' ``from_class`` and ``to_class`` of each class of a change raster (class 0 "no change"; a change
    mask's "change" has them empty); None for a raster of other classes."""
    if not class_names or str(class_names[0]).strip().lower() != NO_CHANGE:
        return None
    pairs = [transition_of(str(name)) for name in class_names]
    return {"from_class": [before for before, _ in pairs], "to_class": [after for _, after in pairs]}


def hectares_per_pixel(dataset: Any) -> float | None:
    """The ground area of one pixel of ``dataset`` in hectares (None without georeferencing)."""
    grid = grid_of(dataset)
    if not grid.georeferenced or grid.crs is None:
        return None
    per_metre = map_units_per_metre(grid.crs.to_wkt(), grid.bounds)
    if not per_metre or per_metre <= 0:
        return None
    return abs(grid.transform.determinant) / per_metre ** 2 / 10_000.0


def class_counts(raster: str, counted: list[int] | None = None) -> tuple[np.ndarray, list[str], float | None]:
    """(pixels of each class, the class names, hectares per pixel) of a class raster, nodata left out;
    ``counted``: the pixels as its writer counted them (``SegmentResult.class_pixels``): not read again."""
    names = class_names_of(raster) or []  # none recorded: numbered
    with open_raster(raster, "change raster") as dataset:
        counts = _read_counts(dataset, len(names)) if counted is None else np.asarray(counted, np.int64)
        area = hectares_per_pixel(dataset)
    names += [str(i) for i in range(len(names), counts.size)]
    return counts, names, area


def add_counts(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``counts`` (int64 pixels of each class value) with ``values`` counted in, grown where a value lies past its
    end (a class beyond the names is a class too)."""
    found = np.bincount(values.ravel(), minlength=counts.size)
    if found.size > counts.size:
        counts = np.pad(counts, (0, found.size - counts.size))
    counts += found
    return counts


def _read_counts(dataset: Any, classes: int) -> np.ndarray:
    """The pixels of each class value in band 1 of ``dataset``, nodata left out."""
    from rasterio.windows import Window

    counts = np.zeros(max(classes, 1), np.int64)
    nodata = dataset.nodata
    for row in range(0, dataset.height, BLOCK_ROWS):
        block = dataset.read(1, window=Window(0, row, dataset.width, min(BLOCK_ROWS, dataset.height - row)))
        values = block[block != nodata] if nodata is not None else block
        counts = add_counts(counts, values.astype(np.int64))
    return counts


def change_rows(counts: np.ndarray, names: list[str], area: float | None) -> list[ChangeRow]:
    """One row per kind of change (every class but 0, no change), with its pixels and hectares."""
    counts = np.pad(counts, (0, max(0, len(names) - counts.size)))  # a class past the counts has no pixel
    return [ChangeRow(value, names[value], *transition_of(names[value]), int(counts[value]),
                      None if area is None else int(counts[value]) * area) for value in range(1, len(names))]


def change_table(raster: str, output: str | Path | None = None,
                 counted: list[int] | None = None) -> list[ChangeRow]:
    """The change table of ``raster``, written as CSV to ``output`` (atomically) when given; ``counted``: see
    :func:`class_counts`."""
    rows = change_rows(*class_counts(raster, counted))
    if output:
        write_change_table(output, rows)
    return rows


def write_change_table(output: str | Path, rows: list[ChangeRow]) -> str:
    return write_text_atomic(output, csv_text(HEADER, (row.cells() for row in rows)))

