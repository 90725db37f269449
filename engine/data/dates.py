"""A scene's later dates: images of the same place after the first (a change detection's "after"), read onto the
first date's tile grid and stacked after its bands, in time order.

Each later date is checked when the scene opens: it overlaps the first date, has the bands the first date's
selection reads (its own bands by name where the data names them), and was not taken before the first date (by
STAC item, tags or file name; a warning). A tile reads a date's window directly where its grid is the first date's
(the same CRS and pixel size, shifted by whole pixels: the usual pair), else warps it bilinearly onto the tile's
grid (:mod:`.align`; said once). A pixel is valid where every date holds data. When the tiles to read are known
(inference), a date on the first date's grid is read in the cells of the first date (:mod:`.tile_parts`), each
cell once for all the tiles that overlap it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..errors import DataError
from .acquisition import of_dataset
from .align import check_overlap, warp_to_grid
from .checks import sample_values
from .raster import RasterGrid, band_count, clip_window, grid_of, mistagged_note, read_raw, read_window
from .tile_parts import SharedParts, assemble_window

DATE_ROLE = "later date"  # what a later date's file is to the user, in messages


@dataclass
class LaterDate:
    """One later date of a scene: its file, the bands read, and its pixel offset on the first date's grid (None:
    another grid, warped per tile)."""

    path: str
    bands: list[int]
    offset: tuple[int, int] | None
    crs: Any = None
    grid: RasterGrid | None = None  # its own grid: how much of the first date's ground it covers
    date: Any = None  # its acquisition date (datetime.date) where its metadata or name gives one


def pixel_offset(first: RasterGrid, other: RasterGrid, tolerance: float = 1e-6) -> tuple[int, int] | None:
    """(columns, rows) to add to a window of ``first`` to read the same ground from ``other``, when ``other`` is
    ``first``'s grid shifted by whole pixels (same CRS, pixel size and orientation); None otherwise."""
    if (first.crs is None) != (other.crs is None) or (first.crs is not None and first.crs != other.crs):
        return None
    a, b = first.transform, other.transform
    scale = max(abs(a.a), abs(a.e), 1e-12)
    if any(abs(x - y) > tolerance * scale for x, y in ((a.a, b.a), (a.b, b.b), (a.d, b.d), (a.e, b.e))):
        return None
    cols, rows = (a.c - b.c) / b.a, (a.f - b.f) / b.e
    if abs(cols - round(cols)) > 1e-6 or abs(rows - round(rows)) > 1e-6:
        return None
    return int(round(cols)), int(round(rows))


def scene_dates(reader: Any, opener: Any, after_bands: list[list[int]] | None,
                hold_data: bool = False) -> list[LaterDate]:
    """A scene reader's later dates (``reader.after_paths``; ``after_bands``: each one's own bands by name, else the
    first date's selection) opened through ``opener`` (path, role -> the reader's cached handle) and checked (module
    doc); ``hold_data``: the image door's sample of each date found valid pixels, not read a second time."""
    first, grid, count, callback = reader.image, reader.grid, reader.vision_bands, reader.callback
    if reader.selection.x:
        raise DataError(f"x_bands take a second stream from the {reader.role} '{first}' itself; a scene of "
                        f"several dates takes none: leave x_bands out.")
    vision = reader.selection.vision_bands(reader.image_bands)
    own = dict(zip(reader.after_paths, after_bands or []))
    dates = []
    first_date = of_dataset(first, opener(first, reader.role)).date
    for path in reader.after_paths:
        ds = opener(path, DATE_ROLE)
        other = grid_of(ds)
        if grid.georeferenced != other.georeferenced:
            raise DataError(f"The {DATE_ROLE} '{path}' is {'' if other.georeferenced else 'not '}georeferenced but the "
                            f"first date '{first}' is {'' if grid.georeferenced else 'not'}; give both dates with "
                            f"georeferencing, so that they are matched on the ground.")
        if other.georeferenced:
            check_overlap(grid, other, first, path, DATE_ROLE, "first date")
        bands, has = list(own.get(path) or vision), band_count(ds)  # an alpha band is the date's mask, not a band
        # segment's rule (segment/expects.image_problem): every band of each date, unless bands are picked
        every = path not in own and not reader.selection.active and has != reader.image_bands
        if every or max(bands, default=0) > has or len(bands) != count:
            note = f" ({alpha})" if (alpha := mistagged_note(ds, has)) else ""
            raise DataError(f"The {DATE_ROLE} '{path}' has {has} band(s){note} but the first date "
                            f"'{first}' gives the model {count} (bands {bands}); a change model reads the same bands "
                            f"from every date: give the dates with the same bands (a virtual raster of the bands to "
                            f"use), or name the bands (band descriptions) and select them by name.")
        offset = pixel_offset(grid, other) if other.georeferenced else (
            (0, 0) if (other.width, other.height) == (grid.width, grid.height) else None)
        if offset is None and not other.georeferenced:
            raise DataError(f"The {DATE_ROLE} '{path}' ({other.width}x{other.height} px) and the first date '{first}' "
                            f"({grid.width}x{grid.height} px) have no georeferencing and differ in size, so they "
                            f"cannot be matched pixel for pixel; georeference both.")
        if offset is None:
            callback.info(f"The {DATE_ROLE} '{path}' is on another grid than the first date '{first}' (CRS "
                          f"{other.crs}, pixel {abs(other.res[0]):.4g} x {abs(other.res[1]):.4g}; the first date's "
                          f"{grid.crs}, {abs(grid.res[0]):.4g} x {abs(grid.res[1]):.4g}): it is resampled "
                          f"(bilinear) onto the first date's grid.")
        later = of_dataset(path, ds).date
        if first_date is not None and later is not None and later < first_date:
            callback.warning(f"The {DATE_ROLE} '{path}' was taken on {later}, before the first date '{first}' "
                             f"({first_date}), by their metadata: the dates are in time order, earliest first, so "
                             f"what appeared would read as gone. Swap them unless the metadata is wrong.")
        dates.append(LaterDate(path, bands, offset, ds.crs or grid.crs, other, later))
    if not hold_data:
        check_date_values(opener(first, reader.role), first, vision, "first date")
        for date in dates:
            check_date_values(opener(date.path, DATE_ROLE), date.path, date.bands)
    return dates


