"""Where one segment tile's reading CPU goes, part by part (the readers of ``bulk_gpu``/``bulk_feed``, taken apart).

The tile reader alone (nothing downstream) over the bulk bench's scenes (``bench_scenes``: 4096² 4-band uint16,
48-band aux in EPSG:4326, b1's 512-px tiles), each engine function of a tile's reading wrapped in a thread-CPU
clock (``bulk_feed.Clock``: a part called inside another counts for itself only). Modes, in alternating order:

- ``1 thread raw`` / ``8 threads raw``: the GPU's readers (raw vision values; the aux normalised);
- ``1 thread normalised``: a CPU run's reader, in a CPU run's batches (4 tiles);
- ``8 processes raw``: the work 8 reader processes do, each its own share of the tiles with its own parts
  (``reader_pool``'s worker loop, copy into a slot included), run one share after another in this thread.

Per mode: CPU ms a tile of each part, of every thread of the reader together (``total``; ``other``: what no part
names: the loops, the queues, GDAL's environment per thread), the process's CPU a tile beside it (``getrusage``),
the parts made (image cells decoded, aux blocks warped, warped VRTs built). Planning a scene is its own line (left
out of the totals). Then the interpreter lock one raw reader thread holds a tile (``gil_probe``): reading alone,
and with the scene's planning as ``bulk_gpu``'s ``lock_ms_per_tile`` counts it. And a digest of every prepared tile
(raw and normalised): two checkouts with the same digest read the same tiles.

Run alone: ``python bench/reader_split.py [--scenes 2 --size 4096 --rounds 2]`` (about 1 min on 2 cores); results
to ``bench_output/reader_split.json``. Part 7 of ``bench_bulk.py`` (``--only split``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bulk_feed import Clock  # noqa: E402 - needs the root on sys.path
from bench.bulk_inputs import bench_bundle, bench_scenes, manifest_rows  # noqa: E402

PREPARE = "prepare_tile's own (valid check, copies)"
OPEN, VRT = "opening files (per thread and scene)", "aux: building a warped VRT (per thread and scene)"
# part -> (module, attribute) of the engine function timed, the first of "a|b" the checkout has; a name imported into
# a module is patched there
PARTS = {
    OPEN: ("engine.data.scene", "open_raster"),
    VRT: ("engine.data.scene_aux", "warped_blocks_xml|warped_blocks"),  # the second: before 2026-11-27
    "planning the shared parts (per scene)": ("engine.data.scene", "SceneReader.share_parts"),
    "image: decoding cells (GDAL)": ("engine.data.scene", "SceneReader._read_cell"),
    "image: the tile cut from its cells": ("engine.data.scene", "assemble_window"),
    "aux: warping (GDAL: a block, or a tile's own)": ("engine.data.scene_aux", "SceneAux._read_aux"),
    "aux: the tile cut from its blocks": ("engine.data.scene_aux", "assemble_window"),
    "shared parts: taking (locks, counts)": ("engine.data.tile_parts", "SharedParts.take"),
    "AOI mask": ("engine.data.labels", "RegionMask.mask"),
    "SceneReader.read's own (tile grid, dates)": ("engine.data.scene", "SceneReader.read"),
    "mirroring (read_tile's own)": ("engine.segment.prepare", "read_tile"),
    "normalising (numpy)": ("engine.data.normalize", "BandStatistics.apply"),
    PREPARE: ("engine.segment.reader", "prepare_tile"),
    "process share: copy into the slot": ("engine.segment.reader_pool", "_pack"),
    "stacking the batch": ("engine.segment.reader", "TileReader._stack"),
}
CPU_BATCH = 4  # SegmentConfig's batch_size, a CPU run's (the GPU's modes take --batch)
MODES = ["1 thread raw", "8 threads raw", "1 thread normalised", "8 processes raw"]
TOTALS = {"reader thread": ("engine.segment.reader", "TileReader._batches"),
          "worker threads": ("engine.segment.reader", "TileReader._worker_tiles")}


@contextlib.contextmanager
def clocked(clock: Clock, calls: Counter[str]) -> Iterator[None]:
    """Every part of :data:`PARTS` wrapped in ``clock`` (and its calls counted) while inside; each reader thread's
    total."""
    undo = []

    def patch(module: str, attribute: str, wrap: Any) -> None:
        owner: Any = importlib.import_module(module)
        *path, name = attribute.split(".")
        for step in path:
            owner = getattr(owner, step)
        name = next(n for n in name.split("|") if n in owner.__dict__)
        original = owner.__dict__[name]
        setattr(owner, name, wrap(original))
        undo.append((owner, name, original))

    def counted(function: Any, part: str) -> Any:
        timed = clock.wrap(function, part)

        def call(*args: Any, **kwargs: Any) -> Any:
            calls[part] += 1
            return timed(*args, **kwargs)
        return call

    for part, (module, attribute) in PARTS.items():
        patch(module, attribute, lambda f, p=part: counted(f, p))
    # the process share calls prepare_tile by reader_pool's name for it
    patch("engine.segment.reader_pool", "prepare_tile", lambda f: counted(f, PREPARE))
    for part, (module, attribute) in TOTALS.items():
        patch(module, attribute, lambda f, p=part: clock.wrap_generator(f, "total: " + p))
    try:
        yield
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def usage() -> tuple[float, float, int]:
    """This process's (user, system) CPU seconds and minor page faults so far."""
    got = resource.getrusage(resource.RUSAGE_SELF)
    return got.ru_utime, got.ru_stime, got.ru_minflt


