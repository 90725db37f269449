"""Bulk segmentation on a GPU (``bench_bulk.py`` part 4): model-only against the same tiles fed by the pipeline.

For each ``--readers`` count, as threads and as processes: the reader alone (tiles/s with nothing downstream), the
feed (readers -> model -> blending into a sink that drops the rows) and the model's wait on input; then the whole
bulk run (GeoTIFFs written) with the best of them and with the automatic readers (what a user gets), and the
interpreter lock one raw reader thread holds per tile on this machine. Target: end to end >= 0.90 of model-only (the
batches copied in and the probabilities out per batch, as a caller of the predictor does); also reported against the
model on batches already in device memory.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from bench.bulk_inputs import bench_predictor, manifest_rows, manifest_size
from bench.bulk_readers import lock_ms_per_tile, mode_name


def gpu_feed(folder: Path, model: str, manifest: Path, device: str, amp: str, readers: list[int] | None,
             batch: int) -> dict[str, Any]:
    """Model-only vs end-to-end px/s of a bulk run on ``device`` with ``amp`` precision; the feed (readers ->
    model -> blending, rows dropped) and the reader alone for each count in ``readers``, the bulk run with the
    best of them."""
    import torch

    from engine.callbacks import QuietCallback
    from engine.config import BulkConfig, SegmentConfig
    from engine.errors import DependencyError
    from engine.runtime.environment import require
    from engine.segment import TileReader, plan_segmentation, prepared_batches, run_tiles
    from engine.segment.bulk.runner import segment_bulk
    from engine.segment.reader import default_readers
    from engine.segment.sinks import RowSink

    counts = readers or [default_readers(device)]
    template = SegmentConfig(models=[model], device=device, batch_size=batch, overlap=0.125)
    predictor = bench_predictor(template, amp)
    rows = manifest_rows(manifest)

    def plans() -> Any:
        for row in rows:
            plan = plan_segmentation(template.replace(image=row["image"], aux=[row["aux"]],
                                                      output=str(folder / "unused.tif")), QuietCallback())
            try:
                yield plan
            finally:
                plan.reader.close()

    # model only: every scene's tiles read and batched beforehand, through the same predictor
    batches, pixels = [], 0
    for plan in plans():
        batches += prepared_batches(plan, batch)
        pixels += plan.width * plan.height
    tiles = sum(len(b.tiles) for b in batches)
    for b in batches[:3]:
        predictor(b.vision, b.aux)  # warm-up (kernels, allocator)
    sync = torch.cuda.synchronize if str(predictor.device).startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    for b in batches:
        predictor(b.vision, b.aux)
    sync()
    model_s = time.perf_counter() - start
    # the stricter figure: the same batches already in device memory, nothing copied, one wait at the end
    from engine.runtime.prefetch import to_device

    on_gpu = [({k: to_device(v, predictor.device) for k, v in b.vision.items()},
               {k: None if a is None else to_device(a, predictor.device) for k, a in b.aux.items()}) for b in batches]
    del batches
    sync()
    start = time.perf_counter()
    for vision, aux in on_gpu:
        predictor.on_device(vision, aux)
    sync()
    device_s = time.perf_counter() - start
    del on_gpu

    class Discard(RowSink):
        def _write(self, row: int, probs: Any, valid: Any) -> None:
            pass

        def _abort_files(self) -> None:
            pass

    sweep: dict[str, dict[str, Any]] = {}
    for count, processes in [(c, p) for c in counts for p in ((False, True) if c > 1 else (False,))]:
        def read_alone(scenes: Any) -> None:  # the reader with nothing downstream
            for plan in scenes:
                reader = TileReader(plan, batch, 4, count, processes=processes,
                                    normalise=not str(predictor.device).startswith("cuda")).start()  # as run_tiles
                try:
                    for _ in reader:
                        pass
                finally:
                    reader.close()

        if processes:  # the pool starts once per run (interpreters, imports: seconds), as in a bulk run: not timed
            read_alone(itertools.islice(plans(), 1))
        start = time.perf_counter()
        read_alone(plans())
        read_alone_s = time.perf_counter() - start
        wait = ahead = planning = 0.0
        scenes = plans()
        start = time.perf_counter()  # the feed: readers -> predictor -> blending into a sink that drops the rows
        while True:
            tick = time.perf_counter()  # planning a scene: here before its tiles, in a bulk run during the last's
            plan = next(scenes, None)
            planning += time.perf_counter() - tick
            if plan is None:
                break
            sink = Discard()
            stats = run_tiles(plan, predictor, sink, QuietCallback(), batch_size=batch, prefetch=4,
                              readers=count, reader_processes=processes)
            wait += stats.input_wait
            ahead += sink.wait_seconds  # the main thread blocked on rows the GPU has not finished: GPU-bound
        sync()
        feed_s = time.perf_counter() - start
        sweep[mode_name(count, processes)] = {"readers": count, "processes": processes,
                                               "reader_tiles_s": tiles / read_alone_s,
                                               "feed_px_s": pixels / feed_s, "feed_efficiency": model_s / feed_s,
                                               "input_wait_share": wait / feed_s, "output_wait_share": ahead / feed_s,
                                               "planning_share": planning / feed_s}
    # the lock one raw reader thread holds per tile on this machine's CPU: the bound on threads of any number
    first = template.replace(image=rows[0]["image"], aux=[rows[0]["aux"]], output=str(folder / "unused.tif"))
    best_key = max(sweep, key=lambda c: sweep[c]["feed_px_s"])
    best = sweep[best_key]
    result = {"device": str(predictor.device), "gpu": torch.cuda.get_device_name() if torch.cuda.is_available()
              else None, "amp": amp, "readers": best_key, "batch": batch, "scenes": len(rows),
              "size": manifest_size(manifest), "tiles": tiles, "model_only_px_s": pixels / model_s,
              "model_tiles_s": tiles / model_s, "model_on_device_px_s": pixels / device_s,
              "sweep": sweep, "feed_px_s": best["feed_px_s"],
              "reader_gil_ms_per_tile": lock_ms_per_tile(first, batch, False),
              "feed_efficiency": best["feed_efficiency"], "end_to_end_px_s": None, "efficiency": None}
    try:  # the whole bulk run writes GeoTIFFs with overviews and category names through GDAL's Python bindings
        require("osgeo.gdal")
    except DependencyError as exc:
        result["end_to_end_skipped"] = str(exc)
        return result
    # the whole run with the best feed, and with the product's automatic readers (what a user gets) when they differ
    default = {"readers": default_readers(device), "processes": False}
    arms = {best_key: best, **({} if mode_name(**default) == best_key else {mode_name(**default): default})}
    whole: dict[str, dict[str, float]] = {}
    for name, arm in arms.items():
        bulk = BulkConfig(manifest=str(manifest), out_dir=str(folder / f"gpu_{amp}"), overwrite=True)
        start = time.perf_counter()
        done = segment_bulk(bulk, template.replace(readers=arm["readers"], reader_processes=arm["processes"]),
                            QuietCallback(), predictor=predictor)
        end_to_end_s = time.perf_counter() - start
        if not done.ok:
            raise RuntimeError(f"GPU bulk run failed: {[s.error for s in done.scenes if s.error]}")
        whole[name] = {"end_to_end_px_s": pixels / end_to_end_s, "efficiency": model_s / end_to_end_s,
                       "efficiency_on_device": device_s / end_to_end_s}
    result.update(whole[best_key], whole=whole, default_readers=mode_name(**default))
    return result
