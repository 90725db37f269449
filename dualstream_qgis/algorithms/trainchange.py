"""Processing algorithm "Train change detection": two dates of one place and what changed between them -> a change
model (a ``.dsmodel`` bundle that takes two dates). Train's form for a pair: the first date, the later date, the
change labels, the change family's settings; or a change-detection dataset's folder (A/, B/, label/)."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsProcessingContext, QgsProcessingFeedback

from .change_outputs import AFTER, ChangeGroup, add_after_parameter
from .common import add_parameter, parameters_help
from .sources import RasterLayerParameter, raster_source
from .train import TrainAlgorithm
from .train_form import add_mode_parameter
from .web_layers import handed


class TrainChangeAlgorithm(ChangeGroup, TrainAlgorithm):
    """Trains a change model (the change family) on a pair of dates and its change labels."""

    AFTER = AFTER
    FAMILY = "change"  # the registry's name of the family this form trains (its fusion and decoder settings)
    MODEL_SETTINGS = ("model.preset", "model.encoder", "model.fusion", "model.date_scaling", "model.decoder",
                      "data.bands")

    def name(self) -> str:
        return "trainchange"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Train change detection")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Train a model of what changed between two dates of one place.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Trains a <b>change model</b>: two images of one place, before and after, and labels of what changed "
            "between them. One encoder reads both dates (shared weights, so a sensor or a season alone is not a "
            "change), their features are compared at every scale (<b>Fusion of the dates</b>: difference, "
            "concatenation or attention) and one decoder draws the change. The result is a model bundle "
            "(<i>.dsmodel</i>) that takes two dates, which <b>Detect change</b> applies to new pairs.</p>"
            "<p><b>Inputs</b>: the <b>first date</b> and the <b>later date</b>, each any raster layer QGIS shows "
            "(files, GDAL sources over HTTP, STAC items' layers, web layers read over the <b>training extent</b> "
            "at the <b>pixel size</b>), in any CRSs and pixel sizes (the later date is resampled onto the first "
            "date's grid; the log says so) and from one sensor or two, with the same bands by name or number "
            "(<b>Bands</b>); the <b>change labels</b>: a change mask raster (0 no change, 1 change), a raster of "
            "from-to classes (each transition a class number, with <b>Class names</b> such as <i>no change, "
            "built, torn down</i>), or polygons (every polygon a change, or a <b>class field</b>); optionally the "
            "<b>labelled area</b> (outside it nothing is learned) and <b>aux layers</b>. A change mask says "
            "nothing of the way a change went, so the dates are also shown swapped during training.</p>"
            "<p>Or a <b>dataset folder</b> (Training data: a dataset folder): a change-detection dataset as it is "
            "published, the first dates in <i>A/</i> (or <i>Image1/</i>, <i>time1/</i>), the later dates in "
            "<i>B/</i> (<i>Image2/</i>, <i>time2/</i>) and the change masks in <i>label/</i>, a pair's files named "
            "alike (GeoTIFFs or the PNG tiles of LEVIR-CD, WHU-CD, S2Looking); split in <i>train/</i> and "
            "<i>val/</i>, or by <i>list/train.txt</i> and <i>list/val.txt</i>. Masks of 0 and 255 are read as "
            "255 = change.</p>"
            "<p><b>Outputs</b>: the model bundle and the HTML training report, as Train DualStream writes them; "
            "settings left at their defaults are chosen from the data and the device, and the log says each "
            "choice (a change mask's classes are named <i>no change</i> and <i>change</i>).</p>"
            "<p>No trained model yet? <b>Compare classifications</b> maps change with any segmentation model of "
            "one date: the baseline a change model must beat.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        add_mode_parameter(self)
        self.add_scene_parameters()
        self.add_folder_parameter()
        self.add_training_parameters()

    def add_scene_parameters(self) -> None:
        """The first date, the later date, then the change labels and the rest of Train's scene."""
        add_parameter(self, RasterLayerParameter(self.INPUT, self.tr("First date (before)"), optional=True), self.tr(
            "The image of the place at the earlier date: a raster file or layer, a remote GDAL source (/vsicurl/, "
            "a URL) or a web layer (XYZ, WMS, WMTS, WCS, ArcGIS) read over the training extent at the pixel size "
            "for web layers."))
        add_after_parameter(self, "scene.after", "In QGIS one later date: the pair a change model takes.",
                            optional=True)
        self.add_label_parameters((self.tr("Change labels (raster or polygons)"), self.tr(
            "What changed between the dates: a change mask raster (0 no change, 1 change, or values mapped with "
            "the label mapping), a raster of from-to classes, or polygons of change in any CRS (every polygon is "
            "a change, class 1, unless a class field is given; only the selected ones when 'Selected features "
            "only' is ticked).")))

    def _model_settings(self, parameters: dict[str, Any], context: QgsProcessingContext) -> dict[str, Any]:
        """Train's model settings, of the change family (a preset given alone would pick another family's)."""
        return {**super()._model_settings(parameters, context), "name": self.FAMILY}

    def _layer_scene(self, parameters: dict[str, Any], context: QgsProcessingContext,
                     feedback: QgsProcessingFeedback, aux_bands: int | None) -> dict[str, Any]:
        """Train's scene with the later date, handed over as the first date is (a web layer as its service, which
        the engine reads over the same extent at the pixel size for web layers)."""
        settings = super()._layer_scene(parameters, context, feedback, aux_bands)
        settings["train_scenes"][0]["after"] = [handed(raster_source(parameters, AFTER, context))]
        return settings
