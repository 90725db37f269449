"""Reader worker *processes*: tiles read, aligned and normalised beside the model, not under its GIL.

Reader threads share the interpreter lock with the thread driving the model: on a 16-core GPU machine no number
of threads kept the b1 model fed (docs/benchmarks.md, "On a GPU"). Worker processes share only a shared-memory ring
of tile slots, each tile copied out once by the main process. On 2 cores, where that copying competes with the
workers, threads measured better, hence opt-in (``--reader-processes``).

Per worker ``w`` (its share of a scene's tiles, ``reader_shares``, as the threads'):

    main -> worker   jobs:    (job id, ReadJob) | None (exit)
    worker -> main   results: ("tile", job, index, slot, layout, seconds) | ("empty", job, index, seconds)
                              | ("pickled", job, index, prepared, seconds) | ("error", job, exception) | ("end", job)
    main -> worker   free:    slot numbers the main process has copied out (the worker waits for one)

The pool outlives a scene (a bulk run starts its workers once); ``shared_pool`` keeps one per process.
"""

from __future__ import annotations

import atexit
import math
import multiprocessing as mp
import os
import queue
import shutil
import signal
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from ..errors import mention
from ..runtime.environment import require
from ..runtime.resources import ResourceError, round_up
from .prepare import prepare_tile, source_window
from .tiling import Tile

ALIGN = 64  # byte alignment of each array inside a slot
POLL_SECONDS = 0.2  # how often a blocked side checks for a stop or a dead peer


@dataclass
class ReadJob:
    """One worker's share of a scene: what ``prepare_tile`` needs, and where the slots are."""

    reader: Any  # SceneReader (pickled without GDAL handles; reopened in the worker)
    stats: dict[str, tuple[Any, Any, Any]]  # as TileReader.stats
    use_region_mask: bool
    tiles: list[Tile]
    memory: str  # shared-memory block name; the worker's slots come from its free queue
    slot_bytes: int
    normalise: bool = True  # False: raw vision values (normalised on the GPU)


def processes_available() -> bool:
    """Worker processes need a Python interpreter to start; inside QGIS ``sys.executable`` is QGIS itself."""
    name = os.path.basename(sys.executable or "").lower()
    return name.startswith("python") or name.startswith("pypy")


def slot_bytes(tile: int, aux_ratio: int, stats: dict[str, tuple[Any, Any, Any]]) -> int:
    """An upper bound of one prepared tile's bytes (its valid mask, each member's vision and aux arrays)."""
    total = round_up(tile * tile, ALIGN)
    aux_side = math.ceil(tile / max(1, aux_ratio)) + 2
    for vstats, astats, selection in stats.values():
        total += round_up(4 * vstats.bands * tile * tile, ALIGN)
        if astats is not None:
            side = tile if selection.x else aux_side
            total += round_up(4 * astats.bands * side * side, ALIGN)
    return total


def _pack(prepared: tuple, buffer: memoryview, offset: int, capacity: int) -> list | None:
    """Copy (valid, vision, aux) into the slot at ``offset``; its layout, or None when it does not fit."""
    valid, vision, aux = prepared
    arrays = [valid] + [a for key in vision for a in (vision[key], aux[key])]
    if sum(round_up(a.nbytes, ALIGN) for a in arrays if a is not None) > capacity:
        return None
    layout, position = [], offset
    for array in arrays:
        if array is None:
            layout.append(None)
            continue
        view = np.ndarray(array.shape, array.dtype, buffer=buffer, offset=position)
        view[...] = array
        layout.append((array.shape, array.dtype.str, position))
        position += round_up(array.nbytes, ALIGN)
    return layout


def _unpack(layout: list, buffer: memoryview, keys: list[str]) -> tuple:
    """The arrays of a slot, copied out (the slot is handed back right after)."""
    arrays = [None if entry is None else np.ndarray(entry[0], np.dtype(entry[1]), buffer=buffer,
                                                    offset=entry[2]).copy() for entry in layout]
    vision = {key: arrays[1 + 2 * i] for i, key in enumerate(keys)}
    aux = {key: arrays[2 + 2 * i] for i, key in enumerate(keys)}
    return arrays[0], vision, aux


