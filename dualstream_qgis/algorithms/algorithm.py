"""What every DualStream Processing algorithm shares: icon, translation, dependency checks, the
feedback bridge, engine error translation, and turning layers into file paths for the engine.

Algorithm modules must not import torch (or anything that needs it) at module level: the provider
imports them all when QGIS starts, and it has to load even when torch is missing.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterNumber,
    QgsProperty,
)
from qgis.PyQt.QtCore import QCoreApplication, QUrl
from qgis.PyQt.QtGui import QIcon

from .. import deps
from ..compat import NUMBER_INTEGER
from ..engine_bridge import SITE_PACKAGES_ENV, SITE_PACKAGES_FILE, engine_api, engine_location
from ..feedback import FeedbackCallback, Stages
from ..paths import icon_path, readme_path
from .destinations import check_destinations
from .sources import LAYER_PARAMETERS, check_layer_value

T = TypeVar("T")


#: Packages QGIS's own Python must bring (the same GDAL as QGIS): Install dependencies does not install them.
SYSTEM_PACKAGES = {"osgeo": "python3-gdal", "rasterio": "python3-rasterio", "numpy": "python3-numpy"}


def from_checkout() -> bool:
    """Whether this plugin runs from a DualStream checkout or a `make deploy` (not an installed zip)."""
    return engine_location()[0] == "engine" or SITE_PACKAGES_FILE.is_file()


def install_advice(package: str | None = None) -> str:
    """What a QGIS user does about a missing ``package``, for the way the plugin was installed: the Install
    dependencies algorithm for torch and friends, the system's packages for GDAL and rasterio; `make deploy` only
    for those who have a checkout (a zip user has none)."""
    if package == "rasterio":  # Windows and macOS QGIS do not ship it: Install dependencies adds its wheel there
        return ("QGIS's Python lacks rasterio: on Debian/Ubuntu install `sudo apt-get install python3-rasterio` "
                "(built against QGIS's own GDAL); on Windows and macOS run Install dependencies (Plugins > "
                "DualStream), which installs rasterio's wheel for QGIS's Python.")
    if package in SYSTEM_PACKAGES:
        return (f"QGIS's Python lacks {package}, which must match QGIS's own GDAL: on Debian/Ubuntu install "
                f"`sudo apt-get install {SYSTEM_PACKAGES[package]}`; the QGIS installers for Windows and macOS "
                "(OSGeo4W, the official packages) include it.")
    text = ("In QGIS, run Install dependencies (Plugins > DualStream > Install dependencies, or Processing Toolbox > "
            f"DualStream): it installs {', '.join(deps.DEFAULT_PACKAGES)} for QGIS's Python "
            f"{sys.version.split()[0]}, from the internet or from a folder of wheels.")
    if from_checkout():
        text += (" From a DualStream checkout, `make deploy` lets QGIS use the checkout's virtual environment "
                 f"instead (or set {SITE_PACKAGES_ENV} to a site-packages folder).")
    return text


def require_packages(*packages: str) -> None:
    """Import each package or raise QgsProcessingException naming it and what to do in QGIS."""
    api = engine_api()
    for package in packages:
        try:
            api.require(package)
        except api.DependencyError as exc:
            detail = f" ({exc.detail})" if getattr(exc, "detail", None) else ""
            raise QgsProcessingException(f"The Python package '{package}' is required but could not be imported"
                                         f"{detail}. {install_advice(package)}") from exc


def number_problem(definition: QgsProcessingParameterNumber, value: Any, context: QgsProcessingContext
                   ) -> str | None:
    """What is wrong with a number parameter's value, with its range and what to give; None when it is fine."""
    if definition.checkValueIsAcceptable(value, context):
        return None
    integer = definition.dataType() == NUMBER_INTEGER
    shown = (lambda v: f"{int(v)}") if integer else (lambda v: f"{v:g}")
    low, high = definition.minimum(), definition.maximum()
    try:
        number = float(value.valueAsString(context.expressionContext()) if isinstance(value, QgsProperty) else value)
    except (TypeError, ValueError):
        number = None
    bounds = (f"from {shown(low)} to {shown(high)}" if low > -1e300 and high < 1e300
              else f"of at least {shown(low)}" if low > -1e300 else f"of at most {shown(high)}" if high < 1e300
              else "")
    what = f"{'a whole number' if integer else 'a number'} {bounds}".strip()
    if number is None:
        return f"Parameter {definition.name()} ({definition.description()}): '{value}' is not a number; give {what}."
    problem = (f"is above the largest value {shown(high)}" if number > high
               else f"is below the smallest value {shown(low)}" if number < low else "is not allowed")
    return (f"Parameter {definition.name()} ({definition.description()}): {shown(number)} {problem}; give {what}."
            + (f" {definition.help()}" if definition.help() else ""))


