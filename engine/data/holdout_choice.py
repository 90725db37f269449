"""Which pixels validate a training without validation scenes, once the labels are counted (the label scan counts
each class in the regions :func:`counted_regions` names), and how the log and the bundle say it.

Each banded scene (:func:`.sampling.band_split`) holds out the strip end that leaves every class some training pixels
(the seed's end where both do or neither does: then the log names the class training never sees); a labelled area of
separate parts holds out whole parts (:func:`.sampling.split_parts`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .sampling import Region, Split


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


def counted_regions(split: Split) -> dict[int, list[Region]]:
    """Training scene -> the regions whose labelled pixels of each class the label scan counts for
    :func:`choose_ends`: the part split into bands, then each end's validation band."""
    return {scene: [whole] + [val for _, val in ends] for scene, (whole, ends, _) in split.ends.items()}


def choose_ends(split: Split, class_pixels: dict[int, list[np.ndarray]], class_names: list[str],
                readers: list[Any]) -> list[str]:
    """Hold out of each banded scene the end :func:`keep_every_class` takes, given the labelled pixels of each class
    in its :func:`counted_regions` (from the label scan); what it took against the seed goes to
    ``split.overridden``; returns one line for each scene whose training part loses a class entirely."""
    lines = []
    for scene, (whole, ends, seeded) in sorted(split.ends.items()):
        counts = class_pixels[scene]
        end, lost = keep_every_class(counts[0], counts[1:], seeded)
        name = Path(readers[scene].image).name
        said = _names(lost, class_names)
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
    said = []
    for scene, region in split.val_regions:
        if scene not in split.ends:  # a part of a labelled area (split_parts)
            said.append(f"a part of the labelled area of '{Path(readers[scene].image).name}'")
            continue
        whole = split.ends[scene][0]
        rows = region.width == whole.width
        start, size = (region.row, region.height) if rows else (region.col, region.width)
        said.append(f"the {end_name(region, whole)} strip of '{Path(readers[scene].image).name}', "
                    f"{'rows' if rows else 'columns'} {start}-{start + size - 1}")
    return "; ".join(said) if len(said) <= most else f"strips of the {len(said)} scenes"


def held_out_parts_line(split: Split, readers: list[Any]) -> str:
    """``Validation: 1 of the 4 parts of the labelled area of 'a.tif' (9,216 of 36,864 px in their boxes) held out
    of training, whole (...)``."""
    held = split.held_out()
    said = [f"{len(held[s])} of the {len(boxes)} parts of the labelled area of '{Path(readers[s].image).name}' "
            f"({sum(r.area for r in held[s]):,} of {sum(p.area for p in boxes):,} px in their boxes)"
            for s, boxes in sorted(split.parts.items())]
    return ("Validation: " + "; ".join(said) + " held out of training, whole (a band of the scene would cut the "
            "parts, or hold none).")
