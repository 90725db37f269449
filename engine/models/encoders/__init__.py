"""Encoders: ``catalog`` (names and sizes, torch-free), ``weights`` (one record per encoder and pretrained source,
and the one reading of the word ``pretrained``; torch-free), ``backbone`` (``build_encoder``: transformers
AutoBackbone, ResNet, ConvNeXt, Swin, DINOv3; imports torch; SegFormer's MiT is ``engine.models.pretrained``'s),
``prithvi`` (Prithvi-EO-2.0).
"""

from .catalog import ENCODER_NAMES, ENCODERS, MIT_SIZE_KEYS, EncoderSpec, MiTPreset, check_encoder_name, check_mit_sizes

__all__ = ["ENCODERS", "ENCODER_NAMES", "MIT_SIZE_KEYS", "EncoderSpec", "MiTPreset", "check_encoder_name",
           "check_mit_sizes"]
