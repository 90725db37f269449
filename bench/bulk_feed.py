"""The bulk feed's own work in the main process per tile (``bench_bulk.py``'s GPU part, taken apart).

On a GPU the readers did not feed the model past ~160-177 tiles/s on 16 cores, as threads or as processes
(docs/benchmarks.md): a bound that processes share points at work done once per tile in the main process. Here
the tile pipeline runs on the GPU's path (raw vision values, normalising and blending as torch work on the
model's device: ``run_tiles(on_device=True)``) with a model that costs nothing (zeros of the right shape at
once), and every part of the main process's work per tile is timed in thread CPU time (``time.thread_time``):

- the batching thread: taking a prepared tile from a worker (threads: a queue; processes: the result queue's
  message, the copy out of the shared-memory slot), assembling the batch;
- the main thread: the copies to the device (on the CPU here: one host copy into a reused buffer per array, as
  the copy into a cached pinned block costs on CUDA; ``--device cuda`` does the real copies), normalising and
  blending (torch work: on a GPU queued kernels, on the CPU here computed), publishing finished rows, and what is
  left (the loop, queues, progress);
- per scene: planning (serial in ``bulk_gpu``'s feed, overlapped with the previous scene in a bulk run).

Also the bytes of one prepared tile. Run alone: ``python bench/bulk_feed.py [--scenes 2 --size 4096 --readers 2
--rounds 3 --device cpu]``; results to ``bench_output/bulk_feed.json``.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bulk_inputs import bench_bundle, bench_scenes, manifest_rows  # noqa: E402 - needs the root on sys.path

BATCHING, MAIN = "batching thread", "main thread"


class Clock:
    """Thread CPU seconds per (thread, part), from wrappers put around the pipeline's functions; a part nested in
    another counts for itself only (the outer part gets its own time less the inner's)."""

    def __init__(self) -> None:
        self.main = threading.get_ident()
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.stacks: dict[int, list[float]] = defaultdict(list)  # per thread: seconds of inner parts, per level

    def role(self) -> str:
        return MAIN if threading.get_ident() == self.main else BATCHING

    def wrap(self, function: Any, part: str) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = self.stacks[threading.get_ident()]
            stack.append(0.0)
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                inner = stack.pop()
                self.seconds[(self.role(), part)] += spent - inner
                if stack:
                    stack[-1] += spent
        return timed

    def wrap_generator(self, function: Any, part: str) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                yield from function(*args, **kwargs)
            finally:
                self.seconds[(self.role(), part)] += time.thread_time() - start
        return timed


def host_copy(device: Any) -> Any:
    """``to_device`` for the measurement: on CUDA the engine's own; elsewhere one host copy into a buffer reused
    per shape and dtype (what the copy into a cached pinned block costs the calling thread on CUDA)."""
    import torch

    from engine.runtime.prefetch import to_device

    if torch.device(device).type == "cuda":
        return to_device
    buffers: dict[tuple, Any] = {}

    def copy(array: Any, target: Any) -> Any:
        tensor = torch.as_tensor(array)
        key = (tuple(tensor.shape), tensor.dtype)
        if key not in buffers:
            buffers[key] = torch.empty_like(tensor)
        return buffers[key].copy_(tensor)
    return copy


class ZeroModel:
    """A predictor that costs nothing: zeros of the right shape at once (the aux copied in, as the model's)."""

    takes_coords = False

    def __init__(self, device: Any, channels: int, copy: Any):
        import torch

        self.device, self.channels, self.copy, self.torch = torch.device(device), channels, copy, torch
        self.zeros: dict[tuple, Any] = {}

    def on_device(self, vision: dict[str, Any], aux: dict[str, Any]) -> Any:
        for a in aux.values():
            if a is not None:
                self.copy(a, self.device)
        first = next(iter(vision.values()))
        shape = (first.shape[0], self.channels, first.shape[-2], first.shape[-1])
        if shape not in self.zeros:
            self.zeros[shape] = self.torch.zeros(shape, device=self.device)
        return self.zeros[shape]

    __call__ = on_device


def instrument(clock: Clock, copy: Any) -> None:
    """Put the clock's wrappers around the pipeline's parts (this process only; a benchmark, not the engine)."""
    from engine.data import normalize
    from engine.runtime import prefetch
    from engine.segment import pipeline, reader, reader_pool, tiling

    reader_pool._unpack = clock.wrap(reader_pool._unpack, "copy out of the slot")
    reader_pool.ReaderPool._receive = clock.wrap(reader_pool.ReaderPool._receive, "result queue")
    reader.TileReader._stack = clock.wrap(reader.TileReader._stack, "batch assembly")
    reader.TileReader._batches = clock.wrap_generator(reader.TileReader._batches, "thread total")
    prefetch.Prefetcher.__next__ = clock.wrap(prefetch.Prefetcher.__next__, "queue")
    reader.to_device = clock.wrap(copy, "copy to the device")
    pipeline.to_device = clock.wrap(copy, "copy to the device")
    reader._float32_on = clock.wrap(reader._float32_on, "normalise (torch)")  # the widening to float32
    normalize.BandStatistics.apply_tensor = clock.wrap(normalize.BandStatistics.apply_tensor, "normalise (torch)")
    tiling.RowBandAccumulator.add = clock.wrap(tiling.RowBandAccumulator.add, "blend (torch)")
    tiling.DeviceRowBandAccumulator._emit = clock.wrap(tiling.DeviceRowBandAccumulator._emit, "publish rows")


def prepared_bytes(plan: Any) -> dict[str, int]:
    """Bytes of one prepared tile as the GPU's readers hand it over (raw vision), per array."""
    import rasterio

    from engine.segment import TileReader

    reader = TileReader(plan, 1, 1, normalise=False)
    try:
        with rasterio.Env():
            valid, vision, aux = reader.prepare(next(iter(plan.grid)))
    finally:
        reader.close()
    sizes = {"valid": valid.nbytes, "vision": sum(v.nbytes for v in vision.values()),
             "aux": sum(a.nbytes for a in aux.values() if a is not None)}
    return {**sizes, "total": sum(sizes.values()),
            "shapes": {"vision": [list(v.shape) + [str(v.dtype)] for v in vision.values()],
                       "aux": [list(a.shape) + [str(a.dtype)] for a in aux.values() if a is not None]}}


def feed_cost(folder: Path, scenes: int, size: int, readers: int, rounds: int, batch: int,
              device: str) -> dict[str, Any]:
    """Main-process thread CPU per tile, by part, for ``readers`` threads and processes (alternating rounds)."""
    from engine.callbacks import QuietCallback
    from engine.config import SegmentConfig
    from engine.segment import plan_segmentation, run_tiles
    from engine.segment.sinks import RowSink

    model = bench_bundle(folder)
    rows = manifest_rows(bench_scenes(folder, scenes, size))
    template = SegmentConfig(models=[model], device=device, batch_size=batch, overlap=0.125)
    clock = Clock()
    copy = host_copy(device)
    instrument(clock, copy)

    class Discard(RowSink):
        def _write(self, row: int, probs: Any, valid: Any) -> None:
            pass

        def _abort_files(self) -> None:
            pass

    def feed(processes: bool) -> dict[str, float]:
        clock.seconds.clear()
        tiles = plan_s = main_s = 0.0
        start = time.perf_counter()
        for row in rows:
            tick = time.thread_time()
            plan = plan_segmentation(template.replace(image=row["image"], aux=[row["aux"]],
                                                      output=str(folder / "unused.tif")), QuietCallback())
            plan_s += time.thread_time() - tick
            try:
                predictor = ZeroModel(device, plan.probability_channels, clock.wrap(copy, "copy to the device"))
                tick = time.thread_time()
                run_tiles(plan, predictor, Discard(), QuietCallback(), batch_size=batch, prefetch=4,
                          readers=readers, reader_processes=processes, on_device=True)
                main_s += time.thread_time() - tick
                tiles += len(plan.grid)
            finally:
                plan.reader.close()
        wall = time.perf_counter() - start
        ms = {f"{thread}: {part}": 1000 * s / tiles for (thread, part), s in clock.seconds.items()}
        ms[f"{MAIN}: thread total"] = 1000 * main_s / tiles
        for thread in (MAIN, BATCHING):  # the rest of each thread's time: its loop, queues, progress
            total = ms.get(f"{thread}: thread total", 0.0)
            ms[f"{thread}: other"] = total - sum(v for k, v in ms.items() if k.startswith(thread)
                                                 and k != f"{thread}: thread total")
        ms["per scene: planning (main thread)"] = 1000 * plan_s / tiles
        ms["tiles/s"] = tiles / wall
        return ms

    feed(True)  # starts the reader processes (kept for later scenes, as in a bulk run) and warms the file cache
    feed(False)
    modes = {f"{readers} threads": False, f"{readers} processes": True}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
    for index in range(rounds):
        for name in (list(modes) if index % 2 == 0 else list(modes)[::-1]):
            runs[name].append(feed(modes[name]))
    median = {name: {key: statistics.median(r.get(key, 0.0) for r in got)
                     for key in sorted({k for r in got for k in r})} for name, got in runs.items()}
    first = plan_segmentation(template.replace(image=rows[0]["image"], aux=[rows[0]["aux"]],
                                               output=str(folder / "unused.tif")), QuietCallback())
    try:
        sizes = prepared_bytes(first)
        tiles = len(first.grid)
    finally:
        first.reader.close()
    return {"device": device, "scenes": scenes, "size": size, "tiles_per_scene": tiles, "batch": batch,
            "readers": readers, "rounds": rounds, "prepared_tile_bytes": sizes, "ms_per_tile": median,
            "all": runs}


def reader_cpu(folder: Path, scenes: int, size: int, counts: list[int], batch: int) -> dict[str, Any]:
    """CPU seconds per tile of the reader alone (raw tiles, nothing downstream, as ``bulk_gpu``'s "reader alone")
    with each count of workers as threads and as processes: the main process's (all its threads) and the reader
    processes' (``/proc``). What more workers add per tile: on a many-core machine that, not this one's two
    cores, bounds the feed. Planning each scene is left out (its own line in ``feed_cost``)."""
    import os
    import resource

    from engine.callbacks import QuietCallback
    from engine.config import SegmentConfig
    from engine.segment import TileReader, plan_segmentation
    from engine.segment.reader_pool import shared_pool

    model = bench_bundle(folder)
    rows = manifest_rows(bench_scenes(folder, scenes, size))
    template = SegmentConfig(models=[model], device="cpu", batch_size=batch, overlap=0.125)
    tick = os.sysconf("SC_CLK_TCK")

    def own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def workers(count: int) -> float:
        total = 0.0
        for process in shared_pool(count)._processes:  # a benchmark may look inside the pool
            with open(f"/proc/{process.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return total

    def read(count: int, processes: bool) -> dict[str, float]:
        main = other = wall = 0.0
        tiles = 0
        for row in rows:
            plan = plan_segmentation(template.replace(image=row["image"], aux=[row["aux"]],
                                                      output=str(folder / "unused.tif")), QuietCallback())
            try:
                before, pool = own(), workers(count) if processes else 0.0
                start = time.perf_counter()
                reader = TileReader(plan, batch, 4, count, processes=processes, normalise=False).start()
                try:
                    tiles += sum(len(b.tiles) for b in reader)
                finally:
                    reader.close()
                wall += time.perf_counter() - start
                main += own() - before
                other += (workers(count) - pool) if processes else 0.0
            finally:
                plan.reader.close()
        return {"main process ms/tile": 1000 * main / tiles, "reader processes ms/tile": 1000 * other / tiles,
                "all ms/tile": 1000 * (main + other) / tiles, "tiles/s (this machine)": tiles / wall}

    result: dict[str, dict[str, float]] = {}
    for count in counts:
        for processes in ((False, True) if count > 1 else (False,)):
            if processes:
                read(count, True)  # starts the pool (kept for later scenes, as in a bulk run): not counted
            result[f"{count} {'processes' if processes else 'threads'}"] = read(count, processes)
    return {"scenes": scenes, "size": size, "batch": batch, "readers": result}


def reader_markdown(r: dict[str, Any]) -> list[str]:
    names = list(next(iter(r["readers"].values())))
    lines = [f"The reader alone, {r['scenes']} x {r['size']}², raw tiles, nothing downstream (CPU per tile, planning "
             f"left out):", "", "| reader workers | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {mode} | " + " | ".join(f"{v:.1f}" for v in got.values()) + " |"
              for mode, got in r["readers"].items()]
    return lines + [""]


def markdown(r: dict[str, Any]) -> list[str]:
    sizes = r["prepared_tile_bytes"]
    names = list(r["ms_per_tile"])
    parts = sorted({k for m in r["ms_per_tile"].values() for k in m if k != "tiles/s"})
    lines = [f"Main-process work per tile of the feed, {r['scenes']} x {r['size']}² ({r['tiles_per_scene']} tiles "
             f"a scene), batch {r['batch']}, a model that costs nothing, on {r['device']} (thread CPU ms per tile, "
             f"median of {r['rounds']} alternating rounds). A prepared tile: {sizes['total'] / 2**20:.2f} MiB "
             f"(valid {sizes['valid'] / 2**20:.2f}, vision {sizes['vision'] / 2**20:.2f} raw, aux "
             f"{sizes['aux'] / 2**20:.2f} at its own resolution {sizes['shapes']['aux']}).", "",
             "| part | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {part} | " + " | ".join(f"{r['ms_per_tile'][n].get(part, 0.0):.2f}" for n in names) + " |"
              for part in parts]
    lines += ["| tiles/s (wall, this machine) | " + " | ".join(f"{r['ms_per_tile'][n]['tiles/s']:.1f}"
                                                             for n in names) + " |", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reader-counts", type=int, nargs="*", default=[],
                        help="also the reader alone's CPU per tile with these worker counts (threads, processes)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, default=REPO / "bench_output")
    args = parser.parse_args(argv)
    folder = args.output / "bulk_work"
    folder.mkdir(parents=True, exist_ok=True)
    result = feed_cost(folder, args.scenes, args.size, args.readers, args.rounds, args.batch, args.device)
    lines = markdown(result)
    if args.reader_counts:
        result["reader_cpu"] = reader_cpu(folder, args.scenes, args.size, args.reader_counts, args.batch)
        lines += reader_markdown(result["reader_cpu"])
    result["markdown"] = "\n".join(lines)
    (args.output / "bulk_feed.json").write_text(json.dumps(result, indent=2, default=str))
    print(result["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
