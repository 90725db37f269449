"""Encoders: ``catalog`` (names and sizes, torch-free), ``weights`` (one record per encoder and pretrained source,
and the one reading of the word ``pretrained``; torch-free), ``backbone`` (``Encoder``: transformers
AutoBackbone, ResNet, ConvNeXt, Swin, DINOv3; imports torch; SegFormer's MiT is ``engine.models.pretrained``'s),
``prithvi`` (Prithvi-EO-2.0).
"""
