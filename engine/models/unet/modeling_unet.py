"""UNet decoder (as segmentation_models.pytorch's): five blocks of x2 nearest upsampling, concat with the encoder
map of that stride when there is one (16, 8, 4), two 3x3 conv-norm-ReLU; a 3x3 conv to classes at full size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..single_stream import ConvNormReLU, SingleStreamModel


class UNetBlock(nn.Module):
    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Sequential(ConvNormReLU(in_channels + skip_channels, out_channels),
                                  ConvNormReLU(out_channels, out_channels))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(torch.cat([x, skip], dim=1) if skip is not None else x)


class UNetDecoder(nn.Module):
    def __init__(self, encoder_channels: list[int], decoder_channels: list[int], num_classes: int):
        super().__init__()
        skips = [encoder_channels[2], encoder_channels[1], encoder_channels[0], 0, 0]  # strides 16, 8, 4, 2, 1
        ins = [encoder_channels[3], *decoder_channels[:-1]]
        self.blocks = nn.ModuleList([UNetBlock(i, s, o) for i, s, o in zip(ins, skips, decoder_channels)])
        self.head = nn.Conv2d(decoder_channels[-1], num_classes, kernel_size=3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[3]  # (B, C4, H/32, W/32)
        for block, skip in zip(self.blocks, [*features[2::-1], None, None]):
            x = block(x, skip)  # strides 16, 8, 4, 2, 1
        return self.head(x)  # (B, classes, H, W)


class UNetModel(SingleStreamModel):
    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        widths = list(self.config.decoder_channels or preset.decoder_channels)
        return UNetDecoder(channels, widths, self.config.num_classes)


MODEL = UNetModel
