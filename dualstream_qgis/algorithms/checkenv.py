"""Processing algorithm "Check environment": versions of the stack and whether a GPU is usable."""

from __future__ import annotations

import json
from typing import Any

from qgis.core import (
    Qgis,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputBoolean,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
)

from ..engine_bridge import engine_module
from .base import DualStreamAlgorithm

#: Report entries returned as string outputs (None when the package is missing).
STRING_KEYS = ("engine", "python", "python_executable", "platform", "numpy", "torch", "transformers",
               "safetensors", "gdal", "rasterio", "cuda_version")


class CheckEnvironmentAlgorithm(DualStreamAlgorithm):
    """Reports Python, torch, CUDA/GPU, transformers, GDAL and rasterio as seen by QGIS's Python."""

    REPORT = "report"

    def name(self) -> str:
        return "checkenv"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Check environment")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Reports what DualStream can use in the Python that QGIS runs: Python, numpy, torch, "
            "transformers, safetensors, GDAL and rasterio versions, whether CUDA is available, and each GPU's "
            "name and memory. Run it first when something is missing or to check that your GPU is detected; "
            "for every missing package the log gives the command that installs it. Needs no input."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        self.addOutput(QgsProcessingOutputString(self.REPORT, self.tr("Environment report (text)")))
        self.addOutput(QgsProcessingOutputString("qgis", self.tr("QGIS version")))
        for key in STRING_KEYS:
            self.addOutput(QgsProcessingOutputString(key, key))
        self.addOutput(QgsProcessingOutputBoolean("cuda_available", self.tr("CUDA available")))
        self.addOutput(QgsProcessingOutputNumber("gpu_count", self.tr("Number of usable GPUs")))
        self.addOutput(QgsProcessingOutputString("gpu_name", self.tr("First GPU name")))
        self.addOutput(QgsProcessingOutputNumber("gpu_memory_gib", self.tr("First GPU memory (GiB)")))
        self.addOutput(QgsProcessingOutputString("gpus", self.tr("All GPUs (JSON)")))
        self.addOutput(QgsProcessingOutputString("missing", self.tr("Missing packages (comma-separated)")))
        self.addOutput(QgsProcessingOutputString("install_hints", self.tr("How to install missing packages")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        environment = engine_module("environment")
        report = environment.environment_report()
        text = f"QGIS {Qgis.QGIS_VERSION}\n{environment.format_report(report)}"
        for line in text.splitlines():
            feedback.pushInfo(line)
        for name in report["missing"]:
            feedback.pushWarning(f"{name} is missing: {report['install_hints'].get(name, '')}")
        gpus = report["gpus"]
        # str(): torch.__version__ is a str subclass that QVariant cannot carry (it would arrive as "").
        results: dict[str, Any] = {key: None if report[key] is None else str(report[key]) for key in STRING_KEYS}
        results.update({
            self.REPORT: text,
            "qgis": Qgis.QGIS_VERSION,
            "cuda_available": bool(report["cuda_available"]),
            "gpu_count": len(gpus),
            "gpu_name": gpus[0]["name"] if gpus else "",
            "gpu_memory_gib": float(gpus[0]["memory_gib"]) if gpus else 0.0,
            "gpus": json.dumps(gpus),
            "missing": ",".join(report["missing"]),
            "install_hints": "\n".join(f"{k}: {v}" for k, v in report["install_hints"].items()),
        })
        return results
