"""onnxruntime against torch on the CPU: the same tiles through both predictors, and the command's start-up.

1. Model throughput: a scene of the segmentation benchmark's kind (4-band uint16, 48-band aux in EPSG:4326)
   is read, normalised and batched once (``prepared_batches``); the torch predictor (the bundle) and the
   onnxruntime predictor (its export) then run the same batches, in adjacent pairs alternating which goes first
   (the VM's speed drifts), and the median pair is reported with its range. Also the largest probability
   difference between the two on those tiles. Presets: tiny at 256 px and b1 (the default) at 512 px, freshly
   initialised (throughput does not depend on the weights).
2. Start-up: ``python -m engine segment`` on a small scene (320 x 256, the demo's scene B size) in a fresh
   process, torch bundle vs its ONNX export with ``--backend onnxruntime``, median of 3 runs each, interleaved.

Run alone: ``python bench/bench_onnx.py [--quick]``; inside ``make bench`` as section "onnx".
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_segment import AUX_CHANNELS, torch_threads, write_scene  # noqa: E402 - repository root first
from bench.common import child_env  # noqa: E402
from engine.callbacks import QuietCallback  # noqa: E402

TITLE = "ONNX: onnxruntime vs torch on the CPU (same tiles), and segment start-up"
BATCH = 4
VISION_STATS = {"method": "percentile", "low": [800.0, 900.0, 600.0, 1500.0], "high": [1900.0, 2000.0, 1700.0, 4300.0]}


def make_bundle(folder: Path, preset: str, tile: int) -> str:
    """A freshly initialised bundle of ``preset`` (4 bands + 48 aux channels, one class) for ``tile``-px tiles."""
    import torch

    from engine.bundle.store import save_bundle
    from engine.models import build_model

    path = folder / f"onnx_{preset}_{tile}.dsmodel"
    if path.exists():
        return str(path)
    torch.manual_seed(0)
    model = build_model("dualstream", preset=preset, vision_channels=4, aux_channels=AUX_CHANNELS, num_classes=1)
    data = {"vision_bands": 4, "vision_stats": VISION_STATS, "aux_channels": AUX_CHANNELS,
            "aux_stats": {"method": "meanstd", "low": [0.0] * AUX_CHANNELS, "high": [1.0] * AUX_CHANNELS},
            "aux_ratio": 8, "class_names": ["background", "hotspot"], "class_colors": ["#d9d9d9", "#e6550d"],
            "tile_size": tile, "gsd": [1.0, 1.0], "crs": "EPSG:32652", "num_classes": 1}
    return save_bundle(path, model.eval(), {"model": model.config.to_dict(), "data": data,
                                            "train": {"note": "untrained: throughput benchmark only"}})


def throughput(folder: Path, preset: str, tile: int, size: int, rounds: int) -> dict[str, Any]:
    """Model-only pixels/s of the torch and onnxruntime predictors on the same prepared batches."""
    from engine.config import SegmentConfig
    from engine.export.onnx_export import export_onnx
    from engine.segment import Predictor, plan_segmentation, prepared_batches
    from engine.segment.onnx_predictor import OnnxPredictor

    threads = torch_threads()
    bundle = make_bundle(folder, preset, tile)
    onnx_path = folder / f"onnx_{preset}_{tile}.onnx"
    start = time.perf_counter()
    exported = export_onnx(bundle, onnx_path, batch_size=BATCH)
    export_s = time.perf_counter() - start
    scene = write_scene(folder / "scenes", size, seed=3)
    cfg = SegmentConfig(image=scene["image"], aux=scene["aux"], models=[bundle], output=str(folder / "unused.tif"),
                        device="cpu", batch_size=BATCH, overlap=0.125, tile_size=tile)
    plan = plan_segmentation(cfg, QuietCallback())
    try:
        batches = prepared_batches(plan, BATCH)
        torch_predictor = Predictor.from_bundles(plan.members, plan.cfg.tta, "cpu")
    finally:
        plan.reader.close()
    onnx_plan = plan_segmentation(cfg.replace(models=[str(onnx_path)], backend="onnxruntime"), QuietCallback())
    onnx_plan.reader.close()
    onnx_predictor = OnnxPredictor.from_files(onnx_plan.members, "none", "cpu")
    tiles = sum(len(b.tiles) for b in batches)
    diff = max(float(np.abs(torch_predictor(b.vision, b.aux) - onnx_predictor(b.vision, b.aux)).max())
               for b in batches[:2])  # also the warm-up of both

    def timed(predictor: Any) -> float:
        begin = time.perf_counter()
        for b in batches:
            predictor(b.vision, b.aux)
        return time.perf_counter() - begin

    pairs = []
    for index in range(rounds):
        order = (torch_predictor, onnx_predictor) if index % 2 == 0 else (onnx_predictor, torch_predictor)
        seconds = {id(p): timed(p) for p in order}
        pairs.append({"torch_s": seconds[id(torch_predictor)], "onnxruntime_s": seconds[id(onnx_predictor)]})
    for pair in pairs:
        pair["speedup"] = pair["torch_s"] / pair["onnxruntime_s"]
    ranked = sorted(pairs, key=lambda p: p["speedup"])
    median = ranked[len(ranked) // 2]
    pixels = tiles * tile * tile
    return {"preset": preset, "tile": tile, "scene": f"{size}x{size}", "tiles": tiles, "batch": BATCH,
            "torch_threads": threads, "export_s": export_s, "export_max_abs_diff": exported.max_abs_diff,
            "max_abs_diff_on_tiles": diff, "rounds": pairs, "torch_px_s": pixels / median["torch_s"],
            "onnxruntime_px_s": pixels / median["onnxruntime_s"], "speedup": median["speedup"],
            "speedup_range": [ranked[0]["speedup"], ranked[-1]["speedup"]]}


def startup(folder: Path, repeats: int) -> dict[str, Any]:
    """Wall time of ``python -m engine segment`` on a 320 x 256 scene: torch bundle vs ONNX export."""
    from engine.data import synthetic
    from engine.export.onnx_export import export_onnx

    bundle = make_bundle(folder, "tiny", 128)
    onnx_path = folder / "onnx_tiny_128.onnx"
    if not onnx_path.exists():
        export_onnx(bundle, onnx_path)
    scene = synthetic.make_scene(folder / "small", "scene_b", size=(256, 320), seed=12, aux_channels=AUX_CHANNELS)
    runs: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
    env = child_env()
    for _ in range(repeats):
        for backend, model in (("torch", bundle), ("onnxruntime", str(onnx_path))):
            command = [sys.executable, "-m", "engine", "segment", "--image", scene["image"], "--aux",
                       scene["aux"][0], "--model", model, "--backend", backend, "--device", "cpu", "--quiet",
                       "--out", str(folder / f"startup_{backend}.tif")]
            begin = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=str(REPO), env=env)
            runs[backend].append(time.perf_counter() - begin)
            if done.returncode != 0:
                raise RuntimeError(f"segment --backend {backend} failed:\n{done.stderr[-2000:]}")
    return {"scene": "320x256", "repeats": repeats, "runs_s": runs,
            "torch_s": statistics.median(runs["torch"]), "onnxruntime_s": statistics.median(runs["onnxruntime"])}


def run(ctx: Any) -> dict[str, Any]:
    folder = Path(ctx.output_dir) / "onnx"
    folder.mkdir(parents=True, exist_ok=True)
    cases = [("tiny", 256, 1024)] if ctx.quick else [("tiny", 256, 2048), ("b1", 512, 1536)]
    rounds = 1 if ctx.quick else 3
    result: dict[str, Any] = {"throughput": [throughput(folder, p, t, s, rounds) for p, t, s in cases],
                              "startup": startup(folder, 1 if ctx.quick else 3)}
    result["markdown"] = _markdown(result)
    return result


def _markdown(r: dict[str, Any]) -> str:
    lines = ["| model | tiles | torch px/s | onnxruntime px/s | speed-up (median) | range | max prob. diff |",
             "|---|---|---|---|---|---|---|"]
    for t in r["throughput"]:
        lines.append(f"| {t['preset']}, {t['tile']}-px tiles, batch {t['batch']} | {t['tiles']} | "
                     f"{t['torch_px_s']:,.0f} | {t['onnxruntime_px_s']:,.0f} | **{t['speedup']:.2f}x** | "
                     f"{t['speedup_range'][0]:.2f}-{t['speedup_range'][1]:.2f} ({len(t['rounds'])} pairs) | "
                     f"{t['max_abs_diff_on_tiles']:.1e} |")
    s = r["startup"]
    lines += ["", f"`python -m engine segment` on a {s['scene']} scene (fresh process, median of {s['repeats']}): "
              f"torch bundle {s['torch_s']:.1f} s, ONNX export with `--backend onnxruntime` "
              f"{s['onnxruntime_s']:.1f} s."]
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    from bench.common import BenchContext

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(REPO / "bench_output"))
    args = parser.parse_args()
    out = run(BenchContext(output_dir=Path(args.output), quick=args.quick, device="cpu"))
    print(out["markdown"])
    print(json.dumps({k: v for k, v in out.items() if k != "markdown"}, default=str)[:2000])
