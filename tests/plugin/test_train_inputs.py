"""Train through ``processing.run`` from each kind of input: vector labels, aux layers of other band counts, a
reference folder; cancel; inputs missing or given twice. Each trains its own tiny model (moved out of
``test_algorithms.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import RecordingFeedback
from tests.plugin.train_settings import TINY, metadata

pytestmark = pytest.mark.qgis


def test_train_from_vector_labels_with_class_field(plugin, scenes, tmp_path):
    import processing

    params = dict(TINY, INPUT=scenes["train"]["image"], LABELS=scenes["train"]["label_vector"], LABEL_FIELD="class",
                  AUX=scenes["train"]["aux"], WARMUP_EPOCHS="0", TILES_PER_EPOCH="16",
                  OUTPUT=str(tmp_path / "vector.dsmodel"))
    results = processing.run("dualstream:train", params)
    meta = metadata(results["OUTPUT"])
    assert meta.data.label_mapping == {"90": 1}
    assert meta.data.num_classes == 1 and meta.data.aux_channels == 48
    assert Path(results["OUTPUT_REPORT"]).name == "vector_report.html"  # beside the bundle when not asked for


def test_train_from_aux_layers_of_different_band_counts_and_more_classes_than_colours(plugin, scenes, tmp_path):
    """A many-band aux layer beside a 1-band one (SAR + DEM) gives all their bands, as the command line does;
    three class names with the two default colours get a third from the engine's palette (headless, as here)."""
    import processing
    from osgeo import gdal

    from engine.config import CLASS_PALETTE

    (aux,) = scenes["train"]["aux"]
    dem = str(tmp_path / "dem.tif")
    gdal.Translate(dem, aux, bandList=[1])
    params = dict(TINY, INPUT=scenes["train"]["image"], LABELS=scenes["train"]["label"], AUX=[aux, dem],
                  CLASS_NAMES="background,field,other", WARMUP_EPOCHS="0",
                  TILES_PER_EPOCH="16", OUTPUT=str(tmp_path / "mixed.dsmodel"))
    data = metadata(processing.run("dualstream:train", params)["OUTPUT"]).data
    assert data.aux_file_bands == [48, 1] and data.aux_channels == 49
    assert data.class_colors == ["#000000", "#f096ff", CLASS_PALETTE[1]]  # background, field: their usual colours


def test_train_from_reference_folder(plugin, tmp_path):
    import processing

    from engine.data.synthetic import make_reference_dataset

    root = make_reference_dataset(tmp_path / "data", n_train=1, n_val=1, size=(128, 128), seed=3, aux_bands=4)
    params = dict(TINY, DATA_FOLDER=str(root), WARMUP_EPOCHS="0", TILES_PER_EPOCH="16", AUX_BANDS_PER_FILE="4",
                  OUTPUT=str(tmp_path / "folder.dsmodel"))
    meta = metadata(processing.run("dualstream:train", params)["OUTPUT"])
    assert meta.data.aux_channels == 16  # 4 files x 4 bands in the reference prefixes' order
    assert meta.data.aux_prefixes[0] == "GEMS_"


def test_cancel_training_keeps_checkpoint_and_writes_no_bundle(plugin, scenes, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    # cancel once the first epoch's metrics are in the log (the checkpoint of epoch 1 exists by then)
    feedback = RecordingFeedback.make(cancel_when=lambda fb: any(i.startswith("Epoch 1/") for i in fb.infos))
    out = tmp_path / "canceled.dsmodel"
    params = dict(TINY, INPUT=scenes["train"]["image"], LABELS=scenes["train"]["label"], AUX=scenes["train"]["aux"],
                  EPOCHS="3", TILES_PER_EPOCH="16", OUTPUT=str(out))
    with pytest.raises(QgsProcessingException, match="(?i)cancel"):
        processing.run("dualstream:train", params, feedback=feedback)
    assert feedback.isCanceled()
    assert not out.exists(), "a cancelled training left a bundle at the destination"
    assert Path(f"{out}.ckpt").is_file(), "the last checkpoint was not kept"


def test_train_needs_data_and_not_both_sources(plugin, scenes, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"choose the image layer \(INPUT\) and the label layer"):
        processing.run("dualstream:train", dict(TINY, OUTPUT=str(tmp_path / "x.dsmodel")))
    with pytest.raises(QgsProcessingException, match=r"'a dataset folder': choose the dataset folder"):
        processing.run("dualstream:train", dict(TINY, MODE=1, OUTPUT=str(tmp_path / "x.dsmodel")))
    # a bundle in Processing's temporary folder would vanish with QGIS, and the training with it
    with pytest.raises(QgsProcessingException, match="OUTPUT.*temporary file is deleted when QGIS closes"):
        processing.run("dualstream:train", dict(TINY, INPUT=scenes["train"]["image"], LABELS=scenes["train"]["label"],
                                                OUTPUT="TEMPORARY_OUTPUT"))
    with pytest.raises(QgsProcessingException, match="either a dataset folder"):
        processing.run("dualstream:train", dict(TINY, DATA_FOLDER=str(tmp_path), INPUT=scenes["train"]["image"],
                                                LABELS=scenes["train"]["label"], OUTPUT=str(tmp_path / "x.dsmodel")))
    with pytest.raises(QgsProcessingException, match="LABELS"):
        processing.run("dualstream:train", dict(TINY, INPUT=scenes["train"]["image"],
                                                OUTPUT=str(tmp_path / "x.dsmodel")))
