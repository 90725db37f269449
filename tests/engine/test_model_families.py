"""Every registered model family through the one contract: tiny presets, 64x64 tiles, forward + backward,
bundle round trip, input checks, errors that list the valid names."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from engine.bundle.store import load_bundle, save_bundle
from engine.errors import ConfigError, ModelError
from engine.models import (
    AutoModelConfig,
    build_model,
    build_model_from_config,
    describe_models,
    list_encoders,
    list_models,
    list_presets,
)
from engine.models.modeling_utils import ROLES, SegmentationModel
from tests.engine.eo_fixtures import by_name

FAMILIES = list_models()
AUX_CHANNELS = 5


def _build(family: str, vision: int, aux: int, classes: int, **options) -> SegmentationModel:
    torch.manual_seed(0)
    settings = {"dropout": 0.0, **options}
    fields = set(AutoModelConfig.config_class(family).__dataclass_fields__)
    if "drop_path" in fields:
        settings.setdefault("drop_path", 0.0)
    if "aux_fusion" in fields and aux:  # the single-stream baselines fuse aux only when asked
        settings.setdefault("aux_fusion", "early")
    return build_model(family, preset="tiny", vision_channels=vision, aux_channels=aux, num_classes=classes,
                       **by_name(family, vision, settings))


def _inputs(model: SegmentationModel, batch: int = 2, size: int = 64) -> tuple[torch.Tensor, torch.Tensor | None]:
    cfg = model.config
    gen = torch.Generator().manual_seed(1)
    vision = torch.randn(batch, cfg.input_channels, size, size, generator=gen)
    if not cfg.uses_aux:
        return vision, None
    return vision, torch.randn(batch, cfg.aux_channels, size // cfg.aux_ratio, size // cfg.aux_ratio, generator=gen)


def _days(model: SegmentationModel, vision: torch.Tensor) -> dict[str, torch.Tensor]:
    """A season model's day numbers (every 30 days from day 10), nothing for the others."""
    if not model.takes_days:
        return {}
    dates = vision.shape[1] // model.config.vision_channels
    return {"days": (10.0 + 30.0 * torch.arange(dates, dtype=torch.float32)).expand(vision.shape[0], dates)}


def test_registry_names_and_listing():
    assert FAMILIES[0] == "dualstream"
    described = {d["name"]: d for d in describe_models()}
    assert list(described) == FAMILIES
    for family, entry in described.items():
        assert entry["presets"] == list_presets(family) and "tiny" in entry["presets"]
        assert entry["default_preset"] in entry["presets"] and entry["description"]
        assert set(entry["encoders"]) <= set(list_encoders())
        assert set(entry["preset_encoders"]) == set(entry["presets"])
    assert set(list_presets()) >= {p for f in FAMILIES for p in list_presets(f)}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("classes,bands,aux", [(1, 3, 0), (1, 13, AUX_CHANNELS), (4, 3, AUX_CHANNELS), (4, 13, 0)])
def test_forward_backward(family, classes, bands, aux):
    """1 and N classes, 3 and 13 bands, with and without aux (pairwise): shapes, every parameter learns."""
    model = _build(family, bands, aux, classes).train()
    assert isinstance(model, SegmentationModel) and model.config.name == family
    vision, aux_tensor = _inputs(model)
    out = model(vision, aux_tensor, **_days(model, vision))
    assert out["logits"].shape == (2, classes, 64, 64)
    assert len(out["side_logits"]) == model.num_side_outputs == len(model.side_strides)
    for side, stride in zip(out["side_logits"], model.side_strides):
        assert side.shape == (2, classes, 64 // stride, 64 // stride)
    gen = torch.Generator().manual_seed(2)
    loss = sum((t * torch.randn(t.shape, generator=gen)).sum() for t in [out["logits"], *out["side_logits"]])
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not missing, f"parameters without gradient: {missing[:10]}"
    model.eval()
    with torch.no_grad():
        assert model(vision, aux_tensor, **_days(model, vision))["side_logits"] == []


@pytest.mark.parametrize("family", FAMILIES)
def test_param_groups_freeze_and_input_checks(family):
    model = _build(family, 4, AUX_CHANNELS, 1)
    groups = model.param_groups()
    assert tuple(groups) == ROLES and groups["vision_encoder"] and groups["decoder"]
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    model.freeze_encoders(True)
    assert not any(p.requires_grad for p in groups["vision_encoder"] + groups["aux_encoder"])
    assert all(p.requires_grad for p in groups["fusion"] + groups["decoder"])
    model.freeze_encoders(False)
    assert all(p.requires_grad for p in model.parameters())
    vision, aux = _inputs(model.eval(), batch=1)
    with pytest.raises(ModelError, match="3 band.*4 vision band"):
        model(vision[:, :3], aux)
    with pytest.raises(ModelError, match=f"takes {AUX_CHANNELS} aux channel"):
        model(vision, None)
    size = model.size_multiple
    with pytest.raises(ModelError, match=f"not a multiple of {size}"):
        model(torch.zeros(1, model.config.input_channels, size + 8, size), aux)


@pytest.mark.parametrize("family", FAMILIES)
def test_bundle_round_trip(family, tmp_path):
    model = _build(family, 3, AUX_CHANNELS, 2).eval()
    data = {"vision_bands": 3, "vision_stats": {"method": "percentile", "low": [0.0] * 3, "high": [1.0] * 3},
            "aux_channels": AUX_CHANNELS, "class_names": ["a", "b"], "class_colors": ["#000000", "#ff0000"],
            "tile_size": 64}
    path = save_bundle(tmp_path / f"{family}.dsmodel", model, {"model": model.config.to_dict(), "data": data})
    loaded = load_bundle(path)
    assert type(loaded.model) is type(model) and loaded.model.config == model.config
    assert loaded.metadata.model.name == family
    vision, aux = _inputs(model, batch=1)
    with torch.no_grad():
        days = _days(model, vision)
        assert torch.equal(loaded.model(vision, aux, **days)["logits"], model(vision, aux, **days)["logits"])


def test_models_command_lists_every_family():
    done = subprocess.run([sys.executable, "-m", "engine", "models", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert [f["name"] for f in json.loads(done.stdout)] == FAMILIES


def test_model_config_picks_the_family_class():
    for family in FAMILIES:
        cfg = AutoModelConfig.for_family(name=family, preset="tiny")
        assert type(cfg) is AutoModelConfig.config_class(family)
        assert AutoModelConfig.from_dict(cfg.to_dict()) == cfg
        assert isinstance(build_model_from_config(cfg.replace(aux_channels=0, vision_channels=3)), SegmentationModel)


def test_each_family_config_names_its_family_and_autoconfig_is_the_one_lookup():
    """UNetConfig() said name="dualstream" (inherited); four functions looked a family's config up."""
    import engine.models as models
    from engine.models import configuration_utils

    for family in FAMILIES:
        assert AutoModelConfig.config_class(family)().name == family
    assert not any(hasattr(models, old) for old in ("config_class", "model_config"))
    assert not hasattr(configuration_utils, "family_config_class")


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(KeyError, match="dualstream.*cmx|valid models are"):
        build_model("unet3000", preset="tiny")
    with pytest.raises(ConfigError, match="valid families are"):
        AutoModelConfig.for_family(name="unet3000")
    with pytest.raises(ConfigError, match="tiny"):
        build_model("dualstream", preset="b7")
    with pytest.raises(ConfigError, match="valid settings are"):
        build_model("dualstream", preset="tiny", vision_chanels=4)
