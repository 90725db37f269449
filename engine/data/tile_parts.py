"""Parts of a scene that overlapping tiles share: decoded image cells and warped aux blocks, made once each.

Sliding-window tiles overlap, and a tile's window cuts through the image file's blocks, so reading tile by tile
decodes the blocks at tile borders once per tile that touches them, and warps the aux under them as often. When
the tiles to read are known (inference), the image is read in cells (whole blocks, at least ~256 px a side) and
the aux in blocks of a tile's size on a lattice from the image's top-left corner (warped through GDAL warped VRTs,
``align.warped_blocks``); each part is made once, by whichever reader thread needs it first, handed to every tile
that needs it, and dropped after the last of them (use counts from the tile plan), so memory stays bounded by the
tiles in flight. A tile's values depend on the lattice, never on the plan or on which worker read it.

Reader threads share one :class:`SharedParts`. Before it each thread kept its own GDAL block cache and aux strips:
the blocks and strips at the borders of the threads' bands were made once per thread, and more threads made more
of them (2 threads on a 2048² scene decoded 82 blocks where one reader decoded 64; 8 threads on a 9-column grid,
one or two columns each, decode nearly every block of every tile: about 2.8x one reader's blocks).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

# Cells are whole file blocks, grown to at least this many pixels a side: fewer pieces per tile for small blocks
MIN_CELL = 256
# A file whose blocks are larger than this (pixels) is read tile by tile as before: a cell must stay small
MAX_CELL_PIXELS = 4096 * 1024

Window = tuple[int, int, int, int]  # (col_off, row_off, width, height) in image pixels


class _Entry:
    __slots__ = ("lock", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: Any = None


class SharedParts:
    """A thread-safe store of parts, each made once and dropped after its planned number of uses.

    Args:
        uses: key -> how many times the planned reads will take that part. A key not planned (or taken more
            often than planned) is made for that one use and not kept: results never depend on the plan.

    ``key[0]`` names the kind of part ("cell", "aux"); ``made`` counts the parts made per kind.
    """

    def __init__(self, uses: dict[Hashable, int]):
        self._uses = dict(uses)
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()  # guards _uses, _entries and the counters; never held while making a part
        self.made: Counter[str] = Counter()
        self.most_held = 0

    def take(self, key: tuple, make: Callable[[], Any]) -> Any:
        """The part ``key``, made by ``make()`` in the calling thread when nobody has made it yet."""
        with self._lock:
            if key not in self._uses:
                entry = None
            else:
                entry = self._entries.get(key)
                if entry is None:
                    entry = self._entries[key] = _Entry()
                    self.most_held = max(self.most_held, len(self._entries))
        if entry is None:  # not planned: this use only
            value = make()
            self.count(key[0])
            return value
        with entry.lock:  # a second thread needing the same part waits here while the first makes it
            if entry.value is None:
                entry.value = make()  # an error leaves it unmade: the next taker tries again (and fails alike)
                self.count(key[0])
            value = entry.value
        with self._lock:
            left = self._uses.get(key)  # None: another thread took the last planned use of an over-taken part
            if left is not None and left > 1:
                self._uses[key] = left - 1
            elif left is not None:
                del self._uses[key]
                self._entries.pop(key, None)
        return value

    def count(self, what: str) -> None:
        with self._lock:
            self.made[what] += 1

    @property
    def held(self) -> int:
        """Parts in memory now."""
        with self._lock:
            return len(self._entries)


@dataclass(frozen=True)
class CellLayout:
    """The image cut into cells of whole file blocks: ``cell_w`` x ``cell_h`` pixels (the last ones clipped)."""

    width: int
    height: int
    cell_w: int
    cell_h: int

    @classmethod
    def for_blocks(cls, width: int, height: int, block_w: int, block_h: int) -> CellLayout | None:
        """Cells of whole ``block_w`` x ``block_h`` blocks, >= MIN_CELL a side where the image allows; None when
        the blocks are too large to be cells (e.g. a strip the size of the image)."""
        block_w, block_h = max(1, int(block_w)), max(1, int(block_h))
        if block_w * block_h > MAX_CELL_PIXELS:
            return None
        cell_w = min(block_w * math.ceil(MIN_CELL / block_w), block_w * math.ceil(width / block_w))
        cell_h = min(block_h * math.ceil(MIN_CELL / block_h), block_h * math.ceil(height / block_h))
        if cell_w * cell_h > MAX_CELL_PIXELS:  # long strips (e.g. 40000 x 1 blocks) grown to 256 rows
            return None
        return cls(int(width), int(height), int(cell_w), int(cell_h))

    def cells(self, col: int, row: int, width: int, height: int) -> Iterator[tuple[int, int]]:
        """(cell row, cell column) of the cells a window overlaps inside the image."""
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + width, self.width), min(row + height, self.height)
        if c1 <= c0 or r1 <= r0:
            return
        for cy in range(r0 // self.cell_h, (r1 - 1) // self.cell_h + 1):
            for cx in range(c0 // self.cell_w, (c1 - 1) // self.cell_w + 1):
                yield cy, cx

    def window(self, cy: int, cx: int) -> Window:
        """The image window of cell (cy, cx), clipped to the image."""
        col, row = cx * self.cell_w, cy * self.cell_h
        return col, row, min(self.cell_w, self.width - col), min(self.cell_h, self.height - row)


def aux_window(col: int, row: int, width: int, height: int, blocks: CellLayout, ratio: int) -> Window | None:
    """A tile's window on the aux block lattice ``blocks`` (aux pixels), or None when the tile is not on the aux
    grid or reaches past the lattice (it warps its own aux)."""
    if min(col, row) < 0 or col % ratio or row % ratio or width % ratio or height % ratio:
        return None
    window = (col // ratio, row // ratio, width // ratio, height // ratio)
    if window[0] + window[2] > blocks.width or window[1] + window[3] > blocks.height:
        return None
    return window


def planned_uses(windows: Iterable[Window], cells: CellLayout | None, aux_blocks: CellLayout | None,
                 ratio: int) -> dict[tuple, int]:
    """How often reading ``windows`` takes each part (``aux_blocks`` None: no aux blocks)."""
    uses: Counter[tuple] = Counter()
    for col, row, width, height in windows:
        if cells is not None:
            uses.update(("cell", cy, cx) for cy, cx in cells.cells(col, row, width, height))
        aux = None if aux_blocks is None else aux_window(col, row, width, height, aux_blocks, ratio)
        if aux is not None:
            uses.update(("aux", cy, cx) for cy, cx in aux_blocks.cells(*aux))
    return dict(uses)


def assemble_window(parts: list[tuple[Window, np.ndarray, np.ndarray]], col: int, row: int, width: int,
                    height: int, bands: int) -> tuple[np.ndarray, np.ndarray]:
    """A float32 (bands, height, width) window and its validity mask from raw cells (window, data, ok) that
    cover its inside part; outside the cells and where a cell is invalid, 0 and invalid (as ``read_window``).
    Windows in the pixels of the grid the cells cut (image pixels; aux pixels for aux blocks)."""
    pieces = []
    for (c0, r0, w, h), data, ok in parts:
        x0, y0 = max(c0, col), max(r0, row)  # the overlap
        x1, y1 = min(c0 + w, col + width), min(r0 + h, row + height)
        pieces.append(((slice(y0 - row, y1 - row), slice(x0 - col, x1 - col)),
                       (slice(y0 - r0, y1 - r0), slice(x0 - c0, x1 - c0)), data, ok))
    covered = sum((p[0][0].stop - p[0][0].start) * (p[0][1].stop - p[0][1].start) for p in pieces)
    whole = covered == width * height  # cells do not overlap: the window lies inside the image
    make = np.empty if whole else np.zeros
    out = make((bands, height, width), dtype=np.float32)
    valid = make((height, width), dtype=bool)
    for (ys, xs), (cys, cxs), data, ok in pieces:
        out[:, ys, xs] = data[:, cys, cxs]  # the one cast to float32
        valid[ys, xs] = ok[cys, cxs]
    if not valid.all():
        out[:, ~valid] = 0.0
    return out, valid
