"""The DualStream Processing provider (id ``dualstream``).

Algorithms are listed in :data:`ALGORITHMS` as (module, class) pairs inside ``algorithms/``; add a line
when a new algorithm lands. A module that fails to import is logged and skipped, so one broken algorithm
never hides the others (and the provider still loads when torch is missing).
"""

from __future__ import annotations

import importlib

from qgis.core import Qgis, QgsMessageLog, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .engine_bridge import engine
from .paths import icon_path

#: (module in dualstream_qgis.algorithms, class name) of every algorithm the provider offers.
ALGORITHMS: list[tuple[str, str]] = [
    ("checkenv", "CheckEnvironmentAlgorithm"),
    ("installdeps", "InstallDependenciesAlgorithm"),
    ("sampledata", "SampleDataAlgorithm"),
    ("getmodel", "GetReadyModelAlgorithm"),
    ("train", "TrainAlgorithm"),
    ("segment", "SegmentAlgorithm"),
    ("segmentbulk", "SegmentBulkAlgorithm"),
    ("evaluate", "EvaluateAlgorithm"),
    ("polygons", "PolygonsAlgorithm"),
    ("suggest", "SuggestAlgorithm"),
    ("labelsam", "LabelSamAlgorithm"),
    ("propose", "ProposeAlgorithm"),
    ("accept", "AcceptAlgorithm"),
    ("trainchange", "TrainChangeAlgorithm"),
    ("detectchange", "DetectChangeAlgorithm"),
    ("comparechange", "CompareChangeAlgorithm"),
    ("trainseason", "TrainSeasonAlgorithm"),
    ("segmentseason", "SegmentSeasonAlgorithm"),
]

LOG_TAG = "DualStream"


class DualStreamProvider(QgsProcessingProvider):
    """Processing provider offering the DualStream algorithms."""

    def __init__(self):
        super().__init__()
        self.load_errors: list[str] = []

    def id(self) -> str:
        return "dualstream"

    def name(self) -> str:
        return "DualStream"

    def longName(self) -> str:  # noqa: N802 - QGIS API
        return f"DualStream multi-modal segmentation (engine {self.versionInfo()})"

    def versionInfo(self) -> str:  # noqa: N802 - QGIS API
        return engine().__version__

    def icon(self) -> QIcon:
        return QIcon(str(icon_path()))

    def svgIconPath(self) -> str:  # noqa: N802 - QGIS API
        return str(icon_path())

    def loadAlgorithms(self) -> None:  # noqa: N802 - QGIS API
        self.load_errors = []
        for module_name, class_name in ALGORITHMS:
            try:
                module = importlib.import_module(f"{__package__}.algorithms.{module_name}")
                algorithm = getattr(module, class_name)()
            except Exception as exc:  # noqa: BLE001 - logged and skipped so the other algorithms still load
                message = f"DualStream algorithm '{module_name}' could not be loaded: {type(exc).__name__}: {exc}"
                self.load_errors.append(message)
                QgsMessageLog.logMessage(message, LOG_TAG, Qgis.MessageLevel.Critical)
                continue
            self.addAlgorithm(algorithm)
