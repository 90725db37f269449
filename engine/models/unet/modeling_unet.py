"""UNet decoder (as segmentation_models.pytorch's): five blocks of x2 nearest upsampling, concat with the encoder
map of that stride when there is one (16, 8, 4), two 3x3 conv-norm-activation (``decoder_activation``); a 3x3 conv
to classes at full size."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..decoders import UNetDecoder
from ..single_stream import SingleStreamModel


class UNetModel(SingleStreamModel):
    def make_decoder(self, channels: list[int], preset: Any) -> nn.Module:
        widths = list(self.config.decoder_channels or preset.decoder_channels)
        return UNetDecoder(channels, widths, self.config.num_classes, relu=self.config.decoder_relu)


MODEL = UNetModel
