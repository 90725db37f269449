"""Pretrained SegFormer loading through the real code path: save_pretrained -> build_model(pretrained=folder)."""

from __future__ import annotations

import json

import pytest
import torch

from engine.bundle.store import load_bundle, save_bundle
from engine.errors import ModelError
from engine.models import build_model
from engine.models.pretrained import first_patch_conv
from tests.helpers import RecordingCallback, save_quietly, save_segformer_checkpoint, state_copy

transformers = pytest.importorskip("transformers")

def test_four_channel_model_copies_rgb_kernels_and_means_the_fourth(tmp_path):
    saved = save_segformer_checkpoint(tmp_path / "ckpt")
    original = state_copy(saved)
    cb = RecordingCallback()
    model = build_model("dualstream", preset="tiny", vision_channels=4, aux_channels=12,
                        pretrained=str(tmp_path / "ckpt"), callback=cb)
    _, conv = first_patch_conv(model.vision_encoder)
    rgb = original["stages.0.patch_embeddings.proj.weight"]
    assert conv.weight.shape[1] == 4
    assert torch.equal(conv.weight[:, :3], rgb)
    assert torch.allclose(conv.weight[:, 3], rgb.mean(dim=1))
    assert torch.equal(conv.bias, original["stages.0.patch_embeddings.proj.bias"])
    assert model.vision_encoder.config.num_channels == 4
    # Every other encoder weight is the checkpoint's, not a fresh random init.
    loaded = model.vision_encoder.state_dict()
    for key, value in original.items():
        if "stages.0.patch_embeddings.proj.weight" not in key:
            assert torch.equal(loaded[key], value), key
    infos = cb.messages("info")
    assert any(m.startswith("Loaded pretrained vision weights from") and str(tmp_path / "ckpt") in m for m in infos)
    assert not any("randomly initialised" in m for m in infos)
    assert model.pretrained_source == str(tmp_path / "ckpt")
    out = model.eval()(torch.randn(1, 4, 64, 64), torch.randn(1, 12, 8, 8))
    assert out["logits"].shape == (1, 1, 64, 64)


def test_semantic_segmentation_checkpoint_loads_its_encoder(tmp_path):
    saved = save_segformer_checkpoint(tmp_path / "seg", "SegformerForSemanticSegmentation")
    model = build_model("dualstream", preset="tiny", vision_channels=3, aux_channels=0,
                        pretrained=str(tmp_path / "seg"))
    loaded = model.vision_encoder.state_dict()
    for key, value in state_copy(saved).items():
        assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize("channels", [1, 2])
def test_fewer_channels_keep_first_kernels_scaled(tmp_path, channels):
    saved = save_segformer_checkpoint(tmp_path / "ckpt")
    rgb = saved.stages[0].patch_embeddings.proj.weight.detach().clone()
    model = build_model("dualstream", preset="tiny", vision_channels=channels, aux_channels=0,
                        pretrained=str(tmp_path / "ckpt"))
    _, conv = first_patch_conv(model.vision_encoder)
    assert conv.in_channels == channels
    assert torch.allclose(conv.weight, rgb[:, :channels] * 3 / channels)


def test_checkpoint_sizes_override_the_preset_and_the_bundle_rebuilds(tmp_path):
    save_segformer_checkpoint(tmp_path / "ckpt")  # tiny sizes, while the preset asks for b0
    cb = RecordingCallback()
    model = build_model("dualstream", preset="b0", vision_channels=4, aux_channels=6, pretrained=str(tmp_path / "ckpt"),
                        callback=cb)
    assert model.feature_channels == [16, 32, 64, 128]
    assert model.config.vision_encoder["hidden_sizes"] == [16, 32, 64, 128]
    assert any("override preset 'b0'" in m for m in cb.messages("info"))
    # A bundle rebuilds the same architecture from model.config alone (pretrained is dropped on load).
    data = {"vision_bands": 4, "vision_stats": {"method": "percentile", "low": [0.0] * 4, "high": [1.0] * 4},
            "aux_channels": 6, "class_names": ["bg", "fg"],
            "class_colors": ["#000000", "#ffffff"], "tile_size": 64}
    path = save_bundle(tmp_path / "m.dsmodel", model, {"model": model.config.to_dict(), "data": data})
    loaded = load_bundle(path).model
    assert loaded.feature_channels == [16, 32, 64, 128]
    x, a = torch.randn(1, 4, 64, 64), torch.randn(1, 6, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x, a)["logits"],
                              loaded(x, a)["logits"])


def test_legacy_transformers4_key_layout_loads(tmp_path):
    """Checkpoints on the hub (e.g. nvidia/segformer-b1-finetuned-ade-512-512) use the 4.x key names."""
    from safetensors.torch import save_file

    saved = save_segformer_checkpoint(tmp_path / "new")
    legacy = {}
    for key, value in state_copy(saved).items():
        stage, rest = key.split(".", 2)[1], key.split(".", 2)[2]
        if rest.startswith("patch_embeddings."):
            new_key = f"encoder.patch_embeddings.{stage}.{rest[len('patch_embeddings.'):]}"
        elif rest.startswith("blocks."):
            new_key = f"encoder.block.{stage}.{rest[len('blocks.'):]}"
        else:
            new_key = f"encoder.layer_norm.{stage}.{rest[len('layer_norm.'):]}"
        legacy["segformer." + new_key] = value.contiguous()
    folder = tmp_path / "legacy"
    folder.mkdir()
    (folder / "config.json").write_text((tmp_path / "new" / "config.json").read_text())
    save_file(legacy, str(folder / "model.safetensors"), metadata={"format": "pt"})
    model = build_model("dualstream", preset="tiny", vision_channels=3, aux_channels=0, pretrained=str(folder))
    assert torch.equal(model.vision_encoder.state_dict()["stages.3.layer_norm.weight"],
                       saved.state_dict()["stages.3.layer_norm.weight"])


