"""A season of dates, U-TAE pattern (Sainte Fare Garnot & Landrieu 2021): a shared encoder per date, lightweight
temporal attention (L-TAE) over the dates at the coarsest scale, its attention masks upsampled to weigh the dates'
skip maps, any of the engine's decoders.

``model(vision, aux=None, coords=None, days=None, valid=None)``: ``vision`` (B, T*C, H, W), the T dates stacked on
the channels in time order (or (B, T, C, H, W)); T is read from the channels, so any count works. ``days`` (B, T):
each date's day number (day of year, or days since a reference date), encoded with sinusoids of period
``PERIOD`` computed from the values (no table: any T, any spacing). ``valid`` (B, T) or (B, T, H, W), False where a
date is padding, cloud or nodata: those pixels are zeroed (the normalised mean) before the encoder and those dates get
no attention there (a pixel with no valid date weighs them all alike).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...callbacks import Callback
from ...errors import ModelError
from ...time_axis import into_batch, to_channels, to_dates, years_and_day
from ..decoders import make_decoder
from ..single_stream import SingleStreamModel
from .configuration_season import PERIOD, SeasonConfig

MASKED = -1.0e4  # a masked date's attention score: exp() of it is 0 even in float16, and never NaN


def day_encoding(days: torch.Tensor, width: int, period: float = PERIOD) -> torch.Tensor:
    """(B, T) day numbers -> (B, T, width) sinusoids: sin/cos pairs of days / period^(2i / width)."""
    half = (width + 1) // 2
    rates = torch.pow(torch.tensor(period, dtype=torch.float32, device=days.device),
                      -2.0 * torch.arange(half, dtype=torch.float32, device=days.device) / width)
    angles = days.float().unsqueeze(-1) * rates  # (B, T, half)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)[..., :width]


def heads_day_encoding(days: torch.Tensor, width: int, heads: int) -> torch.Tensor:
    """(B, T) -> (B, T, width): each head's group of ``width // heads`` channels the same few sinusoids (L-TAE's)."""
    return day_encoding(days, width // heads).repeat(1, 1, heads)


def attend_over_dates(seq: torch.Tensor, when: torch.Tensor, valid: torch.Tensor, keys: nn.Linear,
                      query: torch.Tensor, dropout: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """L-TAE's attention, per pixel, shared by the coarse temporal attention and the pixel series: the dates'
    features ``seq`` (B, h, w, T, D; D split evenly over the heads) plus their days' encoding ``when`` (B, T, D),
    each head's master ``query`` (heads, d_k) over the ``keys`` of the dates ``valid`` (B, T, h, w) there -> the
    pooled values (B, h, w, D) and the attention (B, h, w, heads, T)."""
    batch, height, width, dates, dim = seq.shape
    heads, key_dim = query.shape
    seq = seq + when[:, None, None]
    scores = torch.einsum("byxthk,hk->byxht", keys(seq).reshape(batch, height, width, dates, heads, key_dim),
                          query) / math.sqrt(key_dim)
    attention = torch.softmax(scores.masked_fill(~valid.permute(0, 2, 3, 1).unsqueeze(3), MASKED), dim=-1)
    if dropout is not None:
        attention = dropout(attention)
    values = seq.reshape(batch, height, width, dates, heads, dim // heads)
    pooled = torch.einsum("byxht,byxthd->byxhd", attention, values).reshape(batch, height, width, dim)
    return pooled, attention


class TemporalAttention(nn.Module):
    """L-TAE (Sainte Fare Garnot & Landrieu 2020): per pixel, each head's learnt master query attends over the
    dates' keys; the values are the date features split into one channel group per head. (B, T, C, h, w) ->
    (B, C, h, w) and the attention (heads, B, T, h, w)."""

    def __init__(self, channels: int, heads: int, key_dim: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        self.width = heads * math.ceil(channels / heads)  # the values split evenly over the heads
        self.norm_in = nn.LayerNorm(channels)
        self.project = nn.Linear(channels, self.width)
        self.keys = nn.Linear(self.width, heads * key_dim)
        self.query = nn.Parameter(torch.randn(heads, key_dim) * math.sqrt(2.0 / key_dim))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Sequential(nn.Linear(self.width, channels), nn.LayerNorm(channels), nn.GELU())

    def forward(self, x: torch.Tensor, days: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq = self.project(self.norm_in(x.permute(0, 3, 4, 1, 2)))  # (B, h, w, T, D)
        when = heads_day_encoding(days, self.width, self.heads)
        pooled, attention = attend_over_dates(seq, when, valid, self.keys, self.query, self.dropout)
        out = self.out(pooled).permute(0, 3, 1, 2)  # (B, C, h, w)
        attention = attention.permute(3, 0, 4, 1, 2)
        return out, attention  # (B, C, h, w), (heads, B, T, h, w)


class PixelSeries(nn.Module):
    """Each pixel's own series at full resolution (the L-TAE of a pixel-set classifier, one pixel): its bands per
    date plus the day encoding, each head's learnt master query over the dates valid there, a small classifier.
    (B, T, C, H, W) -> class scores (B, classes, H, W), added to the decoder's: the coarse attention alone weighs a
    whole 32 px cell's dates alike, so a pixel's calendar (when it greens, when it is cut) would not reach it."""

    def __init__(self, channels: int, width: int, heads: int, key_dim: int, classes: int, dropout: float = 0.0,
                 day_width: int = 0):
        super().__init__()
        self.heads, self.key_dim, self.day_width = heads, key_dim, day_width
        self.width = heads * math.ceil(width / heads)
        self.project = nn.Linear(channels, self.width)
        # day_width: the days' sinusoids of that width, mapped onto the width (0: each head's own few, as before)
        self.days = nn.Linear(day_width, self.width, bias=False) if day_width else None
        self.keys = nn.Linear(self.width, heads * key_dim)
        self.query = nn.Parameter(torch.randn(heads, key_dim) * math.sqrt(2.0 / key_dim))
        self.classify = nn.Sequential(nn.LayerNorm(self.width), nn.Dropout(dropout), nn.Linear(self.width, self.width),
                                      nn.GELU(), nn.Linear(self.width, classes))

    def forward(self, series: torch.Tensor, days: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if self.days is None:  # a head's 4 channels: periods of 6 and 199 days, January read as July
            when = heads_day_encoding(days, self.width, self.heads)
        else:
            when = self.days(day_encoding(days, self.day_width))
        out, _ = attend_over_dates(self.project(series.permute(0, 3, 4, 1, 2)), when, valid, self.keys, self.query)
        return self.classify(out).permute(0, 3, 1, 2)


def drop_dates(valid: torch.Tensor, share: float) -> torch.Tensor:
    """Training's date dropout: each sample's dates left out at random with probability ``share`` (valid False
    everywhere); a sample whose every valid date would go keeps one of them, drawn at random."""
    draw = torch.rand(valid.shape[:2], device=valid.device)  # (B, T)
    kept, seen = draw >= share, valid.flatten(2).any(-1)
    rescue = F.one_hot((draw * seen).argmax(dim=1), valid.shape[1]).bool()  # a valid date where there is one
    kept |= rescue & ~(kept & seen).any(dim=1, keepdim=True)
    return valid & kept[:, :, None, None]


def dated_coords(coords: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
    """Each tile's (year, day of year, latitude, longitude) (B, 4) -> each of its dates' (B*T, 4), a place's dates
    side by side: the year and day of year from ``days`` (B, T), days since 1 January of the first date's year."""
    dates = days.shape[1]
    out = coords[:, None, :].repeat(1, dates, 1)
    years, day = years_and_day(days.to(coords.dtype))
    out[..., 0] = coords[:, None, 0] + years
    out[..., 1] = day + 1.0
    return out.reshape(-1, 4)


