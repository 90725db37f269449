"""What an imported ONNX graph gives, read as probabilities (logits turned, Deepness's per-class scores read as
Deepness reads them), its output checked, and an output declared probabilities that is none refused with what to
declare instead. Torch-free; the session is onnxruntime's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError, GraphRunError


def _ort_message(exc: BaseException) -> str:
    """onnxruntime's message without its source-file prefix, short enough for one line of a log."""
    text = " ".join(str(exc).split()).split("Status Message:", 1)[-1].strip()
    return text.split(" was false. ", 1)[-1][:300]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def graph_probabilities(session: Any, model: Any, tiles: np.ndarray, source: str, check: bool = False,
                        threshold: float | None = None) -> np.ndarray:
    """Probabilities (B, K, T, T) an imported graph (``model``: its ImportedConfig) gives normalised (B, C, T, T)
    ``tiles`` (B: its fixed batch, if any); BundleError naming ``source`` unless the output is K channels at the
    tile's size. A pixel where any score is NaN or infinite is NaN in every channel (nodata). ``check``: refuse an
    output declared probabilities that is none (:func:`check_probabilities`); ``threshold``: the run's, over its
    maker's, for scores."""
    feed = tiles.transpose(0, 2, 3, 1) if model.layout == "NHWC" else tiles
    try:
        out = session.run([model.output_name], {model.input_name: np.ascontiguousarray(feed, np.float32)})[0]
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types; its message says what failed
        detail = _ort_message(exc)
        raise GraphRunError(f"The model '{source}' failed on a batch of {tiles.shape[0]} tile(s) of "
                            f"{tiles.shape[2]}x{tiles.shape[3]} px ({detail}); check that the tile size and bands "
                            f"are those it takes.", detail) from exc
    if out.ndim == 3:  # (B, H, W): one channel
        out = out[:, None]
    elif model.layout == "NHWC":
        out = out.transpose(0, 3, 1, 2)
    if out.shape[1] != model.num_classes or out.shape[2:] != tiles.shape[2:]:
        raise BundleError(f"The imported model '{source}' gave an output of shape {tuple(out.shape)} for tiles of "
                          f"{tuple(tiles.shape)}; expected {model.num_classes} channel(s) at the tile's size (only "
                          f"per-pixel class scores can be run). Import it again with the tile size and layout it "
                          f"takes.")
    out = out.astype(np.float32, copy=False)
    finite = np.isfinite(out).all(axis=1, keepdims=True)
    if check and model.output != "logits":
        check_probabilities(out, finite[:, 0], model.num_classes, source, model.output)
    if model.output == "logits":
        with np.errstate(over="ignore", invalid="ignore"):
            out = 1.0 / (1.0 + np.exp(-out)) if model.num_classes == 1 else _softmax(out.copy())
    elif model.output == "scores" and model.num_classes > 1:
        out = deepness_reading(out, float(model.threshold if threshold is None else threshold))
    if not finite.all():
        out = np.where(finite, out, np.float32(np.nan))
    return out


def deepness_reading(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Independent per-class scores (B, K, H, W) in [0, 1] as probabilities whose largest is the class Deepness
    gives: scores below ``threshold`` dropped, the rest shared out in proportion (all to class 0 where none is
    left), so the highest score at or above the threshold wins and class 0 takes a pixel where none reaches it."""
    kept = np.where(scores >= threshold, scores, np.float32(0))
    total = kept.sum(axis=1, keepdims=True)
    kept[:, :1] += total == 0  # NaN sums stay NaN: those pixels are nodata
    return kept / np.where(total == 0, np.float32(1), total)


PROBABILITY_TOLERANCE = 0.01  # how far from [0, 1], and a pixel's sum from 1, probabilities may stray (float16)


def check_probabilities(out: np.ndarray, finite: np.ndarray, classes: int, source: str,
                        kind: str = "probabilities") -> None:
    """BundleError when an output declared probabilities (or scores) is not: values outside [0, 1], or (several
    channels, probabilities) a pixel's values not summing to 1, within PROBABILITY_TOLERANCE. Its message says
    what the output seems to be and how to declare it. ``finite``: (B, H, W) pixels to look at (NaN and inf are
    nodata, not checked). An output holding infinities is not called logits: no output kind explains those."""
    values = out.transpose(1, 0, 2, 3)[:, finite]  # (K, pixels)
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    declared = "probabilities" if kind == "probabilities" else "scores from 0 to 1"

    def declare(what: str) -> str:
        return (f"import it with `dualstream import {Path(source).name} --output-kind {what}`, or give \"output\": "
                f"\"{what}\" in its description ({Path(source).stem}.json beside it)")

    broken = _nonfinite(out, finite)
    if low < -PROBABILITY_TOLERANCE or high > 1 + PROBABILITY_TOLERANCE:
        logits = f"logits (scores before {'the sigmoid' if classes == 1 else 'the softmax'})"
        if broken:
            raise BundleError(f"The model '{source}' is described as giving {declared}, but {broken}; where it is "
                              f"finite, its output holds values from {low:.3g} to {high:.3g}. Check the model where "
                              f"its input is like theirs (a division by zero or a log of 0 inside it); if its "
                              f"finite values are {logits}, {declare('logits')}. Nothing was written.")
        raise BundleError(f"The model '{source}' is described as giving {declared}, but its output holds values "
                          f"from {low:.3g} to {high:.3g}: it seems to give {logits}. If so, declare it: "
                          f"{declare('logits')}. Nothing was written.")
    if classes > 1 and kind == "probabilities":
        sums = values.sum(axis=0)
        worst = float(sums[np.argmax(np.abs(sums - 1))])
        if abs(worst - 1) > PROBABILITY_TOLERANCE:
            also = f" Besides, {broken}." if broken else ""
            raise BundleError(f"The model '{source}' is described as giving probabilities, but a pixel's {classes} "
                              f"values sum to {worst:.3g}, not 1: it seems to give independent per-class scores "
                              f"(a sigmoid per class), which are not probabilities. To read them as Deepness "
                              f"does (the highest score at or above the threshold, class 0 where none is), "
                              f"{declare('scores')}; if they are logits squashed to 0..1, export it with a softmax "
                              f"output.{also} Nothing was written.")


def _nonfinite(out: np.ndarray, finite: np.ndarray) -> str:
    """Where the output holds NaN or infinities, a clause saying how much and which (empty where it holds none):
    no output kind explains those (they become nodata whatever it is declared)."""
    bad = int(finite.size - np.count_nonzero(finite))
    if not bad:
        return ""
    kinds = [name for name, found in (("+inf", np.isposinf(out).any()), ("-inf", np.isneginf(out).any()),
                                      ("NaN", np.isnan(out).any())) if found]
    return (f"at {bad:,} of the {finite.size:,} pixels of these tiles ({100 * bad / finite.size:.1f} %) it gives "
            f"{' and '.join(kinds)}, which no output kind explains (those pixels are nodata whatever it is "
            f"declared)")
