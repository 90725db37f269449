"""What the season algorithms share: their Toolbox group and a season's dates, as layers or a folder.

A season's dates come as a multiple-layer input (``DATES``: rasters in any order) and/or a folder of dated rasters
(``DATES_FOLDER``); the engine sorts them by their acquisition dates, leaves out each date's clouds, drops a date
with no clear pixel and says the order and every dropped date in the log.
"""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterFile,
)

from ..compat import FILE_BEHAVIOR_FOLDER, SOURCE_RASTER
from ..engine_bridge import engine_api
from .common import ANY_ORDER_LIST_WRAPPER, add_parameter
from .parameters import declared_text
from .sources import MultipleLayersParameter, raster_sources
from .web_layers import handed

#: The Toolbox folder the season algorithms share.
GROUP, GROUP_ID = "Seasons", "season"
DATES, DATES_FOLDER = "DATES", "DATES_FOLDER"


class SeasonGroup:
    """The Toolbox folder "Seasons" (the other DualStream algorithms stand at the provider's top)."""

    def group(self) -> str:
        return self.tr(GROUP)  # type: ignore[attr-defined]

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return GROUP_ID


def add_dates_parameters(alg: QgsProcessingAlgorithm, key: str) -> None:
    """DATES (raster layers, any order) and DATES_FOLDER (a folder of dated rasters); ``key``: the declared setting
    whose label and help they take."""
    _, label, text = declared_text(alg, key)
    dates = add_parameter(alg, MultipleLayersParameter(DATES, label, SOURCE_RASTER, optional=True), text + alg.tr(
        " Layers in any order: the log says the order the dates were sorted into and every date dropped."))
    dates.setMetadata(ANY_ORDER_LIST_WRAPPER)  # the engine sorts the dates: no stacking order shown
    add_parameter(alg, QgsProcessingParameterFile(
        DATES_FOLDER, alg.tr("Folder of dated rasters (instead of, or beside, the layers)"),
        behavior=FILE_BEHAVIOR_FOLDER, optional=True), alg.tr(
        "A folder holding the season's rasters (GeoTIFFs, JP2, VRTs), each dated by its metadata or its "
        "{names} file name; taken with the layers above, if any.").format(names=engine_api().DATED_NAMES))


def season_dates(parameters: dict[str, Any], context: QgsProcessingContext) -> list[Any]:
    """Every date the user gave: the layers (a web layer handed over as its service), then the folder;
    QgsProcessingException when there is none."""
    dates = [handed(layer) for layer in raster_sources(parameters, DATES, context)]
    folder = str(parameters.get(DATES_FOLDER) or "").strip()
    if folder:
        dates.append(folder)
    if not dates:
        raise QgsProcessingException(f"Parameters {DATES} / {DATES_FOLDER}: give the season's dates, as raster "
                                     f"layers or a folder of dated rasters.")
    return dates


def dates_given(parameters: dict[str, Any]) -> bool:
    return bool(parameters.get(DATES)) or bool(str(parameters.get(DATES_FOLDER) or "").strip())
