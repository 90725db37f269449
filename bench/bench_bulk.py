"""Bulk segmentation benchmarks: one process vs one CLI call per scene, reader scaling, torchrun, GPU feed.

1. Bulk vs separate calls: the same scenes (15 x 512^2 and 4 x 2048^2; quick: 6 x 512^2 and 2 x 1024^2) through
   one ``segment --manifest`` run and through one ``segment --image`` CLI call each: seconds per scene, the
   speed-up, and the bulk runner's own overhead per scene (run time less model load and the time the scenes'
   runs cover together) against a scene's time. Targets: overhead < 10 % of a scene's compute, >= 3x on 512^2.
   The class rasters of both must be identical.
2. Reader scaling: tiles/s of the tile reader alone (512-px tiles, 48-band aux in EPSG:4326 warped per tile) with
   one reader, and 2 and all cores' workers as threads and as processes, against the model-only tiles/s of the b1
   model on the device; beside it the machine's own ceiling for the same work (independent processes sharing
   nothing), the reader's CPU per tile with 1-8 threads and the interpreter lock one reader thread holds per tile.
   Target on 2 cores: 2 workers >= 1.7x one.
3. torchrun: 2 CPU processes x 1 torch thread against 1 process x 1 thread on the same 16 scenes: scenes/s in the
   scene phase (after start-up and model load), from the summaries and from the wall clock; identical outputs.
   Target >= 1.7x.
4. GPU (``--device cuda``): model-only vs end-to-end px/s of a bulk run with b1, ``--amp bf16|fp16`` and each
   ``--readers N`` as threads and as processes. Target end-to-end >= 0.90 of model-only.
5. Between scenes (``bench/bulk_scenes.py``): the model's idle time from one scene to the next, a bulk run with
   its scenes one after another vs overlapped (next scene read ahead, outputs published in the background).
6. The feed's main-process work per tile (``bench/bulk_feed.py``, ``--only feed``): the GPU's path with a model
   that costs nothing, thread CPU per tile by part (copies, batching, publishing rows), 2 readers.
7. Where a tile's reading CPU goes (``bench/reader_split.py``, ``--only split``): the reader alone, CPU per tile by
   part (decoding, warping, copies, bookkeeping) with 1 and 8 threads and 8 processes' shares.

The model is the product default (b1 preset, tile 512, 48 aux channels) with random weights: throughput does not
depend on the weights. Scenes are written block by block by :func:`bench.bench_segment.write_scene`.

Run alone: ``python bench/bench_bulk.py [--quick] [--only calls readers torchrun gpu]``; on a GPU machine, with no
QGIS needed: ``python bench/bench_bulk.py --device cuda --amp bf16 --readers 8 --only gpu``. Inside ``make bench``
as section "bulk".
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bulk_inputs import (  # noqa: E402 - needs the repository root on sys.path
    PRESET,
    TILE,
    bench_bundle,
    bench_env,
    bench_scenes,
    class_values,
    manifest_rows,
    manifest_size,
)
from bench.bulk_readers import reader_scaling  # noqa: E402

TITLE = "Bulk segmentation: one process vs one call per scene, reader scaling, torchrun"
TARGETS = {"overhead_share": 0.10, "small_speedup": 3.0, "reader_scaling": 1.7, "torchrun_speedup": 1.7,
           "gpu_efficiency": 0.90}


# ------------------------------------------------------------------------------------------------ 1. calls
def bulk_vs_calls(folder: Path, model: str, manifest: Path, device: str) -> dict[str, Any]:
    """One bulk run over the manifest vs one CLI call per scene (fresh processes both)."""
    rows = manifest_rows(manifest)
    out = folder / f"bulk_{manifest.stem}"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine", "segment", "--manifest", str(manifest), "--model", model,
                           "--out-dir", str(out), "--device", device, "--overlap", "0.125", "--overwrite", "--quiet",
                           "--json"], capture_output=True, text=True, env=bench_env(), cwd=REPO)
    bulk_wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"bulk run failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    load = sum(r["load_seconds"] for r in summary["ranks"].values())
    setup = summary["setup_seconds"]  # importing torch and resolving the device: once per process, like the load
    # discovery, hashes, markers, summaries: the run's time outside every scene (scenes overlap: one is published
    # while the next runs, so the time they cover together, not the sum of their own)
    covered = _covered(summary["scenes"])
    runner_overhead = summary["seconds"] - setup - load - covered
    calls = []
    identical = True
    for row in rows:
        target = folder / f"call_{manifest.stem}" / row["output"]
        target.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        one = subprocess.run([sys.executable, "-m", "engine", "segment", "--image", row["image"], "--aux",
                              row["aux"], "--model", model, "--out", str(target), "--device", device, "--overlap",
                              "0.125", "--quiet"], capture_output=True, text=True, env=bench_env(), cwd=REPO)
        calls.append(time.perf_counter() - start)
        if one.returncode != 0:
            raise RuntimeError(f"segment call failed: {one.stderr[-2000:]}")
        identical &= bool(np.array_equal(class_values(target), class_values(out / row["output"])))
    n = len(rows)
    mean_compute = covered / n  # the time the scenes cover together (on a GPU they overlap)
    return {"scenes": n, "size": manifest_size(manifest), "bulk_wall_s": bulk_wall, "bulk_s_per_scene": bulk_wall / n,
            "calls_s_per_scene": sum(calls) / n, "speedup": sum(calls) / bulk_wall,
            "scene_compute_s": mean_compute, "model_load_s": load,
            "process_start_s": bulk_wall - summary["seconds"], "setup_s": setup,
            "runner_overhead_s_per_scene": runner_overhead / n,
            "overhead_share": runner_overhead / n / mean_compute,
            # the same with the once-per-process set-up spread over the scenes (how it was counted until 2026-11-23)
            "overhead_share_with_setup": (runner_overhead + setup) / n / mean_compute, "identical": identical}


def _covered(records: list[dict[str, Any]]) -> float:
    """Seconds covered by the scenes' [started_s, started_s + seconds] intervals together."""
    total, reach = 0.0, float("-inf")
    for begin, end in sorted((r["started_s"], r["started_s"] + r["seconds"]) for r in records
                             if r.get("started_s") is not None):  # skipped, or failed before starting: none
        total += max(0.0, end - max(begin, reach))
        reach = max(reach, end)
    return total


