"""DeepLabV3+ decoder (as segmentation_models.pytorch's): ASPP (1x1, three atrous 3x3, image pooling; concat ->
1x1 -> dropout 0.5) -> separable 3x3, upsample to stride 4, concat with the 1x1-reduced stride-4 map -> separable
3x3 -> 1x1 to classes -> bilinear to full size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks import GroupNorm
from ..single_stream import ConvNormReLU, SingleStreamModel


class SeparableConvNormReLU(nn.Sequential):
    """Depth-wise 3x3 (dilated) -> point-wise 1x1 -> GroupNorm(1) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1):
        super().__init__(nn.Conv2d(in_channels, in_channels, 3, padding=dilation, dilation=dilation,
                                   groups=in_channels, bias=False),
                         nn.Conv2d(in_channels, out_channels, 1, bias=False),
                         GroupNorm(1, out_channels), nn.ReLU(inplace=True))


class AtrousPyramid(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, rates: list[int]):
        super().__init__()
        self.branches = nn.ModuleList([ConvNormReLU(in_channels, out_channels, 1)]
                                      + [SeparableConvNormReLU(in_channels, out_channels, r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvNormReLU(in_channels, out_channels, 1))
        self.project = nn.Sequential(ConvNormReLU(out_channels * (len(rates) + 2), out_channels, 1), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], dim=1))


class DeepLabV3PlusDecoder(nn.Module):
    def __init__(self, encoder_channels: list[int], width: int, low_level: int, rates: list[int], num_classes: int):
        super().__init__()
        self.aspp = nn.Sequential(AtrousPyramid(encoder_channels[-1], width, rates),
                                  SeparableConvNormReLU(width, width))
        self.reduce = ConvNormReLU(encoder_channels[0], low_level, 1)
        self.fuse = SeparableConvNormReLU(width + low_level, width)
        self.head = nn.Conv2d(width, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        f1, f4 = features[0], features[-1]
        x = self.aspp(f4)  # (B, width, H/32, W/32)
        x = F.interpolate(x, size=f1.shape[-2:], mode="bilinear", align_corners=False)  # (B, width, H/4, W/4)
        x = self.fuse(torch.cat([x, self.reduce(f1)], dim=1))
        return self.head(x)  # (B, classes, H/4, W/4); upsampled by the model


class DeepLabV3PlusModel(SingleStreamModel):
    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        cfg = self.config
        return DeepLabV3PlusDecoder(channels, preset.decoder_channels, preset.low_level_channels,
                                    list(cfg.atrous_rates), cfg.num_classes)


MODEL = DeepLabV3PlusModel
