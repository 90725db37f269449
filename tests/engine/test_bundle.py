"""The model bundle: round trip, and clear BundleErrors for altered, truncated or foreign files."""

from __future__ import annotations

import json
import os
import stat
import struct

import pytest
import torch

from engine.bundle.store import load_bundle, read_metadata, save_bundle
from engine.data.metadata import DataMetadata
from engine.errors import BundleError
from engine.models import AutoModelConfig, build_model_from_config

DATA = {"vision_bands": 4, "vision_stats": {"method": "percentile", "low": [1.0] * 4, "high": [9.0] * 4},
        "aux_channels": 8, "aux_stats": {"method": "percentile", "low": [0.0] * 8, "high": [1.0] * 8},
        "aux_ratio": 8, "class_names": ["background", "building"], "class_colors": ["#000000", "#ff0000"],
        "tile_size": 64, "gsd": [1.0, 1.0], "num_classes": 1}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = AutoModelConfig.for_family(preset="tiny", vision_channels=4, aux_channels=8, num_classes=1, aux_ratio=8)
    return build_model_from_config(cfg).eval()


@pytest.fixture
def bundle(tmp_path, model):
    path = tmp_path / "model.dsmodel"
    save_bundle(path, model, {"model": model.config.to_dict(), "data": DATA, "metrics": {"val_iou": 0.9}})
    return path


def _data_start(path) -> int:
    """Offset of the first tensor byte: 8-byte header length + header."""
    with open(path, "rb") as handle:
        return 8 + struct.unpack("<Q", handle.read(8))[0]


def test_round_trip_same_outputs_and_metadata(bundle, model):
    meta = read_metadata(bundle)
    assert meta.data == DataMetadata.from_dict(DATA) and meta.metrics == {"val_iou": 0.9}
    assert {k: v for k, v in meta.data.to_dict().items() if k in DATA} == DATA
    assert meta.model.preset == "tiny" and meta.format == "dualstream-bundle"
    assert {"engine", "torch", "transformers"} <= set(meta.versions) and meta.created
    loaded = load_bundle(bundle)
    assert not loaded.model.training and loaded.metadata.data.class_names == ["background", "building"]
    x, air = torch.rand(1, 4, 64, 64), torch.rand(1, 8, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.model(x, air)["logits"],
                           model(x, air)["logits"])
    # written atomically (no temp file left) and readable by others, like any file the user makes
    assert [p.name for p in bundle.parent.iterdir()] == ["model.dsmodel"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o666 & ~umask


def test_altered_weights_are_rejected(bundle):
    data = bytearray(bundle.read_bytes())
    data[_data_start(bundle) + 100] ^= 0xFF
    bundle.write_bytes(bytes(data))
    read_metadata(bundle)  # the header is intact ...
    with pytest.raises(BundleError, match="do not match their checksum"):
        load_bundle(bundle)  # ... but the weights are not


def test_truncated_bundle_is_rejected(bundle):
    data = bundle.read_bytes()
    bundle.write_bytes(data[: len(data) - 1000])
    with pytest.raises(BundleError, match="truncated"):
        load_bundle(bundle)
    bundle.write_bytes(data[:50])  # cut inside the header
    with pytest.raises(BundleError, match="not a readable DualStream model bundle"):
        read_metadata(bundle)


def test_non_bundles_are_rejected(tmp_path):
    text = tmp_path / "notes.dsmodel"
    text.write_text("hello, I am not a model")
    with pytest.raises(BundleError, match="notes.dsmodel"):
        read_metadata(text)
    import safetensors.torch

    plain = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(BundleError, match="not a DualStream bundle"):
        read_metadata(plain)
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "missing.dsmodel")


def test_incomplete_or_future_metadata_is_rejected(tmp_path, model, bundle):
    with pytest.raises(BundleError, match="data.tile_size"):
        save_bundle(tmp_path / "x.dsmodel", model, {"model": model.config.to_dict(),
                                                     "data": {k: v for k, v in DATA.items() if k != "tile_size"}})
    assert not (tmp_path / "x.dsmodel").exists()
    import safetensors.torch

    meta = read_metadata(bundle).to_dict()
    meta["format_version"] = 99
    state = safetensors.torch.load_file(str(bundle))
    future = tmp_path / "future.dsmodel"
    safetensors.torch.save_file(state, str(future), metadata={"dualstream": json.dumps(meta)})
    with pytest.raises(BundleError, match="update DualStream"):
        load_bundle(future)
