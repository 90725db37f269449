"""FPN (Lin et al. 2017) with the panoptic-FPN semantic head (Kirillov et al. 2019) on any named encoder."""
