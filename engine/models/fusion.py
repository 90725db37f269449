"""Fusion of a vision stream with a second (aux / X) stream.

DualStream: FiLM + gate (stages 1-2) and cross-attention with vision queries and aux keys/values (stages 3-4).
CMX (Zhang et al. 2023, arXiv 2203.04838): the Feature Rectify Module (FRM) and the Feature Fusion Module (FFM),
our own code after the paper and huaaaliu/RGBX_Semantic_Segmentation's ``net_utils.py``, with GroupNorm(1)
(batch-size independent, as elsewhere in this engine) where the reference used BatchNorm.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvNeXtBlock, GroupNorm, attention_heads, drop_path_or_identity


class FiLM(nn.Module):
    """Feature-wise linear modulation of vision features by aux features: vis * (gamma + 1) + beta."""

    def __init__(self, dim: int, drop_path: float = 0.1):
        super().__init__()
        self.generator = nn.Sequential(nn.Conv2d(dim, dim, kernel_size=1), ConvNeXtBlock(dim, drop_path=drop_path),
                                       nn.Conv2d(dim, 2 * dim, kernel_size=1))

    def forward(self, vis: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.generator(aux).chunk(2, dim=1)
        return vis * (gamma + 1.0) + beta


class FusionGate(nn.Module):
    """Per-pixel gate in [0, 1] from cat(vis, aux): 3x3 -> C//2, GroupNorm, GELU, 1x1 -> 1, sigmoid."""

    def __init__(self, dim: int):
        super().__init__()
        mid = max(dim // 2, 1)
        self.net = nn.Sequential(nn.Conv2d(2 * dim, mid, kernel_size=3, padding=1), GroupNorm(1, mid), nn.GELU(),
                                 nn.Conv2d(mid, 1, kernel_size=1), nn.Sigmoid())

    def forward(self, vis: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([vis, aux], dim=1))


class GatedFiLMFusion(nn.Module):
    """Stages 1-2: fused = vis * (1 - g) + FiLM(vis, aux) * g; the aux encoder gives maps as wide as the vision's."""

    def __init__(self, dim: int, drop_path: float = 0.1):
        super().__init__()
        self.film = FiLM(dim, drop_path=drop_path)
        self.gate = FusionGate(dim)

    def forward(self, vis: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        gate = self.gate(vis, aux)  # (B, 1, h, w); computed once (the reference computed it twice)
        return vis * (1.0 - gate) + self.film(vis, aux) * gate


class CrossAttentionFusion(nn.Module):
    """Stages 3-4: vision tokens attend to aux tokens; residual + DropPath -> GN -> FFN + residual -> GN."""

    def __init__(self, dim: int, num_heads: int = 8, ffn_expansion: int = 4, drop_path: float = 0.1):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, attention_heads(dim, num_heads), batch_first=True)
        self.norm1 = GroupNorm(1, dim)
        self.ffn = nn.Sequential(nn.Conv2d(dim, dim * ffn_expansion, kernel_size=1), nn.GELU(),
                                 nn.Conv2d(dim * ffn_expansion, dim, kernel_size=1))
        self.norm2 = GroupNorm(1, dim)
        self.drop_path = drop_path_or_identity(drop_path)

    def forward(self, vis: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = vis.shape
        queries = vis.flatten(2).transpose(1, 2)  # (B, h*w, C)
        keys = aux.flatten(2).transpose(1, 2)  # (B, h*w, C)
        attended, _ = self.attn(queries, keys, keys, need_weights=False)
        x = (queries + self.drop_path(attended)).transpose(1, 2).reshape(batch, channels, height, width)
        x = self.norm1(x)
        return self.norm2(x + self.drop_path(self.ffn(x)))


class FeatureRectify(nn.Module):
    """CMX FRM: each stream += lambda_c * channel weight * other + lambda_s * spatial weight * other.

    Channel weights: MLP over global average and max pooling of cat(vision, x) (4C -> 4C -> 2C, sigmoid).
    Spatial weights: 1x1 convs over cat(vision, x) (2C -> C -> 2, sigmoid). Both give one weight set per stream.
    The reference's reduction ratio r is 1 here (CMX's setting), so no layer narrows.
    """

    def __init__(self, dim: int, lambda_c: float = 0.5, lambda_s: float = 0.5):
        super().__init__()
        self.lambda_c, self.lambda_s = lambda_c, lambda_s
        self.channel_mlp = nn.Sequential(nn.Linear(4 * dim, 4 * dim), nn.ReLU(inplace=True),
                                         nn.Linear(4 * dim, 2 * dim), nn.Sigmoid())
        self.spatial_mlp = nn.Sequential(nn.Conv2d(2 * dim, dim, kernel_size=1), nn.ReLU(inplace=True),
                                         nn.Conv2d(dim, 2, kernel_size=1), nn.Sigmoid())

    def forward(self, vis: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, channels = vis.shape[:2]
        both = torch.cat([vis, x], dim=1)  # (B, 2C, h, w)
        pooled = torch.cat([both.mean(dim=(2, 3)), both.amax(dim=(2, 3))], dim=1)  # (B, 4C)
        channel = self.channel_mlp(pooled).view(batch, 2, channels, 1, 1)  # [:, 0] for vision, [:, 1] for x
        spatial = self.spatial_mlp(both).unsqueeze(2)  # (B, 2, 1, h, w)
        # As in the reference: the vision stream is corrected with the x stream's weights and vice versa.
        vis_out = vis + self.lambda_c * channel[:, 1] * x + self.lambda_s * spatial[:, 1] * x
        x_out = x + self.lambda_c * channel[:, 0] * vis + self.lambda_s * spatial[:, 0] * vis
        return vis_out, x_out


class EfficientCrossAttention(nn.Module):
    """Cross-path efficient attention: each stream's queries read the other stream's global context k^T v."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = attention_heads(dim, num_heads)
        self.scale = (dim // self.num_heads) ** -0.5
        self.kv_vis = nn.Linear(dim, 2 * dim, bias=False)
        self.kv_x = nn.Linear(dim, 2 * dim, bias=False)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = t.shape
        return t.reshape(batch, tokens, self.num_heads, dim // self.num_heads).transpose(1, 2)  # (B, h, N, d)

    def _context(self, kv: torch.Tensor) -> torch.Tensor:
        key, value = kv.chunk(2, dim=-1)
        return ((self._heads(key).transpose(-2, -1) @ self._heads(value)) * self.scale).softmax(dim=-2)  # (B,h,d,d)

    def forward(self, vis: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, tokens, dim = vis.shape
        ctx_vis, ctx_x = self._context(self.kv_vis(vis)), self._context(self.kv_x(x))
        vis_out = (self._heads(vis) @ ctx_x).transpose(1, 2).reshape(batch, tokens, dim)
        x_out = (self._heads(x) @ ctx_vis).transpose(1, 2).reshape(batch, tokens, dim)
        return vis_out, x_out


class CrossPath(nn.Module):
    """Per stream: linear -> ReLU -> split into a residual half and an attention half; cross attention on the
    attention halves; concat -> linear back to C; residual + LayerNorm."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.proj_vis = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(inplace=True))
        self.proj_x = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(inplace=True))
        self.attn = EfficientCrossAttention(dim, num_heads)
        self.out_vis = nn.Linear(2 * dim, dim)
        self.out_x = nn.Linear(2 * dim, dim)
        self.norm_vis = nn.LayerNorm(dim)
        self.norm_x = nn.LayerNorm(dim)

    def forward(self, vis: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep_vis, att_vis = self.proj_vis(vis).chunk(2, dim=-1)
        keep_x, att_x = self.proj_x(x).chunk(2, dim=-1)
        att_vis, att_x = self.attn(att_vis, att_x)
        vis = self.norm_vis(vis + self.out_vis(torch.cat([keep_vis, att_vis], dim=-1)))
        x = self.norm_x(x + self.out_x(torch.cat([keep_x, att_x], dim=-1)))
        return vis, x


class ChannelEmbed(nn.Module):
    """2C -> C: a 1x1 residual projection plus 1x1 -> depth-wise 3x3 -> ReLU -> 1x1 -> norm; sum -> norm."""

    def __init__(self, dim: int):
        super().__init__()
        self.residual = nn.Conv2d(2 * dim, dim, kernel_size=1, bias=False)
        self.embed = nn.Sequential(nn.Conv2d(2 * dim, dim, kernel_size=1),
                                   nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim), nn.ReLU(inplace=True),
                                   nn.Conv2d(dim, dim, kernel_size=1), GroupNorm(1, dim))
        self.norm = GroupNorm(1, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.residual(x) + self.embed(x))


class FeatureFusion(nn.Module):
    """CMX FFM: cross-path attention between the token sequences, then a channel embedding of the concat."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.cross = CrossPath(dim, num_heads)
        self.embed = ChannelEmbed(dim)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, vis: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = vis.shape
        tokens_vis, tokens_x = self.cross(vis.flatten(2).transpose(1, 2), x.flatten(2).transpose(1, 2))  # (B, N, C)
        merged = torch.cat([tokens_vis, tokens_x], dim=-1).transpose(1, 2).reshape(batch, 2 * channels, height, width)
        return self.embed(merged)  # (B, C, h, w)
