"""Processing algorithm "Get a ready model": a model made elsewhere (the engine's catalogue: ukis-csmask's cloud
masks, ...) fetched, checked and wrapped as a ``.dsmodel`` that Segment takes like a trained one.

The choices are the engine's catalogue (``engine.api.ready_models``), read when the dialog opens. A model that
ships inside a pip package (ukis-csmask) is installed into the plugin's dependency folder (as Install
dependencies does) before the engine wraps it; downloads are checksum-verified by the engine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
)

from .. import deps
from ..compat import FILE_BEHAVIOR_FOLDER
from ..engine_bridge import engine_api
from ..feedback import Stages, run_engine
from .algorithm import DualStreamAlgorithm
from .common import EnumNamesMixin, add_parameter, enum_value, parameters_help
from .installdeps import install_into_profile


def profile_models_folder() -> Path:
    """Where ready models go by default: ``$DUALSTREAM_MODELS_DIR``, else ``<QGIS profile>/dualstream/models``."""
    given = os.environ.get(engine_api().MODELS_ENV)
    return Path(given).expanduser() if given else Path(QgsApplication.qgisSettingsDirPath()) / "dualstream" / "models"


class GetReadyModelAlgorithm(EnumNamesMixin, DualStreamAlgorithm):
    """Fetches a ready model from the engine's catalogue and wraps it as a .dsmodel bundle."""

    MODEL = "MODEL"
    FOLDER = "FOLDER"
    INSTALL = "INSTALL"
    FORCE = "FORCE"
    OUTPUT = "OUTPUT"

    def __init__(self) -> None:
        super().__init__()
        self.models: list[Any] = []
        self.catalogue_error: str | None = None

    def name(self) -> str:
        return "getmodel"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Get a ready model")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Fetch a model made elsewhere (cloud and cloud-shadow masks, ...) as a bundle to segment with.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        rows = "".join(
            f"<li><b>{m.name}</b>: {m.entry.task}; {m.entry.sensor}; bands in this order: "
            f"{', '.join(m.entry.bands) or 'as the model file says'}"
            f"{f' ({m.entry.band_hint})' if m.entry.band_hint else ''}; classes "
            f"{', '.join(m.entry.classes) or 'as the model file says'}; licence {m.entry.licence}</li>"
            for m in self.models)
        return self.tr(
            "<p>Fetches a ready model made elsewhere, checks its files against the checksums of DualStream's "
            "catalogue and wraps it as a model bundle (<i>NAME.dsmodel</i>) that <b>Segment with DualStream</b> "
            "takes like a model trained here (its bands, value scaling, classes and colours inside).</p>"
            "<p>Give the image with the model's bands <b>in the order listed</b>, in the value range it was made "
            "for (ukis-csmask: reflectance 0-1; Sentinel-2 digital numbers are reflectance x 10000).</p>"
            f"<ul>{rows}</ul>"
            "<p>A model that ships inside a Python package (ukis-csmask) is installed with pip into the plugin's "
            "package folder first (needs internet once); a downloaded one shows its progress. A bundle already "
            "in the folder is kept unless <i>Wrap again</i> is ticked.</p>"
        ) + (f"<p><b>The catalogue cannot be read</b>: {self.catalogue_error}</p>" if self.catalogue_error else "") \
            + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        api = engine_api()
        try:
            self.models = api.ready_models(profile_models_folder())
        except api.DualStreamError as exc:  # the dialog still opens and says why; running it says it again
            self.models, self.catalogue_error = [], str(exc)
        names = [model.name for model in self.models]
        add_parameter(self, QgsProcessingParameterEnum(self.MODEL, self.tr("Model"), options=names,
                                                       defaultValue=0 if names else None),
                      self.tr("A model of DualStream's catalogue (dualstream models list shows the same)."))
        add_parameter(self, QgsProcessingParameterFile(
            self.FOLDER, self.tr("Models folder"), behavior=FILE_BEHAVIOR_FOLDER,
            optional=True),
            self.tr(f"Where NAME.dsmodel is written; empty: {profile_models_folder()} (or "
                    f"${api.MODELS_ENV})."))
        add_parameter(self, QgsProcessingParameterBoolean(self.INSTALL, self.tr("Install its Python package when "
                                                                                "missing"), True),
                      self.tr("For a model that ships inside a pip package (ukis-csmask): install it into the "
                              "plugin's package folder, as Install dependencies does."))
        add_parameter(self, QgsProcessingParameterBoolean(self.FORCE, self.tr("Wrap again"), False),
                      self.tr("Fetch and wrap the model again even when its bundle is in the folder."),
                      advanced=True)
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT, self.tr("Model bundle")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        if self.catalogue_error:
            raise QgsProcessingException(f"The catalogue of ready models cannot be read: {self.catalogue_error}")
        if not self.models:
            raise QgsProcessingException("The catalogue of ready models is empty.")
        name = enum_value(self, parameters, self.MODEL, context, tuple(m.name for m in self.models))
        folder = self.parameterAsFile(parameters, self.FOLDER, context) or str(profile_models_folder())
        api = engine_api()
        missing = run_engine(api.ready_model_requirements, name)
        if missing and not self.parameterAsBoolean(parameters, self.INSTALL, context):
            raise QgsProcessingException(
                f"{name} needs the Python package {', '.join(missing)}, which is not installed; tick 'Install its "
                f"Python package when missing' (it goes into {deps.packages_dir()}) or install it yourself.")
        if missing:
            self._install(missing, feedback)
        callback = self.callback(feedback, Stages({api.Stage.DOWNLOAD: (0.0, 90.0)}))
        result = run_engine(api.get_ready_model, name, folder, callback, install=False,
                            force=self.parameterAsBoolean(parameters, self.FORCE, context))
        for line in api.describe_model(result.path):
            feedback.pushInfo(line)
        feedback.pushInfo(f"{'Already in the folder' if result.reused else 'Written'}: {result.path}; choose it as "
                          "the Model bundle of Segment with DualStream.")
        feedback.setProgress(100)
        return {self.OUTPUT: result.path}

    @staticmethod
    def _install(requirements: list[str], feedback: QgsProcessingFeedback) -> None:
        """pip-install ``requirements`` into the plugin's package folder and make them importable now."""
        feedback.pushInfo(f"Installing {', '.join(requirements)} into {deps.packages_dir()}")
        install_into_profile(requirements, feedback, step=lambda line: feedback.setProgressText(line[:80]))
