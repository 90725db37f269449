"""Where the work runs: ``environment`` (the stack and devices), ``cores`` (CPU threads), ``distributed``
(torchrun placement), ``transfer`` (host <-> device copies), ``prefetch``, ``resources`` (checks before work)."""
