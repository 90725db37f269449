"""Host <-> device copies that do not make the thread driving a GPU wait for it.

From pageable host memory a CUDA copy blocks the calling thread until the work queued before it is done (a copy
in goes through the driver's staging buffers in stream order, a copy out waits for everything queued), and the GPU
idles until that thread queues its next work. Here both go through pinned memory from torch's caching host
allocator (which reuses a block only once the copy queued on it has run), so they are queued like kernels; the
thread that reads copied-out values first calls ``ready``. Elsewhere these are plain copies and ``ready`` does
nothing (the tests run them on torch's CPU device).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .environment import require

Ready = Callable[[], None]


def to_device(array: Any, device: Any) -> Any:
    """``array`` (numpy or a CPU tensor) as a tensor on ``device``, copied without waiting where that is CUDA."""
    torch = require("torch")
    device = torch.device(device)
    tensor = torch.as_tensor(array)
    if device.type == "cuda" and tensor.device.type == "cpu":
        tensor = tensor.pin_memory()  # one host copy into a cached pinned block; the copy below is then queued
    return tensor.to(device, non_blocking=True)


def to_host(tensors: Sequence[Any]) -> tuple[list[np.ndarray], Ready]:
    """numpy copies of ``tensors`` and ``ready``, to be called before the copies are read (on CUDA they are
    still being filled when this returns; elsewhere they are complete)."""
    torch = require("torch")
    if not tensors or tensors[0].device.type != "cuda":
        return [t.cpu().numpy() for t in tensors], lambda: None  # complete already
    hosts = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in tensors]
    for host, tensor in zip(hosts, tensors):
        host.copy_(tensor, non_blocking=True)
    done = torch.cuda.Event()
    done.record()  # on the stream of the copies, behind them
    index = tensors[0].device.index

    def ready() -> None:
        # on the tensors' GPU: a thread without a current device would open a context on GPU 0 to wait (a torchrun
        # rank on cuda:3 would then hold memory on GPU 0)
        with torch.cuda.device(index):
            done.synchronize()

    return [host.numpy() for host in hosts], ready  # each array keeps its pinned tensor alive
