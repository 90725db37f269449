"""Processing algorithm "Segment with DualStream": a model bundle (or an ensemble) applied to a scene."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..compat import FILE_BEHAVIOR_FILE, SOURCE_RASTER
from ..engine_bridge import engine_api
from ..feedback import EXPORT_INTERLUDE, SEGMENT_STAGES, Stages, run_engine
from ..layer_tree import RunLayers
from ..styling import class_raster_post_processor
from .algorithm import DualStreamAlgorithm
from .common import (
    LAYER_LIST_WRAPPER,
    EnumNamesMixin,
    add_parameter,
    check_suffix,
    ensure_parent,
    parameters_help,
)
from .extra_outputs import (
    add_output_destinations,
    add_report_outputs,
    load_output_layers,
    output_layer_name,
    output_results,
    read_output_destinations,
)
from .inference import (
    RUN_SETTINGS,
    UNIT_SETTINGS,
    ModelChecksMixin,
    PolygonParameters,
    add_model_parameters,
    band_choice,
    model_settings,
)
from .parameters import add_settings, declared_text, read_settings
from .sources import (
    MultipleLayersParameter,
    RasterLayerParameter,
    input_name,
    layer_items,
    raster_source,
    raster_sources,
)
from .web_layers import WebWindowParameters, handed

#: The extent and pixel size web layers are read over; the polygon settings (groups that add and read their own).
WEB_WINDOW = WebWindowParameters("segment.extent", "segment.pixel_size",
                                 "A web layer (XYZ, WMS, WMTS, WCS, ArcGIS) needs one: the map canvas, a layer's "
                                 "extent or one drawn.")
POLYGONS = PolygonParameters("segment")

#: BANDS's dialog widget: text, with a picker of the image layer's or the STAC item's bands (band_picker.py; a
#: string, so qgis_process never imports Processing's GUI).
BANDS_WRAPPER = {"widget_wrapper": {"class": f"{__package__.rpartition('.')[0]}.band_picker.BandsWrapper",
                                    "image": "INPUT", "stac": "STAC_ITEM"}}
#: The STAC item's file browser: items are JSON.
STAC_FILTER = "STAC item (*.json *.geojson);;All files (*)"


class SegmentAlgorithm(ModelChecksMixin, EnumNamesMixin, DualStreamAlgorithm):
    """Segments a raster with one or more DualStream bundles; writes a styled class raster (+ options)."""

    REQUIRED_PACKAGES = ("torch", "transformers", "safetensors")

    INPUT = "INPUT"
    BANDS = "BANDS"
    STAC_ITEM = "STAC_ITEM"
    AUX = "AUX"
    MODEL = "MODEL"
    WEIGHTS = "WEIGHTS"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "segment"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Segment with DualStream")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Apply a trained DualStream model (or an ensemble) to a raster.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Segments an image with a model bundle written by <b>Train DualStream</b>: the image is read in "
            "overlapping tiles exactly as in training (same band statistics, the aux rasters warped onto every "
            "tile whatever their CRS), predicted, blended and written as a class raster.</p>"
            "<p><b>Inputs</b>: the <b>image</b>, any raster layer QGIS shows: a file, a GDAL source over HTTP or "
            "in an object store (a cloud-optimised GeoTIFF as <i>/vsicurl/https://...</i>, <i>/vsis3/...</i>: read "
            "window by window, never downloaded whole), or a web layer (XYZ basemap, WMS, WMTS, WCS, ArcGIS REST: read "
            "over the "
            "<b>extent</b>, which it needs, at the <b>pixel size</b>, by default the model's training one); or, "
            "instead of a layer, a <b>STAC item</b> (file or URL) whose single-band assets are read as the image. "
            "The model's bands are picked <b>by name</b> where the image names them (band descriptions, "
            "Sentinel-2/Landsat band names, STAC common names) or as given in <b>Bands</b> (numbers or names, in "
            "the model's order), and values are brought to the model's units as <b>Value scale</b> and "
            "<b>Value offset</b> say, else where the product says how (GDAL scale/offset, STAC raster:bands); the "
            "log says which band fed which model input. A result of one class everywhere from values far outside "
            "the model's units fails unless you tick <i>Keep a result of one class ...</i>. Then the "
            "<b>aux layers</b> the model needs (in the training order), one or more <b>model bundles</b> (several "
            "= an ensemble, optionally weighted), and optionally an <b>extent</b> in any CRS.</p>"
            "<p><b>Outputs</b>: the <b>class raster</b> (GeoTIFF with a colour table and class names, plus a "
            "<i>.qml</i> style beside it; loaded with a paletted renderer showing the model's class names and "
            "colours), an optional <b>probability raster</b>, an optional <b>confidence raster</b> (each pixel's "
            "probability of the class it was given, 0-1, styled red where the model is unsure and transparent "
            "where it is sure; the log gives the share of pixels below <i>Low confidence below</i>) and optional "
            "<b>polygons</b> (GeoPackage with class_id, class_name and area).</p>"
            "<p><b>Typical workflow</b>: train a model; segment a scene with TTA <i>none</i> to check it; use "
            "<i>flips</i> or <i>d4</i> for the final run; run it as a batch (right-click > Execute as Batch "
            "Process) over many scenes with the same model; check the result with <b>Evaluate "
            "segmentation</b>.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        self.add_image_parameters()
        add_settings(self, *UNIT_SETTINGS)
        param, label, text = declared_text(self, "segment.aux")
        aux = add_parameter(self, MultipleLayersParameter(param, label, SOURCE_RASTER, optional=True), text)
        aux.setMetadata(LAYER_LIST_WRAPPER)
        add_model_parameters(self, **self.MODEL_WATCHES)
        WEB_WINDOW.add(self)
        add_settings(self, *RUN_SETTINGS)
        POLYGONS.add(self)
        add_settings(self, *self.LAST_SETTINGS)
        self.add_output_parameter()
        add_output_destinations(self)
        add_report_outputs(self)
        self.addOutput(QgsProcessingOutputString("QML", self.tr("QML style of the class raster")))
        self.addOutput(QgsProcessingOutputString("CLASS_NAMES", self.tr("Class names (comma-separated)")))
        self.addOutput(QgsProcessingOutputNumber("PIXELS", self.tr("Pixels segmented")))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", self.tr("Run time (s)")))

    #: The settings after the polygons' (Detect change: no resampling, which change models lack).
    LAST_SETTINGS = ("segment.transparent_classes", "segment.resample_to_training_gsd")
    #: The parameters the dialog's model summary checks against the bundle.
    MODEL_WATCHES = {"image": "INPUT", "aux": "AUX", "bands": "BANDS", "stac": "STAC_ITEM", "dates": 1}

    def add_image_parameters(self) -> None:
        """The image (a layer, or a STAC item) and its bands (Detect change: the two dates and their bands)."""
        param, label, text = declared_text(self, "segment.image")
        add_parameter(self, RasterLayerParameter(param, label, optional=True), text)
        self.add_bands_parameter()
        param, label, text = declared_text(self, "segment.stac_item")
        add_parameter(self, QgsProcessingParameterFile(param, label, behavior=FILE_BEHAVIOR_FILE,
                                                       fileFilter=STAC_FILTER, optional=True),
                      text + self.tr(" A URL is typed into the field."))

    def add_bands_parameter(self) -> None:
        param, label, text = declared_text(self, "segment.bands")
        bands = add_parameter(self, QgsProcessingParameterString(param, label, optional=True),
                              text + self.tr(" Typed as numbers or names separated by commas (2,3,4,8 or "
                                             "B04,B03,B02); the '…' button lists the bands of the image layer "
                                             "or of the STAC item (a file) to pick, in the model's order."))
        bands.setMetadata(BANDS_WRAPPER)

    def add_output_parameter(self) -> None:
        param, label, text = declared_text(self, "segment.output")
        add_parameter(self, QgsProcessingParameterRasterDestination(param, label), text)

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        result, stem = self.run_segment(parameters, context, feedback)
        load_segment_layers(context, result, stem)
        return self.segment_results(result)

    def run_segment(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> tuple[Any, str]:
        """(the engine's result, the name temporary outputs are named after) of the run the parameters ask for."""
        self.check_requirements()
        api = engine_api()
        cfg = run_engine(api.SegmentConfig, **self._settings(parameters, context, feedback))
        feedback.setProgressText("Reading the model bundle and planning the tiles")
        for path in cfg.models:
            for line in run_engine(api.describe_model, path):
                feedback.pushInfo(line)
        stages = Stages(SEGMENT_STAGES, interludes=EXPORT_INTERLUDE)  # a first ONNX export moves the bar too
        result = run_engine(api.segment, cfg, self.callback(feedback, stages))
        return result, self._scene_name(parameters, context, cfg)

    def segment_results(self, result: Any) -> dict[str, Any]:
        """The algorithm's results of an engine result."""
        return {
            self.OUTPUT: result.output,
            **output_results(self, result),
            "QML": result.qml,
            "CLASS_NAMES": ",".join(result.class_names),
            "PIXELS": result.pixels,
            "SECONDS": round(float(result.seconds), 2),
        }

    def _scene_name(self, parameters: dict[str, Any], context: QgsProcessingContext, cfg: Any) -> str:
        """What temporary outputs are named after: the image layer's own name, the STAC item's id (a local item;
        a URL is not read twice), else the image file's name."""
        if cfg.stac_item:
            api = engine_api()
            try:
                if not api.is_remote(cfg.stac_item):
                    return api.read_stac_item(cfg.stac_item).id
            except api.DualStreamError:
                pass
            return image_stem(cfg.stac_item)
        return input_name(parameters.get(self.INPUT), image_stem(cfg.image), context)

    def _settings(self, parameters: dict[str, Any], context: QgsProcessingContext,
                  feedback: QgsProcessingFeedback, dates: list[Any] | None = None) -> dict[str, Any]:
        """Parameters -> SegmentConfig keyword arguments; ``dates``: a season's, in place of the image."""
        stac_item = self.parameterAsString(parameters, self.STAC_ITEM, context).strip() or None
        if stac_item and layer_items(parameters.get(self.INPUT)):
            raise QgsProcessingException(f"Parameters {self.INPUT} and {self.STAC_ITEM}: give the image "
                                         f"either as a layer or as a STAC item, not both.")
        extent, extent_crs = WEB_WINDOW.extent(self, parameters, context)
        models = model_settings(self, parameters, context)
        # a web layer: the engine reads it
        image = "" if dates else handed(stac_item or raster_source(parameters, self.INPUT, context))
        aux = [handed(layer) for layer in raster_sources(parameters, self.AUX, context)]
        output = check_suffix(self.parameterAsOutputLayer(parameters, self.OUTPUT, context),
                              engine_api().FORMATS["geotiff"], self.OUTPUT, "class raster")
        ensure_parent(output, self.OUTPUT)
        return {
            "image": image,
            **({"dates": dates} if dates else {}),
            "stac_item": stac_item,
            "bands": band_choice(self, parameters, self.BANDS, context),
            "aux": aux,
            "output": output,
            **read_output_destinations(self, parameters, context),
            "extent": extent,
            "extent_crs": extent_crs,
            **models,
            **read_settings(self, parameters, context, "segment", skip=POLYGONS.NAMES),
            **POLYGONS.read(self, parameters, context),
        }


def image_stem(image: str) -> str:
    """The name a scene's result layers start with: the image file's name without its extension (a URL's file
    name; a web layer's window: the layer's name)."""
    return engine_api().source_stem(str(image))


def load_segment_layers(context: QgsProcessingContext, result: Any, stem: str, noun: str = "classes") -> RunLayers:
    """Name the class raster loaded on completion after the file chosen, or ``<stem> <noun>`` when it is
    temporary (on top and selected, its legend open), then the other outputs
    (:func:`~.extra_outputs.load_output_layers`); returns the run's layers (others may join them)."""
    run = RunLayers()
    if context.willLoadLayerOnCompletion(result.output):
        name = output_layer_name(result.output, f"{stem} {noun}")
        context.layerToLoadOnCompletionDetails(result.output).setPostProcessor(class_raster_post_processor(
            result.class_names, result.class_colors, result.qml, layer_name=name, run=run, rank=0))
    load_output_layers(context, result, stem, run)
    return run
