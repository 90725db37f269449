"""The decoders that several families use, over four encoder maps at strides 4/8/16/32 (smp's designs, our code).

UNet (five x2 nearest upsamplings with the skips of strides 16, 8, 4; two 3x3 conv-norm-activation each), FPN
(Lin et al. 2017 with the panoptic-FPN semantic head of Kirillov et al. 2019), DeepLabV3+ (ASPP with separable convs,
the reduced stride-4 skip), PSPNet (pyramid pooling of the deepest map, bins 1, 2, 3, 6; transformers backbones always
run all four stages, so the deepest map is pooled where smp pools stride 8) and SegFormer's all-MLP head (as CMX's).
A family builds one by name with :func:`make_decoder` (the names: ``configuration_utils.DECODERS``) or by class.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvNormAct, GroupNorm

ConvNormReLU = partial(ConvNormAct, relu=True)  # smp's Conv2dReLU with the engine's batch-independent norm
# Every decoder takes ``relu``: ReLU after each norm (smp's), else GELU. The norm is GroupNorm(1) over all channels,
# which leaves each channel's offset free, so ReLU can silence a channel everywhere (UNetDecoder's docstring).
ATROUS_RATES = (12, 24, 36)  # the deeplabv3plus family's default
LOW_LEVEL = 48  # DeepLabV3+'s reduced stride-4 skip
SCALES_READ = {"deeplabv3plus": (0, 3), "pspnet": (3,)}  # the maps (strides 4, 8, 16, 32) a decoder reads


class UNetBlock(nn.Module):
    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, relu: bool = True):
        super().__init__()
        self.conv = nn.Sequential(ConvNormAct(in_channels + skip_channels, out_channels, relu=relu),
                                  ConvNormAct(out_channels, out_channels, relu=relu))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(torch.cat([x, skip], dim=1) if skip is not None else x)


class UNetDecoder(nn.Module):
    """``relu`` False: GELU after each norm. The norm is GroupNorm(1) over all channels, which leaves each channel's
    offset free, so ReLU can silence a channel everywhere: trained from random weights on one Massachusetts scene,
    11 of the last block's 16 channels were dead after 200 steps and the building logit was capped at the head's
    bias (probability 0.51 at most); GELU keeps a gradient below zero (docs/training.md)."""

    def __init__(self, encoder_channels: list[int], decoder_channels: list[int], num_classes: int, relu: bool = True):
        super().__init__()
        skips = [encoder_channels[2], encoder_channels[1], encoder_channels[0], 0, 0]  # strides 16, 8, 4, 2, 1
        ins = [encoder_channels[3], *decoder_channels[:-1]]
        self.blocks = nn.ModuleList([UNetBlock(i, s, o, relu) for i, s, o in zip(ins, skips, decoder_channels)])
        self.head = nn.Conv2d(decoder_channels[-1], num_classes, kernel_size=3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[3]  # (B, C4, H/32, W/32)
        for block, skip in zip(self.blocks, [*features[2::-1], None, None]):
            x = block(x, skip)  # strides 16, 8, 4, 2, 1
        return self.head(x)  # (B, classes, H, W)


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
    """One pyramid level to stride 4: ``steps`` x (3x3 conv-norm-activation, x2 upsample); one conv when ``steps``
    is 0."""

    def __init__(self, in_channels: int, out_channels: int, steps: int, relu: bool = True):
        layers: list[nn.Module] = [ConvNormAct(in_channels, out_channels, relu=relu)]
        for step in range(steps):
            if step:
                layers.append(ConvNormAct(out_channels, out_channels, relu=relu))
            layers.append(nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False))
        super().__init__(*layers)


class FPNDecoder(nn.Module):
    def __init__(self, encoder_channels: list[int], width: int, branch_width: int, num_classes: int,
                 dropout: float, relu: bool = True):
        super().__init__()
        self.pyramid = TopDownPyramid(encoder_channels, width)
        self.branches = nn.ModuleList([SegmentationBranch(width, branch_width, level, relu)
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


def activation(relu: bool) -> nn.Module:
    return nn.ReLU(inplace=True) if relu else nn.GELU()


class SeparableConvNormAct(nn.Sequential):
    """Depth-wise 3x3 (dilated) -> point-wise 1x1 -> GroupNorm(1) -> ReLU (GELU without ``relu``)."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1, relu: bool = True):
        super().__init__(nn.Conv2d(in_channels, in_channels, 3, padding=dilation, dilation=dilation,
                                   groups=in_channels, bias=False),
                         nn.Conv2d(in_channels, out_channels, 1, bias=False),
                         GroupNorm(1, out_channels), activation(relu))


