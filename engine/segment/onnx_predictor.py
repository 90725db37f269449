"""The onnxruntime predictor: exported ONNX models run as a weighted ensemble with TTA, without torch.

The same contract as :class:`~engine.segment.predictor.Predictor` (``predictor(vision, aux)`` -> averaged
probabilities, a ``device`` attribute), so the tile pipeline is unchanged. The exported graphs return
probabilities already; TTA flips and rotations run in numpy. A model exported with a fixed batch gets the
pipeline's batches in chunks of that size, the last one padded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..export.onnx_metadata import SINGLE_INPUT, session
from ..runtime.environment import require
from .plan import Member
from .predictor import tta_transforms


def _forward(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    if flip:
        x = x[..., ::-1]
    return np.rot90(x, k, axes=(-2, -1)) if k else x


def _inverse(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    if k:
        x = np.rot90(x, -k, axes=(-2, -1))
    return x[..., ::-1] if flip else x


@dataclass
class OnnxMember:
    """One exported model ready to run."""

    session: Any  # onnxruntime.InferenceSession
    weight: float
    inputs: list[str]  # "vision" [, "aux"]
    batch: int | None  # fixed batch of the graph; None = dynamic
    stats_key: str

    @property
    def takes_aux(self) -> bool:
        return "aux" in self.inputs or self.inputs == [SINGLE_INPUT]

    def run(self, vision: np.ndarray, aux: np.ndarray | None) -> np.ndarray:
        """Probabilities (B, K, T, T) for any batch size B."""
        feeds = {"vision": vision, "aux": aux}
        if self.inputs == [SINGLE_INPUT]:  # a --single-input export: the streams stacked on the image grid
            feeds = {SINGLE_INPUT: vision if aux is None else np.concatenate([vision, aux], axis=1)}
        if self.batch is None:
            return self.session.run(["probabilities"], {n: _contiguous(feeds[n]) for n in self.inputs})[0]
        total = vision.shape[0]
        out = []
        for start in range(0, total, self.batch):
            chunk = {n: feeds[n][start:start + self.batch] for n in self.inputs}
            short = self.batch - chunk[self.inputs[0]].shape[0]
            if short:  # pad the last chunk to the graph's batch
                chunk = {n: np.concatenate([a, np.zeros((short, *a.shape[1:]), a.dtype)]) for n, a in chunk.items()}
            result = self.session.run(["probabilities"], {n: _contiguous(a) for n, a in chunk.items()})[0]
            out.append(result[:self.batch - short])
        return np.concatenate(out)


def _contiguous(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


class OnnxPredictor:
    """Runs exported ONNX models (onnxruntime) with TTA on batches of normalised tiles.

    Args:
        members: the loaded models.
        tta: "none", "flips" or "d4".
        device: "cpu", "cuda" or "cuda:N" (CUDA needs onnxruntime-gpu).
    """

    def __init__(self, members: Sequence[OnnxMember], tta: str, device: str):
        self.members = list(members)
        self.tta = tta
        self.transforms = tta_transforms(tta)
        self.device = device
        self.total_weight = float(sum(m.weight for m in self.members))

    @classmethod
    def from_files(cls, members: Sequence[Member], tta: str, device: str) -> OnnxPredictor:
        """Open every member's ONNX file on ``device`` ("auto" = cpu, or cuda when onnxruntime has it)."""
        if device == "auto":
            providers = require("onnxruntime").get_available_providers()
            device = "cuda" if "CUDAExecutionProvider" in providers else "cpu"
        loaded = [OnnxMember(session(m.path, device), m.weight, list(m.metadata["onnx"]["inputs"]),
                             m.metadata["onnx"].get("batch"), m.stats_key) for m in members]
        return cls(loaded, tta, device)

    def __call__(self, vision: dict[str, np.ndarray], aux: dict[str, np.ndarray | None]) -> np.ndarray:
        """``vision``/``aux``: normalised (B, C, h, w) arrays per stats key. Returns (B, K, T, T) float32."""
        total = None
        for member in self.members:
            v, a = vision[member.stats_key], aux.get(member.stats_key)
            for k, flip in self.transforms:
                vt = _forward(v, k, flip)
                at = _forward(a, k, flip) if (member.takes_aux and a is not None) else None
                probs = _inverse(member.run(vt, at), k, flip) * (member.weight / len(self.transforms))
                total = probs if total is None else total + probs
        return np.ascontiguousarray(total / self.total_weight, dtype=np.float32)