def valid_at(valid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, T, H, W) validity -> (B, T, h, w): a coarse pixel is valid where any pixel under it is."""
    if tuple(valid.shape[-2:]) == tuple(size):
        return valid
    # plain ints: a scale's stride is fixed (4 to 32) whatever the tile, so an export may bake it in
    stride = (int(valid.shape[-2]) // int(size[0]), int(valid.shape[-1]) // int(size[1]))
    return F.max_pool2d(valid.float(), kernel_size=stride, stride=stride) > 0


def weigh_dates(maps: torch.Tensor, attention: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """One scale's date maps (B, T, C, h, w) summed over the dates with the attention (heads, B, T, h', w')
    upsampled to (h, w), renormalised over the dates valid there; channel group g takes head g's weights (all
    heads' mean where the channels do not split evenly) -> (B, C, h, w)."""
    heads, batch, dates = attention.shape[:3]
    size = tuple(maps.shape[-2:])
    weights = F.interpolate(attention.reshape(heads * batch, dates, *attention.shape[-2:]), size=size,
                            mode="bilinear", align_corners=False).reshape(heads, batch, dates, *size)
    kept = weights * valid_at(valid, size).unsqueeze(0)  # clouds and nodata seen at this scale weigh nothing
    total = kept.sum(dim=2, keepdim=True)
    weights = torch.where(total > 1e-6, kept / total.clamp_min(1e-6), weights)  # no valid date: as attended
    channels = maps.shape[2]
    if channels % heads:
        return (maps * weights.mean(0).unsqueeze(2)).sum(1)
    groups = maps.reshape(batch, dates, heads, channels // heads, *size)  # (B, T, heads, C/heads, h, w)
    return torch.einsum("bthcyx,hbtyx->bhcyx", groups, weights).reshape(batch, channels, *size)


class SeasonModel(SingleStreamModel):
    """The season model; aux rasters (``aux_fusion: early``) are stacked on every date's bands."""

    def __init__(self, config: SeasonConfig, callback: Callback | None = None):
        super().__init__(config, callback)
        preset = self.config.preset_settings()
        self.temporal = TemporalAttention(self.encoder.channels[-1], self.config.heads, preset.key_dim,
                                          self.config.dropout)
        self.pixel_series = (PixelSeries(self.config.vision_channels, preset.series_width, preset.series_heads,
                                   preset.key_dim, self.config.num_classes, self.config.dropout,
                                   self.config.series_days)
                       if self.config.pixel_series else None)

    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        cfg = self.config
        unet = list(preset.unet_channels)
        if cfg.decoder_width:  # the UNet's widths scaled to end at the width asked
            unet = [max(1, w * cfg.decoder_width // unet[-1]) for w in unet]
        return make_decoder(cfg.decoder, channels, unet, cfg.decoder_width or preset.width, cfg.num_classes,
                            cfg.dropout, cfg.decoder_relu)

    def role_modules(self) -> dict[str, list[nn.Module | None]]:
        return {"vision_encoder": [self.encoder.backbone], "fusion": [self.temporal, self.pixel_series]}

    def rate_factors(self) -> dict[str, tuple[list[nn.Parameter], float]]:
        if self.pixel_series is None or self.config.series_lr_factor == 1.0:
            return {}
        return {"pixel_series": (list(self.pixel_series.parameters()), self.config.series_lr_factor)}

    def series(self, vision: Any) -> torch.Tensor:
        """``vision`` as (B, T, C, H, W); ModelError naming the band count per date when it does not split."""
        cfg = self.config
        if isinstance(vision, torch.Tensor) and vision.ndim == 5 and vision.shape[2] == cfg.vision_channels:
            return vision
        if isinstance(vision, torch.Tensor) and vision.ndim == 4 and vision.shape[1] % cfg.vision_channels == 0 \
                and vision.shape[1]:
            return to_dates(vision, vision.shape[1] // cfg.vision_channels)
        if isinstance(vision, torch.Tensor) and vision.ndim in (4, 5):
            got = f"{vision.shape[-3]} band(s)"
        else:
            got = tuple(vision.shape) if isinstance(vision, torch.Tensor) else type(vision).__name__
        raise ModelError(f"vision has {got}, not a whole number of dates of the {cfg.vision_channels} vision band(s) "
                         f"the {cfg.name} model was built for: give (batch, dates x {cfg.vision_channels}, height, "
                         f"width), each date's bands stacked in time order, or (batch, dates, {cfg.vision_channels}, "
                         f"height, width); select the same bands the model was trained on, for every date.")

    @staticmethod
    def season_masks(series: torch.Tensor, days: Any, valid: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(days (B, T) float, valid (B, T, H, W) bool) checked against ``series`` (B, T, C, H, W)."""
        batch, dates, _, height, width = series.shape
        if not isinstance(days, torch.Tensor) or tuple(days.shape) != (batch, dates):
            got = tuple(days.shape) if isinstance(days, torch.Tensor) else type(days).__name__
            raise ModelError(f"A season model needs each date's day number: days must be a (batch, dates) = "
                             f"{(batch, dates)} tensor (day of year, or days since a reference date), got {got}.")
        if valid is None:
            return days, torch.ones(batch, dates, height, width, dtype=torch.bool, device=series.device)
        if isinstance(valid, torch.Tensor) and tuple(valid.shape) == (batch, dates):
            valid = valid[:, :, None, None].expand(batch, dates, height, width)
        if not isinstance(valid, torch.Tensor) or tuple(valid.shape) != (batch, dates, height, width):
            got = tuple(valid.shape) if isinstance(valid, torch.Tensor) else type(valid).__name__
            raise ModelError(f"valid must be (batch, dates) = {(batch, dates)} or (batch, dates, height, width) = "
                             f"{(batch, dates, height, width)}, False where a date is padding, cloud or nodata; "
                             f"got {got}.")
        return days, valid.bool()

    def forward(self, vision: torch.Tensor, aux: torch.Tensor | None = None, coords: torch.Tensor | None = None,
                days: torch.Tensor | None = None, valid: torch.Tensor | None = None) -> dict[str, Any]:
        series = self.series(vision)
        batch, dates, _, height, width = series.shape
        self.check_grid(batch, height, width, aux)
        days, valid = self.season_masks(series, days, valid)
        return self.run_with_coords(coords, batch, lambda: self._season(series, aux, days, valid),
                                    per_image=lambda tiles: dated_coords(tiles, days))

    def _season(self, series: torch.Tensor, aux: torch.Tensor | None, days: torch.Tensor,
                valid: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        batch, dates, channels, height, width = series.shape
        if self.training and self.config.date_dropout:
            valid = drop_dates(valid, self.config.date_dropout)
        series = series * valid.unsqueeze(2).to(series.dtype)  # a masked pixel's values never reach the encoder
        images = into_batch(to_channels(series), dates)  # (B*T, C, H, W), a place's dates side by side
        if aux is not None:  # early fusion: the aux bands onto the image grid, stacked on every date's bands
            aux = F.interpolate(aux, size=(height, width), mode="bilinear", align_corners=False)
            images = torch.cat([images, aux.repeat_interleave(dates, dim=0)], dim=1)  # (B*T, C+A, H, W)
        maps = [m.reshape(batch, dates, *m.shape[1:]) for m in self.encoder(images)]  # (B, T, C_i, h_i, w_i) x 4
        coarse = maps[-1]
        top, attention = self.temporal(coarse, days, valid_at(valid, tuple(coarse.shape[-2:])))
        skips = [weigh_dates(m, attention, valid) for m in maps[:-1]]
        logits = self.decoder([*skips, top])
        if tuple(logits.shape[-2:]) != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        if self.pixel_series is not None:  # the vision bands only: aux rasters are no date's
            logits = logits + self.pixel_series(series, days, valid)
        return logits, []

    def _forward(self, vision: torch.Tensor, aux: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise ModelError("A season model is called with each date's day number: model(vision, aux, coords, days, "
                         "valid).")


MODEL = SeasonModel
