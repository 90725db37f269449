"""Siamese change detection (Daudt et al. 2018; attention between the dates as in BIT, Chen et al. 2021).

``model(vision (B, T*C, H, W))``: the T dates of a place stacked on the channels in time order, read by one shared
encoder in one batch (B*T images), fused per scale, decoded by one of the engine's decoders. The encoder
(``SiameseEncoder``) has a single-stream encoder's ``features``/``pyramid`` and the decoder is a ``ChangeHead``
(fusion + decoder), so a frozen encoder's features are cached as for the single-stream families
(``training/cached.py``). ``encode`` and ``head`` split the model for a :class:`FirstDateFeatures` store and for the
onnxruntime backend's two graphs (``export/onnx_cache.py``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...time_axis import date_rows, into_batch, join_dates, out_of_batch, per_date, to_channels, to_dates
from ..blocks import attention_heads
from ..decoders import SCALES_READ, ConvNormReLU, make_decoder
from ..fusion import CrossPath
from ..single_stream import SingleStreamModel
from .configuration_change import ChangeConfig
from .first_dates import FirstDateFeatures, shares_first_dates

#: The least spread a tile's band is divided by (normalised values): a flat tile (water, a field) is not blown up.
LEAST_SPREAD = 0.05


def own_statistics(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images of one date each, each band standardised by its own mean and spread over the tile
    (``date_scaling: tile``): a global brightness or contrast shift of a date is gone."""
    mean = images.mean(dim=(2, 3), keepdim=True)
    spread = (images - mean).square().mean(dim=(2, 3), keepdim=True).sqrt().clamp_min(LEAST_SPREAD)
    return (images - mean) / spread


