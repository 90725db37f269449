"""Where the work runs: ``environment`` (the stack and devices, torchrun placement), ``cores`` (CPU threads and
bfloat16 instructions), ``prefetch`` (work read ahead, host <-> device copies), ``resources`` (checks before
work)."""