def _free_slot(free: Any, stop: Any) -> int | None:  # None: stopped
    while not stop.value:
        with suppress(queue.Empty):
            return free.get(timeout=POLL_SECONDS)
    return None


def _picklable(exc: BaseException) -> BaseException:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any exception that does not survive pickling is sent as its text
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _worker_main(jobs: Any, results: Any, free: Any, stop: Any) -> None:
    """A reader process: its share of each job's tiles prepared into its slots until told to exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's; it closes the pool
    memory: shared_memory.SharedMemory | None = None
    with require("rasterio").Env():
        while (item := jobs.get()) is not None:
            job_id, job = item
            try:
                if memory is None or memory.name != job.memory:
                    if memory is not None:
                        memory.close()
                    memory = shared_memory.SharedMemory(name=job.memory)
                grid = job.reader.grid  # the parts of this worker's tiles only
                job.reader.share_parts(source_window(tile, grid.width, grid.height) for tile in job.tiles)
                for tile in job.tiles:
                    if stop.value:
                        break
                    start = time.perf_counter()
                    prepared = prepare_tile(tile, job.reader, job.stats, job.use_region_mask, job.normalise)
                    if prepared is None:
                        results.put(("empty", job_id, tile.index, time.perf_counter() - start))
                        continue
                    if (slot := _free_slot(free, stop)) is None:
                        break
                    layout = _pack(prepared, memory.buf, slot * job.slot_bytes, job.slot_bytes)
                    seconds = time.perf_counter() - start
                    if layout is None:  # larger than the bound (should not happen): send it the slow way
                        free.put(slot)
                        results.put(("pickled", job_id, tile.index, prepared, seconds))
                    else:
                        results.put(("tile", job_id, tile.index, slot, layout, seconds))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main process
                results.put(("error", job_id, _picklable(exc)))
            finally:
                job.reader.close()
                results.put(("end", job_id))
    if memory is not None:
        memory.close()


def shared_memory_free() -> int | None:
    """Free bytes of POSIX shared memory (/dev/shm); None: no such mount."""
    try:
        return shutil.disk_usage("/dev/shm").free
    except OSError:
        return None


def _check_shared_memory(needed: int, workers: int) -> None:
    """A clear error before the workers die of SIGBUS writing past a small /dev/shm (Docker: 64 MB)."""
    free = shared_memory_free()
    if free is not None and needed > free:
        raise ResourceError(
            f"The {workers} reader processes need {needed / 2**20:,.0f} MB of shared memory for their tile slots, "
            f"but /dev/shm has {free / 2**20:,.0f} MB free; use fewer {mention('segment.readers')}, leave out "
            f"{mention('segment.reader_processes')} "
            f"(threads need none), or give the container more (docker run --shm-size=2g).")


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start processes without them re-importing ``__main__``: the workers need nothing from it, and a user's
    script without an ``if __name__ == "__main__"`` guard would otherwise run again in every worker."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class ReaderPool:
    """``count`` persistent reader processes; ``read(...)`` yields one scene's prepared tiles in tile order."""

    def __init__(self, count: int):
        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        self.count = count
        self.stop = ctx.RawValue("b", 0)  # no lock: a worker killed while reading it cannot block the others
        self._jobs, self._results, self._free = ([ctx.Queue() for _ in range(count)] for _ in range(3))
        self._processes = [ctx.Process(target=_worker_main, args=(self._jobs[w], self._results[w], self._free[w],
                                                                   self.stop),
                                       name=f"dualstream-reader-{w}", daemon=True) for w in range(count)]
        with _main_module_hidden():
            for process in self._processes:
                process.start()
        self._next_job = 0
        self.broken = False

    def alive(self) -> bool:
        return not self.broken and all(p.is_alive() for p in self._processes)

    def read(self, tiles: list[Tile], owners: list[int], reader: Any, stats: dict, use_region_mask: bool,
             tile_size: int, aux_ratio: int, depth: int, busy: list[float], halt: Any,
             normalise: bool = True) -> Iterator[tuple[Tile, Any]]:
        """(tile, prepared or None) in tile order, worker ``owners[i]`` preparing tile ``i``; ends early when
        ``halt`` (a threading.Event) is set. Closed early (cancel, error), it stops the workers after their current
        tile and waits until they are idle."""
        self._next_job += 1
        job_id = self._next_job
        keys = list(stats)
        size = slot_bytes(tile_size, aux_ratio, stats)
        _check_shared_memory(size * depth * self.count, self.count)
        memory = shared_memory.SharedMemory(create=True, size=max(1, size * depth * self.count))
        started = []
        try:
            for w in range(self.count):
                mine = [t for i, t in enumerate(tiles) if owners[i] == w]
                with suppress(queue.Empty):  # slots left over from a stopped job
                    while True:
                        self._free[w].get_nowait()
                for slot in range(w * depth, (w + 1) * depth):
                    self._free[w].put(slot)
                self._jobs[w].put((job_id, ReadJob(reader, stats, use_region_mask, mine, memory.name, size, normalise)))
                started.append(w)
            for index, tile in enumerate(tiles):
                w = owners[index]
                if (message := self._receive(w, job_id, halt)) is None:  # halted (cancel)
                    return
                kind = message[0]
                if kind == "error":
                    started.remove(w)  # its "end" was sent right after the error
                    self._receive_end(w, job_id)
                    raise message[2]
                if kind == "end":
                    started.remove(w)
                    raise RuntimeError(f"Reader process {w} stopped before tile {tile.index}.")
                if message[2] != tile.index:
                    raise RuntimeError(f"reader process {w} sent tile {message[2]}, expected {tile.index}")
                busy[w] += message[-1]
                if kind == "empty":
                    yield tile, None
                elif kind == "pickled":
                    yield tile, message[3]
                else:
                    prepared = _unpack(message[4], memory.buf, keys)
                    self._free[w].put(message[3])
                    yield tile, prepared
            for w in list(started):  # every tile came: each worker's "end" follows
                self._receive_end(w, job_id)
                started.remove(w)
        finally:
            if started:
                self._stop_job(started, job_id)
            memory.close()
            memory.unlink()

    def _receive(self, w: int, job_id: int, halt: Any = None) -> tuple | None:
        """Worker ``w``'s next message of this job; None once ``halt`` is set."""
        while True:
            if halt is not None and halt.is_set():
                return None
            try:
                message = self._results[w].get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self._processes[w].is_alive():
                    self.broken = True
                    raise RuntimeError(f"Reader process {w} died (exit code {self._processes[w].exitcode}); "
                                       f"rerun with {mention('segment.readers')} 1 if this repeats.") from None
                continue
            if message[1] == job_id:
                return message
            if message[0] == "tile":  # a stale job's slot (should not happen): hand it back
                self._free[w].put(message[3])

    def _receive_end(self, w: int, job_id: int) -> None:
        while (message := self._receive(w, job_id))[0] != "end":
            if message[0] == "tile":
                self._free[w].put(message[3])

    def _stop_job(self, workers: list[int], job_id: int) -> None:
        """Stop the workers after their current tile and wait for them, ready for a new job."""
        self.stop.value = 1
        try:
            for w in workers:
                if not self.broken:
                    self._receive_end(w, job_id)
        except RuntimeError:
            self.broken = True
        finally:
            self.stop.value = 0

    def close(self) -> None:
        for w, process in enumerate(self._processes):
            if process.is_alive():
                self._jobs[w].put(None)
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        for q in (*self._jobs, *self._results, *self._free):
            q.close()
            q.join_thread()


_SHARED: dict[int, ReaderPool] = {}


def shared_pool(count: int) -> ReaderPool:
    """This process's pool of ``count`` reader processes, started on first use and reused by later scenes."""
    if (pool := _SHARED.get(count)) is None or not pool.alive():
        if pool is not None:
            pool.close()
        for other in list(_SHARED.values()):  # one pool at a time: a new count replaces the old processes
            other.close()
        _SHARED.clear()
        pool = _SHARED[count] = ReaderPool(count)
    return pool


@atexit.register
def close_shared_pools() -> None:
    for pool in _SHARED.values():
        pool.close()
    _SHARED.clear()
