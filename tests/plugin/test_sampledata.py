"""Create sample data through processing.run: the files a first Train -> Segment -> Evaluate needs, loaded styled
and grouped, and never written over."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis


def test_sample_data_is_written_loaded_styled_and_never_overwritten(plugin, tmp_path):
    import numpy as np
    import processing
    import rasterio
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import QgsProcessingContext, QgsProject, QgsVectorLayer

    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    folder = tmp_path / "sample"
    results = processing.run("dualstream:sampledata", {"OUTPUT": str(folder)}, context=context,
                             onFinish=handleAlgorithmResults)
    for key in ("TRAIN_IMAGE", "TRAIN_LABELS", "TRAIN_LABEL_POLYGONS", "TEST_IMAGE", "TEST_LABELS"):
        assert Path(results[key]).is_file() and Path(results[key]).parent == folder, key
    with rasterio.open(results["TRAIN_IMAGE"]) as image, rasterio.open(results["TRAIN_LABELS"]) as label:
        assert image.count == 4 and image.dtypes[0] == "uint16" and (image.width, image.height) == (384, 384)
        values = set(np.unique(label.read(1)).tolist())
    assert values == {0, 1}, "the labels are class numbers, so Train needs no label mapping"
    with rasterio.open(results["TRAIN_AUX"][0]) as aux:
        assert aux.count == 48 and aux.crs.to_epsg() == 4326
    polygons = QgsVectorLayer(results["TRAIN_LABEL_POLYGONS"], "p", "ogr")
    assert "class" in polygons.fields().names() and {f["class"] for f in polygons.getFeatures()} == {1}

    groups = {group.name(): [(node.name(), node.itemVisibilityChecked()) for node in group.children()]
              for group in project.layerTreeRoot().children()}
    assert groups["Sample scene A (train on it)"] == [
        ("scene_a_label (polygons)", True), ("scene_a_label", False), ("scene_a_image", True),
        ("scene_a_aux", False)]
    assert [name for name, _ in groups["Sample scene B (segment and evaluate it)"]][0] == "scene_b_label (polygons)"
    layers = {layer.name(): layer for layer in project.mapLayers().values()}
    image = layers["scene_a_image"].renderer()
    assert image.type() == "multibandcolor" and (image.redBand(), image.greenBand(), image.blueBand()) == (3, 2, 1)
    assert layers["scene_a_label"].renderer().type() == "paletted"
    outline = layers["scene_a_label (polygons)"].renderer().symbol().symbolLayer(0)
    assert outline.brushStyle() == 0  # Qt.NoBrush: outlines only, the image shows inside

    before = {path: path.stat().st_mtime_ns for path in folder.iterdir()}
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="already holds sample files.*nothing was overwritten"):
        processing.run("dualstream:sampledata", {"OUTPUT": str(folder)})
    assert {path: path.stat().st_mtime_ns for path in folder.iterdir()} == before
