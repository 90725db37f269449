"""Training: the fit loop, losses, metrics, optimiser, checkpoints, the forward pass and reports."""