# ------------------------------------------------------------------------------------------------ 3. torchrun
def torchrun_speedup(folder: Path, model: str, manifest: Path) -> dict[str, Any]:
    """2 gloo CPU processes x 1 thread vs 1 process x 1 thread over the same scenes; outputs compared."""
    runs = {}
    for name, launcher in (("one", [sys.executable, "-m", "engine"]),
                           ("two", [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                                    "--nproc_per_node", "2", "-m", "engine"])):
        out = folder / f"torchrun_{name}"
        start = time.perf_counter()
        done = subprocess.run([*launcher, "segment", "--manifest", str(manifest), "--model", model, "--out-dir",
                               str(out), "--device", "cpu", "--overlap", "0.125", "--overwrite", "--quiet"],
                              capture_output=True, text=True, env=bench_env(threads=1), cwd=REPO)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"torchrun bench ({name}) failed: {done.stderr[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
        by_rank: dict[int, float] = {}
        for scene in summary["scenes"]:
            by_rank[scene["rank"]] = by_rank.get(scene["rank"], 0.0) + scene["seconds"]
        # the scene phase: after start-up and the model load, until the busiest rank's last scene
        runs[name] = {"wall_s": wall, "summary_s": summary["seconds"], "scenes": len(summary["scenes"]),
                      "scene_phase_s": max(by_rank.values()), "out": str(out)}
    rows = manifest_rows(manifest)
    identical = all(np.array_equal(class_values(Path(runs["one"]["out"]) / r["output"]),
                                   class_values(Path(runs["two"]["out"]) / r["output"])) for r in rows)
    return {"scenes": len(rows), "size": manifest_size(manifest), "one": runs["one"], "two": runs["two"],
            "speedup": runs["one"]["summary_s"] / runs["two"]["summary_s"],
            "speedup_scenes": runs["one"]["scene_phase_s"] / runs["two"]["scene_phase_s"],
            "speedup_wall": runs["one"]["wall_s"] / runs["two"]["wall_s"], "identical": identical}


