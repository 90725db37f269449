"""The eoseries model: a frozen pixel-series encoder (``encoders.eo_series``) over each pixel's dates, a light head.

``model(vision, aux=None, coords=None, days=None, valid=None)``: ``vision`` (B, T*C, H, W) or (B, T, C, H, W), the
dates' bands in the sensors' units; ``coords`` (B, 4) each tile's first date (year, day of year) and centre
(latitude, longitude in WGS 84), NaN where unknown: Presto's location token, and the year the exact months count
from (a bundle written before ``date_and_place`` takes none: 0 N 0 E, months of 365.25-day years); ``days`` (B, T)
days since 1 January of the first date's year (the months come from them); ``valid`` (B, T) or (B, T, H, W),
False where a date is padding, cloud or nodata (those values are left out of the encoder's attention). A pixel with
more clear dates than the release takes (24) keeps its first ones.
``model.encoder.features`` gives the encoder's map alone (what training caches), ``model.decoder`` the head on it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...callbacks import Callback
from ...errors import ModelError
from ...time_axis import calendar_months, to_dates, years_and_day
from ..encoders.eo_series import SeriesEncoder, series_encoder
from ..modeling_utils import SegmentationModel
from .configuration_eoseries import EOSeriesConfig

CHUNK = 4096  # pixel series per encoder call (bounds the memory of a large tile)
# the first day of each month in a year of 365 days (the year is not known; a leap year's is a day off at most)
MONTH_STARTS = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def months_from_days(days: torch.Tensor) -> torch.Tensor:
    """(B, T) days since 1 January of the first date's year -> (B, T) months 0..11 (January = 0) in years of 365.25
    days (a day off at a month's edge in some years): what a bundle written before ``date_and_place`` reads."""
    _, day_of_year = years_and_day(days.float())
    starts = torch.tensor(MONTH_STARTS[1:], dtype=torch.float32, device=days.device)
    return torch.bucketize(day_of_year, starts, right=True).clamp(0, 11)


def season_months(days: torch.Tensor, coords: torch.Tensor | None) -> torch.Tensor:
    """(B, T) months 0..11: the calendar's own (``time_axis.calendar_months``) where ``coords`` (B, 4) give the first
    date's year; :func:`months_from_days` where they do not (no coords, or NaN)."""
    approximate = months_from_days(days)
    if coords is None:
        return approximate
    year = coords[:, 0].to(days.device)
    known = torch.isfinite(year)
    exact = calendar_months(days, torch.where(known, year, torch.zeros_like(year)))
    return torch.where(known[:, None], exact, approximate)


def tile_places(coords: torch.Tensor) -> torch.Tensor:
    """(B, 4) coords -> (B, 2) latitude, longitude in degrees; 0 N 0 E where unknown (NaN)."""
    place = coords[:, 2:4].float()
    return torch.where(torch.isfinite(place), place, torch.zeros_like(place))


def pixel_series(series: torch.Tensor, valid: torch.Tensor, months: torch.Tensor,
                 limit: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """(B, T, C, H, W) -> each pixel's series (N, T', C, 1, 1), its validity (N, T') and months (N, T'), N = B*H*W;
    with T > ``limit`` each pixel's valid dates first (in time order), the first ``limit`` kept; and whether a pixel
    lost a valid date so."""
    batch, dates, channels, height, width = series.shape
    values = series.permute(0, 3, 4, 1, 2).reshape(-1, dates, channels)
    ok = valid.permute(0, 2, 3, 1).reshape(-1, dates)
    month = months[:, None, None, :].expand(batch, height, width, dates).reshape(-1, dates)
    lost = False
    if dates > limit:
        # valid dates first, each group in time order: distinct keys, so the smallest ``limit`` (TopK, which an
        # ONNX export keeps; a stable sort it does not) give the order a stable sort would
        key = (~ok).to(torch.int64) * dates + torch.arange(dates, device=ok.device)
        order = torch.topk(key, limit, dim=1, largest=False, sorted=True).indices
        lost = bool((ok.sum(dim=1) > limit).any())
        values = values.gather(1, order[..., None].expand(-1, -1, channels))
        ok, month = ok.gather(1, order), month.gather(1, order)
    return values[..., None, None], ok, month, lost


class SeriesFeatures(nn.Module):
    """The frozen encoder behind the training cache's interface: :meth:`features` -> [(B, D, H, W)], and
    :meth:`pyramid`, the maps as they are (the head reads them at the pixels' own grid)."""

    def __init__(self, config: EOSeriesConfig, callback: Callback | None = None):
        super().__init__()
        say = callback.info if callback is not None else (lambda message: None)
        pretrained = config.pretrained
        self.series: SeriesEncoder = series_encoder(config.encoder_name, None if pretrained is None else
                                                    str(pretrained), say, patch=1)
        self.bands = list(config.band_names or [])
        self.channels = [self.series.width]
        self.takes_coords = bool(config.date_and_place)  # each tile's first date and centre (``coords``)
        # Presto reads a location; Galileo's static location token from its bundles' galileo_place on
        self.located = hasattr(self.series.model, "latlon_embed") or bool(config.galileo_place)
        self.coords: torch.Tensor | None = None  # SegmentationModel.coord_takers' interface; features() is given them

    def features(self, vision: torch.Tensor, coords: Any = None, days: torch.Tensor | None = None,
                 valid: torch.Tensor | None = None) -> list[torch.Tensor]:
        """[(B, D, H, W)]: every pixel's series through the encoder, in chunks."""
        batch, dates, channels, height, width = vision.shape
        if len(self.bands) != channels:
            raise ModelError(f"The {self.series.name} model reads its bands by name and knows {len(self.bands)} "
                             f"({', '.join(self.bands) or 'none recorded'}); the dates give {channels} band(s): give "
                             f"the bands it was trained on.")
        coords = coords if self.takes_coords else None
        months = season_months(days, coords)
        values, ok, months, lost = pixel_series(vision, valid, months, self.series.model.max_dates)
        places = None
        if coords is not None:
            places = tile_places(coords)[:, None, None].expand(batch, height, width, 2).reshape(-1, 2)
            if self.located and not torch.jit.is_tracing() and not bool(torch.isfinite(coords[:, 2:4]).all()):
                self.series._once(f"{self.series.name}: a tile's place is not known (its scene has no CRS that "
                                  f"reaches WGS 84): its location is that of 0 N 0 E.")
        if lost:
            self.series._once(f"{self.series.name} takes at most {self.series.model.max_dates} dates per series: a "
                              f"pixel with more clear dates keeps its first {self.series.model.max_dates}.")
        if places is not None and not self.located and not torch.jit.is_tracing():
            self.series._once(f"{self.series.name}: the tiles' place is not read (no location token: on the real "
                              f"season measured it lowered the result; model setting galileo_place true reads it).")
        places = places if self.located else None
        out = torch.cat([self.series.encode(values[i:i + CHUNK], self.bands, months[i:i + CHUNK], ok[i:i + CHUNK],
                                            None if places is None else places[i:i + CHUNK])
                         for i in range(0, values.shape[0], CHUNK)])  # (N, D, 1, 1)
        return [out.reshape(batch, height, width, -1).permute(0, 3, 1, 2)]

    def pyramid(self, maps: list[torch.Tensor], size: tuple[int, int]) -> list[torch.Tensor]:
        return maps


class SeriesHead(nn.Module):
    """Features (B, D, H, W) -> logits: 1x1 convolutions (``pixel``), or with a 3x3 one (``spatial``)."""

    def __init__(self, channels: int, width: int, classes: int, spatial: bool, dropout: float):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.GELU()]
        if spatial:
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.GELU()]
        self.body = nn.Sequential(*layers, nn.Dropout2d(dropout))
        self.classifier = nn.Conv2d(width, classes, 1)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.body(maps[-1]))