class AtrousPyramid(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, rates: list[int], relu: bool = True):
        super().__init__()
        self.branches = nn.ModuleList([ConvNormAct(in_channels, out_channels, 1, relu=relu)]
                                      + [SeparableConvNormAct(in_channels, out_channels, r, relu) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvNormAct(in_channels, out_channels, 1, relu=relu))
        self.project = nn.Sequential(ConvNormAct(out_channels * (len(rates) + 2), out_channels, 1, relu=relu),
                                     nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], dim=1))


class DeepLabV3PlusDecoder(nn.Module):
    def __init__(self, encoder_channels: list[int], width: int, low_level: int, rates: list[int], num_classes: int,
                 relu: bool = True):
        super().__init__()
        self.aspp = nn.Sequential(AtrousPyramid(encoder_channels[-1], width, rates, relu),
                                  SeparableConvNormAct(width, width, relu=relu))
        self.reduce = ConvNormAct(encoder_channels[0], low_level, 1, relu=relu)
        self.fuse = SeparableConvNormAct(width + low_level, width, relu=relu)
        self.head = nn.Conv2d(width, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        f1, f4 = features[0], features[-1]
        x = self.aspp(f4)  # (B, width, H/32, W/32)
        x = F.interpolate(x, size=f1.shape[-2:], mode="bilinear", align_corners=False)  # (B, width, H/4, W/4)
        x = self.fuse(torch.cat([x, self.reduce(f1)], dim=1))
        return self.head(x)  # (B, classes, H/4, W/4); upsampled by the model


BINS = (1, 2, 3, 6)


class PyramidPooling(nn.Module):
    def __init__(self, in_channels: int, bins: tuple[int, ...] = BINS, relu: bool = True):
        super().__init__()
        self.stages = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(b),
                                                   ConvNormAct(in_channels, in_channels // len(bins), 1, relu=relu))
                                     for b in bins])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False) for stage in self.stages]
        return torch.cat([x, *pooled], dim=1)  # (B, C + 4 * C/4, h, w)


class PSPDecoder(nn.Module):
    def __init__(self, in_channels: int, psp_channels: int, num_classes: int, dropout: float, relu: bool = True):
        super().__init__()
        self.pyramid = PyramidPooling(in_channels, BINS, relu)
        self.project = ConvNormAct(in_channels + len(BINS) * (in_channels // len(BINS)), psp_channels, 1, relu=relu)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(psp_channels, num_classes, kernel_size=3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.project(self.pyramid(features[-1]))  # (B, psp, H/32, W/32)
        return self.head(self.dropout(x))  # (B, classes, H/32, W/32); upsampled by the model


class MLPDecoder(nn.Module):
    """SegFormer's all-MLP head: per-map linear to E, upsample to stride 4, concat -> 1x1 -> norm -> ReLU (GELU without
    ``relu``) -> classes."""

    def __init__(self, in_channels: list[int], dim: int, num_classes: int, dropout: float, relu: bool = True):
        super().__init__()
        self.project = nn.ModuleList([nn.Conv2d(c, dim, kernel_size=1) for c in in_channels])  # a linear per token
        self.fuse = nn.Sequential(nn.Conv2d(dim * len(in_channels), dim, kernel_size=1, bias=False),
                                  GroupNorm(1, dim), activation(relu))
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Conv2d(dim, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]
        maps = [F.interpolate(proj(f), size=size, mode="bilinear", align_corners=False) if f.shape[-2:] != size
                else proj(f) for proj, f in zip(self.project, features)]  # 4 x (B, E, H/4, W/4)
        return self.classifier(self.dropout(self.fuse(torch.cat(maps[::-1], dim=1))))  # (B, classes, H/4, W/4)


def make_decoder(name: str, channels: list[int], unet: list[int], width: int, classes: int,
                 dropout: float, relu: bool = True) -> nn.Module:
    """One of the engine's decoders (``DECODERS``) over four maps of ``channels`` at strides 4/8/16/32: ``unet`` the
    UNet's five widths, ``width`` the others' (FPN pyramid, ASPP, pyramid pooling, MLP); ``relu`` False: GELU."""
    return {"unet": lambda: UNetDecoder(channels, unet, classes, relu),
            "fpn": lambda: FPNDecoder(channels, width, max(width // 2, 1), classes, dropout, relu),
            "deeplabv3plus": lambda: DeepLabV3PlusDecoder(channels, width, LOW_LEVEL, list(ATROUS_RATES), classes,
                                                          relu),
            "pspnet": lambda: PSPDecoder(channels[-1], width, classes, dropout, relu),
            "mlp": lambda: MLPDecoder(channels, width, classes, dropout, relu)}[name]()
