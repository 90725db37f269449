"""Where the work runs: ``environment`` (the stack and devices), ``cores`` (CPU threads and bfloat16
instructions), ``distributed`` (torchrun placement), ``transfer`` (host <-> device copies), ``prefetch``,
``resources`` (checks before work)."""
