"""The season family reads each pixel's own series at full resolution (its calendar reaches it, not only through the
coarse attention and the stride-4 skips), and date dropout trains it on random subsets of the dates."""

from __future__ import annotations

import pytest
import torch

from engine.config.training import TrainConfig
from engine.errors import ConfigError
from engine.models import build_model
from engine.models.configuration_utils import AutoModelConfig
from engine.models.season.modeling_season import PixelSeries, drop_dates
from engine.training.step_setup import build_optimizer

SIZE, DATES = 32, 4


def _calendar(seed: int, batch: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Salt-and-pepper classes told by each pixel's calendar alone: class 1 greens before the summer and falls,
    class 0 after it; every date's values of both classes come from one distribution (no date alone tells them)."""
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.rand(batch, SIZE, SIZE, generator=gen) < 0.5).long()
    early = torch.tensor([1.0, 1.0, -1.0, -1.0])[None, :, None, None]
    late = torch.tensor([-1.0, -1.0, 1.0, 1.0])[None, :, None, None]
    values = torch.where(labels[:, None].bool(), early, late) + 0.3 * torch.randn(batch, DATES, SIZE, SIZE,
                                                                                  generator=gen)
    days = torch.tensor([[60.0, 120.0, 200.0, 260.0]]).expand(batch, DATES)
    return values.unsqueeze(2), days, labels  # (B, T, 1, H, W)


def _learn(pixel_series: bool, steps: int = 60) -> float:
    """Pixel accuracy on fresh tiles after ``steps`` of Adam on the calendar classes."""
    torch.manual_seed(0)
    model = build_model("season", preset="tiny", vision_channels=1, num_classes=2, dropout=0.0,
                        pixel_series=pixel_series)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        vision, days, labels = _calendar(step)
        loss = torch.nn.functional.cross_entropy(model(vision, days=days)["logits"], labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    vision, days, labels = _calendar(1000)
    with torch.no_grad():
        return float((model(vision, days=days)["logits"].argmax(1) == labels).float().mean())


def test_a_pixels_own_calendar_is_learnt_at_full_resolution():
    """Without the pixel series the finest map the decoder gets is the encoder's stride 4: a class that changes from
    one pixel to the next stays at chance (measured 0.49; 1.0 with it); with it, nearly every pixel is right."""
    assert _learn(pixel_series=True) > 0.9
    assert _learn(pixel_series=False) < 0.75


def test_the_pixel_series_masks_cloudy_dates_and_keeps_any_count():
    model = build_model("season", preset="tiny", vision_channels=1, num_classes=2, dropout=0.0).eval()
    vision, days, _ = _calendar(0, batch=1)
    valid = torch.ones(1, DATES, SIZE, SIZE, dtype=torch.bool)
    valid[:, 1, 3, 5] = False  # one pixel's date 2 cloudy
    changed = vision.clone()
    changed[:, 1, :, 3, 5] = 40.0
    with torch.no_grad():
        assert torch.equal(model(vision, days=days, valid=valid)["logits"],
                           model(changed, days=days, valid=valid)["logits"])
        assert model(vision[:, :1], days=days[:, :1])["logits"].shape == (1, 2, SIZE, SIZE)


def test_date_dropout_leaves_dates_out_in_training_only():
    valid = torch.ones(64, 5, 2, 2, dtype=torch.bool)
    valid[0, 1:] = False  # a sample with one valid date
    torch.manual_seed(0)
    dropped = drop_dates(valid, 0.9)
    kept = dropped.flatten(2).any(-1)  # (B, T)
    assert kept.any(1).all(), "every sample keeps a date"
    assert kept[0].tolist() == [True, False, False, False, False]  # its one valid date
    assert 0.1 < kept.float().mean() < 0.4  # a tenth of the dates, and one where none was left
    assert torch.equal(drop_dates(valid, 0.0), valid)

    model = build_model("season", preset="tiny", vision_channels=1, num_classes=2, dropout=0.0, date_dropout=0.5)
    vision, days, _ = _calendar(0, batch=1)
    model.train()
    with torch.no_grad():
        one, other = (model(vision, days=days)["logits"] for _ in range(2))
    assert not torch.allclose(one, other)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(vision, days=days)["logits"], model(vision, days=days)["logits"])
    with pytest.raises(ConfigError, match="date_dropout"):
        build_model("season", preset="tiny", date_dropout=1.0)


def _season_of_clear_date(seed: int, batch: int = 64, dates: int = 4) -> tuple[torch.Tensor, ...]:
    """Each pixel clear on one date only, of one value: its class is the season of that date (winter: day < 80 or
    >= 300), the days drawn anew for every sample, so a model must read the day, not learn a list of them."""
    gen = torch.Generator().manual_seed(seed)
    days = torch.randint(0, 365, (batch, dates), generator=gen).float()
    which = torch.randint(0, dates, (batch, 8, 8), generator=gen)
    valid = torch.nn.functional.one_hot(which, dates).permute(0, 3, 1, 2).bool()
    day = torch.gather(days[:, :, None, None].expand(-1, -1, 8, 8), 1, which[:, None])[:, 0]
    return valid[:, :, None].float(), days, valid, ((day < 80) | (day >= 300)).long()


