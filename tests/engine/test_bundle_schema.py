"""The bundle metadata schema: today's bundles read and write back unchanged, older ones are completed, and
reading needs no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bundle.schema import BUNDLE_VERSION, METADATA_KEY, BundleMetadata, OnnxMetadata
from engine.data.metadata import DataMetadata
from engine.errors import BundleError
from engine.models.dualstream.configuration_dualstream import DualStreamConfig

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_v1" / "dualstream_tiny.dsmodel"
REPO = Path(__file__).resolve().parents[2]


def _raw(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return json.loads(handle.metadata()[METADATA_KEY])


@pytest.fixture(scope="module")
def trained_bundle(tmp_path_factory, reference_dataset) -> Path:
    """A bundle written by a real (one-epoch) training: every key the trainer writes today."""
    from engine.config import DataConfig, TrainConfig
    from engine.models import AutoModelConfig
    from engine.training.trainer import train

    out = tmp_path_factory.mktemp("schema") / "m.dsmodel"
    train(AutoModelConfig.for_family(name="unet", preset="tiny"), DataConfig(data_dir=reference_dataset, tile_size=64,
                                                              tiles_per_epoch=4, statistics_tiles=4),
          TrainConfig(output=str(out), epochs=1, warmup_epochs=0, batch_size=2, device="cpu", preview_tiles=0))
    return out


def test_a_bundle_written_today_reads_and_writes_back_unchanged(trained_bundle):
    raw = _raw(trained_bundle)
    meta = BundleMetadata.from_dict(raw)
    assert meta.to_dict() == raw
    assert meta.model.name == "unet" and meta.data.tile_size == 64 and meta.train_config().epochs == 1
    assert meta.data.vision_stats.bands == meta.data.vision_bands and meta.best_epoch == 1
    assert meta.extra == {} and meta.data.extra == {}  # the schema knows every key the trainer writes


def test_v1_metadata_is_completed_from_its_model_section():
    raw = _raw(LEGACY)
    assert raw["format_version"] == 1 and "label_mapping" not in raw["data"]
    del raw["data"]["aux_ratio"], raw["data"]["num_classes"]  # kept in the model section only by early bundles
    meta = BundleMetadata.from_dict(raw)
    assert isinstance(meta.model, DualStreamConfig) and meta.model.preset == "tiny"
    assert meta.data.aux_ratio == meta.model.aux_ratio == 8 and meta.data.num_classes == 1
    assert meta.data.label_mapping is None and meta.train is None and meta.train_config() is None


def test_a_unet_bundle_from_before_the_decoder_activation_builds_its_relu_decoder(trained_bundle):
    """Today's UNet decoder takes GELU (ReLU after GroupNorm(1) left most channels dead); a bundle written before
    the setting existed was trained with ReLU and must be rebuilt with it, or its weights would map wrongly."""
    from torch import nn

    from engine.models import build_model_from_config

    raw = _raw(trained_bundle)
    assert raw["model"]["decoder_activation"] == "gelu"  # written down, so it never depends on a later default
    today = BundleMetadata.from_dict(raw).model
    del raw["model"]["decoder_activation"]
    before = BundleMetadata.from_dict(raw).model
    assert today.decoder_activation == "gelu" and before.decoder_activation == "relu"

    def activations(config) -> set[type]:
        decoder = build_model_from_config(config.replace(pretrained=None)).decoder
        return {type(m) for m in decoder.modules() if isinstance(m, (nn.ReLU, nn.GELU))}

    assert activations(today) == {nn.GELU} and activations(before) == {nn.ReLU}


def _decoder_activations(config) -> set[type]:
    from torch import nn

    from engine.models import build_model_from_config

    decoder = build_model_from_config(config.replace(pretrained=None)).decoder
    return {type(m) for m in decoder.modules() if isinstance(m, (nn.ReLU, nn.GELU))}


@pytest.mark.parametrize("family", ["fpn", "pspnet", "deeplabv3plus"])
def test_the_other_single_stream_decoders_take_gelu_and_their_old_bundles_relu(family):
    """FPN, PSPNet and DeepLabV3+ had ReLU after GroupNorm(1) too, and it silenced channels as UNet's did (100 steps
    on the Massachusetts scene: 38 of FPN's 448, 3 at initialisation; DeepLabV3+'s ASPP projection 67 of 128, 16 at
    initialisation: docs/training.md); a bundle written before the setting was trained with ReLU."""
    from torch import nn

    from engine.models import AutoModelConfig

    today = AutoModelConfig.for_family(name=family, preset="tiny")
    stored = {k: v for k, v in today.to_dict().items() if k != "decoder_activation"}
    before = AutoModelConfig.from_dict(stored, stored=True)
    assert today.decoder_activation == "gelu" and before.decoder_activation == "relu"
    assert _decoder_activations(today) == {nn.GELU} and _decoder_activations(before) == {nn.ReLU}


@pytest.mark.parametrize("family", ["change", "season"])
@pytest.mark.parametrize("decoder", ["unet", "fpn", "deeplabv3plus", "pspnet", "mlp"])
def test_the_change_and_season_decoders_keep_relu_and_take_gelu_when_set(family, decoder):
    """Their figures were measured with ReLU, which stays their default; the setting reaches every decoder they
    build (it was ignored before: the shared decoders always took ReLU)."""
    from torch import nn

    from engine.models import AutoModelConfig

    default = AutoModelConfig.for_family(name=family, preset="tiny", decoder=decoder)
    assert default.decoder_activation == "relu" and _decoder_activations(default) == {nn.ReLU}
    assert _decoder_activations(default.replace(decoder_activation="gelu")) == {nn.GELU}


def test_unknown_keys_are_kept_and_future_versions_refused():
    raw = _raw(LEGACY)
    raw["data"]["new_data_key"] = [1, 2]
    raw["note"] = "from a newer engine"
    raw["onnx"] = {"inputs": ["vision"], "tile_size": 64, "batch": None, "opset": 17, "providers": ["cpu"]}
    meta = BundleMetadata.from_dict(raw)
    assert meta.data.extra == {"new_data_key": [1, 2]} and meta.extra == {"note": "from a newer engine"}
    assert meta.onnx == OnnxMetadata(inputs=["vision"], tile_size=64, opset=17, extra={"providers": ["cpu"]})
    again = meta.to_dict()
    assert again["note"] == raw["note"] and again["data"]["new_data_key"] == [1, 2]
    assert again["onnx"]["providers"] == ["cpu"]
    with pytest.raises(BundleError, match="update DualStream"):
        BundleMetadata.from_dict({**raw, "format_version": BUNDLE_VERSION + 1}, "future.dsmodel")
    with pytest.raises(BundleError, match=r"future.dsmodel' lacks metadata \['data.tile_size'\]"):
        BundleMetadata.from_dict({**raw, "data": {k: v for k, v in raw["data"].items() if k != "tile_size"}},
                                 "future.dsmodel")
    with pytest.raises(BundleError, match="cannot build"):
        BundleMetadata.from_dict({**raw, "model": {"name": "no-such-family"}}, "future.dsmodel")


def test_data_section_round_trip():
    data = DataMetadata.from_dict(_raw(LEGACY)["data"])
    assert DataMetadata.from_dict(data.to_dict()) == data


def test_reading_metadata_and_the_data_summary_import_no_torch():
    code = ("import sys; import engine.data.metadata; from engine.bundle.store import read_metadata; "
            f"m = read_metadata({str(LEGACY)!r}); print(m.model.name, m.data.tile_size, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["dualstream", "64", "False"]
