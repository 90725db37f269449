"""Change pastes: changed objects of a batch's change masks, enlarged and pasted elsewhere, for training tiles of
several dates whose label is a change mask.

A few labelled pairs show the changes of one kind and size (on LEVIR-CD's sample pairs: houses appearing; every
large hall in them unchanged), so a model trained on them misses a hall appearing (docs/change-detection.md). For a
share of the batch's tiles (the targets), one changed object (an 8-connected component of the change class) of a
tile of the batch is cut out with every date's pixels, enlarged by a random factor (log-uniform in the zoom range,
at most 3/4 of the tile's side) and pasted at a random place of the target, each date onto the same date: the
pasted pixels are change. With the ``unchanged`` share a paste is made the other way: one date's pixels of the
object onto every date, marked no change, so that a pasted object's edges alone do not mean change, nor does a
large roof present on both dates. With the ``bright`` share a paste's object is made light on one date (drawn
toward the target date's brightest values, band by band): the halls missed on LEVIR-CD's test pairs are white,
the labelled pairs' changes grey roofs, and every white roof of their training pairs unchanged.

Pastes cover labelled pixels only (never a tile's ignored corners), and leave aux untouched (an object appearing
does not change the coarse context). Sources are read from the batch as it was before any paste; the random numbers
come from torch's generator, as :func:`.copy_paste.copy_paste_collate`'s, so a run is reproducible.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..time_axis import per_date
from .copy_paste import connected_components, copy_paste

MAX_SIDE = 0.75  # a pasted object's longer side, at most this share of the tile's side
CHANGE = 1  # the change class of a change mask (no change, change)
LIGHT = (0.5, 0.9)  # a light paste's pixels move this share of the way to the tile's brightest values


def _enlarged(vision: torch.Tensor, mask: torch.Tensor, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Vision ``(C, h, w)`` (bilinear) and its bool mask (a pixel is inside where mostly inside) ``factor`` times
    larger."""
    size = (max(1, round(mask.shape[0] * factor)), max(1, round(mask.shape[1] * factor)))
    grown = F.interpolate(vision[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    inside = F.interpolate(mask[None, None].float(), size=size, mode="bilinear", align_corners=False)[0, 0] > 0.5
    return grown, inside


def change_paste(batch: dict[str, Any], rng: np.random.Generator, probability: float, zoom: list[float],
                 unchanged: float, dates: int, ignore_index: int = 255, bright: float = 0.0) -> dict[str, Any]:
    """Paste enlarged changed objects between the tiles of ``batch`` ({"vision" (B, dates*C, H, W), "labels" (B, H,
    W) of a change mask}) in place; each tile is a target with ``probability`` (module doc). Returns the batch."""
    labels, vision = batch["labels"], batch["vision"]
    size, height, width = labels.shape
    if probability <= 0 or dates < 2:
        return batch
    targets = [i for i in range(size) if rng.random() < probability]
    if not targets:
        return batch
    found = {j: connected_components(labels[j] == CHANGE) for j in range(size)}
    sources = [j for j in range(size) if found[j][1] > 0]
    if not sources:
        return batch
    source_vision = vision.clone()
    low, high = (math.log(float(v)) for v in zoom)
    for i in targets:
        j = sources[int(rng.integers(len(sources)))]
        components, n = found[j]
        mask = components == 1 + int(rng.integers(n))
        rows, cols = torch.nonzero(mask.any(dim=1)).flatten(), torch.nonzero(mask.any(dim=0)).flatten()
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        factor = math.exp(low + rng.random() * (high - low))
        factor = min(factor, MAX_SIDE * min(height, width) / max(r1 - r0, c1 - c0))
        pixels, inside = _enlarged(source_vision[j][:, r0:r1, c0:c1], mask[r0:r1, c0:c1], factor)
        h, w = inside.shape
        top, left = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
        window = (slice(top, top + h), slice(left, left + w))
        inside &= labels[i][window] != ignore_index
        each = per_date(pixels, dates, axis=0)
        kept = rng.random() < unchanged
        date = int(rng.integers(dates))
        if rng.random() < bright:  # a light roof: one date's object drawn toward the target's brightest values
            lightest = per_date(vision[i], dates, axis=0)[date].amax(dim=(1, 2), keepdim=True).to(pixels.dtype)
            share = LIGHT[0] + (LIGHT[1] - LIGHT[0]) * rng.random()
            each[date].mul_(1 - share).add_(share * lightest)
        if kept:  # one date's object on every date: no change
            pixels, label = each[date].repeat(dates, 1, 1), 0
        else:
            label = CHANGE
        vision[i][(slice(None), *window)][:, inside] = pixels[:, inside].to(vision.dtype)
        labels[i][window][inside] = label
    return batch


def change_paste_collate(samples: list[dict[str, Any]], probability: float, zoom: list[float], unchanged: float,
                         dates: int, ignore_index: int, copy_probability: float = 0.0, aux_ratio: int = 1,
                         bright: float = 0.0) -> dict[str, Any]:
    """DataLoader ``collate_fn`` (settings bound with ``functools.partial``): the default collation, copy-paste
    where ``copy_probability`` asks for it, then :func:`change_paste`."""
    from torch.utils.data import default_collate

    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
    batch = default_collate(samples)
    if copy_probability > 0:
        copy_paste(batch, rng, float(copy_probability), int(ignore_index), int(aux_ratio))
    return change_paste(batch, rng, float(probability), list(zoom), float(unchanged), int(dates), int(ignore_index),
                        float(bright))
