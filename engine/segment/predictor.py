"""The predictor: model bundles loaded once, run as a weighted ensemble with test-time augmentation.

The seam between the tile pipeline and the models: it gets normalised tile batches (one copy per normalisation,
keyed by :attr:`Member.stats_key`) and gives averaged probabilities back. Built from bundles, never stored in the
plan, so one serves every scene of a bulk run; another backend (:mod:`.onnx_predictor`) only has to provide the
same ``__call__``. Both backends share the TTA transforms and the ensemble's weighted mean over them
(:class:`TtaEnsemble`): torch tensors on the torch side, numpy arrays on the onnxruntime side, the transforms acting
on the last two axes (H, W) of a (B, C, H, W) batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bundle.store import load_bundle
from ..callbacks import Callback
from ..errors import ConfigError
from ..models.change.first_dates import FirstDateFeatures
from ..runtime.cores import follow_torch_threads
from ..runtime.environment import require
from ..runtime.prefetch import to_device
from .members import Member


@dataclass(frozen=True)
class Season:
    """A season's inputs beside its tiles: ``days`` (B, T) each date's day number (days since 1 January of the first
    date's year), ``valid`` (B, T, h, w) bool, False where a date is cloud, nodata or padding."""

    days: Any
    valid: Any

    def transformed(self, k: int, flip: bool) -> Season:
        """The validity flipped and turned as the images are (the days are the same for any transform)."""
        return Season(self.days, apply_transform(self.valid, k, flip))


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

    def average(self, inputs: Callable[[Any], tuple[Any, Any]], run: Callable[..., Any],
                season: Season | None = None) -> Any:
        """The weighted mean of ``run(member, vision, aux)`` over the members and transforms, each input
        transformed and each output transformed back; ``inputs(member)``: its (vision, aux or None). With a
        ``season``, ``run(member, vision, aux, season)``, its validity transformed as the images are."""
        total = None
        for member in self.members:
            v, a = inputs(member)
            for k, flip in self.transforms:
                at = None if a is None else apply_transform(a, k, flip)
                extra = () if season is None else (season.transformed(k, flip),)
                probs = undo_transform(run(member, apply_transform(v, k, flip), at, *extra), k, flip)
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


@dataclass
class LoadedMember:
    """One ensemble member ready to run: its model on the device and what it needs."""

    model: Any
    weight: float
    needs_aux: bool
    stats_key: str


class Predictor(TtaEnsemble):
    """Runs the loaded ``members`` (on the torch ``device``) with TTA on batches of normalised tiles: averaged
    probabilities of one sigmoid channel (``binary``), else softmax over the classes."""

    backend = "torch"

    def __init__(self, members: Sequence[LoadedMember], binary: bool, tta: str, device: str):
        self.torch = require("torch")
        super().__init__(members, tta, self.torch.device(device))
        self.binary = binary
        self.amp_dtype = None if self.device.type != "cuda" else (
            self.torch.bfloat16 if self.torch.cuda.is_bf16_supported() else self.torch.float16)

    @classmethod
    def from_bundles(cls, members: Sequence[Member], tta: str, device: str, callback: Callback | None = None,
                     first_dates: bool = True) -> Predictor:
        """Every member's bundle loaded onto ``device``; ``first_dates``: a change model encodes a first date shared
        by several pairs once (a series)."""
        loaded = [LoadedMember(load_bundle(m.path, device).model, m.weight, m.aux_channels > 0, m.stats_key)
                  for m in members]
        for member in loaded if first_dates else ():
            if hasattr(member.model, "share_first_dates"):
                member.model.share_first_dates(FirstDateFeatures(say=(callback or Callback()).info))
        return cls(loaded, members[0].output_channels == 1, tta, device)

    def _runners(self) -> list[Any]:
        return [m.model for m in self.members]

    def __call__(self, vision: dict[str, np.ndarray], aux: dict[str, np.ndarray | None],
                 coords: np.ndarray | None = None, season: Season | None = None) -> np.ndarray:
        """``vision``/``aux``: normalised (B, C, h, w) arrays per stats key; ``coords``: (B, 4) year, day of
        year, latitude, longitude of each tile (NaN where unknown); ``season``: a season model's days and
        validity. Returns (B, K, T, T) float32."""
        return self.on_device(vision, aux, coords, season).cpu().numpy()

    def on_device(self, vision: dict[str, Any], aux: dict[str, np.ndarray | None],
                  coords: np.ndarray | None = None, season: Season | None = None) -> Any:
        """As :meth:`__call__`, the probabilities left a torch tensor on the device (on a GPU the call returns once
        the work is queued); ``vision`` may already be tensors there."""
        torch = self.torch
        if self.device.type == "cpu":  # a long run's threads follow the machine's load (runtime.cores)
            follow_torch_threads(torch)
        with torch.inference_mode():
            vision = {key: to_device(v, self.device) for key, v in vision.items()}
            aux = {key: None if a is None else to_device(a, self.device) for key, a in aux.items()}
            place = None if coords is None else torch.as_tensor(coords, device=self.device)  # same for any TTA

            if season is not None:
                season = Season(torch.as_tensor(season.days, device=self.device).float(),
                                to_device(season.valid, self.device).bool())

            def run(member: LoadedMember, v: Any, a: Any, dates: Season | None = None) -> Any:
                days = {"days": dates.days, "valid": dates.valid} if dates and member.model.takes_days else {}
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                    logits = member.model(v, a, place, **days)["logits"]
                logits = logits.float()
                return torch.sigmoid(logits) if self.binary else torch.softmax(logits, dim=1)

            return self.average(lambda m: (vision[m.stats_key], aux.get(m.stats_key) if m.needs_aux else None), run,
                                season)

