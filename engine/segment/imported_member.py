"""A model made elsewhere, run by onnxruntime as one member of the predictor: its graph fed the pipeline's
normalised tiles in its own layout and batch, its output turned into probabilities.

The same contract as :class:`~engine.segment.onnx_predictor.OnnxMember` (``run(vision, aux)`` -> (B, K, T, T)
probabilities), so TTA, ensembles and every output work unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BundleError


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


class ImportedMember:
    """One imported graph ready to run. ``model``: its :class:`ImportedConfig` (names, layout, output kind)."""

    takes_aux = False

    def __init__(self, session: Any, weight: float, model: Any, stats_key: str, source: str):
        self.session, self.weight, self.model, self.stats_key, self.source = session, weight, model, stats_key, source

    def _run_batch(self, batch: np.ndarray) -> np.ndarray:
        model = self.model
        feed = batch.transpose(0, 2, 3, 1) if model.layout == "NHWC" else batch
        out = self.session.run([model.output_name], {model.input_name: np.ascontiguousarray(feed, np.float32)})[0]
        if out.ndim == 3:  # (B, H, W): one channel
            out = out[:, None]
        elif model.layout == "NHWC":
            out = out.transpose(0, 3, 1, 2)
        if out.shape[1] != model.num_classes or out.shape[2:] != batch.shape[2:]:
            raise BundleError(f"The imported model '{self.source}' gave an output of shape {tuple(out.shape)} for "
                              f"tiles of {tuple(batch.shape)}; expected {model.num_classes} channel(s) at the tile's "
                              f"size. Import it again with the tile size and layout it takes.")
        out = out.astype(np.float32, copy=False)
        if model.output == "logits":
            out = 1.0 / (1.0 + np.exp(-out)) if model.num_classes == 1 else _softmax(out.copy())
        return out

    def run(self, vision: np.ndarray, aux: np.ndarray | None) -> np.ndarray:
        """Probabilities (B, K, T, T) for any batch size B (a graph with a fixed batch gets padded chunks)."""
        size = self.model.batch
        if not size:
            return self._run_batch(vision)
        out = []
        for start in range(0, vision.shape[0], size):
            chunk = vision[start:start + size]
            short = size - chunk.shape[0]
            if short:
                chunk = np.concatenate([chunk, np.zeros((short, *chunk.shape[1:]), chunk.dtype)])
            out.append(self._run_batch(chunk)[:size - short])
        return np.concatenate(out)
