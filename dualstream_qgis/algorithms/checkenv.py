"""Processing algorithm "Check environment": versions of the stack and whether a GPU is usable."""

from __future__ import annotations

import json
import sys
from typing import Any

from qgis.core import (
    Qgis,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputBoolean,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
)

from .. import deps
from ..engine_bridge import engine_api
from .algorithm import DualStreamAlgorithm, install_advice

#: Packages whose folder Check environment shows (which copy QGIS's Python really uses).
LOCATED = ("numpy", "torch", "transformers", "safetensors", "rasterio", "osgeo")
#: Report entries that name a package (engine report key -> module): each is checked for "found but fails to load".
PACKAGE_KEYS = {"numpy": "numpy", "torch": "torch", "transformers": "transformers", "safetensors": "safetensors",
                "gdal": "osgeo", "rasterio": "rasterio", "onnx": "onnx", "onnxruntime": "onnxruntime"}
#: Report entries returned as string outputs (None when the package is missing).
STRING_KEYS = ("engine", "python", "python_executable", "platform", "numpy", "torch", "transformers",
               "safetensors", "gdal", "rasterio", "cuda_version")


def models_smoke_test() -> str:
    """Import what the models need and run a tiny convolution; return "" when that works, else the error.

    Version numbers alone can look fine while a package is unusable (e.g. torch picking up an older
    dependency from the system's site-packages); this catches that.
    """
    try:
        import torch
        from transformers import SegformerConfig, SegformerModel  # noqa: F401 - the import itself is the test

        torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3))
    except Exception as exc:  # noqa: BLE001 - any failure is the finding we report
        return f"{type(exc).__name__}: {exc}"
    return ""


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
            "for every missing package the log gives the command that installs it. A package that is installed "
            "but fails to load (on Windows often a missing Visual C++ runtime) is told apart from a missing one, "
            "with the error and the fix. It also imports the model code and runs a tiny convolution, so a broken "
            "installation is reported here. Needs no input."
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
        self.addOutput(QgsProcessingOutputBoolean("models_ok", self.tr("torch + transformers models usable")))
        self.addOutput(QgsProcessingOutputString("models_error", self.tr("Why models are not usable")))
        self.addOutput(QgsProcessingOutputString("missing", self.tr("Missing packages (comma-separated)")))
        self.addOutput(QgsProcessingOutputString("broken", self.tr("Installed packages that fail to load, with the "
                                                                   "error (JSON)")))
        self.addOutput(QgsProcessingOutputString("install_hints", self.tr("How to install missing packages")))
        self.addOutput(QgsProcessingOutputString("locations", self.tr("Folder each package is used from (JSON)")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        api = engine_api()
        report = api.environment_report()
        try:  # inside QGIS sys.executable is the QGIS program (or a shim first on PATH), not its Python
            report["python_executable"] = deps.qgis_python()
        except deps.InstallError as exc:
            feedback.pushWarning(str(exc))
        broken = {key: error for key, module in PACKAGE_KEYS.items() if not report[key]
                  for error in [deps.load_failure(module)] if error}
        report["missing"] = [name for name in report["missing"] if name not in broken]
        report["install_hints"] = {k: v for k, v in report["install_hints"].items() if k not in broken}
        locations = deps.package_locations(LOCATED + tuple(PACKAGE_KEYS[key] for key in broken))
        installed = deps.site_dir(deps.packages_dir())
        shown = dict(report, **{key: "INSTALLED BUT FAILS TO LOAD" for key in broken})
        text = "\n".join([f"QGIS {Qgis.QGIS_VERSION}", api.format_environment(shown),
                          *(f"{name} from {folder}" for name, folder in locations.items()),
                          f"Packages installed by Install dependencies go to {installed}"
                          + (" (on the Python path)" if str(installed) in sys.path else " (none there yet)")])
        for line in text.splitlines():
            feedback.pushInfo(line)
        for name in report["missing"]:
            feedback.pushWarning(f"{name} is missing. {install_advice(name)}")
        for key, error in broken.items():
            folder = locations.get(PACKAGE_KEYS[key])
            feedback.pushWarning(f"{key} is installed ({folder}) but fails to load: {error}. "
                                 f"{deps.load_failure_advice(key, error, folder)}")
        models_error = ""
        if report["missing"] or {"torch", "transformers", "safetensors"} & set(broken):
            models_error = "skipped: packages are missing or fail to load"
        else:
            models_error = models_smoke_test()
            if models_error:
                feedback.pushWarning(f"torch/transformers are installed but not usable: {models_error}")
            else:
                feedback.pushInfo("models: torch and transformers work (SegFormer import and a convolution)")
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
            "models_ok": not models_error,
            "models_error": models_error,
            "missing": ",".join(report["missing"]),
            "broken": json.dumps(broken),
            "install_hints": "\n".join(f"{name}: {install_advice(name)}" for name in report["missing"]),
            "locations": json.dumps(locations),
        })
        return results
