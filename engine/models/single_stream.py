"""The torch side shared by the single-stream baselines: encoder + optional early aux fusion + a family decoder."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..callbacks import Callback
from .configuration_single_stream import SingleStreamConfig
from .encoders.backbone import config_encoder
from .modeling_utils import SegmentationModel


class SingleStreamModel(SegmentationModel):
    """Encoder over the image bands (plus the upsampled aux bands with early fusion) and ``make_decoder``'s head."""

    def __init__(self, config: SingleStreamConfig, callback: Callback | None = None):
        super().__init__(config)
        callback = callback or Callback()
        self.encoder, self.config = config_encoder(config, config.vision_channels + config.aux_channels, callback.info)
        self.pretrained_source = self.encoder.source
        self.decoder = self.make_decoder(self.encoder.channels, config.preset_settings())

    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        """The family's decoder for encoder maps of ``channels`` at strides 4/8/16/32; returns stride-1 logits."""
        raise NotImplementedError

    def role_modules(self) -> dict[str, list[nn.Module | None]]:
        return {"vision_encoder": [self.encoder.backbone]}  # a ViT's neck trains with the decoder

    def _forward(self, vision: torch.Tensor, aux: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if aux is not None:  # early fusion: aux onto the image grid, concatenated to the bands
            aux = F.interpolate(aux, size=vision.shape[-2:], mode="bilinear", align_corners=False)
            vision = torch.cat([vision, aux], dim=1)  # (B, Cv + Ca, H, W)
        features = self.encoder(vision)  # 4 maps at strides 4, 8, 16, 32
        logits = self.decoder(features)
        if logits.shape[-2:] != vision.shape[-2:]:
            logits = F.interpolate(logits, size=vision.shape[-2:], mode="bilinear", align_corners=False)
        return logits, []
