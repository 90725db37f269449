"""PSPNet head (as segmentation_models.pytorch's): for bins 1, 2, 3, 6 average-pool the map, 1x1 conv to C/4,
upsample back; concat with the map -> 1x1 conv-norm-ReLU -> dropout -> 3x3 conv to classes. smp pools the stride-8
map of a 3-stage encoder; transformers backbones always run all four stages, so here the pyramid pools the deepest
(stride 32) map and every encoder weight is used."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..single_stream import ConvNormReLU, SingleStreamModel

BINS = (1, 2, 3, 6)


class PyramidPooling(nn.Module):
    def __init__(self, in_channels: int, bins: tuple[int, ...] = BINS):
        super().__init__()
        self.stages = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(b),
                                                   ConvNormReLU(in_channels, in_channels // len(bins), 1))
                                     for b in bins])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False) for stage in self.stages]
        return torch.cat([x, *pooled], dim=1)  # (B, C + 4 * C/4, h, w)


class PSPDecoder(nn.Module):
    def __init__(self, in_channels: int, psp_channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.pyramid = PyramidPooling(in_channels)
        self.project = ConvNormReLU(in_channels + len(BINS) * (in_channels // len(BINS)), psp_channels, 1)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(psp_channels, num_classes, kernel_size=3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.project(self.pyramid(features[-1]))  # (B, psp, H/32, W/32)
        return self.head(self.dropout(x))  # (B, classes, H/32, W/32); upsampled by the model


class PSPNetModel(SingleStreamModel):
    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        return PSPDecoder(channels[-1], self.config.psp_channels or preset.psp_channels, self.config.num_classes,
                          self.config.psp_dropout)


MODEL = PSPNetModel
