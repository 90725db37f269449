"""The season family (U-TAE pattern): any number of dates, padding and clouds masked, the day encoding computed from
the dates, the attention carried up to the skips, every decoder, and the errors a wrong call gets."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ConfigError, ModelError
from engine.models import build_model
from engine.models.configuration_utils import DECODERS, SEASON, auto_picks
from engine.models.season.modeling_season import TemporalAttention, day_encoding, weigh_dates

BANDS, SIZE = 4, 64


def _model(**options):
    torch.manual_seed(0)
    return build_model("season", preset="tiny", vision_channels=BANDS, num_classes=3, dropout=0.0, **options).eval()


def _season(batch: int, dates: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    vision = torch.randn(batch, dates * BANDS, SIZE, SIZE, generator=gen)
    days = torch.cumsum(1 + 40 * torch.rand(batch, dates, generator=gen), dim=1)
    return vision, days


@pytest.mark.parametrize("dates", [1, 2, 5])
def test_any_date_count_forward_backward(dates):
    """T = 1 works (one date is a season of one), and every parameter learns for several dates."""
    # no date dropout: a sample left with one date gives its keys and query no gradient (a draw's luck)
    model = _model(dates=6, date_dropout=0.0).train()
    vision, days = _season(2, dates)
    out = model(vision, days=days)
    assert out["logits"].shape == (2, 3, SIZE, SIZE) and out["side_logits"] == []
    out["logits"].square().mean().backward()
    frozen = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    if dates > 1:
        assert not frozen, frozen[:5]
    else:  # one date: its attention weight is 1 whatever the keys say, so keys and query get no gradient
        assert all(n.split(".")[0] in ("temporal", "pixel_series") and n.split(".")[1] in ("keys", "query")
                   for n in frozen), frozen


def test_padded_dates_change_nothing_and_five_d_input_is_the_same():
    model = _model()
    vision, days = _season(1, 3)
    with torch.no_grad():
        alone = model(vision, days=days)["logits"]
        noise, _ = _season(1, 2, seed=5)
        padded = model(torch.cat([vision, noise], 1), days=torch.cat([days, torch.tensor([[400.0, 0.0]])], 1),
                       valid=torch.tensor([[True, True, True, False, False]]))["logits"]
        five = model(vision.reshape(1, 3, BANDS, SIZE, SIZE), days=days)["logits"]
    assert torch.allclose(alone, padded, atol=1e-5)
    assert torch.equal(alone, five)


def test_a_cloudy_pixel_date_is_left_out_where_cloudy_only():
    """A per-pixel mask: the cloud's values never reach the output; unmasked, they do."""
    model = _model()
    vision, days = _season(1, 3)
    valid = torch.ones(1, 3, SIZE, SIZE, dtype=torch.bool)
    valid[:, 1, :32, :32] = False  # date 2 cloudy in the top-left quarter
    changed = vision.clone()
    changed[:, BANDS:2 * BANDS, :32, :32] += 50.0  # the cloud's values
    with torch.no_grad():
        clear = model(vision, days=days, valid=valid)["logits"]
        cloud = model(changed, days=days, valid=valid)["logits"]
        unmasked = model(changed, days=days)["logits"]
    assert torch.equal(clear, cloud)
    assert (clear - unmasked).abs().mean() > 0.05


def test_dates_order_and_spacing_matter_through_the_day_encoding():
    model = _model()
    vision, days = _season(1, 4)
    with torch.no_grad():
        one = model(vision, days=days)["logits"]
        other = model(vision, days=days * 3.0)["logits"]
    assert not torch.allclose(one, other, atol=1e-4)


