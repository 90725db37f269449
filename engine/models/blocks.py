"""Building blocks shared by the engine's models (ConvNeXt, fusion, decoder parts).

All normalisation is GroupNorm(1, C) (layer-norm over channels and space) as in the reference: it does not
depend on the batch size, so batch 1 inference and tiny training batches behave like batch 4 training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Stochastic depth per sample: zero whole residual branches with probability ``drop_prob``."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = x.new_empty(shape).bernoulli_(keep_prob)
    return x * mask / keep_prob


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016) as a module."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def _drop_path_or_identity(p: float) -> nn.Module:
    return DropPath(p) if p > 0.0 else nn.Identity()


class ConvNormAct(nn.Sequential):
    """Conv (no bias) -> GroupNorm(1) -> GELU; the reference's ``BasicConv``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int | None = None, dilation: int = 1):
        if padding is None:
            padding = dilation * (kernel_size // 2)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                      bias=False),
            nn.GroupNorm(1, out_channels),
            nn.GELU(),
        )


class ConvNeXtBlock(nn.Module):
    """dw7x7 -> GroupNorm(1) -> 1x1 (4x) -> GELU -> 1x1 -> residual with DropPath (Liu et al. 2022)."""

    def __init__(self, dim: int, drop_path: float = 0.1, expansion: int = 4):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.GroupNorm(1, dim)
        self.pwconv1 = nn.Conv2d(dim, expansion * dim, kernel_size=1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(expansion * dim, dim, kernel_size=1)
        self.drop_path = _drop_path_or_identity(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        x = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))
        return residual + self.drop_path(x)


def convnext_stage(dim: int, blocks: int, drop_path: float) -> nn.Sequential:
    return nn.Sequential(*[ConvNeXtBlock(dim, drop_path=drop_path) for _ in range(blocks)])


