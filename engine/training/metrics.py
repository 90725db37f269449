"""Streaming segmentation metrics from a confusion matrix, accumulated over batches and scenes. A binary model's
foreground IoU is class 1's over all pixels (the reference's ``JaccardIndex(task="binary", ignore_index=255)``).
Undefined values (a class absent from truth and prediction) are ``None`` so the summary is valid JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError

IGNORE_INDEX = 255


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # torch tensor, without importing torch here
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def _ratio(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [float(n) / float(d) if d > 0 else None for n, d in zip(num, den)]


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def logits_to_prediction(logits: Any, threshold: float = 0.5) -> Any:
    """(B, C, H, W) logits -> (B, H, W) int64 classes: sigmoid > threshold for C = 1, argmax otherwise."""
    import torch

    if logits.ndim == 3:
        logits = logits.unsqueeze(1)
    return (torch.sigmoid(logits[:, 0].float()) > threshold).long() if logits.shape[1] == 1 else logits.argmax(1)


class ConfusionMatrix:
    """K x K confusion matrix (rows = truth, columns = prediction), streaming; ``num_classes`` 1 (a binary model's
    output count) is 2 (background, foreground). Pixels whose truth is ``ignore_index`` are skipped."""

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 (got {num_classes})")
        self.num_classes = max(int(num_classes), 2)
        self.ignore_index = ignore_index
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred: Any, target: Any) -> None:
        """Add predictions and truth of the same shape (any number of dims, torch or numpy)."""
        pred, target = _to_numpy(pred).ravel(), _to_numpy(target).ravel()
        if pred.shape != target.shape:
            raise DataError(f"prediction has {pred.size} pixels but the label has {target.size}; they must match.")
        keep = target != self.ignore_index if self.ignore_index is not None else np.ones(target.shape, bool)
        pred, target = pred[keep].astype(np.int64), target[keep].astype(np.int64)
        k = self.num_classes
        for name, values in (("label", target), ("prediction", pred)):
            if values.size and (values.min() < 0 or values.max() >= k):
                bad = np.unique(values[(values < 0) | (values >= k)])[:10].tolist()
                raise DataError(f"{name} values {bad} are outside the classes 0..{k - 1} (ignore index "
                                f"{self.ignore_index}); check the label mapping and the number of classes.")
        self.matrix += np.bincount(target * k + pred, minlength=k * k).reshape(k, k)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another accumulator's counts, of as many classes (e.g. from another scene); returns self."""
        self.matrix += other.matrix
        return self

    def summary(self, class_names: list[str] | None = None) -> dict[str, Any]:
        """IoU / F1 / precision / recall per class, mean IoU, pixel accuracy, foreground IoU, the matrix;
        ``class_names``, where given, one per class."""
        m = self.matrix.astype(np.float64)
        tp = np.diag(m)
        fp = m.sum(axis=0) - tp
        fn = m.sum(axis=1) - tp
        iou = _ratio(tp, tp + fp + fn)
        total = m.sum()
        return {
            "class_names": list(class_names) if class_names else [str(i) for i in range(self.num_classes)],
            "iou": iou,
            "miou": _mean(iou),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "pixel_accuracy": float(tp.sum() / total) if total > 0 else None,
            # binary: IoU of class 1; multi-class: mean IoU over the non-background classes
            "foreground_iou": iou[1] if self.num_classes == 2 else _mean(iou[1:]),
            "pixels": int(total),
            "confusion_matrix": self.matrix.tolist(),
        }


def selection_score(summary: dict[str, Any], num_classes: int, metric: str = "iou") -> float:
    """The early-stopping / best-model score (higher is better): foreground IoU for binary models, mIoU otherwise
    (undefined counts as 0, so such an epoch is never preferred); ``metric="loss"``: the negated validation loss."""
    if metric == "loss":
        return -float(summary["loss"])
    value = summary.get("foreground_iou") if num_classes == 1 else summary.get("miou")
    return 0.0 if value is None else float(value)


def number(value: Any) -> float:
    """A metric value, NaN for None (undefined) in the history."""
    return float("nan") if value is None else float(value)


def foreground_shares(summary: dict[str, Any]) -> dict[str, float]:
    """The shares of the validation pixels predicted (``val_predicted_share``) and labelled (``val_labelled_share``)
    as any class but 0, and the class predicted most with its shares predicted and labelled (``val_top_*``), from a
    summary's confusion matrix (rows: labels): what tells a model that learned nothing
    (:func:`engine.bundle.describe.learned_nothing`). Empty without pixels."""
    matrix = np.asarray(summary.get("confusion_matrix") or [[0]], dtype=np.float64)
    total = matrix.sum()
    if total <= 0:
        return {}
    predicted = matrix.sum(axis=0)
    top = int(predicted.argmax())  # the class predicted most, and how much of it the labels hold
    return {"val_predicted_share": float(matrix[:, 1:].sum() / total),
            "val_labelled_share": float(matrix[1:, :].sum() / total),
            "val_top_class": top, "val_top_predicted_share": float(predicted[top] / total),
            "val_top_labelled_share": float(matrix[top, :].sum() / total)}


#: The decision thresholds at which a binary model's validation is scored (:class:`ThresholdSweep`).
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))
_EDGES = np.asarray(THRESHOLDS)  # built once: every validation batch bins against it


class ThresholdSweep:
    """A binary model's foreground F1 at each of :data:`THRESHOLDS`, streaming: the pixels of each truth class
    counted by probability bin (bin ``b`` holds probabilities from ``THRESHOLDS[b - 1]``, up to the next one)."""

    def __init__(self, ignore_index: int | None = IGNORE_INDEX):
        self.ignore_index = ignore_index
        self.counts = np.zeros((2, len(THRESHOLDS) + 1), dtype=np.int64)

    def update(self, probabilities: Any, target: Any) -> None:
        """Add foreground probabilities and 0/1 truth of the same shape (pixels whose truth is ignored skipped)."""
        prob, target = _to_numpy(probabilities).ravel(), _to_numpy(target).ravel()
        keep = target != self.ignore_index if self.ignore_index is not None else np.ones(target.shape, bool)
        bins = np.searchsorted(_EDGES, prob[keep], side="right")
        for truth in (0, 1):
            self.counts[truth] += np.bincount(bins[target[keep] == truth], minlength=len(THRESHOLDS) + 1)

    def f1(self) -> list[float | None]:
        """The foreground F1 at each threshold (a pixel is foreground from it on, as segment decides)."""
        found = self.counts[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]  # pixels at or above each threshold
        tp, fp = found[1], found[0]
        fn = self.counts[1].sum() - tp
        return _ratio(2 * tp, 2 * tp + fp + fn)

    def best(self) -> float | None:
        """The F1-best threshold (:func:`best_threshold`)."""
        return best_threshold(self.f1())


def best_threshold(f1: list[float | None]) -> float | None:
    """The threshold of :data:`THRESHOLDS` whose F1 in ``f1`` (one per threshold) is best, of equal ones the nearest
    to 0.5; None where no F1 is defined."""
    scores = [(f, -abs(t - 0.5), t) for f, t in zip(f1, THRESHOLDS) if f is not None]
    return max(scores)[2] if scores else None