class SiameseEncoder(nn.Module):
    """One encoder applied to every date: maps (B, T*C_i, h, w) with each date's C_i channels side by side; with
    ``own_scaling`` each date's tile is standardised first (:func:`own_statistics`)."""

    def __init__(self, encoder: nn.Module, dates: int, own_scaling: bool = False):
        super().__init__()
        self.encoder, self.dates, self.own_scaling = encoder, dates, own_scaling
        self.channels = list(encoder.channels)  # of one date

    def scaled(self, images: torch.Tensor) -> torch.Tensor:
        """Images of one date each as the encoder reads them."""
        return own_statistics(images) if self.own_scaling else images

    @property
    def backbone(self) -> nn.Module:
        return self.encoder.backbone

    def features(self, x: torch.Tensor, coords: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The backbone's maps of every date (what a frozen encoder's cache keeps); ``coords`` (B, 4) are each
        tile's place and the first date's day (the encoders taking them read one date per tile today); default:
        those the model set on the backbone for this forward pass, given to every date."""
        coords = getattr(self.backbone, "coords", None) if coords is None else coords
        if coords is not None:
            coords = coords.repeat_interleave(self.dates, dim=0)
        images = self.scaled(into_batch(x, self.dates))
        return [out_of_batch(m, self.dates) for m in self.encoder.features(images, coords)]

    def pyramid(self, maps: list[torch.Tensor], size: tuple[int, int]) -> list[torch.Tensor]:
        split = [into_batch(m, self.dates) for m in maps]
        return [out_of_batch(m, self.dates) for m in self.encoder.pyramid(split, size)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.pyramid(self.features(x), (int(x.shape[-2]), int(x.shape[-1])))


class DateFusion(nn.Module):
    """Two dates' maps of one scale (B, 2*C, h, w) -> (B, C, h, w): ``diff`` |a - b|; ``concat`` a 1x1
    conv-norm-ReLU of both; ``attention`` each date's tokens reading the other's context (CMX's cross path), then
    |a' - b'|."""

    def __init__(self, channels: int, how: str):
        super().__init__()
        self.how = how
        self.mix = ConvNormReLU(2 * channels, channels, kernel_size=1) if how == "concat" else None
        self.cross = CrossPath(channels, attention_heads(channels, max(1, channels // 32))) \
            if how == "attention" else None

    def forward(self, both: torch.Tensor) -> torch.Tensor:
        before, after = per_date(both, 2)  # (B, C, h, w) each
        if self.mix is not None:
            return self.mix(both)
        if self.cross is not None:
            batch, channels, height, width = before.shape
            a, b = self.cross(before.flatten(2).transpose(1, 2), after.flatten(2).transpose(1, 2))  # (B, hw, C)
            before, after = (t.transpose(1, 2).reshape(batch, channels, height, width) for t in (a, b))
        return (before - after).abs()


class ChangeHead(nn.Module):
    """The dates' pyramid fused per scale, then the decoder: (B, 2*C_i, h_i, w_i) x 4 -> logits (B, classes, h, w).
    Only the scales the decoder reads are fused (``scales``); it is handed the others unfused and ignores them."""

    def __init__(self, channels: list[int], fusion: str, decoder: nn.Module, scales: tuple[int, ...] = (0, 1, 2, 3)):
        super().__init__()
        self.fusion = nn.ModuleList([DateFusion(c, fusion) if i in scales else nn.Identity()
                                     for i, c in enumerate(channels)])
        self.decoder = decoder

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.decoder([fuse(f) for fuse, f in zip(self.fusion, features)])


class ChangeModel(SingleStreamModel):
    """The Siamese change model; aux rasters (``aux_fusion: early``) are stacked on every date's bands."""

    def __init__(self, config: ChangeConfig, callback: Any = None):
        super().__init__(config, callback)
        self.encoder = SiameseEncoder(self.encoder, self.config.input_dates, self.config.date_scaling == "tile")
        self.first_dates: FirstDateFeatures | None = None  # inference: first dates encoded once (share_first_dates)

    def share_first_dates(self, store: FirstDateFeatures | None = None) -> bool:
        """Encode each first date's tile once from now on, keeping its maps in ``store`` (default: a new one); False
        where the encoder also takes aux rasters or each tile's date and place, which differ by pair."""
        if not shares_first_dates(self.config.input_dates, self.config.aux_channels, self.takes_coords):
            return False
        self.first_dates = store or FirstDateFeatures()
        return True

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Images of one date each (N, C, H, W) -> their maps at strides 4, 8, 16, 32 (N, C_i, H/s, W/s): what a
        first date keeps, and the onnxruntime backend's encoder graph."""
        return self.encoder.encoder(self.encoder.scaled(images))

    def head(self, dates: list[list[torch.Tensor]], size: tuple[int, int]) -> torch.Tensor:
        """Each date's maps (:meth:`encode`, in time order) -> logits (B, classes, H, W) at ``size``: the fusion and
        the decoder, the onnxruntime backend's head graph."""
        logits = self.decoder([join_dates(scale) for scale in zip(*dates)])  # (B, T*C_i, h_i, w_i) per scale
        if tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits

    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        cfg = self.config
        unet = list(preset.unet_channels)
        if cfg.decoder_width:  # the UNet's widths scaled to end at the width asked
            unet = [max(1, w * cfg.decoder_width // unet[-1]) for w in unet]
        decoder = make_decoder(cfg.decoder, channels, unet, cfg.decoder_width or preset.width, cfg.num_classes,
                               cfg.dropout, cfg.decoder_relu)
        return ChangeHead(channels, cfg.fusion, decoder, SCALES_READ.get(cfg.decoder, (0, 1, 2, 3)))

    def role_modules(self) -> dict[str, list[nn.Module | None]]:
        return {"vision_encoder": [self.encoder.backbone], "fusion": [self.decoder.fusion]}

    def _forward(self, vision: torch.Tensor, aux: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        dates = self.config.input_dates
        if self.first_dates is not None and aux is None and not self.training:
            return self._forward_sharing(vision, self.first_dates), []
        if aux is not None:  # early fusion: the aux bands onto the image grid, stacked on every date's bands
            aux = F.interpolate(aux, size=vision.shape[-2:], mode="bilinear", align_corners=False)
            aux = aux.unsqueeze(1).expand(-1, dates, -1, -1, -1)
            vision = to_channels(torch.cat([to_dates(vision, dates), aux], dim=2))  # (B, T*(C+A), H, W)
        return super()._forward(vision, None)

    def _forward_sharing(self, vision: torch.Tensor, store: FirstDateFeatures) -> torch.Tensor:
        """``_forward`` without aux, each first date's maps from ``store`` where it has them: the encoder reads the
        first dates it has not seen and every later date, in one batch."""
        dates = self.config.input_dates
        batch, _, height, width = vision.shape
        per = to_dates(vision, dates)  # (B, T, C, H, W)
        keys, held, todo = store.lookup([per[b, 0].detach().cpu() for b in range(batch)])
        images = torch.cat([per[todo, 0], *per[:, 1:].unbind(1)])  # the later dates date by date
        maps = self.encode(images)  # (len(todo) + (T-1)*B, C_i, h_i, w_i) x 4: later dates date by date
        for i, b in enumerate(todo):
            held[b] = [m[i] for m in maps]
            store.put(keys[b], held[b])
        first = [torch.stack([held[b][scale] for b in range(batch)]) for scale in range(len(maps))]
        later = zip(*(date_rows(m, dates - 1, len(todo)) for m in maps))  # each later date's maps
        return self.head([first, *map(list, later)], (height, width))


MODEL = ChangeModel

