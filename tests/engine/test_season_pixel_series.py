"""The season family reads each pixel's own series at full resolution (its calendar reaches it, not only through the
coarse attention and the stride-4 skips), and date dropout trains it on random subsets of the dates."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ConfigError
from engine.models import build_model
from engine.models.season.modeling_season import drop_dates

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
