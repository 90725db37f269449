"""Reader scaling (``bench_bulk.py`` part 2): tiles/s of the tile reader alone with one reader and 2 and all cores'
workers as threads and as processes, the machine's own ceiling for the same work (independent processes sharing
nothing), the reader's CPU per tile with 1-8 threads and the interpreter lock one reader thread holds per tile.
Target on 2 cores: 2 workers >= 1.7x one."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.bench_segment import write_scene
from bench.gil_probe import calibration, lock_held_seconds


def reader_scaling(folder: Path, model: str, device: str, size: int, rounds: int, batch: int) -> dict[str, Any]:
    """Tiles/s of the reader alone: one reader, then 2 and all cores' workers as threads and as processes
    (alternating order, median of ``rounds``); the machine's own ceiling (the same tiles prepared by independent
    processes that share nothing); and model-only tiles/s."""
    from engine.callbacks import QuietCallback
    from engine.config import SegmentConfig
    from engine.segment import Predictor, plan_segmentation, prepared_batches

    scene = write_scene(folder / f"readers{size}", size, seed=7)
    cfg = SegmentConfig(image=scene["image"], aux=scene["aux"], models=[model], output=str(folder / "unused.tif"),
                        overlap=0.125, device=device, batch_size=batch)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    modes = [(1, False)] + [(w, p) for w in sorted({2, cores}) for p in (False, True)]

    def read_all(readers: int, processes: bool) -> tuple[float, int]:
        tiles, seconds, _, _ = _read_scene(cfg, batch, readers, processes=processes)
        return tiles / seconds, tiles

    read_all(2, True)  # starts the reader processes (kept for later scenes, as in a bulk run): not timed
    rates: dict[tuple[int, bool], list[float]] = {m: [] for m in modes}
    ceiling: dict[int, list[float]] = {1: [], 2: []}
    tiles = 0
    for index in range(rounds):
        for mode in (modes if index % 2 == 0 else modes[::-1]):
            rate, tiles = read_all(*mode)
            rates[mode].append(rate)
        for count in (1, 2):
            ceiling[count].append(_independent_rate(cfg, batch, count))
    plan = plan_segmentation(cfg, QuietCallback())
    try:
        predictor = Predictor.from_bundles(plan.members, "none", device)
        batches = prepared_batches(plan, batch)
    finally:
        plan.reader.close()
    predictor(batches[0].vision, batches[0].aux)  # warm-up
    start = time.perf_counter()
    for b in batches:
        predictor(b.vision, b.aux)
    model_rate = sum(len(b.tiles) for b in batches) / (time.perf_counter() - start)
    median = {mode_name(*m): statistics.median(r) for m, r in rates.items()}
    best_2 = max(median["2 threads"], median["2 processes"])
    ceiling_median = {str(c): statistics.median(r) for c, r in ceiling.items()}
    return {"scene": f"{size}x{size}", "tiles": tiles, "cores": cores, "rounds": rounds,
            "reader_tiles_s": median, "reader_tiles_s_all": {mode_name(*m): r for m, r in rates.items()},
            "model_tiles_s": model_rate, "scaling_2": best_2 / median["1 reader"],
            "ceiling_tiles_s": ceiling_median, "ceiling_2": ceiling_median["2"] / ceiling_median["1"],
            "device": device, "work": reader_work(folder, model, device, 2 * size, max(3, rounds - 2), batch)}


def reader_work(folder: Path, model: str, device: str, size: int, rounds: int, batch: int,
                workers: tuple[int, ...] = (1, 2, 4, 8)) -> dict[str, Any]:
    """CPU seconds per tile of the reader threads and the parts they made (image cells decoded, aux blocks
    warped) for 1..8 threads on one scene: the work that more threads add. On a many-core GPU machine that work,
    not this machine's two cores, is what bounds the feed; here it is measured as process CPU time. Beside it the
    interpreter lock one reader thread holds per tile (``bench.gil_probe``): the bound on threads of any number."""
    from engine.config import SegmentConfig

    scene = write_scene(folder / f"readers{size}", size, seed=7)
    cfg = SegmentConfig(image=scene["image"], aux=scene["aux"], models=[model], output=str(folder / "unused.tif"),
                        overlap=0.125, device=device, batch_size=batch)

    def read_all(count: int, normalise: bool) -> tuple[float, dict[str, int], int]:
        tiles, _, cpu, made = _read_scene(cfg, batch, count, normalise=normalise)
        return cpu / tiles, made, tiles

    read_all(1, True)  # warm the file cache
    # normalised here (CPU runs) and left raw for the device to normalise (GPU runs)
    modes = [(w, True) for w in workers] + [(w, False) for w in workers]
    per_tile: dict[tuple[int, bool], list[float]] = {m: [] for m in modes}
    locked: dict[bool, list[float]] = {True: [], False: []}
    made: dict[int, dict[str, int]] = {}
    tiles = 0
    for index in range(rounds):
        for count, normalise in (modes if index % 2 == 0 else modes[::-1]):
            seconds, made[count], tiles = read_all(count, normalise)
            per_tile[(count, normalise)].append(seconds)
        for normalise in (True, False, False, True):  # twice each a round: it is the noisier measurement
            locked[normalise].append(lock_ms_per_tile(cfg, batch, normalise))
    ms = {str(w): 1000 * statistics.median(per_tile[(w, True)]) for w in workers}
    raw_ms = {str(w): 1000 * statistics.median(per_tile[(w, False)]) for w in workers}
    return {"scene": f"{size}x{size}", "tiles": tiles, "rounds": rounds, "cpu_ms_per_tile": ms,
            "cpu_ms_per_tile_raw": raw_ms, "growth_max_workers": ms[str(workers[-1])] / ms[str(workers[0])],
            "parts_made": {str(w): m for w, m in made.items()},
            "gil_ms_per_tile": {"normalised": statistics.median(locked[True]), "raw": statistics.median(locked[False]),
                                "all": {"normalised": locked[True], "raw": locked[False]},
                                "probe_calibration": calibration()}}


def _read_scene(cfg: Any, batch: int, readers: int, *, processes: bool = False,
                normalise: bool = True) -> tuple[int, float, float, dict[str, int]]:
    """One pass of the tile reader alone over ``cfg``'s scene: tiles, wall seconds from the start of reading,
    process CPU seconds (planning the shared parts included) and the parts made."""
    import resource

    from engine.callbacks import QuietCallback
    from engine.segment import TileReader, plan_segmentation

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    plan = plan_segmentation(cfg, QuietCallback())
    cpu_start = cpu()
    reader = TileReader(plan, batch, 2, readers, processes=processes, normalise=normalise).start()
    start = time.perf_counter()
    try:
        tiles = sum(len(b.tiles) for b in reader)
    finally:
        reader.close()
        plan.reader.close()
    return tiles, time.perf_counter() - start, cpu() - cpu_start, dict(reader.parts.made)


def lock_ms_per_tile(cfg: Any, batch: int, normalise: bool) -> float:
    """Interpreter lock (GIL) one reader thread holds per tile of ``cfg``'s scene, in ms (``bench.gil_probe``)."""
    held, _, (tiles, *_) = lock_held_seconds(lambda: _read_scene(cfg, batch, 1, normalise=normalise))
    return 1000 * held / tiles


