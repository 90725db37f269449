"""Test-time augmentation: the dihedral transforms of a TTA mode, applied to and undone on tile batches.

Both predictor backends use it: torch tensors on the torch side, numpy arrays on the onnxruntime side. The
transforms act on the last two axes (H, W) of a (B, C, H, W) batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError


def tta_transforms(mode: str) -> list[tuple[int, bool]]:
    """(rot90 count, flip-W-first) pairs: none -> identity; flips -> id, flip W, flip H; d4 -> 8 dihedral."""
    if mode == "none":
        return [(0, False)]
    if mode == "flips":
        return [(0, False), (0, True), (2, True)]  # rot180 after a W flip == an H flip
    if mode == "d4":
        return [(k, f) for f in (False, True) for k in range(4)]
    raise ConfigError(f"tta '{mode}' is unknown; use none, flips or d4.")


def apply_transform(x: Any, k: int, flip: bool) -> Any:
    """Flip W (when ``flip``), then rotate by ``k`` quarter turns: a torch tensor or a numpy array."""
    if isinstance(x, np.ndarray):
        if flip:
            x = x[..., ::-1]
        return np.rot90(x, k, axes=(-2, -1)) if k else x
    if flip:
        x = x.flip(-1)
    return x.rot90(k, dims=(-2, -1)) if k else x


def undo_transform(x: Any, k: int, flip: bool) -> Any:
    """The inverse of :func:`apply_transform` (for the predictions of a transformed batch)."""
    if isinstance(x, np.ndarray):
        if k:
            x = np.rot90(x, -k, axes=(-2, -1))
        return x[..., ::-1] if flip else x
    if k:
        x = x.rot90(-k, dims=(-2, -1))
    return x.flip(-1) if flip else x
