"""The label layer of Train and Evaluate is a feature source (issue 53 item 13): QGIS's dialog then shows its
"Selected features only" box, and the selection is what the engine reads; raster labels still work.

Real QgsApplication and processing.run on real vector and raster layers; the training is stopped (cancelled) as
soon as it has said what its labels hold, so no model is trained here.
"""

from __future__ import annotations

import pytest

from tests.plugin.training_data_line import foreground_share

pytestmark = [pytest.mark.qgis]

TRAIN = {"PRESET": "tiny", "EPOCHS": "1", "WARMUP_EPOCHS": "0", "BATCH_SIZE": "4", "TILE_SIZE": "64",
         "DEVICE": "cpu", "TILES_PER_EPOCH": "4", "SEED": "0", "VALIDATION_SHARE": "0.2"}


@pytest.fixture(autouse=True)
def clean_project():
    yield
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()


def _polygons(path: str, name: str):
    from qgis.core import QgsProject, QgsVectorLayer

    layer = QgsVectorLayer(path, name, "ogr")
    assert layer.isValid() and layer.featureCount() > 2, path
    QgsProject.instance().addMapLayer(layer)
    return layer


def _foreground(image: str, labels, tmp_path, name: str) -> tuple[float, list[str]]:
    """The foreground share the training reads from ``labels`` (stopped before the first epoch), and its log."""
    return foreground_share(TRAIN, image, labels, str(tmp_path / f"{name}.dsmodel"))


@pytest.mark.parametrize("algorithm", ["train", "evaluate"])
def test_the_label_layer_is_a_feature_source_with_the_selection_box(plugin, algorithm):
    """A feature-source parameter is what QGIS gives a "Selected features only" box (its widget makes the box
    for that parameter type only); a generic layer parameter had none."""
    from qgis.core import QgsApplication, QgsProcessingParameterFeatureSource

    alg = QgsApplication.processingRegistry().createAlgorithmById(f"dualstream:{algorithm}")
    labels = alg.parameterDefinition("LABELS")
    assert isinstance(labels, QgsProcessingParameterFeatureSource)
    assert labels.type() == "source"


def test_train_reads_only_the_selected_polygons(plugin, scenes, tmp_path):
    """Two of the polygons selected: the training's foreground is theirs only, less than all polygons give, and
    the log says how many features were handed over."""
    from qgis.core import QgsProcessingFeatureSourceDefinition

    scene = scenes["train"]
    layer = _polygons(scene["label_vector"], "fields")
    whole, _ = _foreground(scene["image"], layer.id(), tmp_path, "whole")
    ids = [feature.id() for feature in layer.getFeatures()]
    layer.selectByIds(ids[:2])
    part, lines = _foreground(scene["image"], QgsProcessingFeatureSourceDefinition(layer.id(), True), tmp_path,
                              "part")
    assert 0 < part < whole
    assert any("2 selected feature(s) of 'fields'" in line for line in lines)


def test_raster_labels_are_still_taken_as_a_layer_and_as_a_path(plugin, scenes, tmp_path):
    """A raster of class values is still a label layer: as a project layer object (which Processing's own
    feature-source check refuses) and as a file path."""
    import processing
    from qgis.core import QgsProject, QgsRasterLayer

    scene = scenes["s1"]
    raster = QgsRasterLayer(scene["label"], "class raster")
    QgsProject.instance().addMapLayer(raster)
    for name, labels in (("layer", raster), ("path", scene["label"])):
        result = processing.run("dualstream:evaluate", {
            "INPUT": scene["label"], "LABELS": labels, "LABEL_VALUES": 1,
            "OUTPUT": str(tmp_path / f"{name}.json")})
        assert result["MIOU"] == pytest.approx(1.0), name