def read_scene(plan: Any, batch: int, readers: int, normalise: bool) -> tuple[int, Counter[str]]:
    """The tile reader alone over ``plan`` with ``readers`` threads: tiles read (all-nodata ones skipped), parts
    made."""
    from engine.segment import TileReader

    reader = TileReader(plan, batch, 4, readers, normalise=normalise).start()
    try:
        return sum(len(b.tiles) for b in reader), Counter(reader.parts.made)
    finally:
        reader.close()


def process_shares(plan: Any, batch: int, workers: int) -> tuple[int, Counter[str]]:
    """The work ``workers`` reader processes do for ``plan`` (raw), one share after another in this thread: each
    a portable reader pickled and unpickled (what a process gets) with the parts of its own tiles, each tile
    prepared and copied into a slot (as ``reader_pool._worker_main``)."""
    import pickle

    import numpy as np
    import rasterio

    from engine.segment import TileReader, reader_pool
    from engine.segment.prepare import source_window
    from engine.segment.reader import reader_shares

    stats = TileReader(plan, batch, 4, 1, normalise=False).stats
    if hasattr(plan.reader, "describe_warps"):  # as TileReader._process_tiles does (since 2026-11-27)
        plan.reader.describe_warps()
    plan.reader.stop_sharing()
    owners = reader_shares(len(plan.grid.rows), len(plan.grid.cols), workers)
    size = reader_pool.slot_bytes(plan.tile, plan.aux_ratio, stats)
    slot = memoryview(np.empty(size, np.uint8))
    grid, tiles, made = plan.reader.grid, 0, Counter()
    with rasterio.Env():
        for w in range(workers):
            reader = pickle.loads(pickle.dumps(plan.reader.portable()))  # as a job reaches its process
            mine = [t for i, t in enumerate(plan.grid) if owners[i] == w]
            parts = reader.share_parts(source_window(t, grid.width, grid.height) for t in mine)
            try:
                for tile in mine:
                    prepared = reader_pool.prepare_tile(tile, reader, stats, plan.use_region_mask, False)
                    if prepared is not None:
                        reader_pool._pack(prepared, slot, 0, size)
                        tiles += 1
            finally:
                reader.close()
            made.update(parts.made)
    return tiles, made


