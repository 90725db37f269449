"""Where the work runs: ``environment`` (the stack and devices, torchrun placement), ``cores`` (CPU threads and
bfloat16 instructions), ``transfer`` (host <-> device copies), ``prefetch``, ``resources`` (checks before work)."""