def mode_name(readers: int, processes: bool) -> str:
    return "1 reader" if readers == 1 else f"{readers} {'processes' if processes else 'threads'}"


def _independent_rate(cfg: Any, batch: int, count: int) -> float:
    """Tiles/s when ``count`` processes that share nothing each prepare the share of the scene's tiles a reader
    worker would get (``reader_shares``): what this machine allows for that work without the reader's own
    coordination."""
    import multiprocessing

    with multiprocessing.get_context("forkserver").Pool(count) as pool:  # no fork of a process running torch
        results = pool.starmap(_prepare_share, [(cfg, batch, w, count) for w in range(count)])
    return sum(n for n, _ in results) / max(seconds for _, seconds in results)


def _prepare_share(cfg: Any, batch: int, worker: int, count: int) -> tuple[int, float]:
    import rasterio

    from engine.callbacks import QuietCallback
    from engine.segment import TileReader, plan_segmentation
    from engine.segment.prepare import prepare_tile
    from engine.segment.reader import reader_shares

    plan = plan_segmentation(cfg, QuietCallback())
    stats = TileReader(plan, batch, 2, 1).stats  # also plans the shared parts, as the reader does
    owners = reader_shares(len(plan.grid.rows), len(plan.grid.cols), count)  # the reader workers' split
    tiles = [t for i, t in enumerate(plan.grid) if owners[i] == worker]
    try:
        with rasterio.Env():
            start = time.perf_counter()
            for tile in tiles:
                prepare_tile(tile, plan.reader, stats, plan.use_region_mask)
            return len(tiles), time.perf_counter() - start
    finally:
        plan.reader.close()
