"""The predictor: model bundles loaded once, run as a weighted ensemble with test-time augmentation.

The seam between the tile pipeline and the models: it gets normalised tile batches (one copy per normalisation,
keyed by :attr:`Member.stats_key`) and gives averaged probabilities back. Built from bundles, never stored in the
plan, so one serves every scene of a bulk run; another backend (:mod:`.onnx_predictor`) only has to provide the
same ``__call__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bundle.store import load_bundle
from ..callbacks import Callback
from ..models.change.first_dates import FirstDateFeatures
from ..runtime.cores import follow_torch_threads
from ..runtime.environment import require
from ..runtime.prefetch import to_device
from .members import Member
from .tta import TtaEnsemble


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
        self.amp_dtype = None
        if self.device.type == "cuda":
            self.amp_dtype = self.torch.bfloat16 if self.torch.cuda.is_bf16_supported() else self.torch.float16

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
                 coords: np.ndarray | None = None) -> np.ndarray:
        """``vision``/``aux``: normalised (B, C, h, w) arrays per stats key; ``coords``: (B, 4) year, day of
        year, latitude, longitude of each tile (NaN where unknown). Returns (B, K, T, T) float32."""
        return self.on_device(vision, aux, coords).cpu().numpy()

    def on_device(self, vision: dict[str, Any], aux: dict[str, np.ndarray | None],
                  coords: np.ndarray | None = None) -> Any:
        """As :meth:`__call__`, the probabilities left a torch tensor on the device (on a GPU the call returns once
        the work is queued); ``vision`` may already be tensors there."""
        torch = self.torch
        if self.device.type == "cpu":  # a long run's threads follow the machine's load (runtime.cores)
            follow_torch_threads(torch)
        with torch.inference_mode():
            vision = {key: to_device(v, self.device) for key, v in vision.items()}
            aux = {key: None if a is None else to_device(a, self.device) for key, a in aux.items()}
            place = None if coords is None else torch.as_tensor(coords, device=self.device)  # same for any TTA

            def run(member: LoadedMember, v: Any, a: Any) -> Any:
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                    logits = member.model(v, a, place)["logits"]
                logits = logits.float()
                return torch.sigmoid(logits) if self.binary else torch.softmax(logits, dim=1)

            return self.average(lambda m: (vision[m.stats_key], aux.get(m.stats_key) if m.needs_aux else None), run)