# ------------------------------------------------------------------------------------------------ section
def run(ctx: Any, only: list[str] | None = None, amp: str = "bf16", readers: list[int] | None = None,
        gpu_scenes: tuple[int, int] = (6, 4096)) -> dict[str, Any]:
    from engine.runtime.environment import resolve_device

    device = resolve_device(ctx.device)
    quick = bool(ctx.quick)
    folder = Path(ctx.output_dir) / "bulk_work"
    folder.mkdir(parents=True, exist_ok=True)
    model = bench_bundle(folder)
    wanted = only or (["calls", "readers", "torchrun", "scenes", "feed", "split"]
                      + (["gpu"] if device.startswith("cuda") else []))
    result: dict[str, Any] = {"device": device, "quick": quick, "preset": PRESET, "tile": TILE, "targets": TARGETS}
    small = bench_scenes(folder, 6 if quick else 15, 512)
    if "calls" in wanted:
        large = bench_scenes(folder, 2 if quick else 4, 1024 if quick else 2048)
        result["calls"] = [bulk_vs_calls(folder, model, small, device), bulk_vs_calls(folder, model, large, device)]
    if "readers" in wanted:
        result["readers"] = reader_scaling(folder, model, device, 1024 if quick else 2048, 3 if quick else 5,
                                           batch=4)
    if "torchrun" in wanted:
        result["torchrun"] = torchrun_speedup(folder, model, bench_scenes(folder, 4 if quick else 16, 512))
    if "scenes" in wanted:
        from bench.bulk_scenes import scene_boundaries

        preset = PRESET if device.startswith("cuda") else "tiny"  # tiny: the boundaries show beside a CPU model
        result["scenes"] = dict(scene_boundaries(
            folder, bench_bundle(folder, preset=preset), bench_scenes(folder, *((3, 1024) if quick else (4, 2048))),
            device, batch=16 if device.startswith("cuda") else 4, readers=2, rounds=2 if quick else 3,
            amp=amp if device.startswith("cuda") else "none"), preset=preset)
    if "gpu" in wanted:
        count, size = (2, 1024) if quick else gpu_scenes
        from bench.bulk_gpu import gpu_feed

        result["gpu"] = gpu_feed(folder, model, bench_scenes(folder, count, size), device, amp, readers,
                                 batch=16 if device.startswith("cuda") else 4)
    if "feed" in wanted:  # the main process's work per tile of the GPU's path, with a model that costs nothing
        from bench.bulk_feed import feed_cost

        result["feed"] = feed_cost(folder, *((1, 2048) if quick else (2, 4096)), readers=2, rounds=1 if quick else 3,
                                   batch=16, device=device)
    if "split" in wanted:  # where a tile's reading CPU goes, part by part
        from bench.reader_split import split

        result["split"] = split(folder, *((1, 2048) if quick else (2, 4096)), rounds=1 if quick else 2, batch=16)
    result["markdown"] = _markdown(result)
    return result


