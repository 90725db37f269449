"""Encoders: SegFormer/MiT, transformers AutoBackbone (ResNet, ConvNeXt, Swin), the ConvNeXt aux encoder.

The catalog (names, sizes) is torch-free; ``build_encoder`` (in ``backbone``) imports torch.
"""

from .catalog import ENCODER_NAMES, ENCODERS, MIT_SIZE_KEYS, EncoderSpec, MiTPreset, check_encoder_name, check_mit_sizes

__all__ = ["ENCODERS", "ENCODER_NAMES", "MIT_SIZE_KEYS", "EncoderSpec", "MiTPreset", "check_encoder_name",
           "check_mit_sizes"]
