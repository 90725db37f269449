"""Processing algorithm "Install dependencies": what the engine imports, for QGIS's own Python, in the background."""

from __future__ import annotations

import importlib
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterString,
)

from .. import deps, torch_build
from ..compat import FILE_BEHAVIOR_FOLDER
from ..engine_bridge import add_site_packages
from .algorithm import DualStreamAlgorithm
from .common import EnumNamesMixin, add_parameter, enum_value, parameters_help

BUILDS = ("auto", "cuda", "cpu")


class InstallDependenciesAlgorithm(EnumNamesMixin, DualStreamAlgorithm):
    """Runs pip with QGIS's Python into a per-user folder the plugin puts on ``sys.path``."""

    BUILD = "BUILD"
    WHEELS = "WHEELS"
    PACKAGES = "PACKAGES"
    INDEX_URL = "INDEX_URL"

    def name(self) -> str:
        return "installdeps"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Install dependencies (torch, transformers)")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Install what DualStream needs into QGIS's own Python, without a terminal.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Installs what DualStream's engine imports (torch, transformers, safetensors, tqdm, onnx, "
            "onnxruntime, and rasterio where QGIS has none) for the Python that QGIS runs, with that Python's "
            "pip (added first where QGIS ships none), into a folder of your QGIS profile: never into QGIS's or "
            "the system's Python; deleting that folder undoes it. DualStream finds the packages there at once "
            "and after every restart; <b>Check environment</b> then shows which package is used from where.</p>"
            "<p><b>Inputs</b>: the <b>torch build</b>: auto looks for an NVIDIA GPU and its driver (nvidia-smi) "
            "and installs the CUDA build the driver supports (CUDA 13.0 or 12.6, from PyTorch's index), else the "
            "much smaller CPU build; a <b>wheel folder</b> for computers without internet (the log of a failed "
            "run gives the exact pip download command for this Python and system).</p>"
            "<p><b>Outputs</b>: the folder the packages are in; the log shows every line pip printed and the "
            "download progress. It runs in the background: QGIS stays usable, and Cancel stops pip within "
            "seconds (what was installed completely stays).</p>"
            "<p><b>Typical workflow</b>: run <b>Check environment</b>; if torch is missing, run this; run "
            "<b>Check environment</b> again. Details per platform: docs/install.md.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        add_parameter(self, QgsProcessingParameterEnum(
            self.BUILD, self.tr("torch build"), options=list(BUILDS), defaultValue=0),
            self.tr("auto: the CUDA build the NVIDIA driver supports when nvidia-smi finds a GPU, else the CPU "
                    "build; cuda: a CUDA build even without a GPU found; cpu: PyTorch's CPU-only build."))
        add_parameter(self, QgsProcessingParameterFile(
            self.WHEELS, self.tr("Wheel folder (offline installation)"),
            behavior=FILE_BEHAVIOR_FOLDER, optional=True),
            self.tr("A folder of .whl files to install from instead of the internet (pip --no-index "
                    "--find-links)."))
        add_parameter(self, QgsProcessingParameterString(
            self.PACKAGES, self.tr("Packages"), " ".join(deps.DEFAULT_PACKAGES)),
            self.tr("pip requirements separated by spaces; the default is what DualStream needs."), advanced=True)
        add_parameter(self, QgsProcessingParameterString(
            self.INDEX_URL, self.tr("Extra package index for torch"), "", optional=True),
            self.tr("Where torch comes from besides the configured package index (pip --extra-index-url); empty: "
                    "chosen by the torch build (PyTorch's CPU index, or the CUDA index the driver supports)."),
            advanced=True)
        self.addOutput(QgsProcessingOutputString("FOLDER", self.tr("Folder the packages are in")))
        self.addOutput(QgsProcessingOutputString("GPU", self.tr("GPU found")))
        self.addOutput(QgsProcessingOutputString("BUILD", self.tr("torch build installed (cuda, cpu, none)")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        # No FlagNoThreading: in the dialog this runs in Processing's worker thread, so QGIS stays responsive
        # while pip downloads; pip's output still streams to the log (feedback is thread-safe).
        build = enum_value(self, parameters, self.BUILD, context, BUILDS)
        wheels = self.parameterAsFile(parameters, self.WHEELS, context) or None
        index_url = (self.parameterAsString(parameters, self.INDEX_URL, context) or "").strip() or None
        packages = (self.parameterAsString(parameters, self.PACKAGES, context) or "").split()  # "a>=1,<2" b
        if not packages:
            raise QgsProcessingException("Parameter PACKAGES: nothing to install; leave it at its default.")
        gpu = torch_build.detect_gpu()
        feedback.pushInfo(f"GPU: {gpu.describe()}")
        choice = torch_build.choose(build, gpu, packages, platform.system(), platform.machine(),
                                    deps.DEFAULT_PACKAGES)
        for line in choice.lines:
            feedback.pushInfo(line)
        packages = deps.with_system_packages(choice.packages, feedback.pushInfo)
        steps = 0

        def step(line: str) -> None:  # the line itself is in the log already (the dialog would show it twice)
            nonlocal steps
            steps += 1
            feedback.setProgress(min(95.0, 100.0 * (1 - 0.9 ** steps)))  # forward only; pip has no total

        folder, added = install_into_profile(packages, feedback, wheels=wheels,
                                             index_url=index_url or choice.index_url, step=step,
                                             show=feedback.setProgressText)
        feedback.pushInfo(f"Installed into {folder}" + (" (now on QGIS's Python path)" if added else ""))
        feedback.pushInfo("Run Check environment to see which package is used from where. To undo: delete "
                          f"{deps.packages_dir()}.")
        if str(folder) not in sys.path:
            feedback.pushWarning(f"{folder} is not on QGIS's Python path yet; restart QGIS.")
        return {"FOLDER": str(folder), "GPU": gpu.describe(), "BUILD": choice.build}


def install_into_profile(requirements: list[str], feedback: QgsProcessingFeedback, *, wheels: str | None = None,
                         index_url: str | None = None, step: Callable[[str], None],
                         show: Callable[[str], None] = lambda text: None) -> tuple[Path, list[str]]:
    """pip-install ``requirements`` into the plugin's package folder (:func:`deps.install`, pip's lines in the log,
    Cancel stops it) and make them importable in this session: (their site-packages folder, the folders newly put
    on ``sys.path``). A failed install is a QgsProcessingException saying why."""
    try:
        folder = deps.install(requirements, wheels=wheels, index_url=index_url, log=feedback.pushConsoleInfo,
                              canceled=feedback.isCanceled, step=step, show=show)
    except deps.InstallError as exc:
        raise QgsProcessingException(str(exc)) from exc
    added = add_site_packages()
    importlib.invalidate_caches()  # the folder's new packages become importable in this session
    return folder, added
