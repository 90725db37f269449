"""Bulk segmentation between scenes (``bench_bulk.py`` part 5): how long the model idles from one scene to the next.

The same scenes and one loaded predictor, side by side in one process: a bulk run with its scenes one after
another (``overlap_scenes=False``, the CPU's default and what every bulk run did until 2026-11-23: each scene's
outputs finished and published, then the next scene planned and its first tiles read, the model idle meanwhile)
against one that overlaps them (the GPU's default: the next scene read ahead, outputs published in the
background). The predictor's calls are timed; the model's idle time at a scene boundary is from
the end of a scene's last call to the start of the next scene's first. On the CPU the tiny preset keeps the
model's share small enough for the boundaries to show; on a GPU the calls are synchronised to be timed.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

from bench.bulk_inputs import bench_predictor, manifest_rows, manifest_size


def scene_boundaries(folder: Path, model: str, manifest: Path, device: str, batch: int, readers: int,
                     rounds: int, amp: str = "none") -> dict[str, Any]:
    """Wall time, model time and the model's idle time per scene boundary: a bulk run with its scenes one after
    another vs one that overlaps them, ``rounds`` times each in alternating order (medians)."""
    import torch

    from engine.callbacks import QuietCallback
    from engine.config import BulkConfig, SegmentConfig
    from engine.segment import plan_segmentation
    from engine.segment.bulk.runner import segment_bulk

    rows = manifest_rows(manifest)
    template = SegmentConfig(models=[model], device=device, batch_size=batch, overlap=0.125, readers=readers)
    predictor = bench_predictor(template, amp)
    cuda = str(predictor.device).startswith("cuda")
    calls: list[tuple[float, float]] = []
    inner = type(predictor).on_device

    class Timed(type(predictor)):  # the same predictor, its calls timed (on_device: the GPU's path and __call__'s)
        def on_device(self, vision: Any, aux: Any, coords: Any = None) -> Any:
            tick = time.perf_counter()
            out = inner(self, vision, aux, coords)
            if cuda:
                torch.cuda.synchronize()
            calls.append((tick, time.perf_counter()))
            return out

    predictor.__class__ = Timed
    batches = []  # predictor calls per scene in bulk order (largest first, as the bulk run orders them)
    for row in rows:
        plan = plan_segmentation(template.replace(image=row["image"], aux=[row["aux"]],
                                                  output=str(folder / "unused.tif")), QuietCallback())
        batches.append((plan.width * plan.height, math.ceil(len(plan.grid) / batch)))
        plan.reader.close()
    order = sorted(range(len(rows)), key=lambda i: -batches[i][0])
    per_scene = [batches[i][1] for i in order]

    def bulk(overlap: bool) -> None:
        done = segment_bulk(BulkConfig(manifest=str(manifest), out_dir=str(folder / "boundaries"), overwrite=True),
                            template, QuietCallback(), predictor=predictor, overlap_scenes=overlap)
        if not done.ok:
            raise RuntimeError(f"bulk run failed: {[s.error for s in done.scenes if s.error]}")

    bulk(False)  # warm-up (kernels, allocator, file cache); not timed
    modes = {"one after another": False, "overlapped": True}
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
    for _ in range(rounds):
        for name, overlap in modes.items():
            calls.clear()
            start = time.perf_counter()
            bulk(overlap)
            wall = time.perf_counter() - start
            if len(calls) != sum(per_scene):
                raise RuntimeError(f"{name}: {len(calls)} predictor calls, expected {sum(per_scene)}")
            ends = [sum(per_scene[:k + 1]) for k in range(len(per_scene))]  # one past each scene's last call
            idle = [calls[e][0] - calls[e - 1][1] for e in ends[:-1]]
            measured[name].append({"wall_s": wall, "model_s": sum(b - a for a, b in calls),
                                   "boundary_idle_ms": 1000 * statistics.mean(idle) if idle else 0.0,
                                   "first_call_s": calls[0][0] - start, "after_last_s": start + wall - calls[-1][1]})
    median = {name: {key: statistics.median(m[key] for m in runs) for key in runs[0]}
              for name, runs in measured.items()}
    for m in median.values():
        m["model_share"] = m["model_s"] / m["wall_s"]
    return {"device": str(predictor.device), "amp": amp, "scenes": len(rows), "size": manifest_size(manifest),
            "batch": batch, "readers": readers, "rounds": rounds, "modes": median,
            "wall_ratio": median["one after another"]["wall_s"] / median["overlapped"]["wall_s"]}


def markdown(s: dict[str, Any], preset: str) -> list[str]:
    lines = [f"Between scenes, {s['scenes']} x {s['size']}² on {s['device']} (preset {preset}, {s['amp']}, batch "
             f"{s['batch']}, {s['readers']} reader(s), one loaded predictor, median of {s['rounds']} alternating "
             f"rounds):", "",
             "| bulk run, scenes | wall | model busy | model idle per scene boundary | before the first call | after "
             "the last |", "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {m['wall_s']:.2f} s | {100 * m['model_share']:.1f} % | {m['boundary_idle_ms']:.0f} ms | "
              f"{m['first_call_s']:.2f} s | {m['after_last_s']:.2f} s |" for name, m in s["modes"].items()]
    lines += ["", f"Wall time one after another / overlapped: **{s['wall_ratio']:.3f}x**.", ""]
    return lines