def test_day_encoding_is_computed_from_the_values():
    days = torch.tensor([[0.0, 1.0, 365.0, 5000.0]])  # no table: any day, past any fixed length
    enc = day_encoding(days, 8)
    assert enc.shape == (1, 4, 8)
    assert torch.allclose(enc[0, 0], torch.tensor([0.0, 1.0] * 4))  # sin 0, cos 0
    one = torch.tensor(1.0)
    assert torch.allclose(enc[0, 1, :2], torch.stack([one.sin(), one.cos()]))
    assert torch.allclose(enc[0, 2, 6], (365.0 / 1000.0 ** (6 / 8) * torch.ones(())).sin(), atol=1e-5)
    assert torch.isfinite(enc).all()


def test_attention_masks_sum_to_one_over_valid_dates_and_weigh_the_skips():
    attention = TemporalAttention(channels=8, heads=4, key_dim=4)
    x = torch.randn(2, 3, 8, 2, 2)
    valid = torch.ones(2, 3, 2, 2, dtype=torch.bool)
    valid[0, 2] = False
    valid[1, :, 0, 0] = False  # no valid date at one pixel: weighed alike, no NaN
    out, masks = attention(x, torch.tensor([[1.0, 50.0, 90.0], [3.0, 40.0, 70.0]]), valid)
    assert out.shape == (2, 8, 2, 2) and masks.shape == (4, 2, 3, 2, 2)
    assert torch.allclose(masks.sum(2), torch.ones(4, 2, 2, 2), atol=1e-5)
    assert masks[:, 0, 2].abs().max() < 1e-6
    assert torch.allclose(masks[:, 1, :, 0, 0], torch.full((4, 3), 1 / 3), atol=1e-5)
    skip = torch.randn(2, 3, 8, 4, 4)  # a finer scale: the masks upsampled, one channel group per head
    weighed = weigh_dates(skip, masks, torch.ones(2, 3, 8, 8, dtype=torch.bool))
    assert weighed.shape == (2, 8, 4, 4)
    same = torch.randn(2, 1, 8, 4, 4).expand(2, 3, 8, 4, 4)  # equal dates: any weights summing to 1 give them
    assert torch.allclose(weigh_dates(same, masks, torch.ones(2, 3, 8, 8, dtype=torch.bool)), same[:, 0], atol=1e-5)


@pytest.mark.parametrize("decoder", DECODERS)
def test_every_decoder(decoder):
    model = _model(decoder=decoder)
    vision, days = _season(1, 3)
    with torch.no_grad():
        assert model(vision, days=days)["logits"].shape == (1, 3, SIZE, SIZE)


def test_wrong_calls_say_what_to_give():
    model = _model()
    vision, days = _season(1, 3)
    with pytest.raises(ModelError, match="day number"):
        model(vision)
    with pytest.raises(ModelError, match=r"\(batch, dates\) = \(1, 3\)"):
        model(vision, days=days[:, :2])
    with pytest.raises(ModelError, match="5 band.*4 vision band"):
        model(vision[:, :5], days=days)
    with pytest.raises(ModelError, match="valid must be"):
        model(vision, days=days, valid=torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ModelError, match="not a multiple of 32"):
        model(vision[..., :40, :40], days=days)
    with pytest.raises(ConfigError, match="temporal_heads"):
        build_model("season", preset="tiny", temporal_heads=0)


def test_auto_takes_the_season_family_for_a_season():
    assert auto_picks(False)[SEASON] == ("season", "light")
    assert auto_picks(True)[SEASON] == ("season", "base")


