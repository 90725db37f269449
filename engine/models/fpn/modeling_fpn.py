"""FPN (Lin et al. 2017: lateral 1x1 convs, top-down sum, 3x3 smoothing) with the panoptic-FPN semantic head
(Kirillov et al. 2019: each level brought to stride 4 by conv-norm-ReLU + x2 steps, summed, 1x1 to classes)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..single_stream import ConvNormReLU, SingleStreamModel


class TopDownPyramid(nn.Module):
    """Lateral 1x1 convs + top-down sum + 3x3 smoothing: four maps of ``width`` channels at the inputs' strides."""

    def __init__(self, encoder_channels: list[int], width: int):
        super().__init__()
        self.lateral = nn.ModuleList([nn.Conv2d(c, width, kernel_size=1) for c in encoder_channels])
        self.smooth = nn.ModuleList([nn.Conv2d(width, width, kernel_size=3, padding=1) for _ in encoder_channels])

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        x = self.lateral[-1](features[-1])  # (B, P, H/32, W/32)
        merged = [x]
        for lateral, feature in zip(self.lateral[-2::-1], features[-2::-1]):  # strides 16, 8, 4
            x = F.interpolate(x, size=feature.shape[-2:], mode="nearest") + lateral(feature)
            merged.append(x)
        return [smooth(m) for smooth, m in zip(self.smooth, merged[::-1])]  # strides 4, 8, 16, 32


class SegmentationBranch(nn.Sequential):
    """One pyramid level to stride 4: ``steps`` x (3x3 conv-norm-ReLU, x2 upsample); one conv when ``steps`` is 0."""

    def __init__(self, in_channels: int, out_channels: int, steps: int):
        layers: list[nn.Module] = [ConvNormReLU(in_channels, out_channels)]
        for step in range(steps):
            if step:
                layers.append(ConvNormReLU(out_channels, out_channels))
            layers.append(nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False))
        super().__init__(*layers)


class FPNDecoder(nn.Module):
    def __init__(self, encoder_channels: list[int], width: int, branch_width: int, num_classes: int,
                 dropout: float):
        super().__init__()
        self.pyramid = TopDownPyramid(encoder_channels, width)
        self.branches = nn.ModuleList([SegmentationBranch(width, branch_width, level)
                                       for level in range(len(encoder_channels))])  # 0..3 upsamplings
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(branch_width, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        levels = self.pyramid(features)  # 4 x (B, P, H/s, W/s), s = 4, 8, 16, 32
        size = levels[0].shape[-2:]
        x = None
        for branch, level in zip(self.branches, levels):
            y = branch(level)  # (B, S, H/4, W/4)
            if y.shape[-2:] != size:  # an odd map size upstream: align on the stride-4 grid
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            x = y if x is None else x + y
        return self.head(self.dropout(x))  # (B, classes, H/4, W/4); upsampled by the model


class FPNModel(SingleStreamModel):
    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        cfg = self.config
        return FPNDecoder(channels, cfg.pyramid_channels or preset.pyramid_channels,
                          cfg.segmentation_channels or preset.segmentation_channels, cfg.num_classes, cfg.dropout)


MODEL = FPNModel
