"""Test-time augmentation: the dihedral transforms of a TTA mode, applied to and undone on tile batches, and the
ensemble's weighted mean over them (:class:`TtaEnsemble`).

Both predictor backends use it: torch tensors on the torch side, numpy arrays on the onnxruntime side. The
transforms act on the last two axes (H, W) of a (B, C, H, W) batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def _flip(x: Any) -> Any:
    return x[..., ::-1] if isinstance(x, np.ndarray) else x.flip(-1)


def _turn(x: Any, k: int) -> Any:
    if not k:
        return x
    return np.rot90(x, k, axes=(-2, -1)) if isinstance(x, np.ndarray) else x.rot90(k, dims=(-2, -1))


def apply_transform(x: Any, k: int, flip: bool) -> Any:
    """Flip W (when ``flip``), then rotate by ``k`` quarter turns: a torch tensor or a numpy array."""
    return _turn(_flip(x) if flip else x, k)


def undo_transform(x: Any, k: int, flip: bool) -> Any:
    """The inverse of :func:`apply_transform` (for the predictions of a transformed batch)."""
    x = _turn(x, -k)
    return _flip(x) if flip else x


class TtaEnsemble:
    """Weighted members run on every TTA transform of a batch on ``device``: the base of both predictor backends."""

    def __init__(self, members: Sequence[Any], tta: str, device: Any):
        self.members, self.device = list(members), device
        self.transforms = tta_transforms(tta)
        self.total_weight = float(sum(m.weight for m in self.members))

    def average(self, inputs: Callable[[Any], tuple[Any, Any]], run: Callable[[Any, Any, Any], Any]) -> Any:
        """The weighted mean of ``run(member, vision, aux)`` over the members and transforms, each input
        transformed and each output transformed back; ``inputs(member)``: its (vision, aux or None)."""
        total = None
        for member in self.members:
            v, a = inputs(member)
            for k, flip in self.transforms:
                at = None if a is None else apply_transform(a, k, flip)
                probs = undo_transform(run(member, apply_transform(v, k, flip), at), k, flip)
                probs = probs * (member.weight / len(self.transforms))
                total = probs if total is None else total + probs
        return total / self.total_weight

    def _runners(self) -> list[Any]:
        """What runs each member: the member itself (the torch predictor: its model)."""
        return self.members

    def first_date_stores(self) -> list[Any]:
        """The change models' stores of first dates' encoder maps (none for other models, or one pair)."""
        return [s for m in self._runners() if (s := getattr(m, "first_dates", None)) is not None]

    @property
    def takes_coords(self) -> bool:
        """A member's model takes each tile's date and place (a Prithvi-EO-2.0 TL release or its export)."""
        return any(getattr(m, "takes_coords", False) for m in self._runners())