def _tells_winter(day_width: int, steps: int = 80) -> float:
    torch.manual_seed(0)
    series = PixelSeries(1, 16, 4, 4, 2, day_width=day_width)
    optimiser = torch.optim.Adam(series.parameters(), lr=1e-2)
    for step in range(steps):
        values, days, valid, labels = _season_of_clear_date(step)
        loss = torch.nn.functional.cross_entropy(series(values, days, valid), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    values, days, valid, labels = _season_of_clear_date(10_000)
    with torch.no_grad():
        return float((series(values, days, valid).argmax(1) == labels).float().mean())


def test_the_pixel_series_tells_winter_from_summer_by_the_day():
    """Its day encoding was each head's own 4 channels: periods of 6 and 199 days, so 1 January read as 19 July
    and a pixel's season could not be learnt (measured 0.55 on unseen days, below always-summer's 0.6); 16
    sinusoids mapped onto its width (``series_days``, the default) learn it (1.0)."""
    assert _tells_winter(day_width=16) > 0.95
    assert _tells_winter(day_width=0) < 0.8
    assert build_model("season", preset="tiny").config.series_days == 16
    with pytest.raises(ConfigError, match="series_days"):
        build_model("season", preset="tiny", series_days=-1)


def test_the_pixel_series_learns_at_five_times_the_heads_rate():
    """At the head's rate the real season's model stayed at 'forest everywhere' for 64-96 of its 320 steps
    (docs/seasons.md); its own group, 5x, is taken out of the head's, and the head's group stays the last
    (the rate the epochs' log gives). A bundle written before it (no ``series_lr_factor``) trains as it was."""
    model = build_model("season", preset="tiny", vision_channels=1, num_classes=2)
    optimizer = build_optimizer(model, TrainConfig(learning_rate=2e-3, vision_lr_factor=1.0))
    rates = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert rates == pytest.approx({"pixel_series": 1e-2, "vision": 2e-3, "head": 2e-3})
    series = {id(p) for p in model.pixel_series.parameters()}
    assert {id(p) for g in optimizer.param_groups if g["name"] == "pixel_series" for p in g["params"]} == series
    assert not series & {id(p) for g in optimizer.param_groups if g["name"] != "pixel_series" for p in g["params"]}
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    assert optimizer.param_groups[-1]["name"] == "head"

    stored = {k: v for k, v in model.config.to_dict().items() if k not in ("series_lr_factor", "series_days")}
    before = AutoModelConfig.from_dict(stored, stored=True)
    assert (before.series_lr_factor, before.series_days) == (1.0, 0)
    old = build_model("season", **{k: v for k, v in before.to_dict().items() if k != "name"})
    assert [g["name"] for g in build_optimizer(old, TrainConfig()).param_groups] == ["vision", "head"]
    # an old bundle's weights load into the model its settings rebuild: no day map in its pixel series
    assert "pixel_series.days.weight" in model.state_dict() and "pixel_series.days.weight" not in old.state_dict()
    with pytest.raises(ConfigError, match="series_lr_factor"):
        build_model("season", preset="tiny", series_lr_factor=0.0)


def test_a_resumed_season_training_keeps_the_pixel_series_rate(tmp_path):
    """A resumed run sets each group's rate from its settings again: the pixel series' group keeps its 5x (it was
    given the head's rate, its group being neither the vision's nor the aux's)."""
    import numpy as np
    import rasterio

    from engine.cli.main import main
    from engine.training.checkpoint import load_checkpoint
    from tests.helpers import dated

    dates = [str(dated(tmp_path / f"d{i}.tif", f"2024-0{i + 3}-01T10:00:00", seed=i)) for i in range(3)]
    with rasterio.open(dates[0]) as src:
        profile = {**src.profile, "count": 1, "dtype": "uint8"}
    label = tmp_path / "label.tif"
    with rasterio.open(label, "w", **profile) as out:
        out.write(np.indices((64, 64))[1][None].astype(np.uint8) // 32)
    out = tmp_path / "m.dsmodel"
    run = ["train", "--dates", *dates, "--label", str(label), "--model", "season", "--preset", "tiny", "--tile-size",
           "32", "--tiles-per-epoch", "2", "--batch-size", "2", "--lr", "1e-3", "--warmup-epochs", "0", "--out",
           str(out), "--quiet"]
    assert main([*run, "--epochs", "1"]) == 0
    assert main([*run, "--epochs", "2", "--resume"]) == 0
    groups = {g["name"]: g["base_lr"] for g in load_checkpoint(f"{out}.ckpt")["optimizer"]["param_groups"]}
    assert groups["pixel_series"] == pytest.approx(5 * groups["head"]) and groups["head"] == pytest.approx(1e-3)
