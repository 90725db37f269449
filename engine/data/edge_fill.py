"""An image's fill collar: whole rows or columns at its edges where every pixel holds one and the same value in every
band (a clipped mosaic's border, a padded tile), with no nodata declared for it. Such a collar is not imagery, and a
model trained or run on it paints it as a class; the image readers read it as nodata (:func:`find_collar` once an
image, its ``inside`` given to :func:`~engine.data.raster.read_raw`). Only whole edge lines of exactly the collar's
one value count: uniform imagery (a lake, a flat roof) inside the scene, or along only part of an edge, stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .raster import read_raw

#: Pixels read at a time along an edge line; a line of imagery differs within the first chunk, so an image without a
#: collar costs four small reads.
EDGE_CHUNK = 1024
#: Edge lines shorter than this are not judged: a handful of pixels can be one value by chance.
MIN_LINE = 16


@dataclass(frozen=True)
class Collar:
    """The fill collar of an image: ``inside`` (col0, row0, col1, row1), the pixels of the image proper; every pixel
    outside it is the fill ``value`` (one per band read)."""

    inside: tuple[int, int, int, int]
    value: tuple[float, ...]
    width: int
    height: int

    def said(self, path: str) -> str:
        """The log's line naming ``path``: which edges, how many lines, the value."""
        c0, r0, c1, r1 = self.inside
        sides = [(r0, "top row"), (self.height - r1, "bottom row"), (c0, "left column"),
                 (self.width - c1, "right column")]
        where = ", ".join(f"{n} {side}{'s' if n > 1 else ''}" for n, side in sides if n)
        value = ", ".join(f"{v:g}" for v in self.value)
        return (f"The image '{path}' has a fill collar ({where}: every pixel ({value}) in every band, no nodata "
                f"declared for it): read as nodata, so no training tile, validation score or output pixel comes from "
                f"it.")


def _line(dataset: Any, bands: list[int], vertical: bool, index: int, value: np.ndarray | None
          ) -> tuple[np.ndarray | None, bool]:
    """(the line's one value per band, else None; whether any of its pixels is valid by the file's own rule) of row
    (or, ``vertical``, column) ``index``, read chunk by chunk and given up at the first pixel that differs."""
    length = dataset.height if vertical else dataset.width
    any_valid = False
    for start in range(0, length, EDGE_CHUNK):
        n = min(EDGE_CHUNK, length - start)
        window = (index, start, 1, n) if vertical else (start, index, n, 1)
        data, ok = read_raw(dataset, *window, bands)
        data = data.reshape(len(bands), -1)
        if value is None:
            value = data[:, 0].copy()
        if not (data == value[:, None]).all():  # NaN is never equal: a NaN line is no collar (NaN is nodata anyway)
            return None, any_valid
        any_valid = any_valid or bool(ok.any())
    return value, any_valid


def _depth(dataset: Any, bands: list[int], vertical: bool, length: int, from_end: bool, value: np.ndarray | None
           ) -> tuple[int, np.ndarray | None, bool]:
    """(how many lines from one side are the collar's one value, that value, whether a probed line holds a pixel
    the file calls valid). The collar's lines are contiguous from the edge, so lines 1, 2, 4, ... are probed until
    one is imagery, then the boundary is halved down: a few dozen lines read, not every line of a flat stretch (a
    65536 px sparse image took minutes line by line)."""
    def probe(n: int) -> tuple[np.ndarray | None, bool]:
        return _line(dataset, bands, vertical, length - 1 - n if from_end else n, value)

    value, any_valid = probe(0)
    if value is None:
        return 0, None, any_valid
    known, k = 1, 1  # lines before ``known`` are the collar; line ``beyond`` is not
    beyond = length
    while k < length:
        found, valid = probe(k)
        if found is None:
            beyond = k
            break
        known, any_valid = k + 1, any_valid or valid
        k = min(2 * k, length - 1) if k < length - 1 else length
    while known < beyond:
        middle = (known + beyond) // 2
        found, valid = probe(middle)
        if found is None:
            beyond = middle
        else:
            known, any_valid = middle + 1, any_valid or valid
    return known, value, any_valid


def find_collar(dataset: Any, bands: list[int]) -> Collar | None:
    """The fill collar of the open image ``dataset`` read in ``bands``, or None: none, one band (no colour tells fill
    from a flat edge of data), edges too short to judge, a collar that would leave nothing (a flat image, which the
    data checks name), or one the file already marks as nodata (its nodata value, mask or alpha band)."""
    width, height = dataset.width, dataset.height
    if width < MIN_LINE or height < MIN_LINE or len(bands) < 2:
        return None  # one band: a sea at 0 or a snowfield along a DEM's or an index's edge is data
    value: np.ndarray | None = None
    depth = {}
    any_valid = False
    # each side's collar depth; the first uniform edge line sets the collar's value for the others
    for side, vertical, length, from_end in (("top", False, height, False), ("bottom", False, height, True),
                                             ("left", True, width, False), ("right", True, width, True)):
        n, found, valid = _depth(dataset, bands, vertical, length, from_end, value)
        if n == length:  # every line of the image is the one value: a flat image, not a collar
            return None
        value = found if found is not None else value
        depth[side], any_valid = n, any_valid or valid
    inside = (depth["left"], depth["top"], width - depth["right"], height - depth["bottom"])
    if value is None or not any_valid or inside[2] <= inside[0] or inside[3] <= inside[1]:
        return None
    return Collar(inside, tuple(float(v) for v in value), width, height)
