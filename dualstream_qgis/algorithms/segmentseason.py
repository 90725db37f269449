"""Processing algorithm "Segment season": a season model (written by Train season) over the dates of one place.
Segment's form with the dates in place of the image: the same model, units, tiles and outputs (the styled class
raster, its confidence, polygons, the area of each class)."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProcessingParameterFeatureSink

from ..compat import SOURCE_VECTOR
from ..engine_bridge import engine_api
from ..feedback import run_engine
from .change_outputs import OUTPUT_TABLE, row_dict, write_table
from .common import add_parameter, parameters_help
from .season_inputs import SeasonGroup, add_dates_parameters, season_dates
from .segment import SegmentAlgorithm, load_segment_layers


class SegmentSeasonAlgorithm(SeasonGroup, SegmentAlgorithm):
    """The dates of one place through a season model: the class raster, its confidence, polygons and areas."""

    MODEL_WATCHES = {"aux": "AUX", "bands": "BANDS"}  # the dates are several layers: checked by the engine

    def name(self) -> str:
        return "segmentseason"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Segment season")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Map crop types or land cover from a season of dates of one place with a season model.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Maps the classes of a place from a <b>season</b> of its images with a <b>season model</b> written "
            "by <b>Train season</b>: every date is read tile by tile onto the first date's grid, the model weighs "
            "the dates by their day of the year, leaving out cloudy pixels, and the classes are written as a "
            "<b>class raster</b>.</p>"
            "<p><b>Inputs</b>: the <b>dates</b>, as raster layers in any order and/or a <b>folder</b> of dated "
            "rasters (dated by their metadata, their {names} file names or their STAC items), "
            "in any CRS and pixel size, with the bands the model was trained on (picked by name, or by "
            "<b>Bands</b>). Clouds: a band named <i>cloud</i> or a raster <i>&lt;name&gt;_cloud.tif</i> beside a "
            "date; a date with no clear pixel is dropped. The log says the order the dates were sorted into and "
            "each date dropped. A season model takes any number of dates (fewer or more than it was trained with); "
            "dates of another place are refused with both footprints named.</p>"
            "<p><b>Outputs</b>: the <b>class raster</b> (each class its colour, a <i>.qml</i> style beside it), "
            "optionally the <b>confidence</b>, the <b>probabilities</b>, the <b>polygons</b> (GeoPackage: "
            "class_name, area, confidence) and the <b>area of each class</b>: a table layer of its hectares, also "
            "said in the log. No output may name a date's file.</p>"
            "<p><b>Batch</b>: right-click > Execute as Batch Process runs one place (or one year) per row.</p>"
        ).format(names=engine_api().DATED_NAMES) + parameters_help(self)

    def add_image_parameters(self) -> None:
        """The dates (layers or a folder), then their bands."""
        add_dates_parameters(self, "segment.dates")
        self.add_bands_parameter()

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        super().initAlgorithm(config)
        add_parameter(self, QgsProcessingParameterFeatureSink(
            OUTPUT_TABLE, self.tr("Area of each class (table)"), SOURCE_VECTOR, optional=True),
            self.tr("A table layer with one row per class: value (its class in the class raster), name, pixels and "
                    "hectares (empty when the dates have no CRS); from_class and to_class stay empty."))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        result, stem = self.run_segment(parameters, context, feedback)
        run = load_segment_layers(context, result, stem)
        rows = run_engine(engine_api().class_areas, result.output, result.class_pixels)
        feedback.pushInfo("Area of each class: " + "; ".join(
            f"{r['name']}: " + ("" if r["hectares"] is None else f"{r['hectares']:,.2f} ha, ") + f"{r['pixels']:,} px"
            for r in map(row_dict, rows)) + ".")
        return {**self.segment_results(result),
                OUTPUT_TABLE: write_table(self, parameters, context, rows, f"{stem} classes", run)}

    def _scene_name(self, parameters: dict[str, Any], context: QgsProcessingContext, cfg: Any) -> str:
        return "season"

    def _settings(self, parameters: dict[str, Any], context: QgsProcessingContext,
                  feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Segment's settings with every date in place of the image: the engine sorts them and says the order."""
        return super()._settings(parameters, context, feedback, season_dates(parameters, context))


