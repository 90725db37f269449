"""Train run through Processing only until it has said what its labels hold: the foreground share it read and
its log. The run is cancelled at its "Data: ..." line, so no model is trained."""

from __future__ import annotations

import re

import pytest


def _stopping_feedback():
    """A QgsProcessingFeedback that keeps every line and cancels the run once the training data is described."""
    from qgis.core import QgsProcessingFeedback

    class Stopping(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.lines: list[str] = []

        def pushInfo(self, text):  # noqa: N802 - QGIS API
            self.lines.append(text)
            if text.startswith("Data:") and "foreground" in text:
                self.cancel()

        def pushWarning(self, text):  # noqa: N802 - QGIS API
            self.lines.append(text)

    return Stopping()


def foreground_share(settings: dict, image: str, labels, out: str) -> tuple[float, list[str]]:
    """The foreground share (%) ``dualstream:train`` with ``settings`` reads from ``labels`` over ``image``, and
    its log, the run stopped before the first epoch."""
    import processing
    from qgis.core import QgsProcessingException

    log = _stopping_feedback()
    with pytest.raises(QgsProcessingException):  # cancelled once the data is described
        processing.run("dualstream:train", dict(settings, INPUT=image, LABELS=labels, OUTPUT=out), feedback=log)
    line = next(line for line in log.lines if line.startswith("Data:") and "foreground" in line)
    return float(re.search(r"foreground ([\d.]+) %", line).group(1)), log.lines
