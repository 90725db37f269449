"""Processing algorithm "Train season": a season of dated rasters of one place and one land-cover or crop label
-> a season model (a ``.dsmodel`` bundle of the season family). Train's form with the dates in place of the image."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsProcessingContext, QgsProcessingFeedback

from ..engine_bridge import engine_api
from ..feedback import parameter_name
from .common import parameters_help
from .parameters import changed_settings, read_settings
from .season_inputs import SeasonGroup, add_dates_parameters, dates_given, season_dates
from .train import TrainAlgorithm


class TrainSeasonAlgorithm(SeasonGroup, TrainAlgorithm):
    """Trains a season model (the season family, or the family its encoder or Model family picks) on the dates of
    one place and its label."""

    FAMILY = "season"  # the registry's name of the family this form trains
    MODEL_SETTINGS = ("model.name", "model.preset", "model.encoder", "model.decoder", "data.bands")

    def name(self) -> str:
        return "trainseason"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Train season")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Train a model that reads a season of dates of one place (crop types, land cover).")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Trains a <b>season model</b>: several dated images of one place and one label of what is there "
            "(crop types, land cover), told by how the place changes through the season. One encoder reads every "
            "date, a temporal attention weighs the dates by their day of the year (cloudy pixels and missing dates "
            "left out) and one decoder draws the classes. The result is a model bundle (<i>.dsmodel</i>) that "
            "<b>Segment season</b> applies to the dates of other places or years.</p>"
            "<p><b>Inputs</b>: the <b>dates</b>, as raster layers in any order and/or a <b>folder</b> of dated "
            "rasters: each date from its metadata (acquisition date tag), its {names} file name "
            "or its STAC item, in any CRS and pixel size (read onto the first date's grid). A band named "
            "<i>cloud</i> or a raster <i>&lt;name&gt;_cloud.tif</i> beside a date masks its clouds; a date with "
            "no clear pixel is dropped. The log says the order the dates were sorted into and each date dropped. "
            "The <b>label</b>: a raster of class values or polygons (with a <b>class field</b>); the "
            "<b>labelled area</b> limits what is learned (partial labels).</p>"
            "<p><b>Outputs</b>: the model bundle and the HTML training report, as Train DualStream writes them; "
            "settings left at their defaults are chosen from the data and the device, and the log says each "
            "choice.</p>"
            "<p><b>Batch</b>: right-click > Execute as Batch Process trains one model per row.</p>"
        ).format(names=engine_api().DATED_NAMES) + "".join(
            f"<p>{self._rendered(note)}</p>" for note in engine_api().season_family_notes(self.MODEL_SETTINGS)
        ) + parameters_help(self)

    @staticmethod
    def _rendered(text: str) -> str:
        """An engine text with its settings named as this dialog's parameters."""
        return engine_api().render(text, parameter_name)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        add_dates_parameters(self, "scene.dates")
        self.add_label_parameters(optional=False)  # no dataset folder here: the label is always needed
        self.add_training_parameters()

    def checkParameterValues(self, parameters: dict[str, Any], context: QgsProcessingContext  # noqa: N802
                             ) -> tuple[bool, str]:
        ok, message = super().checkParameterValues(parameters, context)
        if ok and not dates_given(parameters):
            return False, "Give the season's dates (DATES: raster layers, or DATES_FOLDER: a folder of them)."
        if ok:  # a setting the encoder's family has no field for (a decoder with Presto) is refused, not dropped
            model = read_settings(self, parameters, context, "model", only=("encoder", "name"))
            problem = engine_api().season_form_problem(
                model.get("encoder"), changed_settings(self, parameters, context, *self.MODEL_SETTINGS),
                self.MODEL_SETTINGS, model.get("name"))
            if problem:
                return False, self._rendered(problem)
        return ok, message

    def _sections(self, parameters: dict[str, Any], context: QgsProcessingContext,
                  feedback: QgsProcessingFeedback) -> dict[str, dict[str, Any]]:
        """Train's sections; the log says what the family an encoder picks instead of the season family takes."""
        sections = super()._sections(parameters, context, feedback)
        family = sections["model"]["name"]
        if family != engine_api().season_family(None):
            feedback.pushInfo(self._rendered(engine_api().season_family_note(family, self.MODEL_SETTINGS)))
        elif note := engine_api().season_encoder_note(sections["model"].get("encoder"), family):
            feedback.pushInfo(self._rendered(note[0].upper() + note[1:] + "."))  # Galileo: each date an image
        return sections

    def _model_settings(self, parameters: dict[str, Any], context: QgsProcessingContext) -> dict[str, Any]:
        """Train's model settings, of the season family (a preset given alone would pick another family's), or of
        the family that reads a pixel-series encoder chosen (Presto: eoseries)."""
        return engine_api().season_model_settings(super()._model_settings(parameters, context))

    def _layer_scene(self, parameters: dict[str, Any], context: QgsProcessingContext,
                     feedback: QgsProcessingFeedback, aux_bands: int | None) -> dict[str, Any]:
        """Train's scene with every date in place of the image: the engine sorts them and says the order."""
        return super()._layer_scene(parameters, context, feedback, aux_bands, season_dates(parameters, context))