def measure(rows: list[dict[str, str]], template: Any, folder: Path, batch: int, mode: str, clock: Clock,
            calls: Counter[str]) -> dict[str, Any]:
    """One pass of ``mode`` over the scenes: CPU ms a tile by part, the process's, planning's, parts made."""
    from engine.callbacks import QuietCallback
    from engine.segment import plan_segmentation

    count = int(mode.split()[0])
    clock.seconds.clear()
    calls.clear()
    made: Counter[str] = Counter()
    tiles, planning, main = 0, 0.0, 0.0
    process = [0.0, 0.0, 0]
    for row in rows:
        tick, parts, counts = time.thread_time(), dict(clock.seconds), Counter(calls)
        plan = plan_segmentation(template.replace(image=row["image"], aux=[row["aux"]],
                                                  output=str(folder / "unused.tif")), QuietCallback())
        planning += time.thread_time() - tick
        for key in list(clock.seconds):  # what planning called of the parts: planning's
            clock.seconds[key] = parts.get(key, 0.0)
        calls.clear()
        calls.update(counts)
        try:
            before, tick = usage(), time.thread_time()
            if "processes" in mode:
                got, scene_made = process_shares(plan, batch, count)
            else:  # a CPU run normalises here, in its own default batches
                normalised = "normalised" in mode
                got, scene_made = read_scene(plan, CPU_BATCH if normalised else batch, count, normalised)
            main += time.thread_time() - tick
            process = [total + now - then for total, now, then in zip(process, usage(), before)]
            tiles += got
            made.update(scene_made)
        finally:
            plan.reader.close()
    ms = {part: 1000 * seconds / tiles for (_, part), seconds in clock.seconds.items()}
    threads = sum(v for k, v in ms.items() if k.startswith("total: "))
    # processes: every share ran in this thread; threads: the reader's threads and this thread's part of it (the
    # reader's set-up, its waits on the queue)
    total = 1000 * main / tiles + (0.0 if "processes" in mode else threads)
    parts = {k: v for k, v in ms.items() if not k.startswith("total: ")}
    parts["other"] = total - sum(parts.values())
    return {"parts": parts, "total": total, "process": 1000 * (process[0] + process[1]) / tiles,
            "system": 1000 * process[1] / tiles, "faults": process[2] / tiles, "planning": 1000 * planning / tiles,
            "tiles": tiles, "made": dict(made), "calls": {k: v / len(rows) for k, v in calls.items()}}


def lock_ms(rows: list[dict[str, str]], template: Any, folder: Path, batch: int) -> dict[str, float]:
    """Interpreter lock one raw reader thread holds a tile (``gil_probe``): reading alone (planned beforehand), and
    with the scene's planning as ``bulk_gpu``'s ``lock_ms_per_tile`` counts it (first scene)."""
    from bench.bulk_readers import lock_ms_per_tile
    from bench.gil_probe import lock_held_seconds
    from engine.callbacks import QuietCallback
    from engine.segment import plan_segmentation

    cfg = template.replace(image=rows[0]["image"], aux=[rows[0]["aux"]], output=str(folder / "unused.tif"))
    plan = plan_segmentation(cfg, QuietCallback())
    try:
        held, _, (tiles, _) = lock_held_seconds(lambda: read_scene(plan, batch, 1, normalise=False))
    finally:
        plan.reader.close()
    return {"reading": 1000 * held / tiles, "with planning": lock_ms_per_tile(cfg, batch, False)}


def digest(rows: list[dict[str, str]], template: Any, folder: Path, batch: int) -> str:
    """SHA-256 over every prepared tile of the scenes, raw and normalised (valid, vision, aux: values, shapes,
    dtypes), read with 3 threads."""
    from engine.callbacks import QuietCallback
    from engine.segment import TileReader, plan_segmentation

    sha = hashlib.sha256()
    for normalise in (False, True):
        for row in rows:
            plan = plan_segmentation(template.replace(image=row["image"], aux=[row["aux"]],
                                                      output=str(folder / "unused.tif")), QuietCallback())
            reader = TileReader(plan, batch, 4, 3, normalise=normalise).start()
            try:
                for b in reader:
                    arrays = [b.valid] + [a for key in sorted(b.vision) for a in (b.vision[key], b.aux[key])]
                    for array in arrays:
                        sha.update(f"{array.shape}{array.dtype}".encode() if array is not None else b"none")
                        if array is not None:
                            sha.update(array.tobytes())
            finally:
                reader.close()
                plan.reader.close()
    return sha.hexdigest()