def test_training_forward_hands_a_season_batch_its_days_and_masks():
    """The trainer's forward pass takes ``days`` and ``valid`` from a season batch (timeaxis's collate keys); a
    batch of padded places trains as the places alone would."""
    from engine.training.parts import Forward
    from engine.training.step_setup import StepSetup

    model = _model()
    forward = Forward("cpu", StepSetup("cpu", channels_last=True), uses_aux=False, takes_days=model.takes_days)
    vision, days = _season(1, 3)
    padded = torch.cat([vision.reshape(1, 3, BANDS, SIZE, SIZE), torch.zeros(1, 1, BANDS, SIZE, SIZE)], dim=1)
    valid = torch.ones(1, 4, SIZE, SIZE, dtype=torch.bool)
    valid[:, 3] = False
    batch = {"vision": padded, "valid": valid, "days": torch.cat([days, torch.zeros(1, 1)], 1).long(),
             "labels": torch.zeros(1, SIZE, SIZE, dtype=torch.int64), "present": valid[:, :, 0, 0]}
    pixels, aux, labels, inputs = forward.batch(batch)
    assert set(inputs) == {"days", "valid"} and inputs["days"].dtype == torch.float32 and aux is None
    with torch.no_grad():
        got = forward(model, pixels, aux, inputs)["logits"]
        alone = model(vision, days=days.long().float())["logits"]
    assert torch.allclose(got, alone, atol=1e-5)
    assert Forward("cpu", StepSetup("cpu")).batch(batch)[3] == {}  # a one-date model takes neither


def test_a_scene_of_three_dates_is_a_season_and_two_a_pair():
    from engine.config import DataConfig
    from engine.config.training import SceneSpec
    from engine.models.configuration_utils import DATES, IMAGERY
    from engine.training.auto import data_kind

    def kind(*later: str) -> str:
        return data_kind(DataConfig(), [SceneSpec(image="a.tif", after=list(later), label="l.tif")])

    assert (kind(), kind("b.tif"), kind("b.tif", "c.tif"), kind("b.tif", "c.tif", "d.tif")) == (
        IMAGERY, DATES, SEASON, SEASON)


def test_each_date_gets_its_own_year_and_day_of_year_for_an_encoder_taking_them():
    from engine.models.season.modeling_season import dated_coords

    coords = torch.tensor([[2018.0, 274.0, 46.0, 14.5], [float("nan"), 10.0, float("nan"), float("nan")]])
    days = torch.tensor([[273.0, 396.0], [9.0, 40.0]])  # 2018-10-01 and 2019-02-01; 10 and 41 January-February
    out = dated_coords(coords, days)
    assert out.shape == (4, 4)
    assert out[0].tolist() == [2018.0, 274.0, 46.0, 14.5] and out[1, :2].tolist() == [2019.0, 32.0]
    assert out[3, 1] == 41.0 and torch.isnan(out[3, 0]) and out[1, 2:].tolist() == [46.0, 14.5]



def test_a_season_bundle_from_before_the_pixel_series_loads_as_it_was_trained(tmp_path, tiny_model):
    """A season bundle written before ``pixel_series`` existed holds no weights of that branch: it is rebuilt
    without it and its weights load strictly; a bundle of today writes the setting down, so it never depends on a
    later default."""
    from engine.bundle.store import read_metadata, save_bundle
    from engine.segment.members import Member
    from engine.segment.predictor import Predictor

    assert tiny_model("season", classes=3, dates=3).config.pixel_series  # today's default
    old = tiny_model("season", classes=3, dates=3, pixel_series=False, date_dropout=0.0)
    written = {k: v for k, v in old.config.to_dict().items() if k not in ("pixel_series", "date_dropout")}
    data = {"vision_bands": 3, "vision_stats": {"method": "meanstd", "low": [0.0] * 3, "high": [1.0] * 3},
            "aux_channels": 0, "class_names": ["a", "b", "c"], "class_colors": ["#000000"] * 3, "tile_size": 64}
    bundle = save_bundle(tmp_path / "before.dsmodel", old, {"model": written, "data": data})
    read = read_metadata(bundle)
    assert read.model.pixel_series is False and read.model.date_dropout == 0.0
    model = Predictor.from_bundles([Member(str(bundle), read, 1.0)], "none", "cpu").members[0].model
    assert not any(name.startswith("pixel_series") for name, _ in model.named_parameters())
    new = save_bundle(tmp_path / "today.dsmodel", tiny_model("season", classes=3, dates=3),
                      {"model": tiny_model("season", classes=3, dates=3).config.to_dict(), "data": data})
    assert read_metadata(new).model.pixel_series is True
