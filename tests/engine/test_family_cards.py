"""What the engine says about every family comes from the family's own card (``FamilyCard``): the automatic
choice, the model card, the help texts, the loss defaults and the benchmark read it, for each registered family,
and a changed card changes what they say."""

from __future__ import annotations

import dataclasses

import pytest

from bench.families import FAMILIES as BENCH_FAMILIES
from bench.families import second_stream
from engine.config import SETTINGS_SECTIONS, DataConfig, LossConfig, TrainConfig
from engine.config.values import LOSS_TERMS
from engine.declarations import declared
from engine.models import AutoModelConfig, list_models, model_class
from engine.models.configuration_utils import (
    BASELINE_LOSS,
    DATA_KINDS,
    DATES,
    IMAGERY,
    SEASON,
    AutoPick,
    FamilyCard,
    auto_picks,
    cpu_preset,
)
from engine.training.auto import choose_settings

FAMILIES = list_models()


def _setting(section: str, name: str):
    return next(s for s in declared(SETTINGS_SECTIONS[section]) if s.name == name)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_has_a_consistent_card(family):
    cls = AutoModelConfig.config_class(family)
    card = cls.CARD
    assert isinstance(card, FamilyCard) and card.architecture and card.citation and card.streams
    assert set(card.kinds) <= set(DATA_KINDS) and card.kinds
    for pick in card.auto:
        assert pick.device in ("cpu", "gpu") and set(pick.kinds) <= set(card.kinds)
        assert pick.preset is None or pick.preset in cls.PRESETS
    assert cpu_preset(family) in cls.PRESETS
    assert set(card.loss or BASELINE_LOSS) <= set(LOSS_TERMS)
    assert len(card.side_weights) in (0, model_class(family).num_side_outputs)
    vision, aux, ratio = card.bench_input
    assert vision >= 1 and aux >= 0 and ratio >= 1


@pytest.mark.parametrize("family", FAMILIES)
def test_help_texts_are_written_from_the_cards(family):
    card = AutoModelConfig.config_class(family).CARD
    model_help = _setting("model", "name").decl.help
    assert family in model_help and card.streams in model_help
    assert family in _setting("model", "preset").decl.auto
    drop_note = _setting("model", "drop_path").decl.default_note
    default = next(f.default for f in dataclasses.fields(AutoModelConfig.config_class(family)) if f.name == "drop_path")
    assert f"{default:g} for" in drop_note and family in drop_note
    encoder_label = _setting("model", "encoder").decl.label
    assert (family in encoder_label) == bool(getattr(AutoModelConfig.config_class(family), "ENCODERS", ()))
    assert family in _setting("loss", "terms").decl.help


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_defaults_and_benchmark_read_the_card(family):
    card = AutoModelConfig.config_class(family).CARD
    assert LossConfig().terms_for(family) == (card.loss or BASELINE_LOSS)
    sides = model_class(family).num_side_outputs
    assert LossConfig().side_weights_for(family, sides) == (list(card.side_weights) or [0.3] * sides)
    # a family of several dates is benchmarked on pairs (bench/change.py), the others side by side (bench/families)
    assert (family in BENCH_FAMILIES) != card.takes_dates
    assert second_stream(family) == any(k not in (IMAGERY, DATES, SEASON) for k in card.kinds)


def test_the_automatic_choice_follows_the_cards_ranks(monkeypatch):
    """Give two single-stream families a CPU pick for imagery: the lower rank wins, and the help says so."""
    assert auto_picks(False)[IMAGERY][0] == "unet"
    for family, rank in (("pspnet", 1), ("deeplabv3plus", -1)):
        cls = AutoModelConfig.config_class(family)
        monkeypatch.setattr(cls, "CARD", dataclasses.replace(cls.CARD, auto=(AutoPick("cpu", (IMAGERY,), "tiny",
                                                                                      rank),)))
    assert auto_picks(False)[IMAGERY] == ("deeplabv3plus", "tiny")
    assert "deeplabv3plus tiny for imagery only" in _setting("model", "name").decl.auto
    chosen = choose_settings(AutoModelConfig.for_family(), DataConfig(), TrainConfig(), given=(), device="cpu")
    assert (chosen.model.name, chosen.model.preset) == ("deeplabv3plus", "tiny")


def test_a_family_given_without_a_preset_gets_its_cards_cpu_preset(monkeypatch):
    cls = AutoModelConfig.config_class("pspnet")
    monkeypatch.setattr(cls, "CARD", dataclasses.replace(cls.CARD, cpu_preset="tiny"))
    chosen = choose_settings(AutoModelConfig.for_family(name="pspnet"), DataConfig(), TrainConfig(),
                             given=("model.name",), device="cpu")
    assert (chosen.model.name, chosen.model.preset) == ("pspnet", "tiny")
