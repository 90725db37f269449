"""Processing algorithm "Propose labels with Segment Anything": the windows Suggest where to label ranked -> one
layer of candidate labels (the model's blobs refined by Segment Anything) to accept or correct."""

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
)

from ..compat import FILE_BEHAVIOR_FILE, SOURCE_POLYGON, SOURCE_RASTER
from ..engine_bridge import engine_api
from ..feedback import DOWNLOAD_INTERLUDE, PROPOSE_STAGES, Stages, render_message, run_engine
from ..styling import layer_post_processor, outline_polygons
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
from .sources import MultipleLayersParameter, raster_sources, vector_source
from .web_layers import WebLayer

#: How each scene is read for the model (engine/config/reading.py).
READING = ReadingParameters("propose")


class ProposeAlgorithm(ModelChecksMixin, DualStreamAlgorithm):
    """Candidate labels in suggested windows: the model's blobs as box prompts, refined by Segment Anything."""

    WINDOWS = "WINDOWS"
    MODEL = "MODEL"
    AUX = "AUX"
    OUTPUT = "OUTPUT"
    REQUIRED_PACKAGES = ("torch", "transformers", "safetensors", "huggingface_hub")

    def name(self) -> str:
        return "propose"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Propose labels with Segment Anything")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Candidate labels in the suggested windows, to accept or correct.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>For each window of the <b>Windows to label</b> layer that <b>Suggest where to label</b> wrote (the "
            "selected ones with <i>Selected features only</i>), the model segments the window, each blob it "
            "predicts becomes a box, and Segment Anything draws the object in it (with SAM 3 a <b>Text</b> such "
            "as <i>building</i> instead). The candidates are written to one layer with <i>window</i> (the rank), "
            "<i>class_id</i>, <i>class_name</i>, the model's <i>model_prob</i> and SAM's <i>sam_score</i>.</p>"
            "<p>Then correct them (delete, redraw, change <i>class_id</i>) and run <b>Accept proposed labels</b>: "
            "the windows' polygons go to your labels, the windows to the labelled area. The mask quality of the "
            "real Segment Anything weights was not measured in this project.</p>"
            "<p>The scenes are read as in Segment: the model's bands picked by name, or as given in <b>Bands</b> "
            "(numbers or names in the model's order, e.g. 2,3,4,8,11,12 of a 12-band Sentinel-2 scene for a "
            "6-band model); values in other units than the model's (digital numbers given to a model of "
            "reflectance) stated with <b>Value scale</b> and <b>Value offset</b> (one class everywhere from "
            "such values stops the run); the tile size, batch size, mirrored border, tile reader threads and "
            "resampling to the training resolution as in Segment.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        param, label, text = declared_text(self, "propose.windows")
        add_parameter(self, QgsProcessingParameterFeatureSource(param, label, [SOURCE_POLYGON]),
                      text + self.tr(" Only selected features counts where ticked."))
        param, label, text = declared_text(self, "propose.models")
        add_parameter(self, ModelFileParameter(param, label, behavior=FILE_BEHAVIOR_FILE, fileFilter=MODEL_FILTER),
                      text + self.tr(" Several are separated by ';'."))
        param, label, text = declared_text(self, "propose.aux")
        aux = add_parameter(self, MultipleLayersParameter(param, label, SOURCE_RASTER, optional=True), text)
        aux.setMetadata(LAYER_LIST_WRAPPER)
        READING.add(self, self.tr(" The same for every window's scene: numbers or names separated by commas "
                                  "(B04,B03,B02)."))
        add_settings(self, *unit_settings("propose"))
        add_settings(self, "propose.sam_model", "propose.text", "propose.min_pixels", "propose.treatment",
                     "propose.device", "propose.backend")
        param, label, text = declared_text(self, "propose.output")
        destination = QgsProcessingParameterVectorDestination(param, label, SOURCE_POLYGON)
        destination.setSupportsNonFileBasedOutput(False)
        add_parameter(self, destination, text)
        self.addOutput(QgsProcessingOutputNumber("PROPOSALS", self.tr("Polygons proposed")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        self.check_requirements()
        models = checked_models(parameters.get(self.MODEL), "choose the model bundle (.dsmodel) suggest ran.")
        windows, _ = vector_source(self, parameters, self.WINDOWS, context, feedback)
        aux = raster_sources(parameters, self.AUX, context)
        web = next((item for item in aux if isinstance(item, WebLayer)), None)
        if web is not None:  # no extent here to read it over: Suggest read it over its own, and kept that window
            raise QgsProcessingException(
                f"Parameter AUX: '{web.name}' is a web layer ({web.kind}), which Propose cannot read without an "
                f"area: give the window Suggest read of it (the .web.vrt file in the folder NAME_web beside the "
                f"windows layer) or the aux raster as a file.")
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not output:
            raise QgsProcessingException("Parameter OUTPUT: choose where to save the proposed labels (.gpkg).")
        check_suffix(output, (".gpkg",), self.OUTPUT, "proposed labels")
        ensure_parent(output, self.OUTPUT)
        api = engine_api()
        cfg = run_engine(api.ProposeConfig, windows=windows, models=models, aux=aux, output=output,
                         **READING.read(self, parameters, context),
                         **read_settings(self, parameters, context, "propose"))
        # one bar of windows, each moving on as its model run, its embedding and each prompt end; a download of
        # Segment Anything's weights (after the first window's model run) moves it through its own share
        result = run_engine(api.propose, cfg,
                            self.callback(feedback, Stages(PROPOSE_STAGES, interludes=DOWNLOAD_INTERLUDE)))
        for note in result.notes:
            feedback.pushWarning(render_message(note))
        for rank, blobs, count in result.windows:
            feedback.pushInfo(f"Window {rank}: {blobs} blob(s) of the model -> {count} polygon(s)")
        feedback.pushInfo(render_message(result.next_step))
        if context.willLoadLayerOnCompletion(output):
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(
                layer_post_processor(f"{Path(output).stem} (proposed labels)", style=_outlined))
        return {self.OUTPUT: output, "PROPOSALS": len(result.proposals)}


def _outlined(layer: Any) -> None:
    """Proposals as cyan outlines: the image stays visible inside them, for judging each one."""
    outline_polygons(layer, "#00e5ff")
