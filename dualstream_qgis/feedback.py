"""Bridge from the engine's Callback to QGIS's QgsProcessingFeedback (progress, log, cancellation)."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsProcessingFeedback

from .engine_bridge import engine_module

Callback = engine_module("callbacks").Callback


class FeedbackCallback(Callback):
    """Engine callback that reports to a Processing feedback object.

    Progress of a stage maps to the feedback's 0-100 bar and the stage name to its progress text;
    ``is_canceled`` asks the feedback, so the engine stops when the user presses Cancel.
    """

    def __init__(self, feedback: QgsProcessingFeedback | None = None):
        self.feedback = feedback if feedback is not None else QgsProcessingFeedback()
        self._stage: str | None = None

    def progress(self, done: float, total: float, stage: str = "") -> None:
        if stage and stage != self._stage:
            self._stage = stage
            self.feedback.setProgressText(stage)
        if total > 0:
            self.feedback.setProgress(max(0.0, min(100.0, 100.0 * float(done) / float(total))))

    def info(self, message: str) -> None:
        self.feedback.pushInfo(message)

    def warning(self, message: str) -> None:
        self.feedback.pushWarning(message)

    def metrics(self, epoch: int, values: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        self.feedback.pushInfo(f"epoch {epoch}: {shown}")

    def is_canceled(self) -> bool:
        return bool(self.feedback.isCanceled())
