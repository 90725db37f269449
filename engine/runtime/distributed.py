"""Process placement under torchrun (``torch.distributed.run``): rank, world size, device per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from .environment import require


@dataclass
class DistContext:
    """Process placement under torch.distributed (world_size 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    initialized_here: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every process (no-op when not distributed)."""
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Leave the process group if this context joined it."""
        if self.initialized_here:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.initialized_here = False


def setup_distributed(device: str, backend: str | None = None,
                      timeout: timedelta | None = None) -> tuple[DistContext, str]:
    """Join the process group described by torchrun's RANK/WORLD_SIZE/LOCAL_RANK (nccl on CUDA, gloo on CPU, or
    ``backend``: ``gloo`` where the group only ever meets at barriers; ``timeout``: how long collectives wait).
    Returns the context and the device this process uses (CUDA becomes ``cuda:LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:  # not under torchrun: no torch import (an onnxruntime run may not need it at all)
        return DistContext(), device
    torch = require("torch")
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    here = False
    if not dist.is_initialized():
        options = {} if timeout is None else {"timeout": timeout}
        dist.init_process_group(backend=backend or ("nccl" if device.startswith("cuda") else "gloo"), **options)
        here = True
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), initialized_here=here), device
