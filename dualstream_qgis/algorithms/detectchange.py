"""Processing algorithm "Detect change": a change model (written by Train change detection) over two dates of one
place. Segment's form with the later date beside the image: the same sources, bands, units, tiles and outputs, the
class raster being the change raster, and the change table as a table layer."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProcessingParameterRasterDestination

from .change_outputs import (
    AFTER,
    OUTPUT_TABLE,
    ChangeGroup,
    add_after_parameter,
    add_table_output,
    say_rows,
    write_table,
)
from .common import add_parameter, parameters_help
from .extra_outputs import output_layer_name
from .segment import SegmentAlgorithm, load_segment_layers
from .sources import RasterLayerParameter, raster_source
from .web_layers import handed


class DetectChangeAlgorithm(ChangeGroup, SegmentAlgorithm):
    """Two dates of one place through a change model: the change raster, its confidence, polygons and table."""

    AFTER = AFTER
    OUTPUT_TABLE = OUTPUT_TABLE
    LAST_SETTINGS = ("segment.transparent_classes",)
    MODEL_WATCHES = {"image": "INPUT", "aux": "AUX", "bands": "BANDS", "dates": 2}

    def name(self) -> str:
        return "detectchange"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Detect change")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Map what changed between two dates of one place with a change model.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Maps what changed between two images of one place with a <b>change model</b> written by <b>Train "
            "change detection</b>: both dates are read tile by tile, the model compares them and the change is "
            "written as a <b>change raster</b>.</p>"
            "<p><b>Inputs</b>: the <b>first date</b> (before) and the <b>later date</b> (after), each any raster "
            "layer QGIS shows: a file, a GDAL source over HTTP or in an object store (<i>/vsicurl/...</i>), a STAC "
            "item's layer, or a web layer (XYZ, WMS, WMTS, WCS, ArcGIS REST: read over the <b>extent</b> at the "
            "<b>pixel size</b>, by default the model's training one; a later date with no extent given is read over "
            "the first date's footprint, at the first date's pixel size). The dates may come in other "
            "CRSs and pixel sizes (the later date is resampled onto the first date's grid, and the log says so) "
            "and from two sensors; the model's bands are picked <b>by name</b> in each date, or by <b>Bands</b> "
            "(the same numbers or names in both), and each date's values are checked against what the model saw "
            "of that date. A model of one date refuses a pair (compare its classifications with <b>Compare "
            "classifications</b> instead), and two dates that do not overlap are named with their footprints.</p>"
            "<p><b>Outputs</b>: the <b>change raster</b> (no change transparent, each kind of change its colour: "
            "one <i>change</i> class for a change mask, or one class per <i>from → to</i> transition for a model "
            "trained on from-to classes; a <i>.qml</i> style beside it), optionally the <b>confidence</b>, the "
            "<b>probabilities</b> and the <b>polygons</b> of change (GeoPackage: class_name, area, confidence), "
            "and the <b>change table</b>: a table layer with the hectares of each kind of change. No output may "
            "name either date's file.</p>"
            "<p><b>Batch</b>: right-click > Execute as Batch Process runs one pair per row (one model over a "
            "monitoring series: the same first date against several later dates).</p>"
        ) + parameters_help(self)

    def add_image_parameters(self) -> None:
        """The first date (Segment's image) and the later date, then their bands; no STAC item (a STAC item's
        layer is a layer like any other)."""
        param, label, text = "INPUT", self.tr("First date (before)"), self.tr(
            "The image of the place at the earlier date: any raster layer with the bands the model was trained on "
            "(see Bands).")
        add_parameter(self, RasterLayerParameter(param, label), text)
        add_after_parameter(self, "segment.after", "In QGIS one later date: the model's second.")
        self.add_bands_parameter()

    def add_output_parameter(self) -> None:
        add_parameter(self, QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Change raster")), self.tr(
            "The change raster (GeoTIFF): 0 no change, drawn transparent, then each kind of change in its colour, "
            "with a colour table, class names and a .qml style beside it."))

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        super().initAlgorithm(config)
        add_table_output(self, "segment")

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        result, stem = self.run_segment(parameters, context, feedback)
        run = load_segment_layers(context, result, stem, "change")
        # a season model given the pair maps classes: the area of each class, not a change (engine's rule)
        rows = result.areas or result.change
        say_rows(feedback, rows, "Area of each class" if result.areas else "Change table")
        named = output_layer_name(result.output, f"{stem} change")  # as load_segment_layers names the raster
        return {**self.segment_results(result),
                OUTPUT_TABLE: write_table(self, parameters, context, rows, named, run)}

    def _settings(self, parameters: dict[str, Any], context: QgsProcessingContext,
                  feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Segment's settings, with the later date handed over as the first is (a web layer as its service)."""
        return {**super()._settings(parameters, context, feedback),
                "after": [handed(raster_source(parameters, AFTER, context))]}
