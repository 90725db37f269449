"""Processing algorithm "Train DualStream": layers or a reference-layout folder -> a model bundle + HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
)

from ..compat import FILE_BEHAVIOR_FOLDER, SOURCE_POLYGON, SOURCE_RASTER
from ..engine_bridge import engine_api
from ..feedback import TRAIN_STAGES, Stages, run_engine
from .algorithm import DualStreamAlgorithm
from .common import (
    CLASS_COLORS_WRAPPER,
    LAYER_LIST_WRAPPER,
    EnumNamesMixin,
    add_parameter,
    class_field_parameter,
    ensure_parent,
    label_field,
    parameters_help,
)
from .parameters import add_settings, changed_settings, declared_text, read_settings
from .sources import (
    LabelLayerParameter,
    MultipleLayersParameter,
    RasterLayerParameter,
    handed_names,
    label_source,
    raster_source,
    raster_sources,
    vector_source,
)
from .train_form import FOLDER, add_mode_parameter, check_train_form, is_temporary, require_form, unused_inputs
from .web_layers import WebWindowParameters, handed

#: The training extent (any image; web layers need it) and the pixel size web layers are read at.
WEB_WINDOW = WebWindowParameters("scene.extent", "data.pixel_size")


def control_name(key: str) -> str:
    """How the log names a setting: its parameter's label without the explanation in brackets."""
    found = engine_api().find_setting(key)
    label = found.decl.label if found is not None and found.decl.label else key.rpartition(".")[2]
    return label.split(" (")[0]


