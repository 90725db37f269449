"""Bundles written before model families (format v1, flat ModelConfig, ``aux_head_*`` names) load and segment
exactly as that engine did. The fixture in tests/data/legacy_v1 was written by the old engine (see its README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import torch

from engine.bundle.store import load_bundle, read_metadata
from engine.config import SegmentConfig
from engine.models.dualstream.configuration_dualstream import DualStreamConfig
from engine.segment import segment

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_v1"


def test_v1_bundle_loads_as_dualstream_with_identical_outputs():
    meta = read_metadata(LEGACY / "dualstream_tiny.dsmodel")
    # v1: the flat DualStream settings as the model section; the data section without the later keys
    assert meta.format_version == 1 and isinstance(meta.model, DualStreamConfig)
    assert meta.data.aux_ratio == 8 and meta.data.label_mapping is None and meta.data.bands is None
    bundle = load_bundle(LEGACY / "dualstream_tiny.dsmodel")
    assert isinstance(bundle.model.config, DualStreamConfig) and bundle.model.config.preset == "tiny"
    expected = np.load(LEGACY / "expected_logits.npz")
    vision, aux = torch.from_numpy(expected["vision"]), torch.from_numpy(expected["aux"])
    with torch.no_grad():
        logits = bundle.model(vision, aux)["logits"]
        train_out = bundle.model.train()(vision, aux)
    np.testing.assert_allclose(logits.numpy(), expected["logits"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(train_out["logits"].numpy(), expected["train_logits"], rtol=0, atol=1e-5)
    # The old deep-supervision heads ("aux_head_f2/f3") are the side heads now: same weights, same outputs.
    side_f2, side_f3 = train_out["side_logits"]
    np.testing.assert_allclose(side_f2.numpy(), expected["side_f2"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(side_f3.numpy(), expected["side_f3"], rtol=0, atol=1e-5)


def test_v1_bundle_segments_the_scene_identically(tmp_path):
    out = tmp_path / "classes.tif"
    segment(SegmentConfig(image=str(LEGACY / "scene_image.tif"), aux=[str(LEGACY / "scene_aux.tif")],
                          models=[str(LEGACY / "dualstream_tiny.dsmodel")], output=str(out),
                          probabilities=str(tmp_path / "probs.tif"), device="cpu", batch_size=2))
    expected = np.load(LEGACY / "expected_segment.npz")
    with rasterio.open(tmp_path / "probs.tif") as src:
        probabilities = src.read()
    with rasterio.open(out) as src:
        classes = src.read(1)
    np.testing.assert_allclose(probabilities, expected["probabilities"], rtol=0, atol=1e-5)
    assert np.array_equal(classes, expected["classes"])
