"""Training: ``trainer`` (the fit loop) with ``parts``, ``preflight``, ``steps``, ``step_setup`` (precision, memory
format, optimiser implementation), ``speed`` (what the log says of the run's speed), ``resume``, ``sizing`` (the
model sized to the data), ``cached`` (frozen features), ``forward``, ``losses``, ``metrics``, ``optim``,
``checkpoint``, ``outputs``, ``report``; choices from the data: ``auto``, ``budget``, ``finetune``,
``released_stats``."""
