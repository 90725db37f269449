"""Processing algorithm "Segment scenes in bulk": one model bundle (or ensemble) over many scenes, loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterString,
)

from ..compat import FILE_BEHAVIOR_FILE, FILE_BEHAVIOR_FOLDER, SOURCE_RASTER
from ..engine_bridge import engine_api
from ..feedback import FeedbackCallback, Stage, render_message, run_engine
from ..styling import class_raster_post_processor, layer_post_processor, style_polygons
from .algorithm import DualStreamAlgorithm
from .common import (
    LAYER_LIST_WRAPPER,
    EnumNamesMixin,
    add_parameter,
    parameters_help,
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
from .sources import MultipleLayersParameter, raster_sources
from .web_layers import WebWindowParameters, handed

#: The extent and pixel size web layers are read over; the polygon settings (groups that add and read their own).
WEB_WINDOW = WebWindowParameters("bulk.extent", "segment.pixel_size")
POLYGONS = PolygonParameters("segment")


class BulkFeedback(FeedbackCallback):
    """The bar follows the tiles of the whole run; the progress text says which scene is running."""

    def progress(self, done: float, total: float, stage: str = "") -> None:
        if stage == Stage.SCENES:
            # once per scene: it is reported when a scene starts and again when the one before it concludes
            self._set_text(f"scene {min(int(done) + 1, int(total))} of {int(total)}")
        elif stage == Stage.TILES and total > 0:
            self.feedback.setProgress(max(0.0, min(100.0, 100.0 * float(done) / float(total))))


class SegmentBulkAlgorithm(ModelChecksMixin, EnumNamesMixin, DualStreamAlgorithm):
    """Segments many scenes with the same bundle(s) and settings into one output folder, with a summary."""

    REQUIRED_PACKAGES = ("torch", "transformers", "safetensors")

    INPUT = "INPUT"
    FOLDER = "FOLDER"
    PATTERN = "PATTERN"
    AUX_PATTERNS = "AUX_PATTERNS"
    MANIFEST = "MANIFEST"
    STAC_ITEMS = "STAC_ITEMS"
    BANDS = "BANDS"
    EXTENT = "EXTENT"
    ADD_TO_PROJECT = "ADD_TO_PROJECT"
    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "segmentbulk"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Segment scenes in bulk")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Apply a DualStream model (or an ensemble) to many scenes, loading it once.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Segments many scenes with the same model bundle(s) and settings in one run: the model loads once "
            "(separate runs pay seconds of start-up per scene). Each scene gets its own <i>&lt;name&gt;.tif</i> "
            "class raster and <i>.qml</i> style in the output folder, named after the image file.</p>"
            "<p><b>Scenes</b>: raster <b>layers</b> of any kind (files, remote GDAL sources such as /vsicurl/ "
            "cloud-optimised GeoTIFFs, and web layers: XYZ, WMS, WMTS, WCS or ArcGIS REST, each read over the "
            "<b>extent</b> at "
            "the <b>pixel size</b>, by default the model's training one), and/or a <b>folder</b> with a file "
            "<b>pattern</b> (<i>*.tif</i>; <i>**/*.tif</i> searches subfolders), and/or <b>STAC items</b> (item "
            "files or URLs, or an ItemCollection: every item a scene, its bands picked by name), or a "
            "<b>manifest</b> (CSV with the columns image, aux..., output; or JSON) for anything irregular. The "
            "model's bands are picked by name where the images name them (or give <b>Bands</b>). Each scene's "
            "<b>aux</b> files are found by name, relative to its image: <i>{stem}_aux.tif</i> ({stem} is the image "
            "name without extension); several patterns separated by ';' in the training order. Aux files found "
            "this way are not scenes. A <b>change model</b> (Train change detection) takes pairs: each scene is "
            "the first date, its later date found by the <b>later date pattern</b> (<i>{stem:_2019=_2023}.tif</i>, "
            "<i>../2023/{name}</i>), and each class raster is the pair's change raster. A <b>season model</b> "
            "(Train season) takes places: the dated rasters are grouped by place (a folder of a subfolder per "
            "place with the pattern <i>**/*.tif</i>, or the places' rasters side by side, grouped by footprint), "
            "one class raster per place named after its subfolder (or what its file names share); the log lists "
            "the places. Its places may also come as a <b>manifest</b> of one row per date (CSV with the columns "
            "image, place and optionally output) or as <b>STAC items</b> of one date each, grouped by footprint.</p>"
            "<p><b>Robust</b>: a bad scene (unreadable file, missing aux, other bands) is recorded as failed with "
            "its reason and the others go on. Running again skips the scenes already finished with the same "
            "model and settings (checked with a marker, not guessed from the files); <b>Overwrite</b> redoes "
            "them. <b>Cancel</b> stops after the current tile and keeps the finished scenes.</p>"
            "<p><b>Results</b>: summary.json, summary.csv and summary.html (shown in the Results viewer) in the "
            "output folder, optionally a VRT mosaic of the class rasters, and optionally every class raster "
            "added to the project with its style.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        param, label, text = declared_text(self, "bulk.images")
        layers = add_parameter(self, MultipleLayersParameter(param, label, SOURCE_RASTER, optional=True), text)
        layers.setMetadata(LAYER_LIST_WRAPPER)
        add_parameter(self, QgsProcessingParameterFile(
            self.FOLDER, self.tr("Folder of images"), behavior=FILE_BEHAVIOR_FOLDER,
            optional=True),
            self.tr("Every image in this folder that matches the pattern is a scene."))
        add_parameter(self, QgsProcessingParameterString(
            self.PATTERN, self.tr("File pattern in the folder"), defaultValue="*.tif", optional=True),
            self.tr("Which files of the folder are scenes, e.g. *.tif, *_image.tif, or **/*.tif for subfolders."))
        param, label, text = declared_text(self, "bulk.aux_patterns")
        add_parameter(self, QgsProcessingParameterString(param, label, optional=True),
                      text + self.tr(" Several are separated by ';'."))
        add_settings(self, "bulk.after_pattern", "segment.ground_pixel_size")  # the pairs' change table
        param, label, text = declared_text(self, "bulk.manifest")
        add_parameter(self, QgsProcessingParameterFile(param, label, behavior=FILE_BEHAVIOR_FILE,
                                                       fileFilter="Manifest (*.csv *.json)", optional=True), text)
        param, label, text = declared_text(self, "bulk.stac_items")
        add_parameter(self, QgsProcessingParameterString(param, label, optional=True),
                      text + self.tr(" Several are separated by ';'."))
        param, label, text = declared_text(self, "segment.bands")
        add_parameter(self, QgsProcessingParameterString(param, label, optional=True),
                      text + self.tr(" The same for every scene: numbers or names separated by commas "
                                     "(B04,B03,B02)."))
        add_settings(self, *UNIT_SETTINGS)
        WEB_WINDOW.add(self)
        add_model_parameters(self, image="INPUT", aux="", aux_patterns="AUX_PATTERNS")
        extras = [f"bulk.{kind.bulk_key}" for kind in engine_api().EXTRA_KINDS if kind.bulk_key]
        add_settings(self, *RUN_SETTINGS, *extras, "bulk.mosaic", "bulk.overwrite")
        add_parameter(self, QgsProcessingParameterBoolean(
            self.ADD_TO_PROJECT, self.tr("Add the class rasters to the project"), defaultValue=False),
            self.tr("Load every finished class raster with its classes and colours when the run ends."))
        add_settings(self, "segment.readers", "segment.resample_to_training_gsd")
        POLYGONS.add(self)
        add_settings(self, "segment.transparent_classes")
        param, label, text = declared_text(self, "bulk.out_dir")
        add_parameter(self, QgsProcessingParameterFolderDestination(param, label), text)
        self.addOutput(QgsProcessingOutputHtml("SUMMARY_HTML", self.tr("Summary")))
        self.addOutput(QgsProcessingOutputFile("SUMMARY", self.tr("Summary (JSON)")))
        self.addOutput(QgsProcessingOutputFile("POLYGONS_LAYER", self.tr("Polygons of every scene (GeoPackage)")))
        for name, text in (("DONE", "Scenes segmented"), ("SKIPPED", "Scenes skipped (finished earlier)"),
                           ("FAILED", "Scenes failed"), ("CANCELED", "Scenes not finished (canceled)")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(text)))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        self.check_requirements()
        api = engine_api()
        bulk_settings, segment_settings = self._settings(parameters, context)
        bulk = run_engine(api.BulkConfig, **bulk_settings)
        template = run_engine(api.SegmentConfig, **segment_settings)
        for path in template.models:
            for line in run_engine(api.describe_model, path):
                feedback.pushInfo(line)
        result = run_engine(api.segment_many, bulk, template, BulkFeedback(feedback))
        counts = result.counts
        for scene in result.scenes:
            if scene.status == "failed":
                feedback.reportError(f"{scene.shown}: {render_message(scene.error)}", fatalError=False)
        if result.canceled:
            feedback.pushWarning(f"Canceled: the {counts['done']} scene(s) finished are kept; run again "
                                 f"to finish the others (finished scenes are skipped).")
        if self.parameterAsBool(parameters, self.ADD_TO_PROJECT, context):
            self._load_outputs(result, template.models[0], context)
        polygons = result.summary.get("polygons")
        if polygons:
            feedback.pushInfo(f"Polygons of every scene (one layer): {polygons}")
        return {self.OUTPUT: bulk.out_dir, "SUMMARY_HTML": result.files.get("html"),
                "SUMMARY": result.files.get("json"), "POLYGONS_LAYER": polygons, "DONE": counts["done"],
                "SKIPPED": counts["skipped"], "FAILED": counts["failed"], "CANCELED": counts["canceled"]}

    @staticmethod
    def _load_outputs(result: Any, bundle: str, context: QgsProcessingContext) -> None:
        """Finished class rasters (of the bulk ``result``) loaded on completion with the palette of the model."""
        meta = engine_api().read_model_metadata(bundle).data
        for scene in result.scenes:
            path = scene.output
            if not scene.finished or not path:
                continue
            # named after the scene's outputs (a file's stem, a STAC item's id: the items of one collection
            # were all "<collection> classes"), with " classes": the imagery layer may bear the bare name
            name = f"{scene.name} classes"
            context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(name, context.project(), name))
            context.layerToLoadOnCompletionDetails(path).setPostProcessor(class_raster_post_processor(
                meta.class_names, meta.class_colors, str(Path(path).with_suffix(".qml")), layer_name=name))
        polygons = result.summary.get("polygons")
        if polygons:  # every scene's polygons, one layer, outlined in the class colours
            name = "polygons of every scene"
            style = style_polygons(polygons, meta.class_names, meta.class_colors)  # kept in the GeoPackage
            context.addLayerToLoadOnCompletion(polygons, QgsProcessingContext.LayerDetails(name, context.project(),
                                                                                           name))
            context.layerToLoadOnCompletionDetails(polygons).setPostProcessor(layer_post_processor(name, style=style))

    def _settings(self, parameters: dict[str, Any],
                  context: QgsProcessingContext) -> tuple[dict[str, Any], dict[str, Any]]:
        """Parameters -> (BulkConfig, SegmentConfig) keyword arguments."""
        images = [str(handed(item)) for item in raster_sources(parameters, self.INPUT, context)]  # web: the engine's
        folder = self.parameterAsFile(parameters, self.FOLDER, context)
        if folder:
            pattern = self.parameterAsString(parameters, self.PATTERN, context).strip() or "*.tif"
            images.append(str(Path(folder) / pattern))
        manifest = self.parameterAsFile(parameters, self.MANIFEST, context) or None
        if manifest and images:
            raise QgsProcessingException("Parameters INPUT/FOLDER and MANIFEST: give the scenes either as layers or "
                                         "a folder, or as a manifest, not both.")
        stac_items = [p.strip() for p in self.parameterAsString(parameters, self.STAC_ITEMS, context).split(";")
                      if p.strip()]
        if manifest and stac_items:
            raise QgsProcessingException("Parameters STAC_ITEMS and MANIFEST: give the scenes either as STAC items "
                                         "(with or without layers), or as a manifest, not both.")
        if not manifest and not images and not stac_items:
            raise QgsProcessingException("Parameters INPUT, FOLDER, STAC_ITEMS, MANIFEST: no scenes given; choose "
                                         "image layers, a folder of images, STAC items, or a manifest.")
        aux_patterns = [p.strip() for p in self.parameterAsString(parameters, self.AUX_PATTERNS, context).split(";")
                        if p.strip()]
        extent, extent_crs = WEB_WINDOW.extent(self, parameters, context)
        bulk = {"images": images, "stac_items": stac_items, "aux_patterns": aux_patterns, "manifest": manifest,
                "out_dir": self.parameterAsString(parameters, self.OUTPUT, context), "extent": extent,
                "extent_crs": extent_crs,
                **read_settings(self, parameters, context, "bulk")}
        segment = {**model_settings(self, parameters, context),
                   **read_settings(self, parameters, context, "segment", skip=POLYGONS.NAMES),
                   **POLYGONS.read(self, parameters, context),
                   "bands": band_choice(self, parameters, self.BANDS, context)}
        return bulk, segment

