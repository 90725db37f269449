"""Train's "Selected features only" on real building footprints (issue 53 item 13): SpaceNet-4 Atlanta, half of
the footprints over the image selected; the training reads only those (stopped once it has said what its labels
hold, so nothing is trained). Opt-in: ``pytest -m realdata``."""

from __future__ import annotations

import pytest

from tests.plugin.training_data_line import foreground_share

pytestmark = [pytest.mark.realdata, pytest.mark.qgis]

TRAIN = {"PRESET": "tiny", "EPOCHS": "1", "WARMUP_EPOCHS": "0", "BATCH_SIZE": "4", "TILE_SIZE": "64",
         "DEVICE": "cpu", "TILES_PER_EPOCH": "4", "SEED": "0"}


def test_train_reads_only_the_selected_real_footprints(plugin, realdata, tmp_path):
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject, QgsRasterLayer, QgsVectorLayer

    folder = realdata / "gdl_buildings_landcover" / "spacenet4_atlanta_rgb"
    image = QgsRasterLayer(str(next(folder.glob("*PS-RGBNIR*_clipped.tif"))), "atlanta image")
    footprints = QgsVectorLayer(str(next(folder.glob("*.geojson"))), "footprints", "ogr")
    assert image.isValid() and footprints.isValid()
    QgsProject.instance().addMapLayers([image, footprints])
    try:
        over = [f.id() for f in footprints.getFeatures() if f.geometry().boundingBox().intersects(image.extent())]
        whole, _ = foreground_share(TRAIN, image.id(), footprints.id(), str(tmp_path / "whole.dsmodel"))
        footprints.selectByIds(over[: len(over) // 2])
        part, lines = foreground_share(TRAIN, image.id(), QgsProcessingFeatureSourceDefinition(footprints.id(), True),
                                       str(tmp_path / "part.dsmodel"))
        print(f"foreground: all {footprints.featureCount()} footprints {whole} %, {len(over) // 2} selected {part} %")
        assert any(f"{len(over) // 2} selected feature(s) of 'footprints'" in line for line in lines)
        assert 0 < part < 0.75 * whole
    finally:
        QgsProject.instance().removeAllMapLayers()
