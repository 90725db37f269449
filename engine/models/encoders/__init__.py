"""Encoders: ``catalog`` (names and sizes, torch-free), ``weights`` (one record per encoder and pretrained source,
and the one reading of the word ``pretrained``; torch-free), ``backbone`` (``Encoder``: transformers
AutoBackbone, ResNet, ConvNeXt, Swin, DINOv3; imports torch; SegFormer's MiT is ``engine.models.pretrained``'s),
``prithvi`` (Prithvi-EO-2.0); the NASA Harvest releases: ``presto`` (Presto, a pixel-series encoder) and ``galileo``
(Galileo, images and series), ``galileo_image`` (Galileo as a one-date named encoder), ``eo_bands`` (their band
groups and scaling, torch-free), ``eo_common`` (what the two share: month table, masked mean, strict loading) and
``eo_series`` (both as season encoders: a (B, T, C, H, W) stack, band names, months and validity -> features).
"""
