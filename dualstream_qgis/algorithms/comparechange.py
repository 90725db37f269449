"""Processing algorithm "Compare classifications": the post-classification comparison. Two dates segmented by one
segmentation model of one date (any bundle: trained, imported, ready), or two class rasters as they are, compared
pixel by pixel into a change raster of transitions (from → to), its polygons and its change table."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
)

from ..compat import FILE_BEHAVIOR_FILE, SOURCE_POLYGON
from ..engine_bridge import engine_api
from ..feedback import EXPORT_INTERLUDE, SEGMENT_STAGES, Stages, run_engine
from ..layer_tree import RunLayers
from ..styling import class_raster_post_processor, layer_post_processor, style_polygons
from .algorithm import DualStreamAlgorithm
from .change_outputs import AFTER, OUTPUT_TABLE, ChangeGroup, add_table_output, say_rows, write_table
from .common import EnumNamesMixin, add_parameter, check_suffix, ensure_parent, parameters_help
from .extra_outputs import by_layer_name, output_layer_name
from .inference import MODEL_FILTER, ModelChecksMixin, ModelFileParameter, checked_models
from .parameters import add_settings, declared_text, read_settings
from .sources import RasterLayerParameter, input_name, raster_source
from .web_layers import WebLayer, WebWindowParameters, handed

OUTPUT, OUTPUT_POLYGONS = "OUTPUT", "OUTPUT_POLYGONS"
#: The area compared and the pixel size web layer dates are read at (with a model).
WEB_WINDOW = WebWindowParameters("compare.extent", "compare.pixel_size",
                                 "A web layer date (XYZ, WMS, WMTS, WCS, ArcGIS) needs one: the map canvas, a layer's "
                                 "extent or one drawn.")


class CompareChangeAlgorithm(ChangeGroup, ModelChecksMixin, EnumNamesMixin, DualStreamAlgorithm):
    """Post-classification change: both dates classified by one model (or given classified), then compared."""

    REQUIRED_PACKAGES = ("torch", "transformers", "safetensors")
    INPUT, AFTER, MODEL = "INPUT", AFTER, "MODEL"

    def name(self) -> str:
        return "comparechange"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Compare classifications")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Change between two dates from their classifications, with no change model to train.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>The <b>post-classification comparison</b>: each date is classified on its own, and every pixel's "
            "class before is compared with its class after. No training is needed: it is the honest yardstick a "
            "trained change model (<b>Train change detection</b>) must beat, and useful on its own (two cloud "
            "masks, two land-cover maps).</p>"
            "<p><b>Inputs</b>: the <b>first date</b> and the <b>later date</b> (any raster layer QGIS shows, in "
            "any CRSs and pixel sizes: the later date's classes are brought onto the first date's grid; with a "
            "model, web layers too, read over the <b>extent</b> at the <b>pixel size</b>, and the extent limits "
            "the area compared) and a "
            "<b>segmentation model</b> of one date (a bundle written by Train DualStream, an imported model or a "
            "ready one) that classifies both. Without a model the two layers are taken as <b>class rasters</b> "
            "already (for example two outputs of Segment with DualStream, or two land-cover maps with one "
            "legend) and compared as they are. A change model is refused here: it compares the dates itself "
            "(<b>Detect change</b>).</p>"
            "<p><b>Outputs</b>: the <b>change raster</b> (0 no change, drawn transparent; then one class per "
            "transition, <i>from → to</i>, each its colour; or, with <b>A change mask</b>, one <i>change</i> "
            "class), the <b>polygons of change</b> (GeoPackage) and the <b>change table</b>: a table layer with "
            "the hectares of each transition. No output may name either date's file.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        param, label, text = declared_text(self, "compare.image")
        add_parameter(self, RasterLayerParameter(param, label), text + self.tr(
            " Without a model: the first date's class raster."))
        param, label, text = declared_text(self, "compare.after")
        add_parameter(self, RasterLayerParameter(param, label), text + self.tr(
            " Without a model: the later date's class raster, with the same classes."))
        param, label, text = declared_text(self, "compare.models")
        add_parameter(self, ModelFileParameter(param, label, behavior=FILE_BEHAVIOR_FILE, fileFilter=MODEL_FILTER,
                                               optional=True),
                      text + self.tr(" Empty: the two layers are class rasters already, compared as they are."))
        WEB_WINDOW.add(self)
        add_settings(self, "compare.mask", "compare.device", "compare.backend")
        param, label, text = declared_text(self, "compare.output")
        add_parameter(self, QgsProcessingParameterRasterDestination(param, label), text)
        param, label, text = declared_text(self, "compare.polygons")
        polygons = QgsProcessingParameterVectorDestination(param, label, SOURCE_POLYGON, optional=True,
                                                           createByDefault=False)
        polygons.setSupportsNonFileBasedOutput(False)
        add_parameter(self, polygons, text)
        add_table_output(self, "compare")
        self.addOutput(QgsProcessingOutputNumber("CHANGED_PIXELS", self.tr("Pixels that changed")))
        self.addOutput(QgsProcessingOutputNumber("PIXELS", self.tr("Pixels with data on both dates")))

    def checkParameterValues(self, parameters: dict[str, Any], context: QgsProcessingContext  # noqa: N802
                             ) -> tuple[bool, str]:
        """The model is optional here: ModelChecksMixin's check runs only when one is given."""
        if parameters.get(self.MODEL) in (None, "", []):
            return DualStreamAlgorithm.checkParameterValues(self, parameters, context)
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        self.check_requirements()
        api = engine_api()
        given = parameters.get(self.MODEL) not in (None, "", [])
        models = checked_models(parameters.get(self.MODEL), "") if given else []
        first, later = (self._date(parameters, name, context, bool(models)) for name in (self.INPUT, self.AFTER))
        extent, extent_crs = WEB_WINDOW.extent(self, parameters, context)
        output = check_suffix(self.parameterAsOutputLayer(parameters, OUTPUT, context),
                              api.FORMATS["geotiff"], OUTPUT, "change raster")
        ensure_parent(output, OUTPUT)
        polygons = self.parameterAsOutputLayer(parameters, OUTPUT_POLYGONS, context) or None
        if polygons:
            check_suffix(polygons, api.FORMATS["gpkg"], OUTPUT_POLYGONS, "polygons of change")
            ensure_parent(polygons, OUTPUT_POLYGONS)
        dates = {"image": first, "after": later} if models else {"before_classes": first, "after_classes": later}
        feedback.pushInfo(f"Segmenting both dates with {', '.join(models)}, then comparing their classes."
                          if models else "No model given: the two layers are compared as class rasters.")
        cfg = run_engine(api.CompareConfig, **dates, models=models, output=output, polygons=polygons,
                         extent=extent, extent_crs=extent_crs, **read_settings(self, parameters, context, "compare"))
        stages = Stages(SEGMENT_STAGES, interludes=EXPORT_INTERLUDE)  # a first ONNX export moves the bar too
        result = run_engine(api.compare, cfg, self.callback(feedback, stages))
        say_rows(feedback, result.rows)
        stem = f"{input_name(parameters.get(self.INPUT), first, context)} to " \
               f"{input_name(parameters.get(self.AFTER), later, context)}"
        run = self._load(context, result, stem)
        return {OUTPUT: result.output, OUTPUT_POLYGONS: result.polygons,
                OUTPUT_TABLE: write_table(self, parameters, context, result.rows,
                                          output_layer_name(result.output, f"{stem} change"), run),
                "CHANGED_PIXELS": result.changed_pixels, "PIXELS": result.pixels}

    def _date(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext, model: bool) -> str:
        """A date as the engine takes it: a file or GDAL source, or with a model a web layer's service (read over
        the extent at the pixel size for web layers); a web layer is no class raster."""
        source = raster_source(parameters, name, context)
        if isinstance(source, WebLayer) and not model:
            raise QgsProcessingException(
                f"Parameter {name}: '{source.name}' is a web layer ({source.kind}), a picture of a map, not class "
                f"numbers; give a segmentation model (MODEL) to classify both dates, or two class rasters.")
        return handed(source)

    def _load(self, context: QgsProcessingContext, result: Any, stem: str) -> RunLayers:
        """The change raster in its palette (no change transparent) on top, the polygons of change under it."""
        run = RunLayers()
        colors = result.change_colors
        if context.willLoadLayerOnCompletion(result.output):
            name = output_layer_name(result.output, f"{stem} change")
            context.layerToLoadOnCompletionDetails(result.output).setPostProcessor(class_raster_post_processor(
                result.change_names, colors, result.qml, layer_name=name, run=run, rank=0))
        if result.polygons:
            style = style_polygons(result.polygons, result.change_names, colors)  # kept in the GeoPackage
            if context.willLoadLayerOnCompletion(result.polygons):
                name = output_layer_name(result.polygons, f"{stem} change polygons")
                source = by_layer_name(context, result.polygons)
                context.layerToLoadOnCompletionDetails(source).setPostProcessor(
                    layer_post_processor(name, style=style, run=run, rank=1))
        return run
