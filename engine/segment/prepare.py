"""Tile preparation: one tile read, checked for valid pixels, normalised (or left raw) and mirror-padded.

The one definition used by the reader threads (``reader``) and the reader processes (``reader_pool``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tiling import Tile


def _mirror_pad(array: np.ndarray, size: int, inside_h: int, inside_w: int, dtype: Any = np.float32) -> np.ndarray:
    """(..., size, size) with the part past the image's right/bottom edge mirrored from inside it."""
    if inside_h < size or inside_w < size:
        pad = ((0, 0),) * (array.ndim - 2) + ((0, size - inside_h), (0, size - inside_w))
        array = np.pad(array[..., :inside_h, :inside_w], pad, mode="symmetric")
    return np.ascontiguousarray(array, dtype=dtype)


def prepare_tile(tile: Tile, reader: Any, stats: dict[str, tuple[Any, Any, Any]], use_region_mask: bool,
                 normalise: bool = True) -> tuple[np.ndarray, dict, dict, np.ndarray | None] | None:
    """Read and normalise one tile: (valid, vision per stats key, aux per stats key, keep), or None when the tile
    has no valid pixel. The one definition used by the reader threads and the reader processes.

    ``normalise=False`` leaves the vision values raw (a GPU normalises them, ``vision_on_device``: 14-20 % of a
    tile's reading CPU on the bench scene), in the file's dtype where it is an 8/16-bit integer (half the bytes
    of float32 or less to batch and copy), and returns ``keep``, where the normalised values stay (mirror-padded
    like the tile); else ``keep`` is None."""
    size = tile.size
    arrays = reader.read(tile.col, tile.row, size, size, keep_dtype=not normalise)
    valid = arrays.valid
    if use_region_mask:
        from ..data.align import tile_grid

        valid = valid & reader.region.mask(tile_grid(reader.grid, tile.col, tile.row, size, size))
    if not valid.any():
        return None
    # only an image smaller than a tile reaches past its right/bottom edge: mirror the image there
    inside_h = min(size, reader.grid.height - tile.row)
    inside_w = min(size, reader.grid.width - tile.col)
    vision, aux = {}, {}
    keep = None if normalise else _mirror_pad(valid, size, inside_h, inside_w, dtype=bool)
    for key, (vstats, astats, selection) in stats.items():
        raw, x = selection.split(arrays.vision) if selection.active else (arrays.vision, None)
        if normalise:
            vision[key] = _mirror_pad(vstats.apply(raw, arrays.valid & valid), size, inside_h, inside_w)
        else:  # raw, in the file's dtype where it is an 8/16-bit integer (vision_on_device)
            vision[key] = _mirror_pad(raw, size, inside_h, inside_w, dtype=raw.dtype)
        x = None if x is None else x.astype(np.float32, copy=False)
        if astats is not None and x is not None:  # X bands of the image itself (CMX)
            aux[key] = _mirror_pad(astats.apply(x, arrays.valid & valid), size, inside_h, inside_w)
        elif astats is not None and arrays.aux is not None:
            aux[key] = np.ascontiguousarray(astats.apply(arrays.aux, arrays.aux_valid), dtype=np.float32)
        else:
            aux[key] = None
    return valid, vision, aux, keep
