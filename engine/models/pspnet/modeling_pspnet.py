"""PSPNet head (as segmentation_models.pytorch's): for bins 1, 2, 3, 6 average-pool the map, 1x1 conv to C/4,
upsample back; concat with the map -> 1x1 conv-norm-ReLU -> dropout -> 3x3 conv to classes. smp pools the stride-8
map of a 3-stage encoder; transformers backbones always run all four stages, so here the pyramid pools the deepest
(stride 32) map and every encoder weight is used."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..decoders import PSPDecoder
from ..single_stream import SingleStreamModel


class PSPNetModel(SingleStreamModel):
    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        return PSPDecoder(channels[-1], self.config.psp_channels or preset.psp_channels, self.config.num_classes,
                          self.config.psp_dropout, self.config.decoder_relu)


MODEL = PSPNetModel
