"""Processing algorithm "Create sample data": the sample scenes of ``make demo``, written into a folder and loaded
styled, so a QGIS user can try Train -> Segment -> Evaluate without data of their own or a terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterFolderDestination,
)

from ..engine_bridge import engine_api
from ..feedback import run_engine
from ..layer_tree import RunLayers
from ..styling import layer_post_processor, outline_polygons, style_image_rgb, style_labels
from .algorithm import DualStreamAlgorithm
from .common import add_parameter, ensure_parent, parameters_help

#: Where each scene's layers go and what they are for.
GROUPS = {"train": "Sample scene A (train on it)", "test": "Sample scene B (segment and evaluate it)"}
#: Layers of a scene, top to bottom: (key of make_scene's paths, visible); named after their files.
LAYERS = (("label_vector", True), ("label", False), ("image", True), ("aux", False))
LABEL_CLASSES = (["background", "foreground"], ["#000000", "#ffd700"])


class SampleDataAlgorithm(DualStreamAlgorithm):
    """Writes two synthetic scenes (imagery, aux raster, labels as raster and polygons) and loads them."""

    REQUIRED_PACKAGES = ("rasterio", "osgeo")

    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "sampledata"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Create sample data")

    def shortDescription(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Write two small sample scenes (imagery, aux raster, labels) to try DualStream with.")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "<p>Writes the sample data of the DualStream demo into a folder and adds it to the project, styled: two "
            "scenes of the same synthetic world (a few seconds to make). Each has a 4-band 16-bit image (R, G, B, "
            "NIR, 1 m pixels, EPSG:32652), a coarse 48-band aux raster in EPSG:4326 (like air-quality grids; not "
            "aligned with the image) and its labels, as a raster (0 = background, 1 = foreground) and as polygons "
            "with a <i>class</i> field. The foreground shows in both the imagery and the aux raster.</p>"
            "<p><b>Then</b>: <b>Train DualStream</b> with scene A's image, label polygons and aux raster and a "
            "model bundle file; <b>Segment with DualStream</b> on scene B's image and aux raster with that "
            "bundle; <b>Evaluate segmentation</b> of scene B's classes against scene B's labels. The label "
            "values are the class numbers, so no label mapping is needed.</p>"
            "<p>Nothing is overwritten: choose an empty folder, or one without sample files.</p>"
        ) + parameters_help(self)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802 - QGIS API
        add_parameter(self, QgsProcessingParameterFolderDestination(self.OUTPUT, self.tr("Folder for the sample")),
                      self.tr("Where the sample's GeoTIFFs and GeoPackages are written (scene_a_*, scene_b_*). A "
                              "temporary folder is deleted when QGIS closes; choose a folder to keep them."))
        for role, scene in (("TRAIN", "A"), ("TEST", "B")):
            self.addOutput(QgsProcessingOutputRasterLayer(f"{role}_IMAGE", self.tr(f"Scene {scene} image")))
            self.addOutput(QgsProcessingOutputRasterLayer(f"{role}_LABELS", self.tr(f"Scene {scene} labels")))
            self.addOutput(QgsProcessingOutputVectorLayer(f"{role}_LABEL_POLYGONS",
                                                          self.tr(f"Scene {scene} label polygons")))
            self.addOutput(QgsProcessingOutputMultipleLayers(f"{role}_AUX", self.tr(f"Scene {scene} aux rasters")))

    def processAlgorithm(  # noqa: N802 - QGIS API
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        self.check_requirements()
        folder = self.parameterAsString(parameters, self.OUTPUT, context)
        if not folder:
            raise QgsProcessingException("Parameter OUTPUT: choose the folder to write the sample into.")
        api = engine_api()
        existing = [path for path in api.sample_files(folder) if path.exists()]
        if existing:
            raise QgsProcessingException(
                f"Parameter OUTPUT: '{folder}' already holds sample files ({', '.join(p.name for p in existing[:3])}"
                f"{', ...' if len(existing) > 3 else ''}); nothing was overwritten. Choose an empty folder, or load "
                "those files (Layer > Add Layer).")
        ensure_parent(str(Path(folder) / "x"), self.OUTPUT)
        feedback.pushInfo(f"Writing the sample scenes into {folder}")
        # label value 1: the labels are class numbers, so Train and Evaluate need no label mapping
        scenes = run_engine(api.make_sample, folder, label_value=1)
        results: dict[str, Any] = {self.OUTPUT: folder}
        for role, paths in scenes.items():
            feedback.pushInfo(f"{GROUPS[role]}: {Path(paths['image']).name}, {Path(paths['label_vector']).name}, "
                              f"{Path(paths['label']).name}, {', '.join(Path(p).name for p in paths['aux'])}")
            prefix = "TRAIN" if role == "train" else "TEST"
            results.update({f"{prefix}_IMAGE": paths["image"], f"{prefix}_LABELS": paths["label"],
                            f"{prefix}_LABEL_POLYGONS": paths["label_vector"], f"{prefix}_AUX": paths["aux"]})
            self._load(context, paths, GROUPS[role])
        feedback.setProgress(100)
        return results

    @staticmethod
    def _load(context: QgsProcessingContext, paths: dict[str, Any], group: str) -> None:
        """Each scene's layers in its own group: polygons (outlines) over the image; labels and aux hidden."""
        run = RunLayers(group)
        styles = {"image": style_image_rgb, "label": lambda layer: style_labels(layer, *LABEL_CLASSES),
                  "label_vector": lambda layer: outline_polygons(layer, LABEL_CLASSES[1][1])}
        for rank, (key, visible) in enumerate(LAYERS):
            for path in paths[key] if isinstance(paths[key], list) else [paths[key]]:
                name = Path(path).stem + (" (polygons)" if key == "label_vector" else "")
                context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(name, context.project()))
                context.layerToLoadOnCompletionDetails(path).setPostProcessor(layer_post_processor(
                    name, run=run, rank=rank, visible=visible, style=styles.get(key), current=key == "image"))
