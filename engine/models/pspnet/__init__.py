"""PSPNet (Zhao et al. 2017) on any named encoder: pyramid pooling 1/2/3/6, as in segmentation_models.pytorch."""
