"""DeepLabV3+ (Chen et al. 2018) on any named encoder: ASPP + low-level skip, as in segmentation_models.pytorch."""
