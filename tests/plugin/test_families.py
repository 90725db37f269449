"""Model families through ``processing.run``: the Train algorithm's family, preset, encoder, band and loss
parameters, and a cross-family ensemble (a CMX bundle from QGIS + a UNet bundle from the engine CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]
TINY = {"PRESET": "tiny", "EPOCHS": "1", "WARMUP_EPOCHS": "0", "BATCH_SIZE": "4", "LEARNING_RATE": "0.003",
        "TILE_SIZE": "64", "DEVICE": "cpu", "TILES_PER_EPOCH": "8", "SEED": "0", "LABEL_MAPPING": "90=1",
        "VALIDATION_SHARE": "0"}


@pytest.fixture(scope="module")
def cmx_bundle(plugin, scenes, tmp_path_factory) -> str:
    """CMX trained in QGIS on bands 1-3 of the 4-band image with band 4 as X, OHEM + Dice named explicitly."""
    import processing

    out = tmp_path_factory.mktemp("cmx") / "cmx.dsmodel"
    results = processing.run("dualstream:train", dict(
        TINY, INPUT=scenes["train"]["image"], LABELS=scenes["train"]["label"], MODEL_FAMILY="cmx", BANDS="1,2,3",
        X_BANDS="4", LOSS="ohem=1,dice=1", OPTIMIZER="adam", COPY_PASTE="0.5", OUTPUT=str(out)))
    return results["OUTPUT"]


@pytest.fixture(scope="module")
def unet_bundle(scenes, tmp_path_factory) -> str:
    """UNet trained with the engine CLI on bands 3,2,1."""
    out = tmp_path_factory.mktemp("unet") / "unet.dsmodel"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "train", "--image", scenes["train"]["image"], "--label",
         scenes["train"]["label"], "--label-map", "90=1", "--model", "unet", "--preset", "tiny", "--bands", "3,2,1",
         "--loss", "focal=1,dice=1", "--epochs", "1", "--warmup-epochs", "0", "--tile-size", "64",
         "--tiles-per-epoch", "8", "--batch-size", "4", "--val-fraction", "0", "--device", "cpu", "--quiet",
         "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return str(out)


def test_train_parameters_come_from_the_engine_registry(plugin):
    from qgis.core import QgsApplication

    from engine.config import LOSS_TERMS, OPTIMIZERS
    from engine.models import describe_models, list_encoders, list_models, list_presets

    train = QgsApplication.processingRegistry().algorithmById("dualstream:train")
    assert train.parameterDefinition("MODEL_FAMILY").options() == [*list_models(), "auto"]
    assert train.parameterDefinition("PRESET").options() == [*list_presets(), "default"]
    assert train.parameterDefinition("ENCODER").options() == ["default", *list_encoders()]
    assert train.parameterDefinition("OPTIMIZER").options() == list(OPTIMIZERS)
    help_text = train.shortHelpString()
    for family in describe_models():  # which family fits which data, in the engine's own words
        assert family["name"] in help_text and family["description"] in help_text
    assert all(term in train.parameterDefinition("LOSS").help() for term in LOSS_TERMS)


def test_cmx_from_qgis_keeps_family_bands_and_loss(cmx_bundle):
    from engine.bundle.store import read_metadata

    meta = read_metadata(cmx_bundle)
    assert meta.model.name == "cmx" and meta.model.preset == "tiny"
    assert (meta.data.bands, meta.data.x_bands, meta.data.aux_channels) == ([1, 2, 3], [4], 1)
    assert meta.train_config().loss.terms == {"ohem": 1.0, "dice": 1.0} and meta.train_config().optimizer == "adam"


def test_cross_family_ensemble_through_processing(cmx_bundle, unet_bundle, scenes, tmp_path):
    import processing
    import rasterio

    from engine.config import SegmentConfig
    from engine.segment import segment

    image = scenes["s1"]["image"]
    members = []
    for i, bundle in enumerate((cmx_bundle, unet_bundle)):
        probs = tmp_path / f"m{i}_p.tif"
        segment(SegmentConfig(image=image, models=[bundle], output=str(tmp_path / f"m{i}.tif"),
                              probabilities=str(probs), device="cpu", tile_size=64))
        with rasterio.open(probs) as src:
            members.append(src.read(1))
    results = processing.run("dualstream:segment", {
        "INPUT": image, "MODEL": f"{cmx_bundle};{unet_bundle}", "WEIGHTS": "0.7,0.3", "THRESHOLD": 0.3,
        "DEVICE": "cpu", "TILE_SIZE": 64, "OUTPUT": str(tmp_path / "ens.tif"),
        "OUTPUT_PROBABILITIES": str(tmp_path / "ens_p.tif")})
    with rasterio.open(results["OUTPUT_PROBABILITIES"]) as src:
        ensemble = src.read(1)
    np.testing.assert_allclose(ensemble, 0.7 * members[0] + 0.3 * members[1], atol=1e-5)
    with rasterio.open(results["OUTPUT"]) as src:
        np.testing.assert_array_equal(src.read(1), (ensemble >= 0.3).astype(np.uint8))


def test_family_parameter_errors_are_clear(plugin, scenes, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    base = dict(TINY, INPUT=scenes["train"]["image"], LABELS=scenes["train"]["label"],
                OUTPUT=str(tmp_path / "m.dsmodel"))
    cases = [({"MODEL_FAMILY": "unet", "PRESET": "b1"}, "'b1' is not a preset of the unet family"),
             ({"MODEL_FAMILY": "cmx", "ENCODER": "resnet18"}, "encoder can be chosen for"),
             ({"MODEL_FAMILY": "cmx", "BANDS": "1,2,3", "X_BANDS": "3"}, "overlap the vision bands"),
             ({"LOSS": "focal=1,tversky=1"}, "'tversky' is unknown")]
    for extra, message in cases:
        with pytest.raises(QgsProcessingException, match=message):
            processing.run("dualstream:train", {**base, **extra})
    assert not (tmp_path / "m.dsmodel").exists()


def test_train_takes_bands_by_name(plugin, scenes, tmp_path):
    """Train's Bands parameter takes the image's band names as well as numbers (processing.run, as the dialog's
    text field and qgis_process give it); the bundle records the names of the bands picked (by name: not numbers)."""
    import processing
    import rasterio

    from engine.api import read_model_metadata

    image = tmp_path / "named.tif"
    with rasterio.open(scenes["s1"]["image"]) as src:
        profile, raw = src.profile, src.read()
    with rasterio.open(image, "w", **profile) as ds:
        ds.write(raw)
        for band, name in enumerate(["red", "green", "blue", "nir"], 1):
            ds.set_band_description(band, name)
    out = tmp_path / "named.dsmodel"
    processing.run("dualstream:train", dict(TINY, INPUT=str(image), LABELS=scenes["s1"]["label"], MODEL_FAMILY="unet",
                                            BANDS="nir,red,green", OUTPUT=str(out)))
    data = read_model_metadata(str(out)).data
    assert data.bands is None and data.band_names == ["nir", "red", "green"] and data.image_bands == 3
