"""Band selection (``bands`` / ``x_bands``): applied when reading training tiles, stored in the bundle, applied
again at segmentation; bad selections are clear errors before any heavy work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.bundle.store import load_bundle, read_metadata, save_bundle
from engine.config import DataConfig, SceneSpec, SegmentConfig, TrainConfig
from engine.config.bands import BandSelection, parse_bands
from engine.data import synthetic
from engine.data.scene import SceneReader
from engine.errors import BundleError, ConfigError, DataError
from engine.models import AutoModelConfig
from engine.segment import segment
from engine.training.trainer import train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict:
    """A 4-band uint16 scene whose class shows in the imagery, plus a 5-band copy (band 5 = noise)."""
    root = tmp_path_factory.mktemp("bands")
    paths = synthetic.make_scene(root, "s", size=(96, 96), aux_channels=0, label_from="vision", seed=3)
    with rasterio.open(paths["image"]) as src:
        data, profile = src.read(), src.profile
    noise = np.random.default_rng(0).integers(0, 4000, size=data.shape[1:], dtype=np.uint16)
    paths["five"] = _write(root / "five.tif", np.concatenate([data, noise[None]]), profile)
    paths["three"] = _write(root / "three.tif", data[:3], profile)
    paths["two"] = _write(root / "two.tif", data[:2], profile)
    paths["data"] = data
    return paths


def _write(path: Path, data: np.ndarray, profile: dict) -> str:
    with rasterio.open(path, "w", **{**profile, "count": data.shape[0]}) as dst:
        dst.write(data)
    return str(path)


def test_parse_and_check_band_lists():
    assert parse_bands("3,2,1") == [3, 2, 1] and parse_bands(" ") is None and parse_bands([4]) == [4]
    for bad, message in (("0,1", "counted from 1"), ("1,1", "more than once"), ("a", "band numbers")):
        with pytest.raises(ConfigError, match=message):
            parse_bands(bad)
    with pytest.raises(ConfigError, match=r"x_bands \[3\] overlap the vision bands \[3, 2, 1\]"):
        DataConfig(bands=[3, 2, 1], x_bands=[3])
    with pytest.raises(ConfigError, match="either x_bands or aux rasters"):
        DataConfig(x_bands=[4], train_scenes=[SceneSpec(image="a.tif", label="l.tif", aux=["x.tif"])])
    assert DataConfig(x_bands=[4]).aux_ratio == 1  # X bands are at the image's own resolution
    assert BandSelection.of(None, [4]).vision_bands(5) == [1, 2, 3, 5]


def test_reader_applies_the_selection(scene):
    raw = scene["data"].astype(np.float32)
    with SceneReader(scene["image"], bands=[3, 1], aux_ratio=1) as reader:
        tile = reader.read(8, 16, 32, 32)
        assert reader.vision_bands == 2 and reader.image_bands == 4 and tile.aux is None
        np.testing.assert_array_equal(tile.vision, raw[[2, 0], 16:48, 8:40])
    with SceneReader(scene["image"], bands=[1, 2, 3], x_bands=[4], aux_ratio=1) as reader:
        tile = reader.read(0, 0, 32, 32)
        assert reader.aux_channels == 1 and tile.aux.shape == (1, 32, 32)
        np.testing.assert_array_equal(tile.aux[0], raw[3, :32, :32])
        np.testing.assert_array_equal(tile.vision, raw[:3, :32, :32])
    with pytest.raises(DataError, match=r"x_bands \[6\] name band\(s\) \[6\] but the image .* has 4 band"):
        SceneReader(scene["image"], x_bands=[6], aux_ratio=1)


def _train(root: Path, scene: dict, family: str, **data) -> str:
    data_cfg = DataConfig(train_scenes=[SceneSpec(image=scene["image"], label=scene["label"])], tile_size=64,
                          tiles_per_epoch=8, val_fraction=0.0, label_mapping={"90": 1}, statistics_tiles=4,
                          **data)
    cfg = TrainConfig(output=str(root / f"{family}.dsmodel"), epochs=1, warmup_epochs=0, batch_size=4,
                      device="cpu", preview_tiles=0, early_stop_patience=None)
    return train(AutoModelConfig.for_family(family, preset="tiny"), data_cfg, cfg).bundle


@pytest.fixture(scope="module")
def unet_bundle(tmp_path_factory, scene) -> str:
    """A UNet trained on bands 3 and 1 of the 4-band scene."""
    return _train(tmp_path_factory.mktemp("unet"), scene, "unet", bands=[3, 1])


@pytest.fixture(scope="module")
def cmx_bundle(tmp_path_factory, scene) -> str:
    """A CMX trained on bands 1-3 with band 4 as its X modality."""
    return _train(tmp_path_factory.mktemp("cmx"), scene, "cmx", bands=[1, 2, 3], x_bands=[4])


def _probabilities(tmp_path: Path, models: list[str], image: str, name: str, **settings) -> np.ndarray:
    out = tmp_path / f"{name}.tif"
    segment(SegmentConfig(image=image, models=models, output=str(out), probabilities=str(tmp_path / f"{name}_p.tif"),
                          device="cpu", tile_size=64, **settings))
    with rasterio.open(tmp_path / f"{name}_p.tif") as src:
        return src.read()


def test_bands_stored_in_the_bundle_and_applied_at_segmentation(tmp_path, scene, unet_bundle):
    meta = read_metadata(unet_bundle)
    assert (meta.data.bands, meta.data.vision_bands, meta.data.image_bands) == ([3, 1], 2, 4)
    assert meta.model.vision_channels == 2
    # bands 3 and 1 of a 4-, 5- or 3-band image are the same pixels: the same probabilities
    four = _probabilities(tmp_path, [unet_bundle], scene["image"], "four")
    np.testing.assert_allclose(_probabilities(tmp_path, [unet_bundle], scene["five"], "five"), four, atol=1e-6)
    np.testing.assert_allclose(_probabilities(tmp_path, [unet_bundle], scene["three"], "three"), four, atol=1e-6)
    with pytest.raises(DataError, match=r"reads bands 3,1 of its image.*name band\(s\) \[3\] but the image"):
        segment(SegmentConfig(image=scene["two"], models=[unet_bundle], output=str(tmp_path / "two.tif"),
                              device="cpu"))
    assert not (tmp_path / "two.tif").exists()


def test_x_bands_feed_cmx_from_the_same_image(tmp_path, scene, cmx_bundle):
    meta = read_metadata(cmx_bundle)
    assert meta.data.x_bands == [4] and meta.data.aux_channels == 1 and meta.data.aux_ratio == 1
    assert meta.model.aux_channels == 1 and len(meta.data.aux_stats.low) == 1
    probs = _probabilities(tmp_path, [cmx_bundle], scene["image"], "cmx")
    # the X band reaches the model: another band 4 changes the prediction
    shuffled = scene["data"].copy()
    shuffled[3] = np.random.default_rng(1).permutation(shuffled[3].ravel()).reshape(shuffled[3].shape)
    with rasterio.open(scene["image"]) as src:
        other = _write(tmp_path / "other_x.tif", shuffled, src.profile)
    assert np.abs(_probabilities(tmp_path, [cmx_bundle], other, "other") - probs).max() > 1e-4
    with pytest.raises(DataError, match=r"x_bands \[4\] name band\(s\) \[4\] but the image .*three.tif' has 3"):
        segment(SegmentConfig(image=scene["three"], models=[cmx_bundle], output=str(tmp_path / "x3.tif"),
                              device="cpu"))


def test_cross_family_ensemble_through_the_cli(tmp_path, scene, unet_bundle, cmx_bundle):
    """UNet (bands 3,1) + CMX (bands 1-3 | X 4) on the 5-band image: each member reads its own bands and
    statistics; the ensemble is the weighted mean of the members' probabilities."""
    unet = _probabilities(tmp_path, [unet_bundle], scene["five"], "u")
    cmx = _probabilities(tmp_path, [cmx_bundle], scene["five"], "c")
    out, probs = tmp_path / "ens.tif", tmp_path / "ens_p.tif"
    done = subprocess.run([sys.executable, "-m", "engine", "segment", "--image", scene["five"], "--model",
                           unet_bundle, "--model", cmx_bundle, "--weights", "0.7,0.3", "--threshold", "0.3",
                           "--tile-size", "64", "--device", "cpu", "--out", str(out), "--probabilities", str(probs)],
                          capture_output=True, text=True, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with rasterio.open(probs) as src:
        ensemble = src.read()
    np.testing.assert_allclose(ensemble, 0.7 * unet + 0.3 * cmx, atol=1e-5)
    with rasterio.open(out) as src:
        classes = src.read(1)
    np.testing.assert_array_equal(classes, (ensemble[0] >= 0.3).astype(classes.dtype))


def test_ensemble_members_must_agree_on_classes_and_find_their_bands(tmp_path, scene, unet_bundle, cmx_bundle):
    meta = read_metadata(cmx_bundle)
    meta.data.class_names = ["background", "cloud"]
    other = save_bundle(tmp_path / "other_classes.dsmodel", load_bundle(cmx_bundle).model, meta)
    with pytest.raises(BundleError, match=r"different classes \(\['background', 'foreground'\] vs \['background', "
                                          r"'cloud'\]\)"):
        segment(SegmentConfig(image=scene["image"], models=[unet_bundle, other], output=str(tmp_path / "a.tif"),
                              device="cpu"))
    # the 3-band image has UNet's bands but not CMX's X band: named before any weights load
    with pytest.raises(DataError, match=r"cmx.dsmodel' reads bands 1,2,3 \| X 4"):
        segment(SegmentConfig(image=scene["three"], models=[unet_bundle, cmx_bundle],
                              output=str(tmp_path / "b.tif"), device="cpu"))
    assert not (tmp_path / "a.tif").exists() and not (tmp_path / "b.tif").exists()


def test_band_selections_and_x_bands_on_the_gpu_path_give_the_host_batches(tmp_path, scene, unet_bundle,
                                                                             cmx_bundle):
    """The GPU path (raw tiles in the file's dtype, normalised on the device; here torch on the CPU) with a
    cross-family ensemble on the 5-band uint16 image: each member's bands, and CMX's X band normalised on the
    host as float32, equal the host path's batches."""
    import torch

    from engine.callbacks import QuietCallback
    from engine.segment import TileReader, plan_segmentation
    from engine.segment.reader import vision_on_device

    cfg = SegmentConfig(image=scene["five"], models=[unet_bundle, cmx_bundle], output=str(tmp_path / "u.tif"),
                        device="cpu", tile_size=64, batch_size=2, overlap=0.5)

    def batches(normalise):
        plan = plan_segmentation(cfg, QuietCallback())
        reader = TileReader(plan, 2, 2, 2, normalise=normalise).start()
        try:
            return [({k: torch.as_tensor(v).numpy() for k, v in vision_on_device(b, reader.stats, "cpu").items()}, b)
                    for b in reader if b.tiles]
        finally:
            reader.close()
            plan.reader.close()

    host, device = batches(True), batches(False)
    assert len(host) == len(device) > 0
    assert any(b.aux[k] is not None for _, b in device for k in b.aux)
    for (h_vision, h_batch), (d_vision, d_batch) in zip(host, device):
        assert len(h_vision) == 2  # the two members' selections
        for key in h_vision:
            assert d_batch.vision[key].dtype == np.uint16
            np.testing.assert_array_equal(d_vision[key], h_vision[key])
            if h_batch.aux[key] is not None:  # CMX's X band
                assert d_batch.aux[key].dtype == np.float32
                np.testing.assert_array_equal(d_batch.aux[key], h_batch.aux[key])
