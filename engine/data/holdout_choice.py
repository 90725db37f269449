"""Which pixels validate a training without validation scenes, once the labels are counted (the label scan counts
each class in the regions :func:`counted_regions` names), and how the log and the bundle say it.

Each banded scene (:func:`.sampling.band_split`) holds out the strip end that leaves every class some training pixels
(the seed's end where both do). Where neither does (a small place whose labels lie in clusters: a crop survey's points,
one crop in the west, another in the east), it holds out squares of the tile's size across the scene instead, at
random, first one for each class validation lacks, until they hold the validation share of the labelled pixels, each
only where every class keeps training pixels and validation takes at most twice its share (or the strip's); the
training region keeps the whole scene with the squares as holes, as the parts of a labelled area
(:func:`.sampling.split_parts`). Where no square can go either, the strip stays and the log names the class training
never sees.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .sampling import Region, Split, grid_windows

#: A scene of more tile squares has strips enough to choose from; the label scan counts the classes of each square.
MAX_SQUARES = 1024


def keep_every_class(whole: np.ndarray, held: list[np.ndarray], seeded: int) -> tuple[int, np.ndarray]:
    """(the end to hold out, the classes its training part loses entirely) given the labelled pixels of each class
    in the scene's part that is split (``whole``) and in each end's validation band (``held``): the end that leaves
    every class the scene holds some training pixels; the seed's end (``seeded``) where both do (seeds keep their
    variety) or both lose as many classes (then the caller says which class training never sees)."""
    lost = [classes_lost(whole, band) for band in held]
    fewest = min(len(classes) for classes in lost)
    end = seeded if len(lost[seeded]) == fewest else next(i for i, c in enumerate(lost) if len(c) == fewest)
    return end, lost[end]


def classes_lost(whole: np.ndarray, band: np.ndarray) -> np.ndarray:
    """The classes with labelled pixels in ``whole`` that all lie in ``band`` (per-class pixel counts of each)."""
    whole = np.asarray(whole)
    return np.flatnonzero((whole > 0) & (whole - np.asarray(band) <= 0))


def end_name(region: Region, whole: Region) -> str:
    """Which strip of ``whole`` a held-out band is: north, south (rows), west or east (columns)."""
    if region.width == whole.width:
        return "north" if region.row == whole.row else "south"
    return "west" if region.col == whole.col else "east"


def _names(classes: np.ndarray, class_names: list[str]) -> str:
    return ", ".join(f"'{class_names[c]}'" if c < len(class_names) else f"class {c}" for c in classes)


def square_grid(whole: Region, tile: int) -> list[Region]:
    """The squares of ``whole`` on its validation grid of ``tile`` px (those at its far edges cut to it); none for a
    scene of more than :data:`MAX_SQUARES`."""
    squares = [Region(c, r, min(tile, whole.col + whole.width - c), min(tile, whole.row + whole.height - r))
               for c, r in grid_windows(whole, tile)]
    return squares if len(squares) <= MAX_SQUARES else []


def pick_squares(whole: np.ndarray, squares: list[np.ndarray], share: float, most: float,
                 rng: np.random.Generator) -> list[int]:
    """The squares to hold out (their indices; ``squares``: each one's labelled pixels of each class, ``whole``: the
    scene's), in ``rng``'s order: first a square for each class validation lacks, the rarest class first, then any,
    until they hold ``share`` of the labelled pixels (at least one square); each only where every class keeps some
    training pixels and validation stays within ``most`` of the labelled pixels; ``[]`` where none can go."""
    whole = np.asarray(whole)
    total, held = whole.sum(), np.zeros_like(whole)
    order = [int(i) for i in rng.permutation(len(squares)) if squares[i].sum()]
    chosen: list[int] = []

    def fits(i: int) -> bool:  # every class keeps training pixels, validation within its most
        return (i not in chosen and bool(((whole == 0) | (whole - held - squares[i] > 0)).all())
                and held.sum() + squares[i].sum() <= most * total)

    for wanted in [int(c) for c in np.argsort(whole, kind="stable") if whole[c]]:  # validation scores every class
        if not held[wanted] and (i := next((i for i in order if squares[i][wanted] and fits(i)), None)) is not None:
            chosen.append(i)
            held = held + squares[i]
    for i in order:
        if chosen and held.sum() >= share * total:
            break
        if fits(i):
            chosen.append(i)
            held = held + squares[i]
    return sorted(chosen)


def counted_regions(split: Split) -> dict[int, list[Region]]:
    """Training scene -> the regions whose labelled pixels of each class the label scan counts for
    :func:`choose_ends`: the part split into bands, each end's validation band, then its squares."""
    return {scene: [whole] + [val for _, val in ends] + square_grid(whole, split.tile)
            for scene, (whole, ends, _) in split.ends.items()}


def choose_ends(split: Split, class_pixels: dict[int, list[np.ndarray]], class_names: list[str],
                readers: list[Any]) -> list[str]:
    """Hold out of each banded scene the end :func:`keep_every_class` takes, given the labelled pixels of each class
    in its :func:`counted_regions` (from the label scan), or, where each end holds all of a class, the squares
    :func:`pick_squares` takes (why: ``split.squares``); what it took against the seed goes to ``split.overridden``;
    returns one line for each scene whose training part loses a class entirely."""
    lines = []
    for scene, (whole, ends, seeded) in sorted(split.ends.items()):
        counts = class_pixels[scene]
        end, lost = keep_every_class(counts[0], counts[1:3], seeded)
        name = Path(readers[scene].image).name
        said = _names(lost, class_names)
        rng = np.random.default_rng([split.seed, 7919, scene, 3])
        most = max(2 * split.val_fraction, ends[0][1].area / whole.area)  # the strip's share where it is larger
        if len(lost) and (chosen := pick_squares(counts[0], counts[3:], split.val_fraction, most, rng)):
            squares = square_grid(whole, split.tile)
            held = tuple(squares[i] for i in chosen)
            split.train_regions[scene] = (scene, replace(whole, holes=held))
            split.val_regions = [(s, r) for s, r in split.val_regions if s != scene] + [(scene, r) for r in held]
            split.squares[scene] = "no strip of it keeps every class in training: " + ", ".join(
                f"the {end_name(val, whole)} one holds all of {_names(classes_lost(counts[0], band), class_names)}"
                for (_, val), band in zip(ends, counts[1:3]))
            continue
        if end != seeded:
            held = _names(classes_lost(counts[0], counts[1 + seeded]), class_names)
            split.overridden.append(f"of '{name}' the {end_name(ends[end][1], whole)} strip: the "
                                    f"{end_name(ends[seeded][1], whole)} one holds all of {held}")
        split.train_regions[scene] = (scene, ends[end][0])  # band_split gives each training scene one region
        split.val_regions = [(s, ends[end][1] if s == scene else r) for s, r in split.val_regions]
        if len(lost):
            lines.append(f"Validation: every labelled pixel of {said} in '{name}' lies in its held-out "
                         f"{end_name(ends[end][1], whole)} strip (and the other strip would hold all of a class too): "
                         f"training never sees {'it' if len(lost) == 1 else 'them'}. Give a validation scene, or "
                         f"label {'the class' if len(lost) == 1 else 'these classes'} elsewhere in the scene.")
    return lines


def strips_said(split: Split, readers: list[Any], most: int = 3) -> str:
    """``the south strip of 'a.tif', rows 607-862``, each scene's; beyond ``most`` scenes, how many."""
    said, held = [], split.held_out()
    for scene, region in split.val_regions:
        if scene in split.squares:  # squares across the scene (choose_ends): said once
            if region == held[scene][0]:
                said.append(f"{len(held[scene])} square(s) of {split.tile} px across "
                            f"'{Path(readers[scene].image).name}' ({split.squares[scene]})")
            continue
        if scene not in split.ends:  # a part of a labelled area (split_parts)
            said.append(f"a part of the labelled area of '{Path(readers[scene].image).name}'")
            continue
        whole = split.ends[scene][0]
        rows = region.width == whole.width
        start, size = (region.row, region.height) if rows else (region.col, region.width)
        said.append(f"the {end_name(region, whole)} strip of '{Path(readers[scene].image).name}', "
                    f"{'rows' if rows else 'columns'} {start}-{start + size - 1}")
    kinds = "strips or squares" if split.squares else "strips"
    return "; ".join(said) if len(said) <= most else f"{kinds} of the {len(said)} scenes"


def held_out_parts_line(split: Split, readers: list[Any]) -> str:
    """``Validation: 1 of the 4 parts of the labelled area of 'a.tif' (9,216 of 36,864 px in their boxes) held out
    of training, whole (...)``."""
    held = split.held_out()
    said = [f"{len(held[s])} of the {len(boxes)} parts of the labelled area of '{Path(readers[s].image).name}' "
            f"({sum(r.area for r in held[s]):,} of {sum(p.area for p in boxes):,} px in their boxes)"
            for s, boxes in sorted(split.parts.items())]
    return ("Validation: " + "; ".join(said) + " held out of training, whole (a band of the scene would cut the "
            "parts, or hold none).")
