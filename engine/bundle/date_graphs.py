"""A change model's two ONNX graphs run as one (onnxruntime, torch-free), and their inputs' and outputs' names.

The encoder graph gives one date's maps at strides 4, 8, 16, 32; the head graph (fusion and decoder) every date's
maps to probabilities. A pair runs both dates through the encoder in one batch, then the head; with a
``FirstDateFeatures`` store a first date already seen is not encoded again. The export (``export/onnx_cache.py``)
writes the graphs under these names and checks them through :meth:`DateGraphs.run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models.change.first_dates import FirstDateFeatures
from ..time_axis import date_rows, per_date
from .onnx_metadata import date_inputs

SCALES = 4  # the encoder's maps at strides 4, 8, 16, 32
ENCODER_INPUT = "image"
HEAD_OUTPUT = "probabilities"
ENCODER_OUTPUTS = [f"maps{i}" for i in range(SCALES)]  # the encoder graph's: one date's maps, finest first


def head_inputs(dates: int) -> list[str]:
    """The head graph's inputs: each date's maps (``before_maps0`` ... ``after_maps3``), in time order."""
    return [f"{date}_{name}" for date in date_inputs(dates) for name in ENCODER_OUTPUTS]


@dataclass
class DateGraphs:
    """The encoder and head sessions of one change model; ``store`` keeps first dates' maps (None: none kept)."""

    encoder: Any  # onnxruntime.InferenceSession
    head: Any
    dates: int
    store: FirstDateFeatures | None = None

    def __post_init__(self) -> None:
        # the maps the head reads: a decoder reading some scales only (DeepLabV3+, PSPNet) has no input for the others
        self.reads = {i.name for i in self.head.get_inputs()}

    def encode(self, images: np.ndarray) -> list[np.ndarray]:
        """(N, C, H, W) tiles of one date each -> their maps (N, C_i, H/s, W/s), finest first."""
        return self.encoder.run(ENCODER_OUTPUTS, {ENCODER_INPUT: np.ascontiguousarray(images, np.float32)})

    def run(self, vision: np.ndarray, aux: np.ndarray | None = None, coords: np.ndarray | None = None) -> np.ndarray:
        """Probabilities (B, K, H, W) of ``vision`` (B, T*C, H, W), the dates stacked in time order."""
        batch = vision.shape[0]
        per = per_date(vision, self.dates)  # (B, C, H, W) each
        keys, held, todo = (([], [None] * batch, list(range(batch))) if self.store is None
                            else self.store.lookup(list(per[0])))
        unseen = per[0] if len(todo) == batch else per[0][todo]  # no copy of a whole batch to index it
        maps = self.encode(np.concatenate([unseen, *per[1:]]))  # (len(todo) + (T-1)*B, C_i, h_i, w_i)
        for i, b in enumerate(todo):
            held[b] = [m[i] for m in maps]
            if self.store is not None:
                self.store.put(keys[b], held[b])
        # none held: the first dates' maps are the batch's first rows, no stacked copy
        first = ([m[:batch] for m in maps] if len(todo) == batch
                 else [np.stack([held[b][s] for b in range(batch)]) for s in range(SCALES)])
        later = zip(*(date_rows(m, self.dates - 1, len(todo)) for m in maps))  # each later date's maps
        given = zip(head_inputs(self.dates), (m for date in (first, *later) for m in date))
        feeds = {name: np.ascontiguousarray(m) for name, m in given if name in self.reads}
        return self.head.run([HEAD_OUTPUT], feeds)[0]
