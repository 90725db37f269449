"""One record per encoder and pretrained source, the one reading of ``pretrained`` (issue 62, point 4), and a
frozen encoder that would keep random weights (issue 61, item 4)."""

from __future__ import annotations

import pytest

from engine.bundle.view import model_view
from engine.callbacks import stage_line
from engine.config import TrainConfig
from engine.data.metadata import DataMetadata
from engine.data.normalize import BandStatistics
from engine.errors import ConfigError
from engine.models import AutoModelConfig
from engine.models.encoders.catalog import ENCODERS, SERIES_ONLY
from engine.models.encoders.weights import (
    HUB,
    OWN,
    PATH,
    RANDOM,
    UNSET,
    WEIGHTS,
    model_pretrained,
    pretrained_source,
)
from engine.training.preflight import check_frozen_weights


def test_every_encoder_with_weights_has_a_complete_record():
    assert set(WEIGHTS) <= {*ENCODERS, *SERIES_ONLY}  # the image encoders' and the pixel-series ones' (Presto)
    for name, weights in WEIGHTS.items():
        assert weights.hub_id.count("/") == 1 and weights.title and weights.trained_on, name
        assert len(weights.mean) == len(weights.std) == len(weights.bands), name
        assert weights.word in ("imagenet", "release"), name
    prithvi = WEIGHTS["prithvi_eo2_300m_tl"]
    assert prithvi.by_name and prithvi.dated and prithvi.file == "Prithvi_EO_V2_300M_TL.pt"
    assert prithvi.bands == ("blue", "green", "red", "nir08", "swir16", "swir22") and prithvi.licence == "Apache-2.0"
    assert not WEIGHTS["prithvi_eo2_300m"].dated and WEIGHTS["dinov3_vitl16_sat"].gated
    assert not any(name.startswith("tiny_") for name in WEIGHTS)


@pytest.mark.parametrize("given, kind, location", [
    (None, UNSET, None), ("", UNSET, None), ("none", RANDOM, None), (" None ", RANDOM, None),
    ("imagenet", OWN, "ibm-nasa-geospatial/Prithvi-EO-2.0-300M"),
    ("Release", OWN, "ibm-nasa-geospatial/Prithvi-EO-2.0-300M"),
    ("someone/prithvi-finetune", HUB, "someone/prithvi-finetune"), ("./rel/Prithvi.pt", PATH, "./rel/Prithvi.pt"),
])
def test_the_word_pretrained_is_told_apart_in_one_place(given, kind, location):
    source = pretrained_source(given, "prithvi_eo2_300m")
    assert source.kind == kind
    assert source.loads == (location is not None)
    if location:
        assert source.location() == location
        assert source.weights is WEIGHTS["prithvi_eo2_300m"]  # any Prithvi weights are the release's kind
    assert source.fixes_model == (kind in (HUB, PATH))


def test_a_hub_id_or_folder_of_another_encoder_kind_claims_no_record(tmp_path):
    assert pretrained_source("someone/resnet-finetune", "resnet18").weights is None
    assert pretrained_source(str(tmp_path), "resnet18").weights is None
    assert pretrained_source("microsoft/resnet-18", "resnet18").weights is WEIGHTS["resnet18"]
    assert pretrained_source("imagenet", "b1").location() == "nvidia/mit-b1"  # a MiT preset's own checkpoint
    assert pretrained_source("release", "tiny_prithvi").weights is None  # no release of its own ...
    assert pretrained_source(str(tmp_path), "tiny_prithvi").weights is not None  # ... but it loads Prithvi's only


def test_the_no_weights_line_names_each_encoders_own_weights():
    prithvi = pretrained_source(None, "prithvi_eo2_300m").random_line()
    assert "Prithvi-EO-2.0 release ibm-nasa-geospatial/Prithvi-EO-2.0-300M (pretrained 'release')" in prithvi
    assert "ImageNet" not in prithvi and "imagenet" not in prithvi
    asked = pretrained_source("none", "resnet18").random_line("aux")
    assert asked.startswith("Aux encoder 'resnet18' randomly initialised (--pretrained none)")
    assert "ImageNet checkpoint microsoft/resnet-18 (pretrained 'imagenet')" in asked
    assert pretrained_source(None, "tiny_resnet").random_line().endswith("than from a pretrained checkpoint.")