#: Whether the last run of each algorithm (by id) ended well. QGIS's dialog ends a run, failed ones too, with "HTML
#: output has been generated by this algorithm" when the algorithm's hasHtmlOutputs() says so; it asks its own copy
#: of the algorithm, not the one that ran, so the run leaves its outcome here.
LAST_RUN_OK: dict[str, bool] = {}


class DualStreamAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses define ``name``, ``displayName``, ``shortHelpString``, ``initAlgorithm``,
    ``processAlgorithm`` and list the Python packages they need in ``REQUIRED_PACKAGES``."""

    #: Packages checked by :meth:`check_requirements` before the engine is called (e.g. ("torch",)).
    REQUIRED_PACKAGES: tuple[str, ...] = ()

    def createInstance(self) -> DualStreamAlgorithm:  # noqa: N802 - QGIS API
        return type(self)()

    def postProcessAlgorithm(self, context: QgsProcessingContext,  # noqa: N802 - QGIS API
                             feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Batch processing passes an optional output left empty as an output to load with an empty path, and
        QGIS then reports "The following layers were not correctly generated" with no name: drop those."""
        layers = context.layersToLoadOnCompletion()
        kept = {path: details for path, details in layers.items() if path}
        if len(kept) != len(layers):
            context.setLayersToLoadOnCompletion(kept)
        LAST_RUN_OK[self.id()] = True  # called only after processAlgorithm succeeded
        return {}  # empty: the results of processAlgorithm stand

    def hasHtmlOutputs(self) -> bool:  # noqa: N802 - QGIS API
        """Processing's answer, unless the last run failed: no HTML was made then (see :data:`LAST_RUN_OK`)."""
        return super().hasHtmlOutputs() and LAST_RUN_OK.get(self.id(), True)

    def checkParameterValues(self, parameters: dict[str, Any], context: QgsProcessingContext  # noqa: N802
                             ) -> tuple[bool, str]:
        """Processing's per-parameter checks, except that layer parameters given as file paths are not loaded as
        layers (that writes statistics beside the inputs; see :mod:`.sources`), and a number out of its range
        says the range (QGIS says only "Incorrect parameter value")."""
        for definition in self.parameterDefinitions():
            value = parameters.get(definition.name())
            if isinstance(definition, LAYER_PARAMETERS):
                problem = check_layer_value(definition, value, context)
            elif isinstance(definition, QgsProcessingParameterNumber):
                problem = number_problem(definition, value, context)
            elif not definition.checkValueIsAcceptable(value, context):
                problem = f"Incorrect parameter value for {definition.name()}"
            else:
                problem = None
            if problem:
                return False, problem
        return True, ""

    def prepareAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> bool:
        """Every destination through the engine's output-safety check before any work (see :mod:`.destinations`):
        prepare runs on every way an algorithm is started, the dialog's checks do not."""
        LAST_RUN_OK[self.id()] = False  # until postProcessAlgorithm
        check_destinations(self, parameters, context)
        return True

    def tr(self, text: str) -> str:
        return QCoreApplication.translate(type(self).__name__, text)

    def icon(self) -> QIcon:
        return QIcon(str(icon_path()))

    def group(self) -> str:
        return ""

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return ""

    def helpUrl(self) -> str:  # noqa: N802 - QGIS API
        """The README shipped with the plugin, as a local file URL (there is no project website)."""
        path = readme_path()
        return QUrl.fromLocalFile(str(path)).toString() if path.is_file() else ""

    def validateInputCrs(self, parameters: dict[str, Any], context: Any) -> bool:  # noqa: N802 - QGIS API
        """Inputs in different CRSs are expected (aux grids in degrees, labels in any CRS): the engine
        reprojects them, so the dialog must not ask "Parameters do not all use the same CRS"."""
        return True

    def check_requirements(self) -> None:
        """Fail with the install command when a package in ``REQUIRED_PACKAGES`` is missing."""
        require_packages(*self.REQUIRED_PACKAGES)

    @staticmethod
    def callback(feedback: QgsProcessingFeedback | None, stages: Stages | None = None) -> FeedbackCallback:
        """An engine callback reporting to ``feedback`` (one progress bar over ``stages``, log, cancellation)."""
        return FeedbackCallback(feedback, stages)
