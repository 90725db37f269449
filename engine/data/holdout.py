"""Which pixels validate a training that has no validation scenes: a band of each training scene, or whole parts of
its labelled area.

A scene labelled everywhere (or over one area) gives a band across its longer axis (:func:`.sampling.holdout_split`).
A labelled area of separate parts (the squares a user labelled in the labelling loop's first round) gives whole
parts instead: a band of the scene would hold a square or none by chance (then nothing scores the epochs) and cut
the others, while held-out squares are labelled by definition. The parts are the pixel boxes of the area's polygons
(boxes that overlap merged); the validation takes whole parts at random until they hold ``val_fraction``
of the parts' area, at least one and never all, preferring parts that show a class other than 0 (so the epochs are
scored on the classes) but leaving one such part to training. The training region keeps the whole scene with the
held-out parts as holes (their pixels masked in every training tile, never drawn around), so training tiles keep
their context.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..callbacks import QuietCallback
from ..errors import DualStreamError
from .sampling import CellIndex, Region, grid_windows, holdout_split

MIN_PARTS = 2  # a part to validate on and one to train on


def labelled_parts(reader: Any) -> list[Region]:
    """The pixel boxes of the labelled area's polygons on ``reader``'s grid, inside its region window, boxes that
    overlap merged (``[]`` without a labelled area)."""
    if not getattr(reader, "aoi", None) or not reader.region.parts or reader.region.empty:
        return []
    window = Region(*reader.region_window())
    inverse = ~reader.grid.transform
    boxes = []
    for shape, _ in reader.region.parts[-1]:  # the labelled area's polygons (an extent, if any, is the first part)
        xmin, ymin, xmax, ymax = shape.bbox
        cols, rows = zip(*(inverse * (x, y) for x, y in ((xmin, ymin), (xmax, ymin), (xmin, ymax), (xmax, ymax))))
        c0, r0 = int(np.floor(min(cols) + 1e-6)), int(np.floor(min(rows) + 1e-6))
        c1, r1 = int(np.ceil(max(cols) - 1e-6)), int(np.ceil(max(rows) - 1e-6))
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
    keep = with_fg[-1:] if with_fg else []  # one part with foreground stays in training
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

    @property
    def val_windows(self) -> list[tuple[int, int, int, Region]]:
        """(scene, col, row, region) of the validation grid over each region."""
        return [(scene, c, r, region) for scene, region in self.val_regions for c, r in grid_windows(region, self.tile)]

    def held_out(self) -> dict[int, list[Region]]:
        """Training scene -> its validation regions (hold-out only)."""
        return {scene: [r for s, r in self.val_regions if s == scene] for scene, _ in self.val_regions}


def band_split(val_fraction: float, seed: int, tile: int, train_readers: list[Any], val_readers: list[Any],
               holdout: bool, parts: dict[int, list[Region]]) -> Split:
    """The regions before the labels are scanned: each training scene whole (where every date holds data, for a
    scene of several dates), less its held-out band when validation is held out of the training scenes; the scenes
    in ``parts`` (their labelled area's parts, see :func:`split_parts`) whole for now."""
    train_regions: list[tuple[int, Region]] = []
    val_regions: list[tuple[int, Region]] = []
    for i, reader in enumerate(train_readers):
        whole = Region(*reader.dates_window())  # where every date holds data
        if holdout and i not in parts:
            rng = np.random.default_rng([seed, 7919, i])
            part, val = holdout_split(whole.width, whole.height, val_fraction, tile, rng)
            train_regions.append((i, Region(whole.col + part.col, whole.row + part.row, part.width, part.height)))
            if val is not None:
                val_regions.append((i, Region(whole.col + val.col, whole.row + val.row, val.width, val.height)))
        else:
            train_regions.append((i, whole))
    if not holdout:
        val_regions = [(i, Region(*r.dates_window())) for i, r in enumerate(val_readers)]
    return Split(train_regions, val_regions, tile)


def split_parts(split: Split, parts: dict[int, list[Region]], indexes: list[CellIndex], val_fraction: float,
                seed: int) -> bool:
    """Hold whole parts of the scenes in ``parts`` out of ``split`` (after the labels were scanned into
    ``indexes``); returns whether a held-out part shows a class other than 0."""
    foreground = False
    for scene, boxes in sorted(parts.items()):
        rng = np.random.default_rng([seed, 7919, scene])
        _, held = hold_out_parts(boxes, indexes[scene], val_fraction, rng)
        at = [k for k, (s, _) in enumerate(split.train_regions) if s == scene][0]
        region = split.train_regions[at][1]
        split.train_regions[at] = (scene, replace(region, holes=tuple(held)))
        split.val_regions += [(scene, box) for box in held]
        foreground |= any(indexes[scene].foreground_in(box).any() for box in held)
    return foreground


def held_out_parts_line(split: Split, parts: dict[int, list[Region]], readers: list[Any]) -> str:
    """``Validation: 1 of the 4 parts of the labelled area of 'a.tif' (9,216 of 36,864 px in their boxes) held out
    of training, whole (...)``."""
    held = split.held_out()
    said = [f"{len(held[s])} of the {len(boxes)} parts of the labelled area of '{Path(readers[s].image).name}' "
            f"({sum(r.area for r in held[s]):,} of {sum(p.area for p in boxes):,} px in their boxes)"
            for s, boxes in sorted(parts.items())]
    return ("Validation: " + "; ".join(said) + " held out of training, whole (a band of the scene would cut the "
            "parts, or hold none).")


def labelled_area(spec: Any) -> tuple[int, int, list[Region]] | None:
    """(width, height, the labelled area's parts) of a training scene with a labelled area, from its header and the
    area's polygons alone (no label or image pixel read); None without one, or where it cannot be read (the
    training says why when it reads the data)."""
    if not getattr(spec, "aoi", None):
        return None
    from .scene import SceneReader

    try:
        reader = SceneReader(spec.image, aoi=spec.aoi, extent=spec.extent, extent_crs=spec.extent_crs,
                             callback=QuietCallback())
    except (DualStreamError, OSError):
        return None
    try:
        return reader.grid.width, reader.grid.height, labelled_parts(reader)
    except DualStreamError:
        return None
    finally:
        reader.close()
