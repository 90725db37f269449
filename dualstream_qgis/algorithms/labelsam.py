"""Processing algorithm "Label with Segment Anything": points, boxes (from polygons) or a text over one window of a
raster layer -> polygons with a class value, ready to add to the labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterVectorDestination,
)

from ..compat import SOURCE_POLYGON, SOURCE_VECTOR
from ..engine_bridge import engine_api
from ..feedback import DOWNLOAD_INTERLUDE, LABEL_STAGES, Stages, run_engine
from ..styling import layer_post_processor
from .algorithm import DualStreamAlgorithm
from .common import add_parameter, check_suffix, ensure_parent, extent_settings, parameters_help
from .parameters import add_settings, declared_text, read_settings
from .sources import RasterLayerParameter, raster_source, vector_source
from .web_layers import handed


class LabelSamAlgorithm(DualStreamAlgorithm):
    """Segment Anything answers each prompt of a layer (or a text) with polygons over a window of an image."""

    INPUT = "INPUT"
    EXTENT = "EXTENT"
    PROMPTS = "PROMPTS"
    OUTPUT = "OUTPUT"
    REQUIRED_PACKAGES = ("torch", "transformers", "safetensors", "huggingface_hub")

    def name(self) -> str:
        return "labelsam"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Label with Segment Anything")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Polygons where Segment Anything answers clicks, boxes or a text, with a class value.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Looks at one <b>Window</b> of the image (about 1024 pixels across keeps every detail; a larger one "
            "is seen at a coarser step) with a Segment Anything model and draws a polygon for each prompt of the "
            "<b>Prompts</b> layer: a point is a click on the object (a field <i>label</i> of 0 marks a point that "
            "is not the object; points sharing a field <i>prompt</i> are one prompt), a polygon's bounding box is a "
            "box around it. With <b>SAM 3</b>, a <b>Text</b> such as <i>building</i> finds every such object.</p>"
            "<p>The polygons are cleaned like a segmentation's (buildings squared, specks dropped) and carry "
            "<i>class_id</i> (the <b>Class value</b>), <i>class_name</i>, the model's <i>score</i> and the "
            "<i>prompt</i> number. The model is downloaded once into the Hugging Face cache (its licence is shown "
            "in the log; SAM 3 is gated: accept its licence on the hub and set HF_TOKEN), or read from a local "
            "folder. The mask quality of the real weights was not measured in this project.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        param, label, text = declared_text(self, "label.image")
        add_parameter(self, RasterLayerParameter(param, label), text)
        param, label, text = declared_text(self, "label.extent")
        add_parameter(self, QgsProcessingParameterExtent(self.EXTENT, label, optional=True), text)
        param, label, text = declared_text(self, "label.prompts")
        add_parameter(self, QgsProcessingParameterFeatureSource(param, label, [SOURCE_VECTOR], optional=True),
                      text)
        add_settings(self, "label.bands", "label.text", "label.model", "label.class_value", "label.class_name",
                     "label.treatment", "label.min_pixels", "label.pixel_size", "label.device")
        param, label, text = declared_text(self, "label.output")
        destination = QgsProcessingParameterVectorDestination(param, label, SOURCE_POLYGON)
        destination.setSupportsNonFileBasedOutput(False)
        add_parameter(self, destination, text)
        self.addOutput(QgsProcessingOutputNumber("POLYGONS", self.tr("Polygons written")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        self.check_requirements()
        image = raster_source(parameters, self.INPUT, context)  # a web layer: its service, read by the engine
        extent, extent_crs = extent_settings(self, parameters, self.EXTENT, context)
        prompts = None
        if parameters.get(self.PROMPTS) not in (None, ""):
            prompts, _ = vector_source(self, parameters, self.PROMPTS, context, feedback)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not output:
            raise QgsProcessingException("Parameter OUTPUT: choose where to save the labels (.gpkg).")
        check_suffix(output, (".gpkg",), self.OUTPUT, "labels")
        ensure_parent(output, self.OUTPUT)
        api = engine_api()
        settings = read_settings(self, parameters, context, "label")
        cfg = run_engine(api.PromptedConfig, image=handed(image), extent=extent,
                         extent_crs=extent_crs, prompts=prompts, output=output, **settings)
        # one bar through the embedding's steps and each prompt; a download of the weights moves it too
        result = run_engine(api.label_with_prompts, cfg,
                            self.callback(feedback, Stages(LABEL_STAGES, interludes=DOWNLOAD_INTERLUDE)))
        for number, answer in result.answers:
            feedback.pushInfo(f"Prompt {number}: score {answer.score:.3f}, {len(answer.polygons)} polygon(s), "
                              f"{answer.seconds:.2f} s")
        if context.willLoadLayerOnCompletion(output):
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(
                layer_post_processor(f"{Path(output).stem} (Segment Anything)"))
        return {self.OUTPUT: output, "POLYGONS": result.polygons}
