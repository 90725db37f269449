"""Presto and Galileo as season encoders: ``(B, T, C, H, W)`` + band names + months + validity -> features.

:func:`series_encoder` builds one by name (``presto``, ``galileo_nano`` / ``_tiny`` / ``_base``) with its release
weights (the one download path, ``models.hub``; loaded strictly) or random ones of the same sizes, frozen unless
asked otherwise. :meth:`SeriesEncoder.encode` takes values in the sensors' units, places the bands in the
releases' groups by name (``eo_bands``), scales them as each release was pre-trained, leaves out what is not valid
(a date's padding, a cloud, nodata, a group not given), and returns per-pixel (Presto) or per-patch (Galileo)
features. With a frozen encoder the features are deterministic: a caller caches them on the CPU across epochs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ...errors import ModelError
from .catalog import SERIES_ENCODERS
from .eo_bands import GALILEO_SCALING, INPUTS, PRESTO_SCALING, S1_S2_GROUPS, Placement, Scaling, place_bands
from .galileo import BASE_GSD, GalileoEncoder, load_galileo
from .presto import RELEASE_SIZES, PrestoEncoder, load_presto
from .weights import PRESTO, RELEASE, WEIGHTS, Weights, is_hub_id

#: Galileo's released sizes (config/models/<size>.json ``model.encoder``)
GALILEO_SIZES = {
    "galileo_nano": {"embedding_size": 128, "depth": 4, "num_heads": 8},
    "galileo_tiny": {"embedding_size": 192, "depth": 12, "num_heads": 3},
    "galileo_base": {"embedding_size": 768, "depth": 12, "num_heads": 12},
}
PIXEL_CHUNK = 16384  # Presto pixel series per forward pass (bounds the memory of a large tile)


def months_of(dates: Any) -> torch.Tensor:
    """(B, T) dates (numpy datetime64, ``datetime.date``, or ISO text) -> (B, T) months 0..11 (January = 0)."""
    array = np.asarray(dates)
    if np.issubdtype(array.dtype, np.datetime64):
        months = array.astype("datetime64[M]").astype(int) % 12
    else:
        flat = [d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10]) for d in array.reshape(-1)]
        months = np.array([d.month - 1 for d in flat]).reshape(array.shape)
    return torch.as_tensor(months, dtype=torch.long)


def prepare(x: torch.Tensor, placement: Placement, valid: torch.Tensor | None,
            scaling: Scaling) -> tuple[torch.Tensor, torch.Tensor]:
    """(values (B, T, H, W, 13) on the release's scale, keep (B, T, H, W, 7)) of ``x`` (B, T, C, H, W) in the
    sensors' units: absent inputs 0, NDVI from nir and red, a group kept where it is given, valid and finite."""
    batch, dates, _, height, width = x.shape
    x = x.float()
    zeros = x.new_zeros(batch, dates, height, width)
    raw = [x[:, :, i] if i >= 0 else zeros for i in placement.index[:-1]]
    if placement.index[-1] >= 0:  # an NDVI band of the image's own
        raw.append(x[:, :, placement.index[-1]])
    elif placement.ndvi:
        nir, red = raw[INPUTS.index("nir")], raw[INPUTS.index("red")]
        total = nir + red
        raw.append(torch.where(total > 0, (nir - red) / torch.where(total > 0, total, torch.ones_like(total)), zeros))
    else:
        raw.append(zeros)
    values = torch.stack(raw, dim=-1)
    finite = torch.isfinite(values)
    low = torch.tensor(scaling.low, device=x.device)
    span = torch.tensor(scaling.span, device=x.device)
    values = (torch.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0) - low) / span
    if valid is None:
        valid = torch.ones(batch, dates, height, width, dtype=torch.bool, device=x.device)
    elif valid.dim() == 2:
        valid = valid[:, :, None, None].expand(batch, dates, height, width)
    valid = valid.to(x.device).bool()
    keep, start = [], 0
    for name, inputs in S1_S2_GROUPS:
        given = name in placement.groups
        ok = finite[..., start:start + len(inputs)].all(dim=-1) & valid
        keep.append(ok if given else torch.zeros_like(ok))
        start += len(inputs)
    return values, torch.stack(keep, dim=-1)


