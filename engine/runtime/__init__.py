"""Where the work runs: ``environment`` (the stack and devices), ``cores`` (CPU threads), ``cpu_features``
(bfloat16 instructions), ``distributed``
(torchrun placement), ``transfer`` (host <-> device copies), ``prefetch``, ``resources`` (checks before work)."""
