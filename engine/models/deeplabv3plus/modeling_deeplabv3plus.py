"""DeepLabV3+ decoder (as segmentation_models.pytorch's): ASPP (1x1, three atrous 3x3, image pooling; concat ->
1x1 -> dropout 0.5) -> separable 3x3, upsample to stride 4, concat with the 1x1-reduced stride-4 map -> separable
3x3 -> 1x1 to classes -> bilinear to full size."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..decoders import DeepLabV3PlusDecoder
from ..single_stream import SingleStreamModel


class DeepLabV3PlusModel(SingleStreamModel):
    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        cfg = self.config
        return DeepLabV3PlusDecoder(channels, preset.decoder_channels, preset.low_level_channels,
                                    list(cfg.atrous_rates), cfg.num_classes,
                                    cfg.decoder_relu)


MODEL = DeepLabV3PlusModel