class SeriesEncoder(nn.Module):
    """A Presto or Galileo encoder behind one ``encode``; ``width`` (D) and ``stride`` (pixels per feature)."""

    def __init__(self, name: str, model: PrestoEncoder | GalileoEncoder, source: str | None, patch: int,
                 log: Callable[[str], None]):
        super().__init__()
        self.name, self.model, self.source, self.log = name, model, source, log
        self.width = model.width
        self.stride = 1 if name == "presto" else patch
        self.scaling = PRESTO_SCALING if name == "presto" else GALILEO_SCALING
        self.last_empty = 0  # features of the last call with no valid token (zeros)
        self._said: set[str] = set()

    def _once(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self.log(message)

    def encode(self, x: torch.Tensor, bands: Sequence[str], months: torch.Tensor, valid: torch.Tensor | None = None,
               latlon: torch.Tensor | None = None, gsd: float = BASE_GSD,
               standardised: tuple[Sequence[float], Sequence[float]] | None = None) -> torch.Tensor:
        """Features (B, D, H / stride, W / stride) of ``x`` (B, T, C, H, W); see the module docstring. ``gsd``:
        metres per pixel (Galileo's grid code); ``standardised``: the per-band (mean, std) ``x`` was standardised
        with (a bundle's statistics), undone first so the release's own scaling applies."""
        if x.dim() != 5 or x.shape[2] != len(bands):
            raise ModelError(f"{self.name} takes (B, T, C, H, W) values with one name per band; got shape "
                             f"{tuple(x.shape)} and {len(bands)} band name(s).")
        if standardised is not None:
            mean, std = (torch.as_tensor(v, dtype=torch.float32, device=x.device).reshape(1, 1, -1, 1, 1)
                         for v in standardised)
            x = x.float() * std + mean
        if tuple(months.shape) != tuple(x.shape[:2]):
            raise ModelError(f"{self.name} takes one month per date, (B, T) = {tuple(x.shape[:2])}; got "
                             f"{tuple(months.shape)}.")
        if int(months.min()) < 0 or int(months.max()) > 11:
            raise ModelError(f"{self.name} takes months 0..11 (January = 0; months_of(dates) gives them), not "
                             f"{int(months.min())}..{int(months.max())}.")
        try:
            placement = place_bands(list(bands))
        except ValueError as exc:
            raise ModelError(f"{self.name}: {exc}") from exc
        self._once(f"{self.name}: {placement.said()}.")
        values, keep = prepare(x, placement, valid, self.scaling)
        months = months.to(x.device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())):
            if isinstance(self.model, PrestoEncoder):
                out = self._pixels(values, keep, months, latlon)
            else:
                out = self.model.encode_image(values, keep, months, self.stride, gsd, latlon=latlon)[-1]
                keep = GalileoEncoder.patch_keep(keep, self.stride).permute(0, 3, 1, 2, 4)
        self.last_empty = int((~keep.any(dim=-1).any(dim=1)).sum())
        return out

    def _pixels(self, values: torch.Tensor, keep: torch.Tensor, months: torch.Tensor,
                latlon: torch.Tensor | None) -> torch.Tensor:
        """Presto over every pixel's series, in chunks: (B, D, H, W)."""
        batch, dates, height, width, _ = values.shape
        if latlon is None:
            self._once("presto: no latitude/longitude given; its location token is that of 0 N 0 E.")
            latlon = torch.zeros(batch, 2)
        series = values.permute(0, 2, 3, 1, 4).reshape(-1, dates, values.shape[-1])
        kept = keep.permute(0, 2, 3, 1, 4).reshape(-1, dates, keep.shape[-1])
        month = months[:, None, None].expand(batch, height, width, dates).reshape(-1, dates)
        place = latlon.float()[:, None, None].expand(batch, height, width, 2).reshape(-1, 2)
        out = torch.cat([self.model.encode_series(series[i:i + PIXEL_CHUNK], kept[i:i + PIXEL_CHUNK],
                                                  month[i:i + PIXEL_CHUNK], place[i:i + PIXEL_CHUNK])
                         for i in range(0, series.shape[0], PIXEL_CHUNK)])
        out = out * kept.flatten(1).any(dim=1, keepdim=True)  # no valid date: zeros, not the location's code alone
        return out.reshape(batch, height, width, -1).permute(0, 3, 1, 2)