def split(folder: Path, scenes: int, size: int, rounds: int, batch: int, modes: list[str] = MODES) -> dict[str, Any]:
    """Each mode ``rounds`` times in alternating order (medians), the lock a tile, the tiles' digest."""
    from bench.gil_probe import calibration
    from engine.config import SegmentConfig

    model = bench_bundle(folder)
    rows = manifest_rows(bench_scenes(folder, scenes, size))
    template = SegmentConfig(models=[model], device="cpu", batch_size=batch, overlap=0.125)
    clock, calls = Clock(), Counter()
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    locks: list[dict[str, float]] = []
    with clocked(clock, calls):
        measure(rows, template, folder, batch, modes[0], clock, calls)  # warm: the file cache, GDAL, PROJ
        for index in range(rounds):
            for mode in (modes if index % 2 == 0 else modes[::-1]):
                runs[mode].append(measure(rows, template, folder, batch, mode, clock, calls))
    for _ in range(rounds):
        locks.append(lock_ms(rows, template, folder, batch))
    median: dict[str, Any] = {}
    for mode, got in runs.items():
        parts = sorted({p for r in got for p in r["parts"]})
        median[mode] = {"parts": {p: statistics.median(r["parts"].get(p, 0.0) for r in got) for p in parts},
                        **{k: statistics.median(r[k] for r in got)
                           for k in ("total", "process", "system", "faults", "planning")},
                        "tiles": got[0]["tiles"], "made": got[0]["made"], "calls": got[0]["calls"]}
    return {"scenes": scenes, "size": size, "batch": batch, "rounds": rounds, "modes": median, "all": runs,
            "lock_ms_per_tile": {k: statistics.median(lk[k] for lk in locks) for k in locks[0]},
            "probe_calibration": calibration(),
            "lock_all": locks, "digest": digest(rows, template, folder, batch)}


def markdown(r: dict[str, Any]) -> str:
    modes = list(r["modes"])
    parts = [p for p in PARTS if any(r["modes"][m]["parts"].get(p, 0.0) for m in modes)] + ["other"]
    lines = [f"The tile reader alone, {r['scenes']} x {r['size']}² ({r['modes'][modes[0]]['tiles']} tiles), CPU ms a "
             f"tile by part (median of {r['rounds']} alternating rounds):", "",
             "| part | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    lines += [f"| {p} | " + " | ".join(f"{r['modes'][m]['parts'].get(p, 0.0):.2f}" for m in modes) + " |"
              for p in parts]
    lines += ["| **all the reader's threads** | " + " | ".join(f"**{r['modes'][m]['total']:.2f}**" for m in modes)
              + " |",
              "| the process (getrusage) | " + " | ".join(f"{r['modes'][m]['process']:.2f}" for m in modes) + " |",
              "| of it in the kernel (page faults: new memory) | " + " | ".join(
                  f"{r['modes'][m]['system']:.2f} ({r['modes'][m]['faults']:.0f} faults)" for m in modes) + " |",
              "| planning a scene (left out above) | " + " | ".join(f"{r['modes'][m]['planning']:.2f}" for m in modes)
              + " |",
              "| parts made a scene | " + " | ".join(", ".join(f"{k} {v // r['scenes']}" for k, v in
                                                            sorted(r["modes"][m]["made"].items())) for m in modes)
              + " |",
              "| files opened, warped VRTs built a scene | " + " | ".join(
                  f"{r['modes'][m]['calls'].get(OPEN, 0):.0f}, {r['modes'][m]['calls'].get(VRT, 0):.0f}"
                  for m in modes) + " |", ""]
    lock = r["lock_ms_per_tile"]
    rate = r["probe_calibration"]
    trust = (f" (the probe's calibration, a Python loop / a sleep: {rate['python_share']:.2f} / "
             f"{rate['sleep_share']:.2f}; about 0.5 / 0 where it is right, and a busy machine's other work reads "
             f"as the lock held)")
    lines += [f"Interpreter lock one raw reader thread holds a tile: {lock['reading']:.2f} ms reading; "
              f"{lock['with planning']:.2f} ms with the scene's planning (bulk_gpu's figure){trust}. Tiles digest "
              f"{r['digest'][:16]}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--modes", nargs="+", default=MODES)
    parser.add_argument("--output", type=Path, default=REPO / "bench_output")
    args = parser.parse_args(argv)
    folder = args.output / "bulk_work"
    folder.mkdir(parents=True, exist_ok=True)
    result = split(folder, args.scenes, args.size, args.rounds, args.batch, args.modes)
    result["markdown"] = markdown(result)
    (args.output / "reader_split.json").write_text(json.dumps(result, indent=2, default=str))
    print(result["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
