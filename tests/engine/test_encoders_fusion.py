"""Named encoders (any band count, local pretrained loading), CMX's FRM/FFM, and baselines on aux data."""

from __future__ import annotations

import pytest
import torch
import transformers

from engine.bundle.store import read_metadata
from engine.config import DataConfig, TrainConfig
from engine.errors import ConfigError, ModelError
from engine.models import build_model, list_encoders
from engine.models.cmx.configuration_cmx import CMXConfig
from engine.models.encoders.backbone import Encoder
from engine.models.fusion import FeatureFusion, FeatureRectify
from engine.training.trainer import train
from tests.helpers import RecordingCallback, aux_tile_datasets, save_quietly, save_segformer_checkpoint, state_copy


@pytest.mark.parametrize("encoder", ["tiny_convnext", "tiny_swin", "tiny_mit"])
def test_baseline_on_each_encoder_kind(encoder):
    model = build_model("deeplabv3plus", preset="tiny", encoder=encoder, vision_channels=13, num_classes=3).eval()
    assert model.config.encoder_name == encoder and model.encoder.channels == [16, 32, 64, 128]
    with torch.no_grad():
        assert model(torch.randn(1, 13, 64, 64))["logits"].shape == (1, 3, 64, 64)


def test_unknown_encoder_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid encoders are.*resnet50"):
        build_model("unet", preset="tiny", encoder="resnet1000")
    with pytest.raises(KeyError, match="valid encoders are"):
        Encoder("resnet1000", 3)
    assert {"resnet18", "resnet50", "convnext_tiny", "swin_tiny", "mit_b0", "mit_b1", "mit_b2"} <= set(list_encoders())


def test_pretrained_backbone_loads_from_a_local_folder_and_adapts_bands(tmp_path):
    torch.manual_seed(0)
    config = transformers.ResNetConfig(num_channels=3, embedding_size=16, hidden_sizes=[16, 32, 64, 128],
                                       depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage4"])
    source = transformers.ResNetBackbone(config)
    save_quietly(source, tmp_path / "ckpt")
    cb = RecordingCallback()
    model = build_model("unet", preset="tiny", vision_channels=5, pretrained=str(tmp_path / "ckpt"), callback=cb)
    first = model.encoder.backbone.embedder.embedder.convolution
    original = source.embedder.embedder.convolution.weight
    assert first.in_channels == 5 and torch.equal(first.weight[:, :3], original)
    assert torch.allclose(first.weight[:, 3], original.mean(dim=1)) and torch.allclose(first.weight[:, 4],
                                                                                       original.mean(dim=1))
    deep = dict(source.named_parameters())["encoder.stages.3.layers.0.shortcut.convolution.weight"]
    assert torch.equal(dict(model.encoder.backbone.named_parameters())[
        "encoder.stages.3.layers.0.shortcut.convolution.weight"], deep)
    assert model.pretrained_source == str(tmp_path / "ckpt")
    assert any("Loaded pretrained vision encoder weights" in m for m in cb.messages("info"))
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 5, 64, 64))["logits"].shape == (1, 1, 64, 64)
    with pytest.raises(ModelError, match="'resnet' model but encoder 'tiny_convnext'"):
        build_model("unet", preset="tiny", encoder="tiny_convnext", pretrained=str(tmp_path / "ckpt"))
    with pytest.raises(ModelError, match="does not exist"):
        build_model("unet", preset="tiny", pretrained=str(tmp_path / "nowhere"))


def test_frm_with_zero_lambda_is_identity_and_ffm_keeps_shape():
    torch.manual_seed(0)
    vis, x = torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8)
    out_vis, out_x = FeatureRectify(16, lambda_c=0.0, lambda_s=0.0)(vis, x)
    assert torch.equal(out_vis, vis) and torch.equal(out_x, x)
    out_vis, out_x = FeatureRectify(16)(vis, x)
    assert not torch.allclose(out_vis, vis) and not torch.allclose(out_x, x)
    # Each stream is corrected by the other: changing x changes the rectified vision stream.
    assert not torch.allclose(FeatureRectify(16)(vis, x)[0], FeatureRectify(16)(vis, x + 1)[0])
    assert FeatureFusion(16, num_heads=2)(vis, x).shape == (2, 16, 8, 8)


def test_cmx_presets_follow_the_reference_table_and_take_coarse_aux():
    assert CMXConfig.PRESETS["b0"].hidden_sizes == (32, 64, 160, 256)
    assert CMXConfig.PRESETS["b1"].depths == (2, 2, 2, 2) and CMXConfig.PRESETS["b2"].depths == (3, 4, 6, 3)
    assert CMXConfig.PRESETS["b1"].hidden_sizes == CMXConfig.PRESETS["b2"].hidden_sizes == (64, 128, 320, 512)
    assert all(CMXConfig.PRESETS[p].decoder_dim == 512 for p in ("b0", "b1", "b2"))
    model = build_model("cmx", preset="tiny", vision_channels=3, aux_channels=2, aux_ratio=8).eval()
    assert len(model.rectify) == len(model.fuse) == 4 and model.rectify[0].lambda_c == 0.5
    assert model.size_multiple == 32
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64), torch.randn(1, 2, 8, 8))["logits"].shape == (1, 1, 64, 64)


def test_vision_only_baseline_trained_on_aux_data_makes_a_bundle_without_aux(tmp_path):
    cb = RecordingCallback()
    out = tmp_path / "unet.dsmodel"
    model_cfg = build_model("unet", preset="tiny").config
    data_cfg = DataConfig(tile_size=64, class_names=["background", "field"], class_colors=["#000000", "#00ff00"])
    result = train(model_cfg, data_cfg, TrainConfig(output=str(out), epochs=1, warmup_epochs=0, batch_size=4,
                                                    device="cpu", preview_tiles=0), cb,
                   datasets=aux_tile_datasets(8, 4))
    meta = read_metadata(result.bundle)
    assert meta.model.name == "unet" and meta.model.aux_channels == 0
    assert meta.data.aux_channels == 0
    assert any("uses the imagery only" in m for m in cb.messages("warning"))


def test_cmx_loads_one_pretrained_mit_into_both_streams(tmp_path):
    original = state_copy(save_segformer_checkpoint(tmp_path / "ckpt"))
    cb = RecordingCallback()
    model = build_model("cmx", preset="tiny", vision_channels=3, aux_channels=1, pretrained=str(tmp_path / "ckpt"),
                        callback=cb)
    vision, x = model.vision_encoder.state_dict(), model.x_encoder.state_dict()
    first = "stages.0.patch_embeddings.proj.weight"
    assert torch.equal(vision[first], original[first])
    # One NIR band: the first RGB kernel, scaled by 3/1 so a grey input keeps its response.
    assert x[first].shape[1] == 1 and torch.allclose(x[first][:, 0], 3 * original[first][:, 0])
    deeper = [k for k in original if k != first]
    assert all(torch.equal(vision[k], original[k]) and torch.equal(x[k], original[k]) for k in deeper)
    infos = cb.messages("info")
    assert any("pretrained vision weights" in m for m in infos) and any("pretrained X-stream weights" in m
                                                                           for m in infos)
    assert not any("randomly initialised" in m for m in infos)