def test_hf_cache_layout_uses_the_snapshot(tmp_path):
    snapshot = tmp_path / "models--me--tiny-segformer" / "snapshots" / "abc123"
    saved = save_segformer_checkpoint(snapshot)
    model = build_model("dualstream", preset="tiny", vision_channels=3, aux_channels=0,
                        pretrained=str(tmp_path / "models--me--tiny-segformer"))
    assert torch.equal(model.vision_encoder.stages[1].layer_norm.weight, saved.stages[1].layer_norm.weight)


def test_folder_that_is_not_a_segformer_checkpoint(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match=r"empty.*no config\.json.*save_pretrained"):
        build_model("dualstream", preset="tiny", pretrained=str(empty))
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match=r"bert.*not a SegFormer"):
        build_model("dualstream", preset="tiny", pretrained=str(bert))
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text(json.dumps({"model_type": "segformer"}))
    with pytest.raises(ModelError, match="no weights"):
        build_model("dualstream", preset="tiny", pretrained=str(no_weights))


def test_missing_folder_and_offline_hub_id(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="does not exist"):
        build_model("dualstream", preset="tiny", pretrained=str(tmp_path / "nowhere"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="not in the Hugging Face cache.*HF_HUB_OFFLINE.*local save_pretrained folder"):
        build_model("dualstream", preset="tiny", pretrained="nobody-here/no-such-segformer")


HUB_PROBE = """
import json, sys
from tests.helpers import RecordingCallback
from engine.errors import ModelError
from engine.models import build_model
results = []
for family, preset, encoder, source in json.loads(sys.argv[1]):
    options = {"encoder": encoder} if encoder else {}
    cb = RecordingCallback()
    try:
        model = build_model(family, preset=preset, vision_channels=4, num_classes=1, pretrained=source, callback=cb,
                            **options)
    except ModelError as exc:
        results.append({"error": str(exc)})
    else:
        results.append({"source": model.pretrained_source, "messages": [m for k, m in cb.events if k == "info"]})
print(json.dumps(results))
"""


def _probe(hub, home, *specs: tuple[str, str, str, str], offline: bool = False) -> list[dict]:
    """Build each (family, preset, encoder, pretrained) in one fresh Python, as a user's run would."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, HF_HOME=str(home), PYTHONPATH=str(Path(__file__).resolve().parents[2]),
               OMP_NUM_THREADS="1")
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("DUALSTREAM_OFFLINE", None)
    if hub is not None:
        env["HF_ENDPOINT"] = hub.url
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run([sys.executable, "-c", HUB_PROBE, json.dumps(specs)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


MIT_B0 = ("dualstream", "b0", "", "imagenet")
RESNET18 = ("unet", "light", "resnet18", "imagenet")


def test_pretrained_by_name_is_fetched_once_from_the_hub_and_reused_offline(tmp_path):
    """The real huggingface_hub download code against a hub endpoint on 127.0.0.1 (HF_ENDPOINT): ``imagenet``
    names the encoder's checkpoint (here a tiny stand-in saved under that id), a hub id names any checkpoint."""
    from tests.engine.local_hub import LocalHub

    save_segformer_checkpoint(tmp_path / "mit")
    torch.manual_seed(4)
    resnet = transformers.ResNetModel(transformers.ResNetConfig(
        embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic"))
    save_quietly(resnet, tmp_path / "resnet")
    home = tmp_path / "hf_home"
    repos = {"nvidia/mit-b0": tmp_path / "mit", "microsoft/resnet-18": tmp_path / "resnet",
             "someone/tiny-resnet": tmp_path / "resnet"}
    with LocalHub(repos) as hub:
        mit, res, by_id, missing = _probe(hub, home, MIT_B0, RESNET18,
                                          ("deeplabv3plus", "light", "resnet18", "someone/tiny-resnet"),
                                          ("unet", "light", "resnet18", "someone/no-such-model"))
        downloads = [r for r in hub.requests if r.startswith("GET ") and "/resolve/" in r]
    assert any("Downloading pretrained checkpoint 'nvidia/mit-b0'" in m for m in mit["messages"]), mit
    assert "nvidia/mit-b0" in mit["source"] and "adapted from 3 to 4 input channels" in " ".join(mit["messages"])
    assert "microsoft/resnet-18" in res["source"] and "someone/tiny-resnet" in by_id["source"]
    assert {r.rsplit("/", 1)[1] for r in downloads} == {"config.json", "model.safetensors"}
    assert "There is no repository 'someone/no-such-model'" in missing["error"]

    # offline, with the endpoint gone: the cache serves both, and nothing is downloaded again
    *cached, uncached = _probe(None, home, MIT_B0, RESNET18, ("unet", "light", "resnet50", "imagenet"), offline=True)
    for again in cached:
        assert "error" not in again, again
        assert not any("Downloading" in m for m in again["messages"]), again["messages"]
    assert "microsoft/resnet-50" in uncached["error"] and "HF_HUB_OFFLINE" in uncached["error"]


def test_imagenet_needs_an_encoder_that_has_a_checkpoint():
    with pytest.raises(ModelError, match="Encoder 'tiny' has no pretrained weights of its own .* so 'imagenet' names "
                                         "nothing"):
        build_model("dualstream", preset="tiny", pretrained="imagenet")
