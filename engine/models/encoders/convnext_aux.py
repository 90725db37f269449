"""ConvNeXt encoder of coarse aux rasters (DualStream's aux stream): any channel count, maps at strides 4-32."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks import ConvNormAct, Downsample, convnext_stage


class AuxConvNeXtEncoder(nn.Module):
    """ConvNeXt encoder of the coarse aux rasters, producing maps at vision strides 4/8/16/32.

    The stem works at stride 8 (the reference's 64x64 aux grid under a 512 tile); f1 is made by upsampling,
    f3 and f4 by stride-2 downsampling. Aux inputs at another ratio are first brought onto the stride-8 grid
    (area-averaged when finer, bilinear when coarser), so the structure is the same for any ``aux_ratio``.
    """

    def __init__(self, in_channels: int, channels: list[int], blocks: int = 2, drop_path: float = 0.1):
        super().__init__()
        c1, c2, c3, c4 = channels
        self.stem = ConvNormAct(in_channels, c2, 3)
        self.stem_blocks = convnext_stage(c2, blocks, drop_path)
        self.f1_conv = ConvNormAct(c2, c1, 3)
        self.f1_blocks = convnext_stage(c1, blocks, drop_path)
        self.f3_down = Downsample(c2, c3)
        self.f3_blocks = convnext_stage(c3, blocks, drop_path)
        self.f4_down = Downsample(c3, c4)
        self.f4_blocks = convnext_stage(c4, blocks, drop_path)

    def forward(self, aux: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        """``aux`` (B, Ca, h, w); ``size`` = the stride-8 grid (H/8, W/8). Returns [f1, f2, f3, f4]."""
        if tuple(aux.shape[-2:]) != tuple(size):
            if aux.shape[-2] > size[0]:
                aux = F.adaptive_avg_pool2d(aux, size)
            else:
                aux = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
        f2 = self.stem_blocks(self.stem(aux))  # (B, c2, H/8, W/8)
        f1 = F.interpolate(f2, scale_factor=2.0, mode="bilinear", align_corners=False)
        f1 = self.f1_blocks(self.f1_conv(f1))  # (B, c1, H/4, W/4)
        f3 = self.f3_blocks(self.f3_down(f2))  # (B, c3, H/16, W/16)
        f4 = self.f4_blocks(self.f4_down(f3))  # (B, c4, H/32, W/32)
        return [f1, f2, f3, f4]

