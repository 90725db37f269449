"""CMX (Zhang et al. 2023, arXiv 2203.04838): RGB-X fusion with two MiT streams. Per stage both streams run, the
FRM rectifies each with the other (the rectified maps go on to the next stage), the FFM merges them into the stage's
fused map; SegFormer's all-MLP decoder classifies the four fused maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...callbacks import Callback
from ..blocks import in_layout_of
from ..decoders import MLPDecoder
from ..fusion import FeatureFusion, FeatureRectify
from ..modeling_utils import SegmentationModel
from ..pretrained import config_mit, encoder_sizes, make_mit, mit_features
from .configuration_cmx import CMXConfig


class CMXModel(SegmentationModel):
    """``model(vision (B, Cv, H, W), aux (B, Cx, H/r, W/r))``: the X modality is ``aux``, any band count."""

    def __init__(self, config: CMXConfig, callback: Callback | None = None):
        super().__init__(config)
        callback = callback or Callback()
        preset = config.preset_settings()
        self.vision_encoder, self.config, self.pretrained_source = config_mit(config, callback.info)
        config = self.config
        sizes = encoder_sizes(self.vision_encoder.config)  # the preset's, or what a checkpoint fixed
        channels, heads = list(sizes["hidden_sizes"]), list(sizes["num_attention_heads"])
        if config.uses_aux:
            # The reference initialises the X stream from the same ImageNet weights as the RGB stream.
            self.x_encoder: nn.Module | None = make_mit(sizes, config.aux_channels, config.drop_path,
                                                        config.pretrained, callback.info, what="X-stream",
                                                        preset=config.preset)[0]
            self.rectify: nn.ModuleList | None = nn.ModuleList(
                [FeatureRectify(c, lambda_c=config.rectify_lambda, lambda_s=config.rectify_lambda) for c in channels])
            self.fuse: nn.ModuleList | None = nn.ModuleList([FeatureFusion(c, h) for c, h in zip(channels, heads)])
        else:
            self.x_encoder = self.rectify = self.fuse = None
        self.decoder = MLPDecoder(channels, config.decoder_dim or preset.decoder_dim, config.num_classes,
                                  config.dropout)

    def role_modules(self) -> dict[str, list[nn.Module | None]]:
        return {"vision_encoder": [self.vision_encoder], "aux_encoder": [self.x_encoder],
                "fusion": [self.rectify, self.fuse]}

    def _forward(self, vision: torch.Tensor, aux: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if self.x_encoder is None or self.rectify is None or self.fuse is None or aux is None:
            features = mit_features(self.vision_encoder, vision)
        else:
            if aux.shape[-2:] != vision.shape[-2:]:  # aux grid coarser than the image: onto the image grid
                aux = F.interpolate(aux, size=vision.shape[-2:], mode="bilinear", align_corners=False)
            vis, x, features = vision, aux, []
            for stage in range(4):
                vis = in_layout_of(self.vision_encoder.stages[stage](vis), vision)  # (B, C_i, H/s, W/s)
                x = in_layout_of(self.x_encoder.stages[stage](x), vision)
                vis, x = self.rectify[stage](vis, x)
                features.append(self.fuse[stage](vis, x))
        logits = self.decoder(features)  # (B, classes, H/4, W/4)
        return F.interpolate(logits, size=vision.shape[-2:], mode="bilinear", align_corners=False), []


MODEL = CMXModel