def series_weights(name: str) -> Weights:
    """The release record of a season encoder's name."""
    return PRESTO if name == "presto" else WEIGHTS[name]


def release_files(name: str, source: str, log: Callable[[str], None]) -> tuple[Path, Path | None]:
    """(weights file, Galileo's config.json or None) that ``source`` names: ``release`` (the record's files through
    the download path), a hub id (the record's file names in it), a file, or a folder holding them."""
    from ..hub import fetch_file

    record = series_weights(name)
    hub_id = record.hub_id if source.lower() == RELEASE or source.lower() == "imagenet" else source
    config_name = str(Path(record.file).parent / "config.json") if name != "presto" else None
    path = Path(hub_id).expanduser()
    if path.is_file():
        beside = path.parent / "config.json"
        return path, (beside if config_name and beside.is_file() else None)
    if path.is_dir():
        for weights in (path / record.file, path / Path(record.file).name):
            if weights.is_file():
                beside = weights.parent / "config.json"
                return weights, (beside if config_name and beside.is_file() else None)
        raise ModelError(f"Folder '{source}' holds no {Path(record.file).name} of the {record.title}; pass the "
                         f"release file itself, or release to download it.")
    if not is_hub_id(hub_id):
        raise ModelError(f"{name} weights '{source}' are neither a file, a folder nor a hub id; pass release, the "
                         f"release file, or none for random weights.")
    try:
        weights = fetch_file(hub_id, record.file, log)
        config = fetch_file(hub_id, config_name, log) if config_name else None
    except ModelError as exc:
        if name != "presto":
            raise
        raise ModelError(f"{exc} Presto's release lives in its GitHub repository: download "
                         f"https://github.com/nasaharvest/presto/raw/main/{record.file} and pass that file as "
                         f"pretrained.") from exc
    return weights, config


def series_encoder(name: str, pretrained: str | None = RELEASE, log: Callable[[str], None] | None = None,
                   trainable: bool = False, patch: int = 4) -> SeriesEncoder:
    """A season encoder by name: ``pretrained`` release / a hub id / a file or folder, or None / ``none`` for random
    weights of the release's sizes (said); frozen (eval, no gradients) unless ``trainable``. ``patch``: Galileo's
    patch size in pixels (1..8; the release was pre-trained with 1 to 8)."""
    log = log or (lambda message: None)
    if name not in SERIES_ENCODERS:
        raise ModelError(f"Unknown season encoder '{name}'; valid ones are {list(SERIES_ENCODERS)}.")
    if not 1 <= int(patch) <= 8:
        raise ModelError(f"Galileo's patch size must be 1..8 pixels, not {patch}.")
    source = None if pretrained is None or str(pretrained).strip().lower() in ("", "none") else str(pretrained)
    if source is None:
        model: PrestoEncoder | GalileoEncoder = (PrestoEncoder(**RELEASE_SIZES) if name == "presto" else
                                                 GalileoEncoder(**GALILEO_SIZES[name]))
        log(f"{name}: random weights of the release's sizes (pretrained none).")
    else:
        weights, config = release_files(name, source, log)
        model = load_presto(weights, log) if name == "presto" else load_galileo(weights, config, GALILEO_SIZES[name],
                                                                               log)
    encoder = SeriesEncoder(name, model, source, int(patch), log)
    if not trainable:
        encoder.requires_grad_(False)
        encoder.eval()
    return encoder
