"""Training: ``trainer`` (the fit loop) with ``parts``, ``preflight``, ``steps``, ``cached`` (frozen
features), ``forward``, ``losses``, ``metrics``, ``optim``, ``checkpoint``, ``destination``, ``outputs``, ``report``;
choices from the data: ``auto``, ``budget``, ``finetune``, ``released_stats``."""