def read_date_tile(date: LaterDate, index: int, dataset: Any, tile: RasterGrid, col: int, row: int,
                   parts: SharedParts | None, out: np.ndarray) -> np.ndarray:
    """One later date (the ``index``-th, from 0) under a tile at (col, row) of the first date's grid, read, warped
    or cut from shared cells (module doc) into ``out`` (float32 (C, h, w), a slice of the tile's stack of dates);
    returns its validity."""
    if parts is None or parts.cells is None or date.offset is None:
        if date.offset is not None:
            dx, dy = date.offset
            out[...], ok = read_window(dataset, col + dx, row + dy, tile.width, tile.height, date.bands)
        else:
            out[...], ok = warp_to_grid(dataset, tile, date.bands, resampling="bilinear", src_crs=date.crs)
        return ok
    cells, (dx, dy) = parts.cells, date.offset
    pieces = []
    for cy, cx in cells.cells(col, row, tile.width, tile.height):
        c, r, w, h = cells.window(cy, cx)
        # the file's own values, cast once where the window is assembled (as the first date's cells are)
        data, ok = parts.take(("date", index, cy, cx), partial(_raw_cell, dataset, c + dx, r + dy, w, h, date.bands))
        pieces.append(((c, r, w, h), data, ok))
    return assemble_window(pieces, col, row, tile.width, tile.height, len(date.bands), out=out)[1]


def _raw_cell(dataset: Any, col: int, row: int, width: int, height: int,
              bands: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """A later date's cell as :func:`~engine.data.raster.read_window` reads it (outside the raster invalid), in
    the file's dtype: the invalid pixels are zeroed where the window is assembled."""
    inner = clip_window(col, row, width, height, grid_of(dataset))
    if inner == (col, row, width, height):
        return read_raw(dataset, col, row, width, height, bands)
    return read_window(dataset, col, row, width, height, bands)


def date_uses(uses: dict[tuple, int], dates: list[LaterDate]) -> dict[tuple, int]:
    """The planned uses of the later dates' cells: those of the first date's cells, for each date on its grid."""
    cells = {key[1:]: count for key, count in uses.items() if key[0] == "cell"}
    return {("date", index, *cell): count for index, date in enumerate(dates) if date.offset is not None
            for cell, count in cells.items()}


def check_date_values(dataset: Any, path: str, bands: list[int], role: str = DATE_ROLE) -> None:
    """DataError when a date has no valid pixel in a bounded sample (all nodata, or all cloud masked)."""
    _, valid, sampled = sample_values(dataset, bands)
    if not valid.any():
        nodata = "" if dataset.nodata is None else f" (nodata value {dataset.nodata:g})"
        raise DataError(f"The {role} '{path}' has no valid pixel{' in the sampled windows' if sampled else ''}: "
                        f"every pixel is nodata{nodata}, NaN or masked (a cloud mask?), so no change can be seen. "
                        f"Give a date with data over the place, or check its nodata value (gdalinfo -stats).")