class TrainAlgorithm(EnumNamesMixin, DualStreamAlgorithm):
    """Trains a DualStream model (imagery + optional aux rasters) and writes a ``.dsmodel`` bundle."""

    REQUIRED_PACKAGES = ("torch", "transformers", "safetensors")

    # layer, file and output parameters (the settings' parameters come from their declarations)
    DATA_FOLDER = "DATA_FOLDER"
    INPUT = "INPUT"
    LABELS = "LABELS"
    LABELLED_AREA = "LABELLED_AREA"
    LABEL_FIELD = "LABEL_FIELD"
    AUX = "AUX"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"
    OUTPUT_REPORT = "OUTPUT_REPORT"

    def name(self) -> str:
        return "train"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Train DualStream")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Train a multi-modal segmentation model from imagery, aux rasters and labels.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Trains a DualStream segmentation model: high-resolution imagery (the vision stream) fused with "
            "optional coarse auxiliary rasters in any CRS (the aux stream, e.g. air-quality grids), learning the "
            "classes of a label layer. The result is a model bundle (<i>.dsmodel</i>) that <b>Segment with "
            "DualStream</b> applies to new scenes.</p>"
            "<p><b>Inputs</b>, in one of two modes (<b>Training data</b>): (1) an <b>image layer</b>, any raster "
            "layer QGIS shows (a file, a GDAL source over HTTP or in an object store such as a <i>/vsicurl/</i> "
            "cloud-optimised GeoTIFF, or a web layer, XYZ, WMS, WMTS, WCS or ArcGIS REST, read over the <b>training "
            "extent</b> at the <b>pixel size</b>, which a web layer needs), with a "
            "<b>label layer</b> (a raster whose values are the class numbers, or polygons of any vector layer, "
            "only the selected ones when asked: every polygon is "
            "class 1 unless a class field is given) and the <b>aux layers</b>, a share of the scene held out for "
            "validation; or (2) a <b>dataset folder</b> in the reference layout (ts_sn/ images, tl_sn/ labels, "
            "t_ap/ and t_gems/ aux rasters; vs_sn/, vl_sn/, v_ap/, v_gems/ for validation). Raster values other "
            "than class numbers need a <b>label mapping</b> (e.g. 90=1); a class field of names (forest, water) "
            "makes each name a class, after background or at its place in the class names. <b>Class names and "
            "colours</b> make the legend of every result.</p>"
            "<p><b>Outputs</b>: the model bundle (weights, band statistics, classes and colours, settings) and "
            "an HTML training report (loss and IoU curves, metrics per epoch, sample predictions) that opens in "
            "the Results viewer. Per-epoch metrics appear in the log; the last checkpoint (<i>.dsmodel.ckpt</i>) "
            "is kept when you press Cancel, and <b>Resume</b> continues from it; with more <b>epochs</b>, Resume "
            "also takes a finished training further.</p>"
            "<p><b>Typical workflow</b>: run <b>Check environment</b>; train a <i>tiny</i> or <i>b0</i> model for "
            "a few epochs to check the data; train <i>b1</i> with more epochs on a GPU; segment new scenes; "
            "measure the result with <b>Evaluate segmentation</b>.</p>"
            "<p><b>Settings left at their defaults are chosen from the data and the device</b>, and the log says "
            "each choice and why: the tile size from the smallest training scene; <b>on a CPU</b> a small model "
            "of the family the data calls for and a <b>time budget</b> of a few minutes instead of the epochs; "
            "<b>on a GPU</b> the reference designs (2 + 40 epochs, 512-px tiles where the data allows); "
            "<i>Model family</i> below says which family for which data. A setting you change is kept.</p>"
        ) + self._families_help() + parameters_help(self)

    def _families_help(self) -> str:
        """Which family fits which data, from the engine's registry (never a copy here)."""
        items = "".join(
            f"<li><b>{m['name']}</b>: {m['description']} Presets: {', '.join(m['presets'])} (default "
            f"{m['default_preset']}){'; any encoder' if m['encoders'] else ''}.</li>"
            for m in engine_api().describe_models())
        return (f"<p><b>Model families</b> (Model family; the loss defaults to the family's own):</p><ul>{items}</ul>"
                "<p><b>Bands</b>: 1-based band numbers as in GDAL (3,2,1 = a B,G,R order) or names matched to the "
                "image's band descriptions (B04,B03,B02 or red,green,blue); <b>X bands</b> feed "
                "CMX's second stream from the same image (e.g. 4 = NIR of an RGBN file) instead of aux layers. "
                "The bundle keeps both with the bands' names, and Segment picks them again, by name in another "
                "product.</p>")

    #: The model settings the form offers (Train change detection: the change family's own).
    MODEL_SETTINGS = ("model.name", "model.preset", "model.encoder", "data.bands", "data.x_bands")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        add_mode_parameter(self)
        self.add_scene_parameters()
        self.add_folder_parameter()
        self.add_training_parameters()

    def add_folder_parameter(self) -> None:
        """DATA_FOLDER, the dataset folder of the folder mode (its texts the declaration's)."""
        param, label, text = declared_text(self, "data.data_dir")
        add_parameter(self, QgsProcessingParameterFile(param, label, behavior=FILE_BEHAVIOR_FOLDER, optional=True),
                      text)

    def add_scene_parameters(self) -> None:
        """The scene's inputs: parameters of their own (layer widgets), their texts the engine's declarations."""
        param, label, text = declared_text(self, "scene.image")
        add_parameter(self, RasterLayerParameter(param, label, optional=True), text)
        self.add_label_parameters()

    def add_label_parameters(self, label_text: tuple[str, str] | None = None, optional: bool = True) -> None:
        """LABELS (``label_text``: its own label and help, else the declared ones; ``optional``: where a dataset
        folder may stand in for it, see MODE), its class field, the labelled area and the aux layers."""
        param, label, text = declared_text(self, "scene.label")
        label, text = label_text or (label, text)
        add_parameter(self, LabelLayerParameter(param, label, [SOURCE_POLYGON], optional=optional), text)
        param, label, text = declared_text(self, "scene.label_field")
        add_parameter(self, class_field_parameter(param, label), text)
        param, label, text = declared_text(self, "scene.aoi")
        add_parameter(self, QgsProcessingParameterFeatureSource(param, label, [SOURCE_POLYGON], optional=True), text)
        param, label, text = declared_text(self, "scene.aux")
        aux = add_parameter(self, MultipleLayersParameter(param, label, SOURCE_RASTER, optional=True), text)
        aux.setMetadata(LAYER_LIST_WRAPPER)

    def add_training_parameters(self) -> None:
        """Everything after the scene's inputs: the window, the model, the training settings and the outputs."""
        WEB_WINDOW.add(self)
        add_settings(self, "data.val_fraction")
        param, label, text = declared_text(self, "data.unlabelled")  # imagery without labels, in either mode
        unlabelled = add_parameter(self, MultipleLayersParameter(param, label, SOURCE_RASTER, optional=True), text)
        unlabelled.setMetadata(LAYER_LIST_WRAPPER)
        add_settings(self, *self.MODEL_SETTINGS)
        # a folder widget that also takes typed text (imagenet, release, a hub id)
        pretrained, label, text = declared_text(self, "model.pretrained")
        add_parameter(self, QgsProcessingParameterFile(
            pretrained, label, behavior=FILE_BEHAVIOR_FOLDER, optional=True), text)
        # fine-tuning: a .dsmodel bundle to start from
        init_from, label, text = declared_text(self, "train.init_from")
        add_parameter(self, QgsProcessingParameterFile(
            init_from, label, extension=engine_api().FORMAT_TABLE["bundle"].suffixes[0].lstrip("."), optional=True),
            text)
        add_settings(self, "train.recompute_stats")
        generated = add_settings(self, "train.epochs", "train.warmup_epochs", "train.time_budget",
                                 "train.frozen_encoder",
                                 "train.batch_size", "train.learning_rate",
                     "data.tile_size", "train.device", "data.tiles_per_epoch", "data.class_names",
                     "data.class_colors", "data.label_mapping", "data.aux_bands_per_file", "data.aux_ratio",
                     "train.seed", "loss.terms", "train.optimizer", "train.weight_decay", "train.schedule",
                     "train.early_stop_metric", "train.early_stop_patience", "train.grad_accumulation",
                     "augment.copy_paste", "augment.hsv", "augment.clahe_probability", "train.consistency",
                     "train.confidence", "train.resume")
        generated["CLASS_COLORS"].setMetadata(CLASS_COLORS_WRAPPER)
        param, label, text = declared_text(self, "train.output")
        bundles = engine_api().FORMAT_TABLE["bundle"].file_filter()
        add_parameter(self, QgsProcessingParameterFileDestination(param, label, bundles), text)
        add_parameter(self, QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.tr("Training report"), engine_api().FORMAT_TABLE["html"].file_filter(),
            optional=True,
            createByDefault=False),
            self.tr("A copy of the HTML training report. Skipped: the report beside the bundle "
                    "(MODEL_report.html) is returned."))
        self.addOutput(QgsProcessingOutputNumber("BEST_EPOCH", self.tr("Best epoch")))
        self.addOutput(QgsProcessingOutputNumber("BEST_IOU", self.tr("Best validation IoU")))
        self.addOutput(QgsProcessingOutputString("CHECKPOINT", self.tr("Last checkpoint (for resume)")))

    def offered(self) -> set[str]:
        """The names of the form's parameters (Train change detection's has a later date)."""
        return {definition.name() for definition in self.parameterDefinitions()}

    def checkParameterValues(self, parameters: dict[str, Any], context: QgsProcessingContext  # noqa: N802
                             ) -> tuple[bool, str]:
        """Processing's checks, then what the chosen Training data mode needs and a lasting bundle file (the
        dialog refuses the run with the message before it starts)."""
        ok, message = super().checkParameterValues(parameters, context)
        return check_train_form(parameters, context, self.offered()) if ok else (ok, message)

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        self.check_requirements()
        api = engine_api()
        wanted = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context) or None
        request = run_engine(api.train_request, run_engine(self._sections, parameters, context, feedback),
                             self._given(parameters, context), report_copy=wanted)
        # settings left at their defaults: chosen from the data and the device, each said in the log
        plan = run_engine(api.plan_training, request)
        for line in plan.lines(control_name, assign=": ", sep="; "):
            feedback.pushInfo(line)
        # with a time budget the progress bar follows the budget, and the epochs are only an upper bound
        run = run_engine(api.train, plan, self.callback(feedback, Stages(TRAIN_STAGES, epochs=plan.epochs)))
        result = run.result
        best_iou = result.best_metrics.get("val_iou")
        budget = run.budget_line(control_name)
        if budget:
            feedback.pushInfo(budget)
        feedback.pushInfo(f"Model bundle: {result.bundle}")
        if run.report:
            feedback.pushInfo(f"Training report: {run.report}")
        return {
            self.OUTPUT: result.bundle,
            self.OUTPUT_REPORT: run.report,
            "BEST_EPOCH": result.best_epoch,
            "BEST_IOU": None if best_iou is None else round(float(best_iou), 4),  # the log shows the results
            "CHECKPOINT": result.checkpoint,
        }

    def _sections(self, parameters: dict[str, Any], context: QgsProcessingContext,
                  feedback: QgsProcessingFeedback) -> dict[str, dict[str, Any]]:
        """Parameters -> the settings sections ``model``, ``data``, ``train`` of the engine's training request."""
        mode = require_form(parameters, context, self.offered())
        unused_inputs(parameters, mode, feedback)
        folder = self.parameterAsFile(parameters, self.DATA_FOLDER, context) if mode == FOLDER else ""
        data = read_settings(self, parameters, context, "data")
        data["augment"] = read_settings(self, parameters, context, "augment")
        train = read_settings(self, parameters, context, "train")
        init_from, _, _ = declared_text(self, "train.init_from")
        train["init_from"] = self.parameterAsFile(parameters, init_from, context) or None
        aux_bands = data.pop("aux_bands_per_file")
        unlabelled, _, _ = declared_text(self, "data.unlabelled")
        data["unlabelled"] = [handed(layer) for layer in raster_sources(parameters, unlabelled, context)]
        if folder:
            data["data_dir"] = folder
            if aux_bands:
                data["aux_bands_per_file"] = aux_bands
            if parameters.get(self.EXTENT) not in (None, ""):
                feedback.pushWarning("EXTENT applies to layers only; the whole scenes of the dataset folder are used.")
        else:
            data.update(self._layer_scene(parameters, context, feedback, aux_bands))
        model = self._model_settings(parameters, context)
        model["aux_ratio"] = data["aux_ratio"]
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        if not output or is_temporary(output):
            raise QgsProcessingException(
                "Parameter OUTPUT (Model bundle): choose where to save the model bundle (.dsmodel); a temporary "
                "file is deleted when QGIS closes, and a training run's result with it.")
        suffix = engine_api().FORMAT_TABLE["bundle"].suffixes[0]
        if Path(output).suffix.lower() != suffix:
            output = str(Path(output).with_suffix(suffix))
            feedback.pushWarning(f"Model bundles end in {suffix}; writing '{output}'.")
        ensure_parent(output, self.OUTPUT)
        train["output"] = output
        train["num_workers"] = 0  # no worker processes inside QGIS (they would start QGIS's own executable)
        loss = read_settings(self, parameters, context, "loss")
        if loss["terms"]:
            train["loss"] = loss  # "focal=1,dice=1": LossConfig parses it and names unknown terms
        return {"model": model, "data": data, "train": train}

    def _given(self, parameters: dict[str, Any], context: QgsProcessingContext) -> set[str]:
        """The settings the engine may choose that the user changed from their defaults (engine.training.auto), and
        those its choices read as given (class colours, names, label mapping)."""
        api = engine_api()
        return changed_settings(self, parameters, context, *api.AUTO_SETTINGS, *api.CHOICE_INPUTS)

    def _model_settings(self, parameters: dict[str, Any], context: QgsProcessingContext) -> dict[str, Any]:
        """Family, preset, encoder and pretrained source, as given: the engine picks the family of a preset given
        alone and names a preset or encoder the family lacks."""
        model = read_settings(self, parameters, context, "model")
        pretrained, _, _ = declared_text(self, "model.pretrained")
        model["pretrained"] = self.parameterAsFile(parameters, pretrained, context) or None
        return model

    def _layer_scene(self, parameters: dict[str, Any], context: QgsProcessingContext,
                     feedback: QgsProcessingFeedback, aux_bands: int | None,
                     dates: list[Any] | None = None) -> dict[str, Any]:
        """The data settings of one explicit scene given as layers; ``dates``: a season's, in place of the image."""
        extent, extent_crs = WEB_WINDOW.extent(self, parameters, context)
        # a web layer: its service, which the engine reads over the extent at the pixel size for web layers
        image = "" if dates else handed(raster_source(parameters, self.INPUT, context))
        label, label_layer = label_source(self, parameters, self.LABELS, context, feedback)
        field = label_field(label_layer, self.parameterAsString(parameters, self.LABEL_FIELD, context),
                            self.LABEL_FIELD, feedback)
        # Every band of each aux layer unless AUX_BANDS_PER_FILE says otherwise: a 2-band SAR layer and a 1-band
        # DEM make 3 aux channels, as on the command line.
        aux = [handed(layer) for layer in raster_sources(parameters, self.AUX, context)]
        area, area_layer = (None, None) if parameters.get(self.LABELLED_AREA) in (None, "") else vector_source(
            self, parameters, self.LABELLED_AREA, context, feedback)
        # the engine's messages name a layer handed over as a temporary GeoPackage by its name, not the file's
        names = handed_names(parameters, {self.LABELS: (label, label_layer), self.LABELLED_AREA: (area, area_layer)})
        scene = {"image": image, "label": label, "aux": aux, "label_field": field, "extent": extent,
                 "extent_crs": extent_crs, "aoi": area, "names": names, **({"dates": dates} if dates else {})}
        settings: dict[str, Any] = {"train_scenes": [scene], "aux_prefixes": []}
        if aux_bands:
            settings["aux_bands_per_file"] = aux_bands
        return settings