def test_a_model_card_names_where_the_weights_came_from():
    release = AutoModelConfig.for_family("unet", encoder="prithvi_eo2_tiny_tl", pretrained="release")
    assert model_pretrained(release).said() == \
        "ibm-nasa-geospatial/Prithvi-EO-2.0-tiny-TL (Prithvi_EO_V2_tiny_TL.pt, Apache-2.0)"
    assert model_pretrained(AutoModelConfig.for_family("unet", encoder="resnet18", pretrained="none")).said() is None
    assert model_pretrained(AutoModelConfig.for_family("unet", preset="tiny")).said() is None


def test_the_model_view_says_whether_a_model_takes_a_date_and_a_place():
    data = DataMetadata(vision_bands=6, vision_stats=BandStatistics("meanstd", [0.0] * 6, [1.0] * 6), aux_channels=0,
                        class_names=["background", "field"], class_colors=["#000000", "#00ff00"], tile_size=64)
    tl = AutoModelConfig.for_family("unet", encoder="prithvi_eo2_tiny_tl")
    plain = AutoModelConfig.for_family("unet", encoder="prithvi_eo2_300m")
    fixed = plain.replace(encoder_config={"embed_dim": 32, "depth": 4, "num_heads": 2, "patch_size": 16,
                                          "coords": True})  # what a TL checkpoint fixed wins over the name
    assert model_view(data, tl).takes_date_and_place and model_view(data, fixed).takes_date_and_place
    assert not model_view(data, plain).takes_date_and_place and not model_view(data).takes_date_and_place
    assert not model_view(data, AutoModelConfig.for_family("dualstream", preset="tiny")).takes_date_and_place


@pytest.mark.parametrize("pretrained, init_from, refused", [
    (None, None, True), ("none", None, False), ("release", None, False), (None, "parent.dsmodel", False),
])
def test_a_frozen_cached_encoder_never_keeps_random_weights_unasked(pretrained, init_from, refused):
    model = AutoModelConfig.for_family("unet", preset="tiny", encoder="prithvi_eo2_300m", pretrained=pretrained)
    train = TrainConfig(output="/tmp/unused.dsmodel", frozen_encoder="cached", init_from=init_from)
    check_frozen_weights(model, train.replace(frozen_encoder="off"))  # the warm-up unfreezes: nothing to refuse
    if not refused:
        check_frozen_weights(model, train)
        return
    with pytest.raises(ConfigError) as caught:
        check_frozen_weights(model, train)
    message = str(caught.value)
    assert "freezes the encoder 'prithvi_eo2_300m', but it has no pretrained weights" in message
    assert "decoder would learn from random features" in message
    for way in ("pretrained release (its Prithvi-EO-2.0 release ibm-nasa-geospatial/Prithvi-EO-2.0-300M",
                "frozen_encoder off", "give pretrained none"):
        assert way in message, message


def test_a_cached_frozen_encoder_is_no_first_stage():
    assert stage_line(True) == "Stage 1: encoders frozen." and stage_line(False) == "Stage 2: all layers trained."
    assert "Stage" not in stage_line(True, cached=True) and "every epoch" in stage_line(True, cached=True)


def test_no_engine_module_tells_our_own_encoder_kinds_apart_by_comparing_names():
    """What an encoder of our own means (its build, release file, input embedding) is a lookup, OWN_BACKBONES, and
    what its weights mean a record (encoders.weights): no ``kind == "prithvi"`` anywhere in the engine."""
    import ast
    from pathlib import Path

    from engine.models.encoders.backbone import OWN_BACKBONES

    engine = Path(__file__).resolve().parents[2] / "engine"
    found = []
    for path in engine.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(isinstance(side, ast.Constant) and side.value in OWN_BACKBONES
                                                     for side in [node.left, *node.comparators]):
                found.append(f"{path.relative_to(engine)}:{node.lineno}")
    assert found == []
