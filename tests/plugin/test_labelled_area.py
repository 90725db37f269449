"""Partial labels in QGIS: Train's Labelled area and Suggest where to label, from a scratch layer with a selection
(only the selected features count), the windows layer loaded styled with its ranks."""

from __future__ import annotations

import pytest

from tests.helpers import RecordingFeedback, make_bundle
from tests.plugin.scratch_layers import scratch_squares

pytestmark = pytest.mark.qgis


def test_suggest_honours_the_selected_labelled_area_and_loads_ranked_windows(plugin, scenes, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject

    image = scenes["s1"]["image"]  # 128 x 128 px
    model = make_bundle(tmp_path / "m.dsmodel", vision_bands=4, num_classes=2, seed=4,
                        class_names=["background", "field"])
    # left half selected (labelled); the right half is a feature too, not selected: it must not count
    layer = scratch_squares(image, [(0, 64, 0, 128), (64, 128, 0, 128)], select=0)
    QgsProject.instance().addMapLayer(layer)
    feedback = RecordingFeedback.make()
    results = processing.runAndLoadResults("dualstream:suggest", {
        "MODEL": model, "INPUT": [image], "LABELLED_AREA": QgsProcessingFeatureSourceDefinition(layer.id(), True),
        "COUNT": 3, "WINDOW": 32, "TTA": 0, "DEVICE": 1, "BACKEND": 1,  # none, cpu, torch
        "OUTPUT": str(tmp_path / "windows.gpkg")}, feedback=feedback)
    assert results["WINDOWS"] == 3
    ours = [line for line in feedback.infos if not line.startswith("Results:")]  # Processing's own last line
    next_step = ours[-1]  # the loop's next step ends the log, in the dialog's own names
    assert next_step.startswith("Next: label everything inside these windows") and "(INIT_FROM)" in next_step
    loaded, = QgsProject.instance().mapLayersByName("where to label, round 1 (m)")
    rows = sorted((f["rank"], f["col"], f["why"]) for f in loaded.getFeatures())
    assert [r[0] for r in rows] == [1, 2, 3]
    assert all(col >= 48 for _, col, _ in rows)  # never half inside the selected left half
    assert loaded.labelsEnabled() and loaded.labeling().settings().fieldName == "rank"  # its default style
    # a second round: before, its layer had the first one's name and colour, and the two looked the same
    processing.runAndLoadResults("dualstream:suggest", {
        "MODEL": model, "INPUT": [image], "COUNT": 2, "WINDOW": 32, "TTA": 0, "DEVICE": 1, "BACKEND": 1,
        "OUTPUT": str(tmp_path / "windows2.gpkg")})
    second, = QgsProject.instance().mapLayersByName("where to label, round 2 (m)")
    assert second.labelsEnabled() and second.labeling().settings().fieldName == "rank"
    colours = [(layer.renderer().symbol().symbolLayer(0).strokeColor().name(), _halo(layer))
               for layer in (loaded, second)]
    assert colours[0][0] != colours[1][0] and colours[0][1] != colours[1][1], colours
    QgsProject.instance().removeAllMapLayers()


def _halo(layer) -> str:
    """The colour of the rank labels' halo (each step held: a chained call reads a copy already freed)."""
    settings = layer.labeling().settings()
    text = settings.format()
    return text.buffer().color().name()


def test_train_takes_a_selected_labelled_area_and_says_how_much_is_labelled(plugin, scenes, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject

    scene = scenes["train"]  # 256 x 256 px
    layer = scratch_squares(scene["image"], [(0, 64, 0, 64), (128, 256, 0, 256)], select=0)
    QgsProject.instance().addMapLayer(layer)
    feedback = RecordingFeedback.make()
    processing.run("dualstream:train", {
        "INPUT": scene["image"], "LABELS": scene["label_vector"], "LABEL_FIELD": "class", "LABEL_MAPPING": "90=1",
        "LABELLED_AREA": QgsProcessingFeatureSourceDefinition(layer.id(), True), "CLASS_NAMES": "background,field",
        "DEVICE": "cpu", "EPOCHS": 1, "TILE_SIZE": 64, "TILES_PER_EPOCH": 4, "MODEL_FAMILY": "unet",
        "PRESET": "tiny", "OUTPUT": str(tmp_path / "model.dsmodel")}, feedback=feedback)
    log = "\n".join(feedback.infos)
    # the selected 64 px square only: 6.2 % of the scene (the unselected half would make it 56 %)
    assert "6.2 % of the scene is labelled" in log and "ignored by the loss and the metrics" in log
    QgsProject.instance().removeAllMapLayers()


def test_suggest_asks_a_fusion_model_with_its_aux_layers(plugin, scenes, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    scene = scenes["s2"]  # 128 x 128 px with a 48-band aux raster in EPSG:4326
    model = make_bundle(tmp_path / "fused.dsmodel", vision_bands=4, aux_channels=48, num_classes=2, seed=4,
                        class_names=["background", "field"])
    params = {"MODEL": model, "INPUT": [scene["image"]], "COUNT": 2, "WINDOW": 32, "TTA": 0, "DEVICE": 1,
              "BACKEND": 1, "OUTPUT": str(tmp_path / "windows.gpkg")}
    with pytest.raises(QgsProcessingException, match="aux"):
        processing.run("dualstream:suggest", params)
    results = processing.run("dualstream:suggest", dict(params, AUX=scene["aux"]))
    assert results["WINDOWS"] == 2
