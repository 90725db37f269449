"""Where tiles come from: scene regions, the spatial hold-out (which pixels validate a training that has no
validation scenes), the validation grid and random tiles.

The regions, the split and the sampler work in pixel coordinates of a scene's vision grid and are pure numpy, so
they are cheap to pickle into DataLoader workers and easy to test without rasters.

Spatial hold-out (used when no validation scenes or folder are given): each training scene is cut into two
bands across its longer axis. A band of ``max(tile_size, val_fraction * length)`` pixels at the start or
at the end of the axis becomes validation, the rest training: the end whose band leaves every class the scene's
labels hold some training pixels (the label scan counts each class in both bands), the seed's choice where both
ends do or neither does (then the log names the class training never sees). Training windows are
clipped to their region and any pixel of a training window outside its region is masked (label ignore,
input 0), so no validation pixel is ever seen in training and validation tiles never overlap training tiles.

A labelled area of separate parts (the squares a user labelled in the labelling loop's first round) gives whole
parts instead: a band of the scene would hold a square or none by chance (then nothing scores the epochs) and cut
the others, while held-out squares are labelled by definition. The parts are the pixel boxes of the area's polygons
(boxes that overlap merged); the validation takes whole parts at random until they hold ``val_fraction``
of the parts' area, at least one and never all, preferring parts that show a class other than 0 (so the epochs are
scored on the classes) but leaving one such part to training. The training region keeps the whole scene with the
held-out parts as holes (their pixels masked in every training tile, never drawn around), so training tiles keep
their context.

Random training tiles are drawn from a coarse per-scene index of cells (``cell`` px squares) that hold
labelled pixels and of cells that hold foreground; a forced-foreground tile is placed so that one
foreground pixel of a random foreground cell lies in its central half (the CropNonEmptyMaskIfExists
behaviour), an ordinary tile around a random pixel of a random labelled cell (uniform over labelled area).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..callbacks import QuietCallback
from ..config import AugmentConfig
from ..errors import DualStreamError
from .augment import AugmentParams, sample_params, window_size

DEFAULT_CELL = 16
MIN_PARTS = 2  # a labelled area's parts to hold out: one to validate on and one to train on


@dataclass(frozen=True)
class Region:
    """A pixel rectangle on a scene's vision grid: columns ``[col, col+width)``, rows ``[row, row+height)``, less its
    ``holes`` (rectangles held out of it: the parts of a labelled area that validate: :func:`split_parts`)."""

    col: int
    row: int
    width: int
    height: int
    holes: tuple[Region, ...] = ()

    @property
    def area(self) -> int:
        return self.width * self.height

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether pixels (``x``, ``y``) lie in the rectangle and in none of its holes."""
        inside = (x >= self.col) & (x < self.col + self.width) & (y >= self.row) & (y < self.row + self.height)
        for hole in self.holes:
            inside &= ~hole.contains(x, y)
        return inside

    def intersects(self, other: Region) -> bool:
        return self.intersection(other) is not None

    def intersection(self, other: Region) -> Region | None:
        c0, r0 = max(self.col, other.col), max(self.row, other.row)
        c1 = min(self.col + self.width, other.col + other.width)
        r1 = min(self.row + self.height, other.row + other.height)
        return Region(c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None


def holdout_ends(width: int, height: int, val_fraction: float, tile_size: int) -> list[tuple[Region, Region]]:
    """The two ``(train, val)`` splits of a ``width x height`` scene (module doc): validation at the start of the
    longer axis, then at its end; ``[]`` when ``val_fraction`` is 0 or the scene is too short to hold both a
    training and a validation part of at least one pixel."""
    horizontal = width >= height  # cut across the longer axis
    length = width if horizontal else height
    if val_fraction <= 0 or length < 2:
        return []
    val_len = max(round(val_fraction * length), min(tile_size, length // 2))
    # Keep at least one tile (or half the scene, if smaller) for training.
    val_len = max(min(val_len, length - min(tile_size, (length + 1) // 2)), 1)
    train_len = length - val_len
    ends = []
    for train_start, val_start in ((val_len, 0), (0, length - val_len)):
        if horizontal:
            ends.append((Region(train_start, 0, train_len, height), Region(val_start, 0, val_len, height)))
        else:
            ends.append((Region(0, train_start, width, train_len), Region(0, val_start, width, val_len)))
    return ends


def holdout_split(width: int, height: int, val_fraction: float, tile_size: int,
                  rng: np.random.Generator) -> tuple[Region, Region | None]:
    """``(train, val)`` regions of a ``width x height`` scene, the end held out drawn from ``rng`` (before the labels
    are read: :func:`keep_every_class` may take the other end); ``val`` None as :func:`holdout_ends` gives none."""
    ends = holdout_ends(width, height, val_fraction, tile_size)
    if not ends:
        return Region(0, 0, width, height), None
    return ends[seeded_end(rng)]


def seeded_end(rng: np.random.Generator) -> int:
    """The end of :func:`holdout_ends` the seed holds out: 0 (the start) or 1."""
    return 0 if rng.random() < 0.5 else 1


def grid_windows(region: Region, tile_size: int) -> list[tuple[int, int]]:
    """Top-left corners of a fixed, non-overlapping grid of tiles covering ``region`` (the last row/column may
    stick out: the dataset pads it)."""
    cols = range(region.col, region.col + region.width, tile_size)
    rows = range(region.row, region.row + region.height, tile_size)
    return [(c, r) for r in rows for c in cols]


@dataclass
class CellIndex:
    """Coarse per-scene index (sizes in pixels): cells with labelled pixels and cells with foreground, by flat index
    (row-major over the cell grid)."""

    width: int
    height: int
    cell: int = DEFAULT_CELL
    valid_cells: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # >= 1 labelled pixel
    fg_cells: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # >= 1 foreground pixel
    # for each fg cell, the flat offset (row * cell + col) of one foreground pixel inside it
    fg_offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    fg_pixels: int = 0
    labelled_pixels: int = 0

    @property
    def grid_shape(self) -> tuple[int, int]:
        return -(-self.height // self.cell), -(-self.width // self.cell)

    def cell_origin(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(col, row) pixel origins of cells given by flat index."""
        ncols = self.grid_shape[1]
        return (flat % ncols) * self.cell, (flat // ncols) * self.cell

    def foreground_in(self, region: Region) -> np.ndarray:
        """Whether each foreground cell's foreground pixel lies in ``region``."""
        fc, fr = self.cell_origin(self.fg_cells)
        return region.contains(fc + self.fg_offsets % self.cell, fr + self.fg_offsets // self.cell)

    def within(self, region: Region) -> CellIndex:
        """This index less the cells whose labelled (foreground) pixel lies outside ``region``."""
        c = self.cell
        vc, vr = self.cell_origin(self.valid_cells)
        valid = self.valid_cells[region.contains(np.minimum(vc + c // 2, self.width - 1),
                                                 np.minimum(vr + c // 2, self.height - 1))]
        inside = self.foreground_in(region)
        return replace(self, valid_cells=valid, fg_cells=self.fg_cells[inside], fg_offsets=self.fg_offsets[inside])


class CellIndexBuilder:
    """Accumulates a :class:`CellIndex` from label blocks (their offsets: multiples of the cell size)."""

    def __init__(self, width: int, height: int, cell: int = DEFAULT_CELL):
        self.index = CellIndex(width, height, cell)
        self._valid: list[np.ndarray] = []
        self._fg: list[np.ndarray] = []
        self._off: list[np.ndarray] = []

    def add(self, col_off: int, row_off: int, foreground: np.ndarray, labelled: np.ndarray) -> None:
        """Add one block: ``foreground`` and ``labelled`` are (h, w) bool masks at (col_off, row_off)."""
        c = self.index.cell
        h, w = foreground.shape
        ph, pw = -(-h // c) * c, -(-w // c) * c
        fg, lab = (np.pad(np.asarray(mask, bool), ((0, ph - h), (0, pw - w))) for mask in (foreground, labelled))
        nh, nw = ph // c, pw // c
        ncols = self.index.grid_shape[1]
        # (nh, nw, c*c) view of the block's cells
        fg_cells = fg.reshape(nh, c, nw, c).transpose(0, 2, 1, 3).reshape(nh, nw, c * c)
        rows, cols = np.nonzero(lab.reshape(nh, c, nw, c).any(axis=(1, 3)))
        base_r, base_c = row_off // c, col_off // c
        self._valid.append((rows + base_r) * ncols + cols + base_c)
        rows, cols = np.nonzero(fg_cells.any(axis=2))
        self._fg.append((rows + base_r) * ncols + cols + base_c)
        self._off.append(fg_cells[rows, cols].argmax(axis=1).astype(np.int32))
        self.index.fg_pixels += int(foreground.sum())
        self.index.labelled_pixels += int(labelled.sum())

    def build(self) -> CellIndex:
        idx = self.index
        if self._valid:
            idx.valid_cells = np.sort(np.concatenate(self._valid).astype(np.int64))
            fg = np.concatenate(self._fg).astype(np.int64)
            order = np.argsort(fg, kind="stable")
            idx.fg_cells, idx.fg_offsets = fg[order], np.concatenate(self._off)[order]
        return idx


@dataclass(frozen=True)
class TilePlan:
    """What to read and how to augment it for one training sample."""

    scene: int
    col: int  # read window top-left on the scene's vision grid
    row: int
    size: int  # read window side S
    region: Region  # pixels of the window outside this region are masked
    params: AugmentParams
    forced_foreground: bool


class TileSampler:
    """Random training tiles over ``(scene, Region)`` pairs (``indexes``: a :class:`CellIndex` a scene),
    reproducible from (seed, epoch, index). Read windows are multiples of ``aux_ratio``; ``foreground_share`` of the
    tiles are forced to contain foreground (when any exists); ``augment`` None: scale 1, no flips."""

    def __init__(self, indexes: list[CellIndex], regions: list[tuple[int, Region]], tile_size: int,
                 aux_ratio: int, foreground_share: float, augment: AugmentConfig | None, seed: int):
        self.tile_size = tile_size
        self.aux_ratio = aux_ratio
        self.foreground_share = foreground_share
        self.augment = augment
        self.seed = seed
        self.indexes = indexes
        # (scene, region, its scene's index less the cells whose labelled (foreground) pixel lies out)
        self.parts = [(scene, region, indexes[scene].within(region)) for scene, region in regions]
        self._valid_cum = np.cumsum([len(cells.valid_cells) for _, _, cells in self.parts])
        self._fg_cum = np.cumsum([len(cells.fg_cells) for _, _, cells in self.parts])
        self.has_foreground = bool(len(self._fg_cum) and self._fg_cum[-1] > 0)
        self.has_labelled = bool(len(self._valid_cum) and self._valid_cum[-1] > 0)

    def plan(self, epoch: int, index: int) -> TilePlan:
        """The tile for sample ``index`` of ``epoch`` (same inputs -> same tile)."""
        rng = np.random.default_rng([self.seed, epoch, index])
        params = sample_params(rng, self.augment) if self.augment is not None else AugmentParams()
        size = window_size(self.tile_size, params.scale, self.aux_ratio)
        forced = self.has_foreground and bool(rng.random() < self.foreground_share)
        u = rng.random(4)
        if forced or self.has_labelled:  # a random foreground (labelled) pixel of a random such cell
            part, k = _pick(self._fg_cum if forced else self._valid_cum, u[0])
            scene, region, idx = self.parts[part]
            oc, orow = idx.cell_origin((idx.fg_cells if forced else idx.valid_cells)[k:k + 1])
        if forced:
            off = int(idx.fg_offsets[k])
            # Foreground pixel somewhere in the central half of the window (stays in after a small rotation).
            col = int(oc[0]) + off % idx.cell - int(size * (0.25 + 0.5 * u[1]))
            row = int(orow[0]) + off // idx.cell - int(size * (0.25 + 0.5 * u[2]))
        elif self.has_labelled:
            col = int(oc[0]) + int(u[1] * idx.cell) - int(u[3] * size)
            row = int(orow[0]) + int(u[2] * idx.cell) - int(rng.random() * size)
        else:
            scene, region, _ = self.parts[int(u[0] * len(self.parts)) % len(self.parts)]
            col = region.col + int(u[1] * max(1, region.width - size + 1))
            row = region.row + int(u[2] * max(1, region.height - size + 1))
        col = _clamp(col, size, region.col, region.width)
        row = _clamp(row, size, region.row, region.height)
        return TilePlan(scene, col, row, size, region, params, forced)


def _clamp(start: int, size: int, lo: int, length: int) -> int:
    """Keep a window inside ``[lo, lo+length)`` when it fits, else centre it on the range."""
    if size <= length:
        return min(max(start, lo), lo + length - size)
    return lo - (size - length) // 2


def _pick(cum: np.ndarray, u: float) -> tuple[int, int]:
    """Uniform item over concatenated parts: (part, index within part)."""
    total = int(cum[-1])
    flat = min(int(u * total), total - 1)
    part = int(np.searchsorted(cum, flat, side="right"))
    return part, flat - (int(cum[part - 1]) if part else 0)  # less the items of the parts before


def region_mask(region: Region, col: int, row: int, size: int) -> np.ndarray | None:
    """(size, size) bool, True inside ``region`` (and outside its holes); None when the whole window is inside."""
    window = Region(col, row, size, size)
    holes = tuple(h for h in region.holes if h.intersects(window))
    if not holes and region.intersection(window) == window:
        return None
    cols, rows = np.arange(col, col + size), np.arange(row, row + size)
    return replace(region, holes=holes).contains(cols[None, :], rows[:, None])


def labelled_parts(reader: Any) -> list[Region]:
    """The pixel boxes of the labelled area's polygons on ``reader``'s grid, inside its region window, boxes that
    overlap merged (``[]`` without a labelled area)."""
    if not getattr(reader, "aoi", None) or not reader.region.parts or reader.region.empty:
        return []
    window = Region(*reader.region_window())
    boxes = []
    for shape, _ in reader.region.parts[-1]:  # the labelled area's polygons (an extent, if any, is the first part)
        c0, r0, c1, r1 = reader.pixel_box(shape.bbox, slack=1e-6)
        box = Region(c0, r0, c1 - c0, r1 - r0).intersection(window) if c1 > c0 and r1 > r0 else None
        if box is not None:
            boxes.append(box)
    return merge_boxes(boxes)


def merge_boxes(boxes: list[Region]) -> list[Region]:
    """Boxes that overlap merged into their bounding box, until none do (boxes that only touch stay apart: squares
    labelled side by side are parts each); sorted by (row, col)."""
    merged = list(boxes)
    while overlap := next(((i, j) for i in range(len(merged)) for j in range(i + 1, len(merged))
                           if merged[i].intersects(merged[j])), None):
        i, j = overlap
        a, b = merged[i], merged.pop(j)
        c0, r0 = min(a.col, b.col), min(a.row, b.row)
        c1, r1 = max(a.col + a.width, b.col + b.width), max(a.row + a.height, b.row + b.height)
        merged[i] = Region(c0, r0, c1 - c0, r1 - r0)
    return sorted(merged, key=lambda r: (r.row, r.col))


def hold_out_parts(parts: list[Region], index: CellIndex, fraction: float,
                   rng: np.random.Generator) -> tuple[list[Region], list[Region]]:
    """(training parts, validation parts) of a labelled area of ``MIN_PARTS`` or more parts (module docstring)."""
    order = [int(i) for i in rng.permutation(len(parts))]
    with_fg = [i for i in order if index.foreground_in(parts[i]).any()]
    keep = with_fg[-1:]  # one part with foreground stays in training
    ranked = [i for i in with_fg if i not in keep] + [i for i in order if i not in with_fg] + keep
    total = sum(p.area for p in parts)
    chosen: list[int] = []
    for i in ranked[:len(parts) - 1]:
        chosen.append(i)
        if sum(parts[k].area for k in chosen) >= fraction * total:
            break
    return [p for i, p in enumerate(parts) if i not in chosen], [parts[i] for i in sorted(chosen)]


@dataclass
class Split:
    """Where a training's tiles come from and where its validation tiles lie."""

    train_regions: list[tuple[int, Region]]  # (scene, region)
    val_regions: list[tuple[int, Region]]  # (scene of the training or validation scenes, region)
    tile: int
    parts: dict[int, list[Region]]  # training scene -> its labelled area's parts, held out whole (split_parts)
    # training scene -> (the part split into bands, its two (train, val) ends, the seed's end) (choose_ends)
    ends: dict[int, tuple[Region, list[tuple[Region, Region]], int]] = field(default_factory=dict)
    overridden: list[str] = field(default_factory=list)  # what choose_ends said of the ends it took against the seed
    seed: int = 0
    val_fraction: float = 0.0
    squares: dict[int, str] = field(default_factory=dict)  # training scene -> why squares validate it, not a strip

    @property
    def val_windows(self) -> list[tuple[int, int, int, Region]]:
        """(scene, col, row, region) of the validation grid over each region."""
        return [(scene, c, r, region) for scene, region in self.val_regions for c, r in grid_windows(region, self.tile)]

    def held_out(self) -> dict[int, list[Region]]:
        """Training scene -> its validation regions (hold-out only)."""
        return {scene: [r for s, r in self.val_regions if s == scene] for scene, _ in self.val_regions}


def band_split(val_fraction: float, seed: int, tile: int, train_readers: list[Any], val_readers: list[Any],
               holdout: bool) -> Split:
    """The regions before the labels are scanned: each training scene whole (where every date holds data, for a
    scene of several dates), less its held-out band when validation is held out of the training scenes; the scenes
    whose labelled area has ``MIN_PARTS`` parts or more whole for now (see :func:`split_parts`). The band is the
    seed's end for now: :func:`choose_ends` may take the other once the labels are counted."""
    parts = {i: p for i, r in enumerate(train_readers) if holdout and len(p := labelled_parts(r)) >= MIN_PARTS}
    train_regions: list[tuple[int, Region]] = []
    val_regions: list[tuple[int, Region]] = []
    split_ends: dict[int, tuple[Region, list[tuple[Region, Region]], int]] = {}
    for i, reader in enumerate(train_readers):
        whole = Region(*reader.dates_window())  # where every date holds data
        ends = holdout_ends(whole.width, whole.height, val_fraction, tile) if holdout and i not in parts else []
        if ends:
            seeded = seeded_end(np.random.default_rng([seed, 7919, i]))
            ends = [(_shift(part, whole), _shift(val, whole)) for part, val in ends]
            split_ends[i] = (whole, ends, seeded)
            train_regions.append((i, ends[seeded][0]))
            val_regions.append((i, ends[seeded][1]))
        else:
            train_regions.append((i, whole))
    if not holdout:
        val_regions = [(i, Region(*r.dates_window())) for i, r in enumerate(val_readers)]
    return Split(train_regions, val_regions, tile, parts, split_ends, seed=seed, val_fraction=val_fraction)


def _shift(region: Region, by: Region) -> Region:
    return Region(by.col + region.col, by.row + region.row, region.width, region.height)


def split_parts(split: Split, indexes: list[CellIndex], val_fraction: float, seed: int) -> bool:
    """Hold whole parts of the scenes in ``split.parts`` out of ``split`` (after the labels were scanned into
    ``indexes``); returns whether a held-out part shows a class other than 0."""
    foreground = False
    for scene, boxes in sorted(split.parts.items()):
        rng = np.random.default_rng([seed, 7919, scene])
        _, held = hold_out_parts(boxes, indexes[scene], val_fraction, rng)
        region = split.train_regions[scene][1]  # band_split gives each training scene one region, in order
        split.train_regions[scene] = (scene, replace(region, holes=tuple(held)))
        split.val_regions += [(scene, box) for box in held]
        foreground |= any(indexes[scene].foreground_in(box).any() for box in held)
    return foreground


def labelled_area(spec: Any) -> tuple[int, int, list[Region]] | None:
    """(width, height, the labelled area's parts) of a training scene with a labelled area, from its header and the
    area's polygons alone (no label or image pixel read); None without one, or where it cannot be read (the
    training says why when it reads the data)."""
    if not getattr(spec, "aoi", None):
        return None
    from .scene import SceneReader

    try:
        with SceneReader(spec.image, aoi=spec.aoi, extent=spec.extent, extent_crs=spec.extent_crs,
                         callback=QuietCallback()) as reader:
            return reader.grid.width, reader.grid.height, labelled_parts(reader)
    except (DualStreamError, OSError):
        return None
