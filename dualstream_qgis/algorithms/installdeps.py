"""Processing algorithm "Install dependencies": torch, transformers and safetensors for QGIS's own Python."""

from __future__ import annotations

import importlib
import sys
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

from .. import deps
from ..engine_bridge import add_site_packages
from .base import DualStreamAlgorithm
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
            "<p>Installs torch, transformers and safetensors for the Python that QGIS runs, with that Python's "
            "pip, into a folder of your QGIS profile (never into the system's Python). DualStream finds them "
            "there at once and after every restart; <b>Check environment</b> then shows which package is used "
            "from where.</p>"
            "<p><b>Inputs</b>: the <b>torch build</b>: auto looks for an NVIDIA GPU and its driver (nvidia-smi) "
            "and installs the CUDA build when there is one, else the much smaller CPU build from PyTorch's "
            "index; a <b>wheel folder</b> for computers without internet (download the wheels elsewhere with "
            "pip download torch==2.13.0 transformers safetensors tqdm -d FOLDER, for the same Python version "
            "and platform).</p>"
            "<p><b>Outputs</b>: the folder the packages are in; the log shows every line pip printed. The "
            "download of a CUDA build is several GB: it can take a while; Cancel stops pip.</p>"
            "<p><b>Typical workflow</b>: run <b>Check environment</b>; if torch is missing, run this; run "
            "<b>Check environment</b> again.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        add_parameter(self, QgsProcessingParameterEnum(
            self.BUILD, self.tr("torch build"), options=list(BUILDS), defaultValue=0),
            self.tr("auto: CUDA when nvidia-smi finds a GPU, else CPU; cuda: PyPI's default build (needs an "
                    "NVIDIA driver); cpu: PyTorch's CPU-only build."))
        add_parameter(self, QgsProcessingParameterFile(
            self.WHEELS, self.tr("Wheel folder (offline installation)"),
            behavior=QgsProcessingParameterFile.Behavior.Folder, optional=True),
            self.tr("A folder of .whl files to install from instead of the internet (pip --no-index "
                    "--find-links)."))
        add_parameter(self, QgsProcessingParameterString(
            self.PACKAGES, self.tr("Packages"), " ".join(deps.DEFAULT_PACKAGES)),
            self.tr("pip requirements separated by spaces; the default is what DualStream needs."), advanced=True)
        add_parameter(self, QgsProcessingParameterString(
            self.INDEX_URL, self.tr("Extra package index for the CPU build"), deps.CPU_INDEX_URL, optional=True),
            self.tr("Where the CPU build of torch comes from (pip --extra-index-url); empty: only the package "
                    "indexes pip is configured with."), advanced=True)
        self.addOutput(QgsProcessingOutputString("FOLDER", self.tr("Folder the packages are in")))
        self.addOutput(QgsProcessingOutputString("GPU", self.tr("GPU found")))

    def flags(self):  # noqa: D102 - QGIS API
        return super().flags() | self.FlagNoThreading  # pip's output streams to the log as it comes

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        build = enum_value(self, parameters, self.BUILD, context, BUILDS)
        gpu = deps.detect_gpu()
        feedback.pushInfo(f"GPU: {gpu.describe()}")
        if build == "auto":
            build = "cuda" if gpu.name else "cpu"
        feedback.pushInfo(f"torch build: {build}")
        wheels = self.parameterAsFile(parameters, self.WHEELS, context) or None
        index_url = (self.parameterAsString(parameters, self.INDEX_URL, context) or "").strip() or None
        packages = (self.parameterAsString(parameters, self.PACKAGES, context) or "").split()  # "a>=1,<2" b
        if not packages:
            raise QgsProcessingException("Parameter PACKAGES: nothing to install; leave it at its default.")
        steps = 0

        def step(line: str) -> None:
            nonlocal steps
            steps += 1
            feedback.setProgressText(line[:80])
            feedback.setProgress(min(95.0, 100.0 * (1 - 0.9 ** steps)))  # forward only; pip has no total

        try:
            folder = deps.install(packages, wheels=wheels, index_url=index_url if build == "cpu" else None,
                                  log=feedback.pushConsoleInfo, canceled=feedback.isCanceled, step=step)
        except deps.InstallError as exc:
            raise QgsProcessingException(str(exc)) from exc
        added = add_site_packages()
        importlib.invalidate_caches()  # the folder's new packages become importable in this session
        feedback.pushInfo(f"Installed into {folder}" + (" (now on QGIS's Python path)" if added else ""))
        feedback.pushInfo("Run Check environment to see which package is used from where.")
        if str(folder) not in sys.path:
            feedback.pushWarning(f"{folder} is not on QGIS's Python path yet; restart QGIS.")
        return {"FOLDER": str(folder), "GPU": gpu.describe()}
