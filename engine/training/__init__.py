"""Training: ``trainer`` (the fit loop) with ``parts`` (and the time budget, the forward pass and validation),
``preflight`` (and the model sized to the data), ``steps``, ``step_setup`` (precision, memory format, optimiser and
schedule, what the log says of the run's speed), ``cached`` (frozen features), ``consistency`` (learning from
unlabelled pixels), ``averaging`` (a moving average of the weights), ``losses``, ``metrics``,
``checkpoint`` (and resume), ``outputs``, ``report``; choices from the data: ``auto`` (a
choice: ``choice``; the change family's: ``change_choices``; classes named by a polygon layer's
values: ``label_choices``), ``finetune`` (and an
encoder's released band statistics)."""
