"""Work kept ahead of the model: :class:`Prefetcher` runs an iterator ahead of its consumer in a thread;
:func:`to_device` and :func:`to_host` copy without making the thread driving a GPU wait. From pageable memory a
CUDA copy blocks the calling thread until the work queued before it is done (a copy in goes through the driver's
staging buffers in stream order), and the GPU idles until that thread queues more. Here copies go through pinned
memory from torch's caching host allocator (a block reused only once its copy has run), so they are queued like
kernels; the thread that reads copied-out values first calls ``ready``. Elsewhere they are plain copies."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import suppress
from typing import Any

import numpy as np

from .environment import require

Ready = Callable[[], None]


class Prefetcher:
    """Iterates ``iterable`` in a background thread, up to ``depth`` items ahead, so raster reads and warps (GDAL
    releases the GIL) overlap with the model; its errors are raised by ``__next__``. ``wait_seconds``: the time
    ``__next__`` waited; ``threads``: long-lived threads to run on (:func:`loop_threads`), else a thread of its own."""

    def __init__(self, iterable: Any, depth: int = 2, name: str = "dualstream-prefetch",
                 threads: Executor | None = None):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop, self._done = threading.Event(), threading.Event()  # _done: the loop has returned
        self.wait_seconds = 0.0
        if threads is not None:
            threads.submit(self._run, iterable)
        else:
            threading.Thread(target=self._run, args=(iterable,), name=name, daemon=True).start()

    def _put(self, entry: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            with suppress(queue.Full):
                self._queue.put(entry, timeout=0.1)
                return True
        return False

    def _run(self, iterable: Any) -> None:
        try:
            for item in iterable:
                if not self._put(("item", item)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, which re-raises it
            self._put(("error", exc))
        finally:
            self._done.set()

    def __iter__(self) -> Prefetcher:
        return self

    def __next__(self) -> Any:
        start = time.perf_counter()
        kind, value = self._queue.get()
        self.wait_seconds += time.perf_counter() - start
        if kind == "item":
            return value
        self._done.wait()
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        self._stop.set()
        while not self._done.is_set():
            with suppress(queue.Empty):
                self._queue.get(timeout=0.1)


def loop_threads(name: str) -> Executor:
    """Threads kept for loops that run until their consumer is done (a bulk run's tile readers): one is made only
    when none is idle, so a loop never waits in the queue for another to end; starting a thread per scene instead
    waits for the interpreter lock, which the threads beside it hold (about 1 ms a 512² bulk scene)."""
    return ThreadPoolExecutor(LOOP_THREADS_CAP, thread_name_prefix=name)


LOOP_THREADS_CAP = 1024  # never reached: threads are made on demand, a scene runs 1 + its readers' loops


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
