"""Augmenting a training tile of several dates: the geometry identical on every date (one transform of the stacked
bands), the radiometry independent (each date its own photometric draws: another sun, season or sensor), and the
dates swapped where the label is a change mask, which says that something changed but not which way.

The draws beyond a one-date tile's come from their own generator keyed by (seed, epoch, index), so a tile stays
reproducible and a one-date tile draws exactly as before.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import AugmentConfig
from .augment import AugmentParams, geometric, photometric, sample_params
from .labels import transition_of

DATES_KEY = 7331  # the per-date draws' stream, apart from the sampler's


def augment_dates(vision: np.ndarray, valid: np.ndarray, aux: np.ndarray | None, label: np.ndarray | None,
                  params: AugmentParams, dates: int, augment: AugmentConfig | None, swap: bool, key: list[int],
                  tile_size: int, aux_ratio: int, ignore_index: int) -> tuple[
                      torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(vision, aux, label) tensors of a tile whose ``vision`` holds ``dates`` dates' bands in time order.
    ``params``: the sampler's draws (the geometry, the first date's photometry); ``augment`` None: no augmentation
    (validation tiles); ``swap``: the label allows swapping the dates (a change mask); ``key``: (seed, epoch, index)."""
    rng = np.random.default_rng([*key, DATES_KEY])
    draws = [params] + [sample_params(rng, augment) if augment is not None else AugmentParams()
                        for _ in range(dates - 1)]
    per_date = [photometric(part, valid, p) for part, p in zip(np.split(vision, dates), draws)]
    if swap and augment is not None and rng.random() < augment.swap_dates:
        per_date = per_date[::-1]
    return geometric(np.concatenate(per_date), aux, label, params, tile_size, aux_ratio, ignore_index)


def swappable(class_names: list[str]) -> bool:
    """Whether labels of these classes are a change mask (no change, change), which says nothing of the way (one
    from-to class, ``forest → bare``, says which way)."""
    return len(class_names) == 2 and not transition_of(str(class_names[1]))[0]

