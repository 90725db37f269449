"""UNet (Ronneberger et al. 2015) on any named encoder, decoder as in segmentation_models.pytorch."""
