"""Band selection (``bands`` / ``x_bands``): applied when reading training tiles, stored in the bundle, applied
again at segmentation; bad selections are clear errors before any heavy work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.bundle import read_metadata
from engine.config import DataConfig, SceneSpec, SegmentConfig, TrainConfig
from engine.data import synthetic
from engine.data.bands import BandSelection, parse_bands
from engine.data.scene import SceneReader
from engine.errors import ConfigError, DataError
from engine.models import model_config
from engine.segment import segment
from engine.train import train


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


def _train(tmp_path: Path, scene: dict, family: str, **data) -> str:
    data_cfg = DataConfig(train_scenes=[SceneSpec(image=scene["image"], label=scene["label"])], tile_size=64,
                          tiles_per_epoch=8, val_fraction=0.0, label_mapping={"90": 1}, statistics_tiles=4,
                          **data)
    cfg = TrainConfig(output=str(tmp_path / f"{family}.dsmodel"), epochs=1, warmup_epochs=0, batch_size=4,
                      device="cpu", preview_tiles=0, early_stop_patience=None)
    return train(model_config(family, preset="tiny"), data_cfg, cfg).bundle


def _probabilities(tmp_path: Path, model: str, image: str, name: str) -> np.ndarray:
    out = tmp_path / f"{name}.tif"
    segment(SegmentConfig(image=image, models=[model], output=str(out), probabilities=str(tmp_path / f"{name}_p.tif"),
                          device="cpu", tile_size=64))
    with rasterio.open(tmp_path / f"{name}_p.tif") as src:
        return src.read()


def test_bands_stored_in_the_bundle_and_applied_at_segmentation(tmp_path, scene):
    bundle = _train(tmp_path, scene, "unet", bands=[3, 1])
    meta = read_metadata(bundle)
    assert (meta["data"]["bands"], meta["data"]["vision_bands"], meta["data"]["image_bands"]) == ([3, 1], 2, 4)
    assert meta["model"]["vision_channels"] == 2
    # bands 3 and 1 of a 4-, 5- or 3-band image are the same pixels: the same probabilities
    four = _probabilities(tmp_path, bundle, scene["image"], "four")
    np.testing.assert_allclose(_probabilities(tmp_path, bundle, scene["five"], "five"), four, atol=1e-6)
    np.testing.assert_allclose(_probabilities(tmp_path, bundle, scene["three"], "three"), four, atol=1e-6)
    with pytest.raises(DataError, match=r"reads bands 3,1 of its image.*name band\(s\) \[3\] but the image"):
        segment(SegmentConfig(image=scene["two"], models=[bundle], output=str(tmp_path / "two.tif"),
                              device="cpu"))
    assert not (tmp_path / "two.tif").exists()


def test_x_bands_feed_cmx_from_the_same_image(tmp_path, scene):
    bundle = _train(tmp_path, scene, "cmx", bands=[1, 2, 3], x_bands=[4])
    meta = read_metadata(bundle)
    assert meta["data"]["x_bands"] == [4] and meta["data"]["aux_channels"] == 1 and meta["data"]["aux_ratio"] == 1
    assert meta["model"]["aux_channels"] == 1 and len(meta["data"]["aux_stats"]["low"]) == 1
    probs = _probabilities(tmp_path, bundle, scene["image"], "cmx")
    # the X band reaches the model: another band 4 changes the prediction
    shuffled = scene["data"].copy()
    shuffled[3] = np.random.default_rng(1).permutation(shuffled[3].ravel()).reshape(shuffled[3].shape)
    with rasterio.open(scene["image"]) as src:
        other = _write(tmp_path / "other_x.tif", shuffled, src.profile)
    assert np.abs(_probabilities(tmp_path, bundle, other, "other") - probs).max() > 1e-4
    with pytest.raises(DataError, match=r"x_bands \[4\] name band\(s\) \[4\] but the image .*three.tif' has 3"):
        segment(SegmentConfig(image=scene["three"], models=[bundle], output=str(tmp_path / "x3.tif"),
                              device="cpu"))
