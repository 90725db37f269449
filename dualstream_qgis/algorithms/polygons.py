"""Processing algorithm "Polygons from a class raster": any class raster -> attributed polygons, drawn per class
(buildings squared, natural classes smoothed) as Segment draws a prediction's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterVectorDestination,
)

from ..compat import SOURCE_POLYGON
from ..engine_bridge import engine_api
from ..feedback import Stages, run_engine
from ..styling import layer_post_processor, style_polygons
from .algorithm import DualStreamAlgorithm
from .common import add_parameter, check_suffix, ensure_parent, parameters_help
from .inference import PolygonParameters
from .parameters import add_settings, declared_text, read_settings
from .sources import RasterLayerParameter, raster_source

#: The polygon settings (a group that adds and reads its own parameters).
POLYGONS = PolygonParameters("polygons")

class PolygonsAlgorithm(DualStreamAlgorithm):
    """A class raster's regions as polygons with class, area, perimeter, confidence, model and scene."""

    INPUT = "INPUT"
    CONFIDENCE = "CONFIDENCE"
    OUTPUT = "OUTPUT"
    REQUIRED_PACKAGES = ("osgeo",)

    def name(self) -> str:
        return "polygons"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Polygons from a class raster")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Vectorise any class raster: squared buildings, smoothed natural classes, attributes.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Turns a class raster (written by <b>Segment with DualStream</b>, or made elsewhere) into polygons "
            "you can keep: one feature per region with <i>class_id</i>, <i>class_name</i>, the <i>treatment</i> "
            "its outline got, its area and perimeter (<i>area_m2</i>, <i>perimeter_m</i>; map units where the CRS "
            "has no metres), the mean and minimum confidence of its pixels (<i>conf_mean</i>, <i>conf_min</i>, with "
            "a confidence raster), the <i>model</i> and its <i>model_sha256</i> (when Segment wrote the raster) and "
            "the <i>scene</i>.</p>"
            "<p><b>Outline per class</b>: <i>regularise</i> squares a building to its main orientation (right "
            "angles where it has them, small notches removed), <i>smooth</i> rounds a natural boundary (under a "
            "pixel on average, neighbours never overlap), <i>as_is</i> keeps the pixel edges. Empty: buildings "
            "regularised, background-like classes as is, the others smoothed.</p>"
            "<p>The class names come from the raster (Segment writes them) or from <b>Class names</b>.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        param, label, text = declared_text(self, "polygons.raster")
        add_parameter(self, RasterLayerParameter(param, label), text)
        param, label, text = declared_text(self, "polygons.confidence")
        add_parameter(self, RasterLayerParameter(param, label, optional=True), text)
        add_settings(self, "polygons.class_names", "polygons.scene", "polygons.model")
        POLYGONS.add(self)
        param, label, text = declared_text(self, "polygons.output")
        destination = QgsProcessingParameterVectorDestination(param, label, SOURCE_POLYGON)
        destination.setSupportsNonFileBasedOutput(False)
        add_parameter(self, destination, text)
        self.addOutput(QgsProcessingOutputNumber("POLYGONS", self.tr("Polygons written")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        self.check_requirements()
        raster = raster_source(parameters, self.INPUT, context)
        confidence = (raster_source(parameters, self.CONFIDENCE, context)
                      if parameters.get(self.CONFIDENCE) not in (None, "") else None)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not output:
            raise QgsProcessingException("Parameter OUTPUT: choose where to save the polygons (.gpkg).")
        check_suffix(output, (".gpkg",), self.OUTPUT, "polygons")
        ensure_parent(output, self.OUTPUT)
        api = engine_api()
        cfg = run_engine(api.PolygonsConfig, raster=raster, output=output, confidence=confidence,
                         **read_settings(self, parameters, context, "polygons", skip=POLYGONS.NAMES),
                         **POLYGONS.read(self, parameters, context))
        stage = api.Stage.POLYGONIZE
        result = run_engine(api.polygons, cfg, self.callback(feedback, Stages({stage: (0.0, 100.0)})))
        style = style_polygons(output, result.class_names, result.class_colors)  # kept in the GeoPackage
        if context.willLoadLayerOnCompletion(output):
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(
                layer_post_processor(f"{Path(raster).stem} polygons", style=style))
        return {self.OUTPUT: output, "POLYGONS": result.polygons}
