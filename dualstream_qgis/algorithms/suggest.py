"""Processing algorithm "Suggest where to label": a model over scenes -> ranked square windows to label next."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterVectorDestination,
    QgsProject,
)

from ..compat import FILE_BEHAVIOR_FILE, SOURCE_POLYGON, SOURCE_RASTER
from ..engine_bridge import engine_api
from ..feedback import SEGMENT_STAGES, Stages, render_message, run_engine
from ..styling import ROUND_COLOURS, colour_windows, layer_post_processor
from .algorithm import DualStreamAlgorithm
from .common import LAYER_LIST_WRAPPER, add_parameter, check_suffix, ensure_parent, parameters_help
from .inference import (
    MODEL_FILTER,
    ModelChecksMixin,
    ModelFileParameter,
    ReadingParameters,
    checked_models,
    unit_settings,
)
from .parameters import add_settings, declared_text, read_settings
from .sources import MultipleLayersParameter, polygon_area_file, raster_sources
from .web_layers import WebWindowParameters, handed

#: How each scene is read for the model (engine/config/reading.py).
READING = ReadingParameters("suggest")
#: The area and pixel size web layers are read over (the engine's one rule for web layers).
WEB_WINDOW = WebWindowParameters("suggest.extent", "suggest.pixel_size")


class SuggestAlgorithm(ModelChecksMixin, DualStreamAlgorithm):
    """N square windows of the scenes, ranked by how much labelling them is expected to help the model."""

    INPUT = "INPUT"
    MODEL = "MODEL"
    AUX = "AUX"
    LABELLED_AREA = "LABELLED_AREA"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"
    REQUIRED_PACKAGES = ("torch", "transformers", "safetensors")

    def name(self) -> str:
        return "suggest"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Suggest where to label")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Square windows where labelling next helps the model most, ranked, each with why.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Runs a model over one or more scenes and writes <b>Number of windows</b> squares of <b>Window "
            "size</b> pixels, ranked by how much labelling them is expected to help: where the model is unsure "
            "(the entropy of its prediction), where the members of an ensemble or the flipped views of test-time "
            "augmentation disagree, spread over the scenes and the predicted classes (not twenty windows on one "
            "cloud edge), away from the <b>Labelled area so far</b>. Each window has its <i>rank</i>, its "
            "<i>score</i> and <i>why</i> (e.g. mean confidence 0.52, 38 % of pixels predicted building); the layer "
            "loads as <i>where to label, round N</i>, labelled with the ranks, each round in its own colour.</p>"
            "<p><b>The loop</b>: (1) run this with your model; (2) run <b>Propose labels with Segment Anything</b> "
            "on the windows (the selected ones with <i>Selected features only</i>): the model's objects in them, "
            "drawn by Segment Anything, in one layer; correct it (delete, redraw, change <i>class_id</i>), or label "
            "the windows by hand in any polygon layer (the <b>Label with Segment Anything</b> tool helps); (3) run "
            "<b>Accept proposed labels</b>: the checked windows' polygons go to your labels, the windows to your "
            "labelled area (a scratch layer works for both); (4) run <b>Train DualStream</b> with the labels, the "
            "labelled area, and <b>Start from model</b> set to the current model. Repeat, giving the grown "
            "labelled area here.</p>"
            "<p>The scenes are read as in Segment: the model's bands picked by name, or as given in <b>Bands</b> "
            "(numbers or names in the model's order, e.g. 2,3,4,8,11,12 of a 12-band Sentinel-2 scene for a "
            "6-band model); values in other units than the model's (digital numbers given to a model of "
            "reflectance) stated with <b>Value scale</b> and <b>Value offset</b> (one class everywhere from "
            "such values stops the run); the tile size, batch size, mirrored border, tile reader threads and "
            "resampling to the training resolution as in Segment.</p>"
            "<p>A web layer (XYZ, WMS, WMTS, WCS, ArcGIS REST) is a scene too: it is read over <b>Extent</b> at "
            "<b>Pixel size for web layers</b> (default: the model's training pixel size), and its window is kept "
            "beside the windows layer (a small virtual raster in the folder <i>NAME_web</i> that reads the "
            "service), which Propose reads later.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        param, label, text = declared_text(self, "suggest.models")
        add_parameter(self, ModelFileParameter(param, label, behavior=FILE_BEHAVIOR_FILE, fileFilter=MODEL_FILTER),
                      text + self.tr(" Several are separated by ';'."))
        param, label, text = declared_text(self, "suggest.images")
        scenes = add_parameter(self, MultipleLayersParameter(param, label, SOURCE_RASTER), text)
        scenes.setMetadata(LAYER_LIST_WRAPPER)
        param, label, text = declared_text(self, "suggest.aux")
        aux = add_parameter(self, MultipleLayersParameter(param, label, SOURCE_RASTER, optional=True), text)
        aux.setMetadata(LAYER_LIST_WRAPPER)
        param, label, text = declared_text(self, "suggest.labelled_area")
        add_parameter(self, QgsProcessingParameterFeatureSource(param, label, [SOURCE_POLYGON], optional=True),
                      text + self.tr(" Only selected features counts where ticked."))
        READING.add(self, self.tr(" The same for every scene: numbers or names separated by commas "
                                  "(B04,B03,B02)."))
        add_settings(self, *unit_settings("suggest"))
        WEB_WINDOW.add(self)
        add_settings(self, "suggest.count", "suggest.window", "suggest.tta", "suggest.device", "suggest.backend")
        param, label, text = declared_text(self, "suggest.output")
        destination = QgsProcessingParameterVectorDestination(param, label, SOURCE_POLYGON)
        destination.setSupportsNonFileBasedOutput(False)
        add_parameter(self, destination, text)
        self.addOutput(QgsProcessingOutputNumber("WINDOWS", self.tr("Windows suggested")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        self.check_requirements()
        models = checked_models(parameters.get(self.MODEL), "choose the model bundle (.dsmodel) to ask.")
        images = raster_sources(parameters, self.INPUT, context)
        if not images:
            raise QgsProcessingException("Parameter INPUT: choose at least one scene (a raster layer).")
        aux = raster_sources(parameters, self.AUX, context)
        area = polygon_area_file(self, parameters, self.LABELLED_AREA, context, feedback)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not output:
            raise QgsProcessingException("Parameter OUTPUT: choose where to save the windows (.gpkg).")
        check_suffix(output, (".gpkg",), self.OUTPUT, "windows")
        ensure_parent(output, self.OUTPUT)
        extent, extent_crs = WEB_WINDOW.extent(self, parameters, context)
        api = engine_api()
        # a web layer: its service, which the engine reads over the extent and keeps beside the windows for Propose
        cfg = run_engine(api.SuggestConfig, models=models, images=[handed(i) for i in images],
                         aux=[handed(a) for a in aux], labelled_area=area, output=output, extent=extent,
                         extent_crs=extent_crs, **READING.read(self, parameters, context),
                         **read_settings(self, parameters, context, "suggest"))
        result = run_engine(api.suggest, cfg, self.callback(feedback, Stages(SEGMENT_STAGES)))
        for note in result.notes:
            feedback.pushWarning(render_message(note))
        for window in result.windows:
            feedback.pushInfo(f"#{window.rank} score {window.score:.3f}: {window.why}")
        feedback.pushInfo(render_message(result.next_step))
        if context.willLoadLayerOnCompletion(output):
            # named and coloured by its round when it is loaded (a round before it may be loaded meanwhile)
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(
                layer_post_processor(style=lambda layer: _round_style(layer, Path(models[0]).stem)))
        return {self.OUTPUT: output, "WINDOWS": len(result.windows)}


#: Where a "where to label" layer keeps its round (saved with the project).
ROUND_PROPERTY = "dualstream/suggest_round"


def _round_style(layer: Any, model: str) -> None:
    """The windows' style stored in their GeoPackage (outlines, the rank as label, the reasons as map tip), in the
    colour of their round, and the round in their name: the project's rounds so far plus one. Before, two rounds'
    layers had one name and one colour."""
    layer.loadDefaultStyle()
    project = layer.project() or QgsProject.instance()
    rounds = [int(other.customProperty(ROUND_PROPERTY, 0) or 0) for other in project.mapLayers().values()
              if other is not layer]
    number = max(rounds, default=0) + 1
    layer.setCustomProperty(ROUND_PROPERTY, number)
    layer.setName(f"where to label, round {number} ({model})")
    colour_windows(layer, ROUND_COLOURS[(number - 1) % len(ROUND_COLOURS)])
