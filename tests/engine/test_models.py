"""The DualStream model: registry, shapes, gradients, input checks, and that the aux stream carries information."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ConfigError, ModelError
from engine.models import ModelConfig, build_model, list_models
from engine.models.dualstream.configuration_dualstream import DualStreamConfig
from tests.helpers import RecordingCallback


def _inputs(batch: int, vision: int, aux: int, size: int = 64, ratio: int = 8):
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn(batch, vision, size, size, generator=gen)
    air = torch.randn(batch, aux, size // ratio, size // ratio, generator=gen) if aux else None
    return pixels, air


# ---------------------------------------------------------------------------------------------- registry
def test_registry_lists_and_builds_dualstream():
    assert "dualstream" in list_models()
    model = build_model("dualstream", preset="tiny", vision_channels=3, aux_channels=5, num_classes=2)
    assert isinstance(model.config, ModelConfig)
    assert (model.config.name, model.config.vision_channels, model.config.aux_channels) == ("dualstream", 3, 5)


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(KeyError, match="dualstream"):
        build_model("unet3000", preset="tiny")


def test_unknown_preset_and_setting_are_config_errors():
    with pytest.raises(ConfigError, match="b1"):
        build_model("dualstream", preset="b7")
    with pytest.raises(ConfigError, match="vision_channels"):
        build_model("dualstream", preset="tiny", vision_chanels=4)


# ---------------------------------------------------------------------------------------------- forward/backward
def _check_gradients(model: torch.nn.Module, num_classes: int, aux: int, vision: int = 4) -> None:
    model.train()
    pixels, air = _inputs(2, vision, aux)
    out = model(pixels, air)
    assert out["logits"].shape == (2, num_classes, 64, 64)
    f2, f3 = out["side_logits"]
    assert f2.shape == (2, num_classes, 8, 8) and f3.shape == (2, num_classes, 4, 4)
    # A random projection of every output, so that every logit matters to the loss.
    gen = torch.Generator().manual_seed(1)
    loss = sum((t * torch.randn(t.shape, generator=gen)).sum() for t in [out["logits"], f2, f3])
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not missing, f"parameters without gradient: {missing[:10]}"


PRESET_CASES = [(p, c, a) for p in ("tiny", "b0") for c in (1, 3) for a in (48, 12, 0)] + [
    ("b1", 1, 48), ("b1", 3, 12), ("b1", 1, 0), ("b2", 3, 48), ("b2", 1, 0)
]


@pytest.mark.parametrize("preset,num_classes,aux", PRESET_CASES)
def test_forward_backward_every_parameter_gets_gradient(preset, num_classes, aux):
    torch.manual_seed(0)
    model = build_model("dualstream", preset=preset, vision_channels=4, aux_channels=aux, num_classes=num_classes,
                        drop_path=0.0, dropout=0.0)
    _check_gradients(model, num_classes, aux)


def test_vision_only_model_has_no_aux_stream_or_fusion():
    model = build_model("dualstream", preset="tiny", aux_channels=0)
    names = [n for n, _ in model.named_parameters()]
    assert model.aux_encoder is None and model.fusion is None
    assert not any(n.startswith(("aux_encoder", "fusion")) for n in names)
    assert model.param_groups()["aux_encoder"] == [] and model.param_groups()["fusion"] == []
    fused = build_model("dualstream", preset="tiny", aux_channels=12)
    assert sum(p.numel() for p in fused.parameters()) > sum(p.numel() for p in model.parameters())


def test_eval_mode_returns_no_side_logits():
    model = build_model("dualstream", preset="tiny", aux_channels=12, num_classes=3).eval()
    pixels, air = _inputs(1, 4, 12)
    with torch.no_grad():
        out = model(pixels, air)
    assert out["side_logits"] == [] and out["logits"].shape == (1, 3, 64, 64)


def test_parameter_groups_are_disjoint_and_cover_the_model():
    model = build_model("dualstream", preset="tiny", aux_channels=12)
    groups = model.param_groups()
    assert set(groups) == {"vision_encoder", "aux_encoder", "fusion", "decoder"}
    ids = [id(p) for group in groups.values() for p in group]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert {id(p) for p in groups["vision_encoder"]} == {id(p) for p in model.vision_encoder.parameters()}
    assert {id(p) for p in groups["aux_encoder"]} == {id(p) for p in model.aux_encoder.parameters()}
    assert {id(p) for p in groups["fusion"]} == {id(p) for p in model.fusion.parameters()}
    assert all(len(g) > 0 for g in groups.values())


def test_frozen_encoders_receive_no_gradient_and_unfreeze_restores():
    torch.manual_seed(0)
    model = build_model("dualstream", preset="tiny", aux_channels=12, drop_path=0.0, dropout=0.0)
    model.freeze_encoders(True)
    groups = model.param_groups()
    pixels, air = _inputs(2, 4, 12)
    out = model.train()(pixels, air)
    (out["logits"].sum() + sum(a.sum() for a in out["side_logits"])).backward()
    assert all(p.grad is None for p in groups["vision_encoder"] + groups["aux_encoder"])
    assert all(p.grad is not None and p.grad.any() for p in groups["fusion"] + groups["decoder"])
    model.freeze_encoders(False)
    assert all(p.requires_grad for p in model.parameters())
    model.zero_grad(set_to_none=True)
    _check_gradients(model, 1, 12)


def test_aux_ratio_other_than_8():
    model = build_model("dualstream", preset="tiny", aux_channels=6, aux_ratio=4).eval()
    pixels, air = _inputs(1, 4, 6, ratio=4)
    assert air.shape[-1] == 16
    with torch.no_grad():
        assert model(pixels, air)["logits"].shape == (1, 1, 64, 64)


# ---------------------------------------------------------------------------------------------- B1 shapes
def test_b1_stage_shapes_and_full_resolution_output_at_512():
    model = build_model("dualstream", preset="b1", vision_channels=4, aux_channels=48, num_classes=1).eval()
    assert model.feature_channels == [64, 128, 320, 512]
    preset = DualStreamConfig.PRESETS["b1"]
    assert (preset.depths, preset.num_attention_heads, preset.sr_ratios) == ((2, 2, 2, 2), (1, 2, 5, 8), (8, 4, 2, 1))
    pixels, air = _inputs(1, 4, 48, size=512)
    assert air.shape == (1, 48, 64, 64)
    with torch.no_grad():  # its CPU latency is bench/model_cost.py's (make bench), not a test's
        vis = model.vision_encoder(pixel_values=pixels, output_hidden_states=True).hidden_states
        aux = model.aux_encoder(air, size=(64, 64))
        out = model(pixels, air)
    expected = [(1, 64, 128, 128), (1, 128, 64, 64), (1, 320, 32, 32), (1, 512, 16, 16)]  # strides 4/8/16/32
    assert [tuple(v.shape) for v in vis] == expected
    assert [tuple(a.shape) for a in aux] == expected
    assert out["logits"].shape == (1, 1, 512, 512)
    assert torch.isfinite(out["logits"]).all()


def test_b1_fusion_and_decoder_sizes_follow_the_reference():
    model = build_model("dualstream", preset="b1")
    film1, film2, ca3, ca4 = model.fusion
    assert film1.film.generator[0].out_channels == 64 and film2.film.generator[-1].out_channels == 256
    assert ca3.attn.num_heads == 8 and ca3.attn.embed_dim == 320 and ca4.attn.embed_dim == 512
    dec = model.decoder
    assert dec.aspp.project[0].in_channels == 1280 and dec.aspp.project[0].out_channels == 256
    assert dec.side_head_f3.in_channels == 256 and dec.side_head_f2.in_channels == 256
    assert dec.stage1.refine[0][0].out_channels == 128
    assert dec.classifier.in_channels == 32 and dec.classifier.out_channels == 1


# ---------------------------------------------------------------------------------------------- input checks
@pytest.fixture(scope="module")
def tiny_fused():
    return build_model("dualstream", preset="tiny", vision_channels=4, aux_channels=12).eval()


def test_wrong_vision_band_count(tiny_fused):
    with pytest.raises(ModelError, match="3 band.*4 vision band"):
        tiny_fused(torch.zeros(1, 3, 64, 64), torch.zeros(1, 12, 8, 8))


def test_size_not_multiple_of_32_lists_valid_sizes(tiny_fused):
    with pytest.raises(ModelError, match=r"100 is not a multiple of 32; use 96 or 128"):
        tiny_fused(torch.zeros(1, 4, 64, 100), torch.zeros(1, 12, 8, 12))


def test_aux_of_wrong_size_states_expected_shape(tiny_fused):
    with pytest.raises(ModelError, match=r"\(8, 8\)"):
        tiny_fused(torch.zeros(1, 4, 64, 64), torch.zeros(1, 12, 16, 16))
    with pytest.raises(ModelError, match="12"):
        tiny_fused(torch.zeros(1, 4, 64, 64), torch.zeros(1, 11, 8, 8))


def test_missing_or_unexpected_aux(tiny_fused):
    with pytest.raises(ModelError, match="aux is missing"):
        tiny_fused(torch.zeros(1, 4, 64, 64), None)
    vision_only = build_model("dualstream", preset="tiny", aux_channels=0).eval()
    with pytest.raises(ModelError, match="vision-only"):
        vision_only(torch.zeros(1, 4, 64, 64), torch.zeros(1, 12, 8, 8))


def test_random_init_is_logged():
    cb = RecordingCallback()
    model = build_model("dualstream", preset="tiny", callback=cb)
    assert any("randomly initialised" in m for m in cb.messages("info"))
    assert model.pretrained_source is None


# ---------------------------------------------------------------------------------------------- aux carries info
def _aux_only_dataset(n: int = 8, aux: int = 4, size: int = 64, ratio: int = 8):
    """Vision is pure noise; the label is aux channel 0 > 0, nearest-upsampled to the vision grid."""
    gen = torch.Generator().manual_seed(42)
    air = torch.randn(n, aux, size // ratio, size // ratio, generator=gen)
    labels = (air[:, 0] > 0).long().repeat_interleave(ratio, 1).repeat_interleave(ratio, 2)
    pixels = torch.randn(n, 4, size, size, generator=gen)
    return pixels, air, labels


def _iou(logits: torch.Tensor, labels: torch.Tensor) -> float:
    pred = logits[:, 0] > 0
    truth = labels == 1
    return float((pred & truth).sum() / (pred | truth).sum())


def test_tiny_model_overfits_a_label_that_depends_only_on_aux():
    from engine.config import LossConfig
    from engine.training.losses import build_loss

    torch.manual_seed(0)
    pixels, air, labels = _aux_only_dataset()
    model = build_model("dualstream", preset="tiny", vision_channels=4, aux_channels=4, num_classes=1,
                        drop_path=0.0, dropout=0.0)
    loss_fn = build_loss(LossConfig(), "dualstream", model.num_side_outputs)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        model.train()
        optimiser.zero_grad()
        loss = loss_fn(model(pixels, air), labels)
        loss.backward()
        optimiser.step()
        if _ > 40 and _ % 10 == 0:
            model.eval()
            with torch.no_grad():
                if _iou(model(pixels, air)["logits"], labels) > 0.95:
                    break
    model.eval()
    with torch.no_grad():
        iou = _iou(model(pixels, air)["logits"], labels)
        # The same vision with the aux of other samples: the prediction must follow the aux, not the vision.
        shuffled = _iou(model(pixels, air.roll(1, dims=0))["logits"], labels)
    assert iou > 0.9, f"IoU {iou:.3f} after training (loss {loss.item():.3f})"
    assert shuffled < 0.6, f"IoU with shuffled aux {shuffled:.3f}: the model ignores the aux stream"
