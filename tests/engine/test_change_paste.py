"""Change pastes (engine/data/change_paste.py): a changed object enlarged and pasted onto every date as change, or
one date's pixels onto every date as no change, one date made light; the training loader pastes them where the
settings ask, and refuses them for tiles that are not a change mask of two dates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import AugmentConfig, DataConfig, SceneSpec, TrainConfig
from engine.data.change_paste import change_paste, change_paste_collate
from engine.data.dataset import build_datasets
from engine.data.loaders import train_loader
from engine.data.synthetic_pairs import make_pair
from engine.errors import ConfigError
from engine.runtime.environment import DistContext

IGN = 255
BEFORE, AFTER = 5.0, 7.0  # the changed object's values on each date


def _batch(side: int = 6) -> dict:
    """Four 2-date tiles of two bands, 64 px: tile 0 holds one changed square (values BEFORE, AFTER), the others no
    change; tile 1's first columns are ignored."""
    labels = torch.zeros(4, 64, 64, dtype=torch.long)
    vision = torch.zeros(4, 4, 64, 64)
    labels[0, 20:20 + side, 20:20 + side] = 1
    vision[0, :2, 20:20 + side, 20:20 + side] = BEFORE
    vision[0, 2:, 20:20 + side, 20:20 + side] = AFTER
    labels[1, :, :5] = IGN
    vision[1, :, :, :5] = -1.0
    return {"vision": vision, "labels": labels, "aux": torch.full((4, 1, 16, 16), 3.0)}


def test_a_changed_object_is_enlarged_and_pasted_onto_each_date_as_change():
    batch = _batch()
    change_paste(batch, np.random.default_rng(0), probability=1.0, zoom=[2.0, 2.0], unchanged=0.0, dates=2,
                 ignore_index=IGN)
    for i in (2, 3):  # tiles without change get the object, twice its side: 12 x 12 px
        change = batch["labels"][i] == 1
        assert int(change.sum()) == 144
        rows, cols = torch.nonzero(change.any(1)).flatten(), torch.nonzero(change.any(0)).flatten()
        assert (len(rows), len(cols)) == (12, 12)
        # each date's pixels onto its own date, nothing else touched
        before, after = batch["vision"][i, :2][:, change], batch["vision"][i, 2:][:, change]
        assert (before == BEFORE).all() and (after == AFTER).all()
        assert (batch["vision"][i][:, ~change] == 0).all()
    # the ignored columns stay ignored and untouched; aux is never pasted
    assert (batch["labels"][1, :, :5] == IGN).all() and (batch["vision"][1, :, :, :5] == -1.0).all()
    assert (batch["aux"] == 3.0).all()


def test_an_unchanged_paste_puts_one_dates_object_on_both_dates_as_no_change():
    batch = _batch()
    change_paste(batch, np.random.default_rng(1), probability=1.0, zoom=[2.0, 2.0], unchanged=1.0, dates=2,
                 ignore_index=IGN)
    for i in (2, 3):
        pasted = (batch["vision"][i] != 0).any(0)
        assert int(pasted.sum()) == 144 and not (batch["labels"][i] == 1).any()
        values = batch["vision"][i][:, pasted]
        assert torch.equal(values[:2], values[2:]) and values.unique().numel() == 1
        assert float(values[0, 0]) in (BEFORE, AFTER)


def test_a_light_paste_draws_one_dates_object_toward_the_tiles_brightest_values():
    batch = _batch()
    batch["vision"][2:, :, 63] = 10.0  # each target's brightest row
    change_paste(batch, np.random.default_rng(4), probability=1.0, zoom=[2.0, 2.0], unchanged=0.0, dates=2,
                 ignore_index=IGN, bright=1.0)
    for i in (2, 3):
        change = batch["labels"][i] == 1
        assert int(change.sum()) == 144
        dates = [batch["vision"][i, :2][:, change], batch["vision"][i, 2:][:, change]]
        kept = [bool((d == v).all()) for d, v in zip(dates, (BEFORE, AFTER))]
        assert sum(kept) == 1  # one date as it was, the other lightened
        light, was = (dates[1], AFTER) if kept[0] else (dates[0], BEFORE)
        assert light.unique().numel() == 1 and was + 0.5 * (10 - was) <= float(light[0, 0]) <= was + 0.9 * (10 - was)


