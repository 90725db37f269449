"""DualStream-DFormer: SegFormer vision encoder + ConvNeXt aux encoder with maps of the same widths at strides
4/8/16/32, fused at every scale (FiLM + gate at stages 1-2, cross-attention at 3-4); ASPP and attention-gated skips
refined by ConvNeXt blocks, side heads on the f2 and f3 stages (docs/models.md). ``aux_channels=0`` builds the
vision-only variant: no aux encoder and no fusion blocks.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...callbacks import Callback
from ..blocks import ASPP, ConvNormAct, Downsample, GatedSkipStage, UpConv, convnext_stage
from ..encoders.backbone import config_encoder
from ..fusion import CrossAttentionFusion, GatedFiLMFusion
from ..modeling_utils import SegmentationModel
from ..pretrained import config_mit, encoder_sizes, mit_features
from .configuration_dualstream import DualStreamConfig, DualStreamPreset

# Side-head parameter names of bundles written before the side heads were named so (bundle format v1).
_LEGACY_SIDE_HEADS = {"aux_head_f3.": "side_head_f3.", "aux_head_f2.": "side_head_f2."}


class AuxConvNeXtEncoder(nn.Module):
    """ConvNeXt encoder of the coarse aux rasters, giving maps at vision strides 4/8/16/32: the stem works at stride
    8 (the reference's 64x64 aux grid under a 512 tile), f1 upsampled, f3 and f4 downsampled. Aux at another ratio is
    first brought onto the stride-8 grid (area-averaged when finer, bilinear when coarser)."""

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


class DualStreamDecoder(nn.Module):
    """ASPP + attention-gated skips with ConvNeXt refinement + up-convs; side heads on the f2 and f3 stages."""

    def __init__(self, in_channels: list[int], num_classes: int, preset: DualStreamPreset, dropout: float,
                 drop_path: float):
        super().__init__()
        c1, c2, c3, c4 = in_channels
        r3, r2, r1 = preset.refine_channels
        skip, blocks = preset.skip_channels, preset.decoder_blocks
        self.aspp = ASPP(c4, preset.aspp_channels)
        self.stage3 = GatedSkipStage(preset.aspp_channels, c3, skip, r3, blocks, drop_path)
        self.stage2 = GatedSkipStage(r3, c2, skip, r2, blocks, drop_path)
        self.stage1 = GatedSkipStage(r2, c1, skip, r1, blocks, drop_path)
        self.up1 = UpConv(r1, preset.up_channels[0])
        self.up2 = UpConv(preset.up_channels[0], preset.up_channels[1])
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Conv2d(preset.up_channels[1], num_classes, kernel_size=1)
        self.side_head_f3 = nn.Conv2d(r3, num_classes, kernel_size=1)
        self.side_head_f2 = nn.Conv2d(r2, num_classes, kernel_size=1)
        self._register_load_state_dict_pre_hook(_rename_legacy_side_heads)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        f1, f2, f3, f4 = features
        x = self.aspp(f4)  # (B, aspp, H/32, W/32)
        x3 = self.stage3(x, f3)  # (B, r3, H/16, W/16)
        x2 = self.stage2(x3, f2)  # (B, r2, H/8, W/8)
        x1 = self.stage1(x2, f1)  # (B, r1, H/4, W/4)
        x = self.up2(self.up1(x1))  # (B, up[1], H, W)
        logits = self.classifier(self.dropout(x))  # (B, classes, H, W)
        return logits, [self.side_head_f2(x2), self.side_head_f3(x3)]


def _rename_legacy_side_heads(state: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load-time hook: weights saved with the side heads' old names (``aux_head_f*``) load into ``side_head_f*``."""
    for old, new in _LEGACY_SIDE_HEADS.items():
        for key in [k for k in state if k.startswith(prefix + old)]:
            state[prefix + new + key[len(prefix + old):]] = state.pop(key)


class DualStreamModel(SegmentationModel):
    """The flagship model: ``model(vision (B, Cv, H, W), aux (B, Ca, H/r, W/r) or None)``; ``side_logits`` (training
    mode) = [f2 logits at stride 8, f3 logits at stride 16]."""

    num_side_outputs = 2
    side_strides = (8, 16)

    def __init__(self, config: DualStreamConfig, callback: Callback | None = None):
        super().__init__(config)
        callback = callback or Callback()
        preset = config.preset_settings()
        self.named = bool(config.encoder)
        if config.encoder:  # a named encoder (Prithvi, DINOv3, ...) as the vision stream: four maps, any widths
            self.vision_encoder, self.config = config_encoder(config, config.vision_channels, callback.info)
            self.pretrained_source = self.vision_encoder.source
            channels = list(self.vision_encoder.channels)
        else:
            self.vision_encoder, self.config, self.pretrained_source = config_mit(config, callback.info)
            channels = list(encoder_sizes(self.vision_encoder.config)["hidden_sizes"])  # the preset's or a checkpoint's
        config = self.config
        self.feature_channels = channels

        self.aux_encoder: AuxConvNeXtEncoder | None = None
        self.fusion: nn.ModuleList | None = None
        if config.aux_channels > 0:
            self.aux_encoder = AuxConvNeXtEncoder(config.aux_channels, channels, blocks=preset.aux_blocks,
                                                  drop_path=config.drop_path)
            self.fusion = nn.ModuleList(
                [GatedFiLMFusion(c, drop_path=config.drop_path) for c in channels[:2]]
                + [CrossAttentionFusion(c, preset.fusion_heads, drop_path=config.drop_path) for c in channels[2:]])
        self.decoder = DualStreamDecoder(channels, config.num_classes, preset, config.dropout, config.drop_path)

    def role_modules(self) -> dict[str, list[nn.Module | None]]:
        vision = self.vision_encoder.backbone if self.named else self.vision_encoder  # a ViT's neck: decoder LR
        return {"vision_encoder": [vision], "aux_encoder": [self.aux_encoder], "fusion": [self.fusion]}

    def _forward(self, vision: torch.Tensor, aux: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        # 4 maps (B, C_i, H/s, W/s), s = 4, 8, 16, 32
        features = self.vision_encoder(vision) if self.named else mit_features(self.vision_encoder, vision)
        if self.aux_encoder is not None and self.fusion is not None:
            # (B, Ca, H/r, W/r) -> 4 maps with the vision maps' shapes
            aux_maps = self.aux_encoder(aux, size=tuple(features[1].shape[-2:]))
            features = [fuse(vis, a) for fuse, vis, a in zip(self.fusion, features, aux_maps)]
        return self.decoder(features)  # (B, classes, H, W); [(B, classes, H/8, W/8), (.., H/16, W/16)]


MODEL = DualStreamModel