class Downsample(nn.Module):
    """GroupNorm(1) -> 2x2 stride-2 conv: halves the resolution, changes the width."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(1, in_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=2, stride=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x))


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

    def forward(self, air: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        """``air`` (B, Ca, h, w); ``size`` = the stride-8 grid (H/8, W/8). Returns [f1, f2, f3, f4]."""
        if tuple(air.shape[-2:]) != tuple(size):
            if air.shape[-2] > size[0]:
                air = F.adaptive_avg_pool2d(air, size)
            else:
                air = F.interpolate(air, size=size, mode="bilinear", align_corners=False)
        f2 = self.stem_blocks(self.stem(air))  # (B, c2, H/8, W/8)
        f1 = F.interpolate(f2, scale_factor=2.0, mode="bilinear", align_corners=False)
        f1 = self.f1_blocks(self.f1_conv(f1))  # (B, c1, H/4, W/4)
        f3 = self.f3_blocks(self.f3_down(f2))  # (B, c3, H/16, W/16)
        f4 = self.f4_blocks(self.f4_down(f3))  # (B, c4, H/32, W/32)
        return [f1, f2, f3, f4]


class FiLM(nn.Module):
    """Feature-wise linear modulation of vision features by aux features: vis * (gamma + 1) + beta."""

    def __init__(self, air_dim: int, vis_dim: int, drop_path: float = 0.1):
        super().__init__()
        mid = (air_dim + vis_dim) // 2
        self.generator = nn.Sequential(
            nn.Conv2d(air_dim, mid, kernel_size=1),
            ConvNeXtBlock(mid, drop_path=drop_path),
            nn.Conv2d(mid, 2 * vis_dim, kernel_size=1),
        )

    def forward(self, vis: torch.Tensor, air: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.generator(air).chunk(2, dim=1)
        return vis * (gamma + 1.0) + beta


class FusionGate(nn.Module):
    """Per-pixel gate in [0, 1] from cat(vis, air): 3x3 -> vis//2, GroupNorm, GELU, 1x1 -> 1, sigmoid."""

    def __init__(self, vis_dim: int, air_dim: int):
        super().__init__()
        mid = max(vis_dim // 2, 1)
        self.net = nn.Sequential(
            nn.Conv2d(vis_dim + air_dim, mid, kernel_size=3, padding=1),
            nn.GroupNorm(1, mid),
            nn.GELU(),
            nn.Conv2d(mid, 1, kernel_size=1),
            nn.Sigmoid(),
        )

    def forward(self, vis: torch.Tensor, air: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([vis, air], dim=1))


class GatedFiLMFusion(nn.Module):
    """Stages 1-2: fused = vis * (1 - g) + FiLM(vis, air) * g."""

    def __init__(self, vis_dim: int, air_dim: int, drop_path: float = 0.1):
        super().__init__()
        self.film = FiLM(air_dim, vis_dim, drop_path=drop_path)
        self.gate = FusionGate(vis_dim, air_dim)

    def forward(self, vis: torch.Tensor, air: torch.Tensor) -> torch.Tensor:
        gate = self.gate(vis, air)  # (B, 1, h, w); computed once (the reference computed it twice)
        return vis * (1.0 - gate) + self.film(vis, air) * gate


def attention_heads(dim: int, wanted: int) -> int:
    """The largest head count <= ``wanted`` that divides ``dim`` (MultiheadAttention needs dim % heads == 0)."""
    for heads in range(min(wanted, dim), 0, -1):
        if dim % heads == 0:
            return heads
    return 1


class CrossAttentionFusion(nn.Module):
    """Stages 3-4: vision tokens attend to aux tokens; residual + DropPath -> GN -> FFN + residual -> GN."""

    def __init__(self, vis_dim: int, air_dim: int, num_heads: int = 8, ffn_expansion: int = 4,
                 drop_path: float = 0.1):
        super().__init__()
        self.attn = nn.MultiheadAttention(vis_dim, attention_heads(vis_dim, num_heads), kdim=air_dim, vdim=air_dim,
                                          batch_first=True)
        self.norm1 = nn.GroupNorm(1, vis_dim)
        self.ffn = nn.Sequential(
            nn.Conv2d(vis_dim, vis_dim * ffn_expansion, kernel_size=1),
            nn.GELU(),
            nn.Conv2d(vis_dim * ffn_expansion, vis_dim, kernel_size=1),
        )
        self.norm2 = nn.GroupNorm(1, vis_dim)
        self.drop_path = _drop_path_or_identity(drop_path)

    def forward(self, vis: torch.Tensor, air: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = vis.shape
        queries = vis.flatten(2).transpose(1, 2)  # (B, h*w, Cv)
        keys = air.flatten(2).transpose(1, 2)  # (B, h*w, Ca)
        attended, _ = self.attn(queries, keys, keys, need_weights=False)
        x = (queries + self.drop_path(attended)).transpose(1, 2).reshape(batch, channels, height, width)
        x = self.norm1(x)
        return self.norm2(x + self.drop_path(self.ffn(x)))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (Chen et al. 2017): 1x1, three dilated 3x3, image pooling; concat -> 1x1."""

    def __init__(self, in_channels: int, out_channels: int = 256, rates: tuple[int, ...] = (6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList(
            [ConvNormAct(in_channels, out_channels, 1)]
            + [ConvNormAct(in_channels, out_channels, 3, dilation=r) for r in rates]
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvNormAct(in_channels, out_channels, 1))
        self.project = ConvNormAct(out_channels * (len(rates) + 2), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], dim=1))


class AttentionGate(nn.Module):
    """Additive attention gate on a skip connection (Oktay et al. 2018): x * sigmoid(psi(GELU(Wg g + Wx x)))."""

    def __init__(self, gate_channels: int, skip_channels: int, inter_channels: int):
        super().__init__()
        self.w_g = nn.Sequential(nn.Conv2d(gate_channels, inter_channels, 1, bias=False),
                                 nn.GroupNorm(1, inter_channels))
        self.w_x = nn.Sequential(nn.Conv2d(skip_channels, inter_channels, 1, bias=False),
                                 nn.GroupNorm(1, inter_channels))
        self.act = nn.GELU()
        self.psi = nn.Sequential(nn.Conv2d(inter_channels, 1, 1), nn.Sigmoid())

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x * self.psi(self.act(self.w_g(g) + self.w_x(x)))


class GatedSkipStage(nn.Module):
    """One decoder stage: upsample the coarser map, reduce + gate the skip, concat -> 1x1 -> ConvNeXt blocks."""

    def __init__(self, in_channels: int, skip_in: int, skip_channels: int, out_channels: int, blocks: int,
                 drop_path: float):
        super().__init__()
        self.reduce = ConvNormAct(skip_in, skip_channels, 1)
        self.gate = AttentionGate(in_channels, skip_channels, skip_channels)
        self.refine = nn.Sequential(
            ConvNormAct(in_channels + skip_channels, out_channels, 1),
            convnext_stage(out_channels, blocks, drop_path),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        skip = self.gate(x, self.reduce(skip))
        return self.refine(torch.cat([x, skip], dim=1))


class UpConv(nn.Sequential):
    """ConvNormAct 3x3 then bilinear x2 upsampling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(ConvNormAct(in_channels, out_channels, 3),
                         nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
