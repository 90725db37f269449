"""Tile preparation: one tile read (the image mirrored where it reaches past it), checked for valid pixels,
normalised (or left raw); the one definition for the reader threads and the reader processes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..time_axis import join_dates, per_date
from .tiling import Tile


def mirror_indices(start: int, size: int, length: int) -> np.ndarray:
    """The image indices of ``size`` pixels from ``start`` along an axis of ``length`` pixels, mirrored past its
    ends with the edge pixel repeated (``np.pad``'s symmetric mode, again and again past a short axis)."""
    index = np.arange(start, start + size) % (2 * length)
    return np.where(index >= length, 2 * length - 1 - index, index)


def source_window(tile: Tile, width: int, height: int) -> tuple[int, int, int, int]:
    """The image window (col, row, width, height) read for ``tile`` in an image of ``width`` x ``height``: its own,
    or where it reaches past the image, the part its mirrored pixels come from (``share_parts`` plans with them)."""
    size = tile.size
    if tile.col >= 0 and tile.row >= 0 and tile.col + size <= width and tile.row + size <= height:
        return tile.window
    rows, cols = mirror_indices(tile.row, size, height), mirror_indices(tile.col, size, width)
    return int(cols.min()), int(rows.min()), int(cols.max() - cols.min()) + 1, int(rows.max() - rows.min()) + 1


def read_tile(tile: Tile, reader: Any, use_region_mask: bool) -> tuple[Any, np.ndarray]:
    """The tile's arrays (``SceneReader.read``, the file's dtype) and where it is valid (within the AOI when
    ``use_region_mask``). Past the image's edges the image is mirrored (values, validity, AOI mask, X bands), so
    the model sees image-like context rather than zeros; aux rasters are read at the tile's own place."""
    from ..data.align import tile_grid

    grid, size = reader.grid, tile.size
    col, row, width, height = window = source_window(tile, grid.width, grid.height)
    arrays = reader.read(col, row, width, height, keep_dtype=True)
    valid = arrays.valid
    if use_region_mask:
        valid = valid & reader.region.mask(tile_grid(grid, col, row, width, height))
    if window == tile.window:
        return arrays, valid
    rows, cols = np.ix_(mirror_indices(tile.row, size, grid.height) - row,
                        mirror_indices(tile.col, size, grid.width) - col)
    aux, aux_valid = arrays.aux, arrays.aux_valid
    if reader.selection.x:
        aux, aux_valid = aux[:, rows, cols], aux_valid[rows, cols]
    elif aux is not None:
        aux, aux_valid = reader.read_aux(tile.col, tile.row, size, size)
    date_valid = None if arrays.date_valid is None else arrays.date_valid[:, rows, cols]
    arrays = replace(arrays, vision=arrays.vision[:, rows, cols], valid=arrays.valid[rows, cols], aux=aux,
                     aux_valid=aux_valid, label=None, date_valid=date_valid,
                     transform=tile_grid(grid, tile.col, tile.row, size, size).transform)
    return arrays, valid[rows, cols]


def prepare_tile(tile: Tile, reader: Any, stats: dict[str, tuple[Any, Any, Any]], use_region_mask: bool,
                 normalise: bool = True) -> tuple[np.ndarray, dict, dict] | None:
    """One tile read and normalised: (valid, vision per stats key, aux per stats key); None: no valid pixel.

    The tile is read in the file's dtype where it is an 8/16-bit integer: normalising makes it float32 (exact for
    such integers) without a float32 copy of the raw tile, and ``normalise=False`` leaves it raw for a GPU to
    normalise (14-20 % of a tile's reading CPU on the bench scene; half the bytes of float32 or less to copy)."""
    arrays, valid = read_tile(tile, reader, use_region_mask)
    if not valid.any():
        return None
    vision, aux = {}, {}
    for key, (vstats, astats, selection) in stats.items():
        raw, x = selection.split(arrays.vision) if selection.active else (arrays.vision, None)
        vision[key] = np.ascontiguousarray(vstats.apply(raw, valid) if normalise else raw,
                                           dtype=np.float32 if normalise else None)
        # X bands of the image itself (CMX), else the aux rasters
        data, mask = (x.astype(np.float32, copy=False), valid) if x is not None else (arrays.aux, arrays.aux_valid)
        aux[key] = (None if astats is None or data is None
                    else np.ascontiguousarray(astats.apply(data, mask), dtype=np.float32))
    return valid, vision, aux


def prepare_season_tile(tile: Tile, reader: Any, stats: dict[str, tuple[Any, Any, Any]],
                        use_region_mask: bool) -> tuple[np.ndarray, dict, dict, np.ndarray] | None:
    """A season's tile (``SceneReader(each_date=True)``): as :func:`prepare_tile`, each date normalised with the one
    set of band statistics over its own valid pixels, and each date's validity (T, h, w) beside; None: no date holds
    a valid pixel."""
    arrays, valid = read_tile(tile, reader, use_region_mask)
    if not valid.any():
        return None
    date_valid = (arrays.valid[None] if arrays.date_valid is None else arrays.date_valid) & valid
    vision, aux = {}, {}
    for key, (vstats, astats, _) in stats.items():
        each = [vstats.apply(v, ok) for v, ok in zip(per_date(arrays.vision, len(date_valid), axis=0), date_valid)]
        vision[key] = np.ascontiguousarray(join_dates(each, axis=0), dtype=np.float32)
        aux[key] = (None if astats is None or arrays.aux is None
                    else np.ascontiguousarray(astats.apply(arrays.aux, arrays.aux_valid), dtype=np.float32))
    return valid, vision, aux, date_valid
