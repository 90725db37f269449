"""A QgsProcessingFeedback that keeps every line it is given, for the plugin tests that read a run's log."""

from __future__ import annotations


class Log:
    """``Log()``: a QgsProcessingFeedback (made when asked: qgis is imported inside a test) with ``lines`` and
    ``line(start, having)``, the first line that starts so and holds ``having``."""

    def __new__(cls):
        from qgis.core import QgsProcessingFeedback

        class Keeping(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.lines: list[str] = []

            def pushInfo(self, text):  # noqa: N802 - QGIS API
                self.lines.append(text)

            def pushWarning(self, text):  # noqa: N802 - QGIS API
                self.lines.append(text)

            def reportError(self, text, fatalError=False):  # noqa: N802, N803 - QGIS API
                self.lines.append(text)

            def line(self, start: str, having: str = "") -> str:
                return next(line for line in self.lines if line.startswith(start) and having in line)

        return Keeping()
