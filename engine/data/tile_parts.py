"""Parts of a scene that overlapping tiles share: decoded image cells and warped aux blocks, made once each.

Reading sliding-window tiles one by one decodes the file blocks at tile borders, and warps the aux under them, once
per tile that touches them. When the tiles are known (inference), each cell and aux block is made once, by whichever
reader thread needs it first, and dropped after its last planned use (docs/bulk.md), so memory stays bounded by the
tiles in flight. A tile's values depend on the lattice, never on the plan or on which worker read it. The threads
share one :class:`SharedParts`: with a cache a thread, the blocks at the borders of the threads' bands were made
once per thread (8 threads on a 9-column grid decoded about 2.8x one reader's blocks).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

# Cells are whole file blocks, grown to at least a tile and this many pixels a side: fewer pieces per tile
MIN_CELL = 256
# A file whose blocks are larger than this (pixels) is read tile by tile as before: a cell must stay small
MAX_CELL_PIXELS = 4096 * 1024

Window = tuple[int, int, int, int]  # (col_off, row_off, width, height) in image pixels


class SharedParts:
    """A thread-safe store of parts, each made once and dropped after its planned number of uses.

    ``uses``: key -> how many times the planned reads take that part; a key not planned (or taken more often than
    planned) is made for that one use and not kept: results never depend on the plan. ``cells``, ``aux``: the
    layouts of the "cell" and "aux" parts (None: tiles read their own). ``made`` counts the parts made per kind
    (``key[0]``).
    """

    def __init__(self, uses: dict[Hashable, int], cells: CellLayout | None = None, aux: AuxLattice | None = None):
        self.cells = cells
        self.aux = aux
        self._uses = dict(uses)
        self._entries: dict[Hashable, SimpleNamespace] = {}  # key -> its lock and value (None: not made yet)
        self._lock = threading.Lock()  # guards _uses, _entries and the counters; never held while making a part
        self.made: Counter[str] = Counter()
        self.most_held = 0

    def take(self, key: tuple, make: Callable[[], Any]) -> Any:
        """The part ``key``, made by ``make()`` in the calling thread when nobody has made it yet."""
        with self._lock:
            entry = self._entries.get(key)  # an entry only while planned uses are left
            if entry is None and key in self._uses:
                entry = self._entries[key] = SimpleNamespace(lock=threading.Lock(), value=None)
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
    def for_blocks(cls, width: int, height: int, block_w: int, block_h: int, tile: int = 0) -> CellLayout | None:
        """Cells of whole ``block_w`` x ``block_h`` blocks, at least a ``tile`` (and MIN_CELL) a side where the
        image allows, so that a tile takes at most 2 x 2 cells (each read holds Python's lock, so fewer, larger reads
        hold it less per tile); MIN_CELL where such cells would be too large; None when the blocks are too large."""
        block_w, block_h = max(1, int(block_w)), max(1, int(block_h))
        if block_w * block_h > MAX_CELL_PIXELS:
            return None
        for side in dict.fromkeys((max(MIN_CELL, int(tile)), MIN_CELL)):
            cell_w = min(block_w * math.ceil(side / block_w), block_w * math.ceil(width / block_w))
            cell_h = min(block_h * math.ceil(side / block_h), block_h * math.ceil(height / block_h))
            if cell_w * cell_h <= MAX_CELL_PIXELS:  # long strips (e.g. 40000 x 1 blocks) grown to `side` rows
                return cls(int(width), int(height), int(cell_w), int(cell_h))
        return None

    def cells(self, col: int, row: int, width: int, height: int) -> Iterator[tuple[int, int]]:
        """(cell row, cell column) of the cells a window overlaps inside the image."""
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + width, self.width), min(row + height, self.height)
        if c1 > c0 and r1 > r0:
            for cy in range(r0 // self.cell_h, (r1 - 1) // self.cell_h + 1):
                yield from ((cy, cx) for cx in range(c0 // self.cell_w, (c1 - 1) // self.cell_w + 1))

    def window(self, cy: int, cx: int) -> Window:
        """The image window of cell (cy, cx), clipped to the image."""
        col, row = cx * self.cell_w, cy * self.cell_h
        return col, row, min(self.cell_w, self.width - col), min(self.cell_h, self.height - row)


Span = tuple[int, int, int]  # along one axis, in image pixels: (block start, first pixel owned, end of the owned run)


@dataclass(frozen=True)
class AuxLattice:
    """Where the aux of planned tiles is warped: blocks of a tile's size from the image's top-left corner, whole
    and inside the image, the last of each axis shifted inward to end at the edge, so that each is warped like a
    tile (docs/bulk.md; a block reaching past the image gave up to 9 % of a channel's range on real S2/S1/DEM tiles).
    The shifted block gives only the pixels the regular ones leave. In image pixels; a tile off the aux grid
    (``ratio``), or reaching where no block is (an image edge not on the aux grid), warps its own aux.
    """

    width: int
    height: int
    tile_w: int
    tile_h: int
    ratio: int

    @staticmethod
    def _spans(size: int, tile: int, ratio: int) -> list[Span]:
        if size <= tile:  # one block, reaching past a small image as its one tile does
            return [(0, 0, tile)]
        regular = [(i * tile, i * tile, (i + 1) * tile) for i in range((size - tile) // tile + 1)]
        end = regular[-1][2]
        if end < size and (size - tile) % ratio == 0:
            regular.append((size - tile, end, size))
        return regular

    @functools.cached_property
    def columns(self) -> list[Span]:
        return self._spans(self.width, self.tile_w, self.ratio)

    @functools.cached_property
    def rows(self) -> list[Span]:
        return self._spans(self.height, self.tile_h, self.ratio)

    def blocks(self, col: int, row: int, width: int, height: int) -> list[tuple[int, int]] | None:
        """(block row, block column) of the blocks a tile takes its aux from; None when it warps its own."""
        r = self.ratio
        if (min(col, row) < 0 or col % r or row % r or width % r or height % r
                or col + width > self.columns[-1][2] or row + height > self.rows[-1][2]):
            return None
        # pixel p belongs to block p // tile, the shifted last block taking all past the regular ones
        last_y, last_x = len(self.rows) - 1, len(self.columns) - 1
        ys = range(min(row // self.tile_h, last_y), min((row + height - 1) // self.tile_h, last_y) + 1)
        xs = range(min(col // self.tile_w, last_x), min((col + width - 1) // self.tile_w, last_x) + 1)
        return [(by, bx) for by in ys for bx in xs]

    def block(self, by: int, bx: int) -> Window:
        """The image window warped for block (by, bx): a tile's size."""
        return self.columns[bx][0], self.rows[by][0], self.tile_w, self.tile_h

    def owned(self, by: int, bx: int) -> tuple[Window, tuple[int, int]]:
        """The image window block (by, bx) gives its pixels to, and where that starts inside the block."""
        (x0, c0, c1), (y0, r0, r1) = self.columns[bx], self.rows[by]
        return (c0, r0, c1 - c0, r1 - r0), (c0 - x0, r0 - y0)

    @property
    def extent(self) -> tuple[int, int]:
        """Width and height covered by the regular blocks (image pixels): those whose start is their first pixel."""
        return (max(x + self.tile_w for x, start, _ in self.columns if x == start),
                max(y + self.tile_h for y, start, _ in self.rows if y == start))


def planned_uses(windows: Iterable[Window], cells: CellLayout | None, aux: AuxLattice | None) -> dict[tuple, int]:
    """How often reading ``windows`` takes each part (``aux`` None: no aux blocks)."""
    uses: Counter[tuple] = Counter()
    for col, row, width, height in windows:
        if cells is not None:
            uses.update(("cell", cy, cx) for cy, cx in cells.cells(col, row, width, height))
        if aux is not None:
            uses.update(("aux", by, bx) for by, bx in aux.blocks(col, row, width, height) or ())
    return dict(uses)


def assemble_window(parts: list[tuple[Window, np.ndarray, np.ndarray]], col: int, row: int, width: int,
                    height: int, bands: int, dtype: Any = np.float32,
                    out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A (bands, height, width) window of ``dtype`` and its validity mask from raw cells (window, data, ok) that
    cover its inside part; outside the cells and where a cell is invalid, 0 and invalid (as ``read_window``).
    Windows in the pixels of the grid the cells cut (image pixels; aux pixels for aux blocks). ``out``: the array
    to fill instead of a new one (a slice of a larger stack: the dates of a change model's tile)."""
    pieces = []
    for (c0, r0, w, h), data, ok in parts:
        x0, y0 = max(c0, col), max(r0, row)  # the overlap
        x1, y1 = min(c0 + w, col + width), min(r0 + h, row + height)
        pieces.append(((slice(y0 - row, y1 - row), slice(x0 - col, x1 - col)),
                       (slice(y0 - r0, y1 - r0), slice(x0 - c0, x1 - c0)), data, ok))
    covered = sum((p[0][0].stop - p[0][0].start) * (p[0][1].stop - p[0][1].start) for p in pieces)
    whole = covered == width * height  # cells do not overlap: the window lies inside the image
    make = np.empty if whole else np.zeros
    if out is None:
        out = make((bands, height, width), dtype=dtype)
    elif not whole:
        out[...] = 0
    valid = make((height, width), dtype=bool)
    for (ys, xs), (cys, cxs), data, ok in pieces:
        out[:, ys, xs] = data[:, cys, cxs]  # the one cast (to float32, unless the file's dtype is kept)
        valid[ys, xs] = ok[cys, cxs]
    if not valid.all():
        out[:, ~valid] = 0.0
    return out, valid
