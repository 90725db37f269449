"""FPN (Lin et al. 2017: lateral 1x1 convs, top-down sum, 3x3 smoothing) with the panoptic-FPN semantic head
(Kirillov et al. 2019: each level brought to stride 4 by conv-norm-ReLU + x2 steps, summed, 1x1 to classes)."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..decoders import FPNDecoder
from ..single_stream import SingleStreamModel


class FPNModel(SingleStreamModel):
    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        cfg = self.config
        return FPNDecoder(channels, cfg.pyramid_channels or preset.pyramid_channels,
                          cfg.segmentation_channels or preset.segmentation_channels, cfg.num_classes, cfg.dropout,
                          cfg.decoder_relu)


MODEL = FPNModel