def _markdown(r: dict[str, Any]) -> str:
    lines = [f"Device: {r['device']}; model {r['preset']} (random weights), tile {r['tile']}, overlap 1/8, 48-band aux "
             f"in EPSG:4326. Ratios from this one run.", ""]
    if "calls" in r:
        lines += ["| scenes | one CLI call per scene | bulk (one process) | speed-up | scene time | bulk runner "
                  "overhead per scene | overhead / compute | with the set-up spread over the scenes | "
                  "start-up + torch import + model load (once) | identical |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for c in r["calls"]:
            lines.append(f"| {c['scenes']} x {c['size']}² | {c['calls_s_per_scene']:.2f} s/scene | "
                         f"{c['bulk_s_per_scene']:.2f} s/scene | **{c['speedup']:.1f}x** | "
                         f"{c['scene_compute_s']:.2f} s | {c['runner_overhead_s_per_scene'] * 1000:.0f} ms | "
                         f"**{100 * c['overhead_share']:.1f} %** | {100 * c['overhead_share_with_setup']:.1f} % | "
                         f"{c['process_start_s']:.1f} s + {c['setup_s']:.1f} s + {c['model_load_s']:.1f} s | "
                         f"{c['identical']} |")
        lines += ["", f"Targets: speed-up >= {TARGETS['small_speedup']}x on the 512² scenes; bulk runner overhead "
                      f"(run time less the once-per-process set-up (torch import, device), the model load and the "
                      f"time the scenes' runs cover together (they overlap: one is published while the next runs): "
                      f"listing, hashing the bundle, markers, summaries) < "
                      f"{100 * TARGETS['overhead_share']:.0f} % of a scene's compute.",
                  ""]
    if "readers" in r:
        x = r["readers"]
        shown = ", ".join(f"{w} {rate:.1f}" for w, rate in x["reader_tiles_s"].items())
        ceiling = x["ceiling_tiles_s"]
        lines += [f"Reader alone on {x['scene']} ({x['tiles']} tiles, {x['cores']} cores, median of {x['rounds']} "
                  f"rounds in alternating order), tiles/s: {shown}; the better 2-worker reader / 1 = "
                  f"**{x['scaling_2']:.2f}x** (target >= {TARGETS['reader_scaling']}x). This machine's ceiling for "
                  f"the same work (independent processes sharing nothing, the reader workers' split): 1 process "
                  f"{ceiling['1']:.1f}, 2 processes {ceiling['2']:.1f} tiles/s = **{x['ceiling_2']:.2f}x**. Model "
                  f"only on {x['device']}: {x['model_tiles_s']:.1f} tiles/s.", ""]
        if "work" in x:
            w = x["work"]
            lines += [f"Reader work on {w['scene']} ({w['tiles']} tiles, median of {w['rounds']} rounds): process CPU "
                      f"per tile with N reader threads, normalising (CPU runs) and leaving the vision values raw for "
                      f"the device to normalise (GPU runs), and the parts they made (image cells decoded, aux "
                      f"blocks warped); what more threads add on a many-core machine:", "",
                      "| reader threads | CPU per tile | CPU per tile, raw for the GPU | cells decoded | aux blocks "
                      "warped |", "|---|---|---|---|---|"]
            made = w["parts_made"]
            lines += [f"| {n} | {ms:.1f} ms | {w['cpu_ms_per_tile_raw'][n]:.1f} ms | {made[n].get('cell', 0)} | "
                      f"{made[n].get('aux', 0)} |" for n, ms in w["cpu_ms_per_tile"].items()]
            lines += ["", f"CPU per tile with the most threads / one: **{w['growth_max_workers']:.2f}x**.", ""]
            if "gil_ms_per_tile" in w:
                lock = w["gil_ms_per_tile"]
                lines += [f"Interpreter lock (GIL) held by one reader thread per tile (`bench/gil_probe.py`): "
                          f"{lock['normalised']:.1f} ms normalising, {lock['raw']:.1f} ms raw for the GPU: reader "
                          f"threads together deliver at most about {1000 / lock['raw']:.0f} tiles/s on this CPU "
                          f"whatever the core count (reader processes each have their own lock).", ""]
                probe = lock.get("probe_calibration")
                if probe:
                    lines += [f"The probe on this machine during the run: a pure-Python loop read "
                              f"{probe['python_share']:.2f} of its time holding the lock (expected about 0.5), a sleep "
                              f"{probe['sleep_share']:.2f} (expected about 0)"
                              + ("." if probe["trustworthy"] else ": **the lock figures above are not trustworthy** "
                                 "(fewer than two free cores)."), ""]
    if "torchrun" in r:
        t = r["torchrun"]
        lines += [f"torchrun, {t['scenes']} x {t['size']}² on the CPU, 1 torch thread per process: scene phase "
                  f"(each rank's scenes after its start-up and model load; the busiest rank) 1 process "
                  f"{t['one']['scene_phase_s']:.1f} s, 2 processes {t['two']['scene_phase_s']:.1f} s: "
                  f"**{t['speedup_scenes']:.2f}x** scenes/s (target >= {TARGETS['torchrun_speedup']}x). Whole run "
                  f"from the summaries (model load included, process start-up excluded): "
                  f"{t['one']['summary_s']:.1f} s vs {t['two']['summary_s']:.1f} s = {t['speedup']:.2f}x; by the "
                  f"wall clock (torchrun's start-up included) {t['speedup_wall']:.2f}x. Outputs identical: "
                  f"{t['identical']}.", ""]
    if "scenes" in r:
        from bench.bulk_scenes import markdown

        lines += markdown(r["scenes"], r["scenes"]["preset"])
    if "gpu" in r:
        g = r["gpu"]
        whole = (f"end to end (bulk run, GeoTIFFs written) {g['end_to_end_px_s']:,.0f} px/s: **{g['efficiency']:.2f}**"
                 if g["end_to_end_px_s"] else f"end to end not measured ({g.get('end_to_end_skipped')})")
        lines += [f"GPU {g['gpu']} ({g['device']}), {g['amp']}, {g['readers']} reader workers, batch {g['batch']}, "
                  f"{g['scenes']} x {g['size']}² ({g['tiles']} tiles): model only {g['model_only_px_s']:,.0f} px/s; "
                  f"fed by the pipeline (readers, blending, rows dropped) {g['feed_px_s']:,.0f} px/s: "
                  f"**{g['feed_efficiency']:.2f}**; {whole} (target >= {TARGETS['gpu_efficiency']}).", "",
                  "| reader workers | reader alone (tiles/s) | fed (px/s) | fed / model only | model waiting on input "
                  "| main thread ahead of the GPU, waiting for rows | planning the scenes (serial here) |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {c} | {x['reader_tiles_s']:.0f} | {x['feed_px_s']:,.0f} | {x['feed_efficiency']:.2f} | "
                  f"{100 * x['input_wait_share']:.0f} % | {100 * x.get('output_wait_share', 0.0):.0f} % | "
                  f"{100 * x.get('planning_share', 0.0):.0f} % |" for c, x in g["sweep"].items()]
        on_device = (f" (model on batches already in device memory, nothing copied: "
                     f"{g['model_on_device_px_s']:,.0f} px/s; end to end against it "
                     f"{g['efficiency_on_device']:.2f})" if g.get("efficiency_on_device") else "")
        lines += ["", "Whole bulk run by reader workers: " + "; ".join(
            f"{name}{' (automatic)' if name == g['default_readers'] else ''} {x['efficiency']:.2f}"
            for name, x in g["whole"].items()) + "."] if g.get("whole") else []
        held = g["reader_gil_ms_per_tile"]  # 0: below the probe's noise (the counter ran as fast as when idle)
        bound = (f"{held:.1f} ms per tile (threads of any number: at most about {1000 / held:.0f} tiles/s)" if held > 0
                 else "too little to measure")
        lines += ["", f"Model only: {g['model_tiles_s']:.3g} tiles/s{on_device}. Interpreter lock held by one raw "
                      f"reader thread: {bound}.", ""]
    if "feed" in r:
        from bench.bulk_feed import markdown

        lines += markdown(r["feed"])
    if "split" in r:
        from bench.reader_split import markdown as split_markdown

        lines += [split_markdown(r["split"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench.common import BenchContext

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="bf16", choices=("bf16", "fp16", "none"), help="GPU precision (gpu part)")
    parser.add_argument("--readers", type=int, nargs="+",
                        help="reader worker counts to try in the gpu part (default: the engine's)")
    parser.add_argument("--gpu-scenes", nargs=2, type=int, default=(6, 4096), metavar=("COUNT", "SIZE"))
    parser.add_argument("--only", nargs="+", choices=("calls", "readers", "torchrun", "scenes", "gpu", "feed",
                                                           "split"))
    parser.add_argument("--output", type=Path, default=REPO / "bench_output")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    result = run(BenchContext(output_dir=args.output, quick=args.quick, device=args.device), only=args.only,
                 amp=args.amp, readers=args.readers, gpu_scenes=tuple(args.gpu_scenes))
    (args.output / "bulk_results.json").write_text(json.dumps(result, indent=2, default=str))
    print(result["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
