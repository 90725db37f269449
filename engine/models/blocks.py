"""Building blocks shared by the engine's models (ConvNeXt blocks, ASPP, gated skips, up-convs).

All normalisation is :class:`GroupNorm` (1, C) (layer-norm over channels and space) as in the reference: it does not
depend on the batch size, so batch 1 inference and tiny training batches behave like batch 4 training.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

NARROW_CHANNELS = 16  # below this width PyTorch's channels-last bfloat16 GroupNorm is the slow one (torch 2.13)


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether a 4-D map is laid out channels-last (and not also contiguous, as a one-pixel or one-channel map is)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def in_layout_of(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` in ``like``'s memory format. A map made from a one-pixel one (image pooling) or handed over contiguous
    (transformers' encoders) comes in the default layout, and a concatenation with it puts every layer after it
    there too: in a channels-last CPU training step oneDNN's depthwise and 1x1 backward passes take about twice as
    long in that layout (DualStream b0's decoder, docs/benchmarks.md)."""
    return x.contiguous(memory_format=torch.channels_last) if is_channels_last(like) else x


class GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` (same parameters, same state dict) that normalises a channels-last bfloat16 or float16 map
    of fewer than :data:`NARROW_CHANNELS` channels in the default memory format, then hands it back channels-last.

    A CPU training step runs channels-last under bfloat16 autocast (``training.step_setup``), where PyTorch's
    channels-last GroupNorm kernel takes 3-5x as long below 16 channels as on the same map in the default layout
    (forward and backward, 4x8x256x256, one thread: 22 against 5 ms): UNet tiny's last decoder stages are 8 wide
    at full resolution, and its training step ran 15-20 % faster with this. Wider maps and every other dtype or
    layout take the stock path, as do inference and export.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in (torch.bfloat16, torch.float16) and x.shape[1] < NARROW_CHANNELS and is_channels_last(x):
            return super().forward(x.contiguous()).contiguous(memory_format=torch.channels_last)
        return super().forward(x)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): zero whole residual branches per sample with probability ``drop_prob``."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep_prob = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep_prob)
        return x * mask / keep_prob

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def drop_path_or_identity(p: float) -> nn.Module:
    return DropPath(p) if p > 0.0 else nn.Identity()


class ConvNormAct(nn.Sequential):
    """Conv (no bias) -> GroupNorm(1) -> GELU, the reference's ``BasicConv``; ReLU with ``relu``, as smp's
    Conv2dReLU (the single-stream decoders')."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1,
                 relu: bool = False):
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, padding=dilation * (kernel_size // 2),
                                   dilation=dilation, bias=False),
                         GroupNorm(1, out_channels), nn.ReLU(inplace=True) if relu else nn.GELU())


class ConvNeXtBlock(nn.Module):
    """dw7x7 -> GroupNorm(1) -> 1x1 (4x) -> GELU -> 1x1 -> residual with DropPath (Liu et al. 2022)."""

    def __init__(self, dim: int, drop_path: float = 0.1):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = GroupNorm(1, dim)
        self.pwconv1 = nn.Conv2d(dim, 4 * dim, kernel_size=1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(4 * dim, dim, kernel_size=1)
        self.drop_path = drop_path_or_identity(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        x = self.pwconv2(self.act(self.pwconv1(self.norm(self._depthwise(x)))))
        return residual + self.drop_path(x)

    def _depthwise(self, x: torch.Tensor) -> torch.Tensor:
        """The 7x7 depthwise convolution; in float32 under the CPU's bfloat16 autocast, where oneDNN's bfloat16
        kernel is the slower one (forward and backward, 4x64x64x64 channels-last, one thread: 35 against 29 ms,
        most of it the weight gradient; DualStream b0's CPU step with the Lovasz sort's change 3-5 % faster on one
        thread, docs/benchmarks.md)."""
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return self.dwconv(x.float())
        return self.dwconv(x)


def convnext_stage(dim: int, blocks: int, drop_path: float) -> nn.Sequential:
    return nn.Sequential(*[ConvNeXtBlock(dim, drop_path=drop_path) for _ in range(blocks)])


class Downsample(nn.Sequential):
    """GroupNorm(1) -> 2x2 stride-2 conv: halves the resolution, changes the width."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(OrderedDict(norm=GroupNorm(1, in_channels),
                                     conv=nn.Conv2d(in_channels, out_channels, kernel_size=2, stride=2, bias=False)))


def attention_heads(dim: int, wanted: int) -> int:
    """The largest head count <= ``wanted`` that divides ``dim`` (MultiheadAttention needs dim % heads == 0)."""
    return next((heads for heads in range(min(wanted, dim), 0, -1) if dim % heads == 0), 1)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (Chen et al. 2017): 1x1, three dilated 3x3, image pooling; concat -> 1x1."""

    def __init__(self, in_channels: int, out_channels: int = 256, rates: tuple[int, ...] = (6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList([ConvNormAct(in_channels, out_channels, 1)]
                                      + [ConvNormAct(in_channels, out_channels, 3, dilation=r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvNormAct(in_channels, out_channels, 1))
        self.project = ConvNormAct(out_channels * (len(rates) + 2), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([branch(x) for branch in self.branches] + [in_layout_of(pooled, x)], dim=1))


class AttentionGate(nn.Module):
    """Additive attention gate on a skip connection (Oktay et al. 2018): x * sigmoid(psi(GELU(Wg g + Wx x))), its
    inner width the skip's."""

    def __init__(self, gate_channels: int, skip_channels: int):
        super().__init__()
        self.w_g = nn.Sequential(nn.Conv2d(gate_channels, skip_channels, 1, bias=False), GroupNorm(1, skip_channels))
        self.w_x = nn.Sequential(nn.Conv2d(skip_channels, skip_channels, 1, bias=False), GroupNorm(1, skip_channels))
        self.act = nn.GELU()
        self.psi = nn.Sequential(nn.Conv2d(skip_channels, 1, 1), nn.Sigmoid())

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x * self.psi(self.act(self.w_g(g) + self.w_x(x)))


class GatedSkipStage(nn.Module):
    """One decoder stage: upsample the coarser map, reduce + gate the skip, concat -> 1x1 -> ConvNeXt blocks."""

    def __init__(self, in_channels: int, skip_in: int, skip_channels: int, out_channels: int, blocks: int,
                 drop_path: float):
        super().__init__()
        self.reduce = ConvNormAct(skip_in, skip_channels, 1)
        self.gate = AttentionGate(in_channels, skip_channels)
        self.refine = nn.Sequential(ConvNormAct(in_channels + skip_channels, out_channels, 1),
                                    convnext_stage(out_channels, blocks, drop_path))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        skip = self.gate(x, self.reduce(skip))
        return self.refine(torch.cat([x, skip], dim=1))


class UpConv(nn.Sequential):
    """ConvNormAct 3x3 then bilinear x2 upsampling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(ConvNormAct(in_channels, out_channels, 3),
                         nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
