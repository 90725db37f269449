"""Progress of the change runs (issue 79, item 6): the first *Detect change* of a new bundle with onnxruntime makes
and checks its ONNX export before its first tile (8-9 s on a real model, at 0 % and silent before): the dialog says
so and the bar moves through it."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.qgis]


def recording_feedback():
    """A feedback keeping each (progress text, percent) in order."""
    from qgis.core import QgsProcessingFeedback

    class Recording(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.text = ""
            self.steps: list[tuple[str, float]] = []
            self.progressChanged.connect(lambda percent: self.steps.append((self.text, float(percent))))

        def setProgressText(self, text):  # noqa: N802 - QGIS API
            self.text = text
            super().setProgressText(text)

    return Recording()


def test_the_first_run_with_onnxruntime_says_the_export_and_moves_the_bar(plugin, tmp_path):
    import processing

    from engine.data.synthetic_pairs import make_pair
    from tests.helpers import make_change_bundle

    pair = make_pair(tmp_path / "pair", seed=5, size=64, name="p")
    model = make_change_bundle(tmp_path / "fresh.dsmodel", gsd=1.25)  # a bundle of its own: never exported before
    feedback = recording_feedback()
    processing.run("dualstream:detectchange", {"INPUT": pair.before, "AFTER": pair.after, "MODEL": model,
                                               "BACKEND": "onnxruntime", "DEVICE": "cpu",
                                               "OUTPUT": str(tmp_path / "change.tif")}, feedback=feedback)
    exporting = [percent for text, percent in feedback.steps if text.startswith("Exporting the model to ONNX")]
    assert exporting and max(exporting) > 0, feedback.steps
    percents = [percent for _, percent in feedback.steps]
    assert percents == sorted(percents) and percents[-1] == 100, percents  # forward only, to the end
