"""Where the work runs: the stack and devices, torchrun placement, host<->device copies, resource checks."""