class EOSeriesModel(SegmentationModel):
    """The eoseries model (module docstring)."""

    def __init__(self, config: EOSeriesConfig, callback: Callback | None = None):
        super().__init__(config)
        self.encoder = SeriesFeatures(config, callback)
        self.pretrained_source = self.encoder.series.source
        self.decoder = SeriesHead(self.encoder.series.width + config.aux_channels, config.preset_settings().width,
                                  config.num_classes, config.head == "spatial", config.dropout)

    def role_modules(self) -> dict[str, list[nn.Module | None]]:
        return {"vision_encoder": [self.encoder]}

    def forward(self, vision: torch.Tensor, aux: torch.Tensor | None = None, coords: torch.Tensor | None = None,
                days: torch.Tensor | None = None, valid: torch.Tensor | None = None) -> dict[str, Any]:
        cfg = self.config
        if isinstance(vision, torch.Tensor) and vision.ndim == 4 and vision.shape[1] % cfg.vision_channels == 0:
            vision = to_dates(vision, vision.shape[1] // cfg.vision_channels)
        if not isinstance(vision, torch.Tensor) or vision.ndim != 5 or vision.shape[2] != cfg.vision_channels:
            got = (f"{vision.shape[-3]} band(s)" if isinstance(vision, torch.Tensor) and vision.ndim in (4, 5) else
                   tuple(vision.shape) if isinstance(vision, torch.Tensor) else type(vision).__name__)
            raise ModelError(f"vision has {got}, not a whole number of dates of the {cfg.vision_channels} vision "
                             f"band(s) the {cfg.name} model was built for: give (batch, dates x "
                             f"{cfg.vision_channels}, height, width) or (batch, dates, {cfg.vision_channels}, height, "
                             f"width), the bands it was trained on for every date.")
        batch, dates, _, height, width = vision.shape
        self.check_grid(batch, height, width, aux)
        if not isinstance(days, torch.Tensor) or tuple(days.shape) != (batch, dates):
            raise ModelError(f"An {cfg.name} model needs each date's day number: days must be a (batch, dates) = "
                             f"{(batch, dates)} tensor (days since 1 January of the first date's year).")
        if valid is None:
            valid = torch.ones(batch, dates, height, width, dtype=torch.bool, device=vision.device)
        elif valid.dim() == 2:
            valid = valid[:, :, None, None].expand(batch, dates, height, width)
        if tuple(valid.shape) != (batch, dates, height, width):
            raise ModelError(f"valid must be (batch, dates) or (batch, dates, height, width) = "
                             f"{(batch, dates, height, width)}; got {tuple(valid.shape)}.")
        if self.encoder.takes_coords and coords is not None and tuple(coords.shape) != (batch, 4):
            raise ModelError(f"coords must be (batch, 4): year, day of year, latitude, longitude per tile (NaN where "
                             f"unknown), got {tuple(coords.shape)} for a batch of {batch}.")
        features = self.encoder.features(vision, coords, days, valid.bool())
        if aux is not None:  # aux rasters (a config's aux_channels; training reads none) on the pixels' grid
            features = [torch.cat([features[0], F.interpolate(aux, size=(height, width), mode="bilinear",
                                                              align_corners=False)], dim=1)]
        logits = self.decoder(features)
        if tuple(logits.shape[-2:]) != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        return {"logits": logits, "side_logits": []}


MODEL = EOSeriesModel