def test_a_large_object_is_enlarged_to_three_quarters_of_the_tile_at_most_and_off_means_off():
    batch = _batch(side=40)
    change_paste(batch, np.random.default_rng(2), probability=1.0, zoom=[4.0, 4.0], unchanged=0.0, dates=2,
                 ignore_index=IGN)
    assert int((batch["labels"][3] == 1).sum()) == 48 * 48
    plain = _batch()
    for off in ({"probability": 0.0, "dates": 2}, {"probability": 1.0, "dates": 1}):
        change_paste(plain, np.random.default_rng(3), zoom=[2.0, 2.0], unchanged=0.0, ignore_index=IGN, **off)
        assert all(torch.equal(plain[k], _batch()[k]) for k in plain)


def test_the_collate_is_reproducible():
    samples = [{k: v[b] for k, v in _batch().items()} for b in range(4)]
    torch.manual_seed(5)
    a = change_paste_collate(samples, 1.0, [1.5, 4.0], 0.3, 2, IGN)
    torch.manual_seed(5)
    b = change_paste_collate(samples, 1.0, [1.5, 4.0], 0.3, 2, IGN)
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["labels"], _batch()["labels"])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return make_pair(tmp_path_factory.mktemp("paste"), seed=3, size=96)


def _first_batch(scene: SceneSpec, augment: AugmentConfig) -> dict:
    data = DataConfig(train_scenes=[scene], tile_size=64, tiles_per_epoch=8, statistics_tiles=4, augment=augment)
    train_ds, _, _ = build_datasets(data)
    train_ds.set_epoch(0)
    loader, _ = train_loader(train_ds, data, TrainConfig(batch_size=4, seed=0), DistContext(), ignore_index=IGN,
                             aux_ratio=1, pin_memory=False)
    torch.manual_seed(0)
    return next(iter(loader))


def test_the_training_loader_pastes_changes_where_asked_and_refuses_them_for_one_date(pair):
    scene = SceneSpec(image=pair.before, after=[pair.after], label=pair.change)
    plain = _first_batch(scene, AugmentConfig())
    pasted = _first_batch(scene, AugmentConfig(change_paste=1.0, change_paste_zoom=[3.0, 3.0]))
    assert pasted["vision"].shape == plain["vision"].shape and pasted["vision"].shape[1] == 6  # two dates of 3 bands
    assert int((pasted["labels"] == 1).sum()) > int((plain["labels"] == 1).sum())
    with pytest.raises(ConfigError, match=r"change_paste.*1 date\(s\): set it to 0"):
        _first_batch(SceneSpec(image=pair.before, label=pair.before_classes), AugmentConfig(change_paste=0.5))
    with pytest.raises(ConfigError, match="change_paste_zoom must be"):
        AugmentConfig(change_paste_zoom=[2.0, 1.0])


def test_a_change_mask_gets_change_pastes_unless_the_augmentation_is_given(pair):
    from engine.models import AutoModelConfig
    from engine.training.auto import choose_settings

    def chosen(scene: SceneSpec, given: tuple = ()):
        return choose_settings(AutoModelConfig.config_class("dualstream")(), DataConfig(train_scenes=[scene]),
                               TrainConfig(), given, device="cpu")

    change = chosen(SceneSpec(image=pair.before, after=[pair.after], label=pair.change))
    augment = change.data.augment
    assert (augment.change_paste, augment.change_paste_bright, augment.change_paste_unchanged) == (0.5, 0.5, 0.3)
    line = next(line for line in change.lines() if line.startswith("change_paste 0.5, chosen: a change mask"))
    assert "enlarged 1.5-4 times" in line and "a white hall built" in line
    assert chosen(SceneSpec(image=pair.before, after=[pair.after], label=pair.change),
                  ("data.augment",)).data.augment.change_paste == 0.0
    assert chosen(SceneSpec(image=pair.before, label=pair.before_classes)).data.augment.change_paste == 0.0
