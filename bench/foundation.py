"""Foundation encoders on the CPU (issue 56): what does not depend on the weights, measured with random weights
of the real sizes (speed and memory do not depend on the values; accuracy does, and is NOT measured here).

1. Per encoder, in a fresh process each: UNet (light decoder) with the encoder, its parameters, the seconds of
   one 512 x 512 tile's forward pass (torch, eval, no grad; the median of three passes after a warm-up; the
   threads the engine's runs take on this machine at that moment), the process's peak memory; extrapolated to a
   4096² scene: x the tiles ``segment`` cuts it into with 512-px tiles (default overlap). A 4096² run of every
   encoder would take hours on this shared 2-core machine (the ViT-L/600M ones most).
2. End to end, to check that extrapolation: ``segment`` of a 1024² scene (quick: 512²) with the torch backend for
   ResNet-18 and the two smallest foundation encoders: the model's own seconds per tile (segment's ``timings``)
   against the probe's, the threads each took, and the whole process.
3. Training with a frozen encoder: cached features against recomputing them every step, the same tiles, epochs
   and decoder, run side by side in alternating order; tiles per second (the caching itself counted), peak memory.
4. ``--scene 4096 --encoders a,b``: the real 4096² ``segment`` with the default backend (onnxruntime through a
   one-time ONNX export, made first by a 1024² run and not in the model's seconds; torch where the bundle cannot
   go to ONNX), measured, one encoder at a time: what a user gets, including the engine's own tile choice (twice
   the trained tile for convolutional encoders on the CPU, whose export the 4096² run makes itself).

Every figure comes with the 1-minute load average it ran under: the machine is shared. On a GPU (``--device cuda``,
or ``make bench`` with a GPU) the probe runs batches of 8 in bf16 as ``segment`` does there, and the whole 4096²
scene is segmented end to end for every encoder instead of the extrapolation check. Run alone: ``python
bench/foundation.py [--quick] [--device cuda]``; in ``make bench`` as section ``foundation``.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_segment import write_scene  # noqa: E402 - repository root first
from bench.common import child_env  # noqa: E402

TITLE = "Foundation encoders on the CPU: segmentation speed per encoder, cached vs recomputed training, memory"
ENCODERS = ("resnet18", "mit_b1", "prithvi_eo2_tiny_tl", "prithvi_eo2_100m_tl", "prithvi_eo2_300m",
            "prithvi_eo2_600m", "dinov3_convnext_tiny", "dinov3_convnext_small", "dinov3_convnext_base",
            "dinov3_vitl16_sat")
END_TO_END = ("resnet18", "prithvi_eo2_tiny_tl", "dinov3_convnext_tiny")
BANDS = 6

PROBE = r"""
import json, resource, statistics, sys, time
import torch
from engine.models import build_model
from engine.runtime.cores import torch_cpu_threads
encoder, tile, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch_cpu_threads(torch)  # the threads segment and train take on this machine now (fewer when it is busy)
torch.manual_seed(0)
model = build_model("unet", preset="light", vision_channels=6, aux_channels=0, encoder=encoder).eval().to(device)
gpu = device.startswith("cuda")
x = torch.randn(8 if gpu else 1, 6, tile, tile, device=device)  # on a GPU a batch, as segment sends one
times = []
with torch.no_grad(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=gpu):  # segment's AMP
    for i in range(11 if gpu else 4):  # a warm-up, then the timed passes (their median: the machine is shared)
        start = time.perf_counter()
        model(x)
        if gpu:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / x.shape[0])
out = {"parameters": sum(p.numel() for p in model.parameters()), "tile_seconds": statistics.median(times[1:]),
       "threads": torch.get_num_threads(), "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
if gpu:
    out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out))
"""

TRAIN = r"""
import json, resource, sys, time
from engine.callbacks import QuietCallback
from engine.config import DataConfig, TrainConfig
from engine.models import AutoModelConfig
from engine.training.trainer import train
image, label, out, mode, encoder, tiles, epochs, device = sys.argv[1:9]
finetune = mode == "finetune"  # the whole model trains (what the time budget picks on a GPU)
model = AutoModelConfig.for_family("unet", preset="light", encoder=encoder)
data = DataConfig(train_scenes=[{"image": image, "label": label}], tile_size=256, tiles_per_epoch=int(tiles),
                  val_fraction=0.0)
cfg = TrainConfig(output=out, epochs=int(epochs) if finetune else 0, warmup_epochs=0 if finetune else int(epochs),
                  batch_size=4, device=device, num_workers=0, preview_tiles=0,
                  frozen_encoder="off" if finetune else mode)
start = time.perf_counter()
train(model, data, cfg, QuietCallback())
seconds = time.perf_counter() - start
import statistics
from pathlib import Path
history = json.loads(Path(out[:-len(".dsmodel")] + "_metrics.json").read_text())
epoch = statistics.median(e["train_seconds"] for e in history)
print(json.dumps({"seconds": seconds, "tiles_per_second": int(tiles) * int(epochs) / seconds,
                  "epoch_seconds": epoch, "epoch_tiles_per_second": int(tiles) / epoch,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(code: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, *code], capture_output=True, text=True, cwd=str(REPO), env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(code[:3])[:80]} ... failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), load


def _env() -> dict[str, str]:
    env = child_env(DUALSTREAM_OFFLINE="1")
    env.pop("OMP_NUM_THREADS", None)  # the engine's own choice of threads, as a user gets it
    return env


def per_encoder(tile: int, encoders: tuple[str, ...], device: str = "cpu") -> list[dict[str, Any]]:
    rows = []
    for name in encoders:
        result, load = _run(["-c", PROBE, name, str(tile), device], _env())
        rows.append({"encoder": name, **result, "load": load})
        print(f"  {name}: {result['tile_seconds']:.2f} s per {tile}² tile, {result['peak_mib']:.0f} MiB", flush=True)
    return rows


def make_bundle(folder: Path, encoder: str, tile: int) -> str:
    """UNet light with ``encoder``, random weights, 6 bands, one class, ``tile`` px tiles."""
    import torch

    from engine.bundle.store import save_bundle
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("unet", preset="light", vision_channels=BANDS, aux_channels=0, encoder=encoder)
    data = {"vision_bands": BANDS, "vision_stats": {"method": "percentile", "low": [500.0] * BANDS,
                                                    "high": [4000.0] * BANDS},
            "aux_channels": 0, "class_names": ["background", "object"], "class_colors": ["#000000", "#ffffff"],
            "tile_size": tile, "gsd": [1.0, 1.0], "crs": "EPSG:32652", "num_classes": 1}
    path = folder / f"{encoder}.dsmodel"
    return save_bundle(path, model, {"model": model.config.to_dict(), "data": data})


def six_band_scene(folder: Path, size: int) -> str:
    """A ``size``² 6-band uint16 GeoTIFF (the image of the segment bench's scene, its bands repeated)."""
    import rasterio

    scene = write_scene(folder, size, seed=3)
    path = folder / f"scene{size}_6band.tif"
    if path.exists():
        return str(path)
    with rasterio.open(scene["image"]) as src:
        profile = dict(src.profile, count=BANDS)
        with rasterio.open(path, "w", **profile) as dst:
            for _, window in src.block_windows(1):
                block = src.read(window=window)
                dst.write(block[[i % block.shape[0] for i in range(BANDS)]], window=window)
    return str(path)


def scene_tiles(size: int, tile: int) -> int:
    """Tiles ``segment`` cuts a ``size``² scene into with ``tile`` px tiles at the default overlap."""
    from engine.config.inference import DEFAULT_OVERLAP
    from engine.segment.tiling import overlap_pixels, tile_count

    return tile_count(size, tile, tile - overlap_pixels(tile, DEFAULT_OVERLAP)) ** 2


def segment_run(image: str, bundle: str, out: Path, device: str, backend: str) -> dict[str, Any]:
    """One ``segment`` in a fresh process: wall seconds, tiles and their size, the model's seconds, threads."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine", "segment", "--image", image, "--model", bundle, "--out",
                           str(out), "--device", device, "--backend", backend, "--json"], capture_output=True,
                          text=True, cwd=str(REPO), env=_env())
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"segment with {bundle} failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    said = [line for line in done.stderr.splitlines() if line.startswith(("Backend:", "Segmenting"))]
    threads = re.search(r"with (\d+) thread", said[0]) if said else None
    tile = re.search(r"tiles of (\d+) px", said[-1]) if said else None
    return {"wall_s": wall, "seconds": report.get("seconds"), "model_s": (report.get("timings") or {}).get("model"),
            "tiles": report.get("tiles"), "tile": int(tile.group(1)) if tile else None,
            "threads": int(threads.group(1)) if threads else None, "backend": report.get("backend"),
            "backend_line": said[0] if said else "", "load": load, "load_after": os.getloadavg()[0]}


def end_to_end(folder: Path, size: int, encoders: tuple[str, ...], tile: int,
               device: str = "cpu") -> list[dict[str, Any]]:
    image = six_band_scene(folder, size)
    rows = []
    for name in encoders:
        bundle = make_bundle(folder, name, tile)
        row = {"encoder": name, **segment_run(image, bundle, folder / f"{name}.tif", device, "torch")}
        rows.append(row)
        print(f"  segment {size}² with {name}: {row['wall_s']:.1f} s, model {row['model_s']:.1f} s, "
              f"{row['tiles']} tiles, {row['threads']} thread(s)", flush=True)
    return rows


def scene_measured(folder: Path, size: int, encoders: tuple[str, ...], tile: int = 512) -> list[dict[str, Any]]:
    """The real ``size``² segment per encoder with the default backend on the CPU, its ONNX export made first by
    a run on a small scene where the tile is the same (else by the run itself, then counted in its wall)."""
    image = six_band_scene(folder, size)
    rows = []
    for name in encoders:
        bundle = make_bundle(folder, name, tile)
        warm = segment_run(six_band_scene(folder, 1024), bundle, folder / f"{name}_warm.tif", "cpu", "auto")
        row = {"encoder": name, **segment_run(image, bundle, folder / f"{name}_{size}.tif", "cpu", "auto"),
               "export_made_first": warm["tile"]}
        rows.append(row)
        print(f"  segment {size}² with {name}: {row['wall_s']:.1f} s wall, model {row['model_s']:.1f} s, "
              f"{row['tiles']} tiles of {row['tile']} px, {row['backend']} with {row['threads']} thread(s), load "
              f"{row['load']:.1f} -> {row['load_after']:.1f}", flush=True)
        Path(bundle).unlink()
    return rows


def cached_vs_recomputed(folder: Path, encoder: str, tiles: int, epochs: int, rounds: int,
                         device: str = "cpu") -> dict[str, Any]:
    """Cached against recomputed features with the encoder frozen; on a GPU also the whole model fine-tuned."""
    image = six_band_scene(folder / "train", 512)
    label = write_scene(folder / "train", 512, seed=3)["label"]
    modes = ("cached", "off", "finetune") if device.startswith("cuda") else ("cached", "off")
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for round_ in range(rounds):
        for mode in (modes if round_ % 2 == 0 else modes[::-1]):
            out = folder / f"train_{mode}_{round_}.dsmodel"
            result, load = _run(["-c", TRAIN, image, label, str(out), mode, encoder, str(tiles),
                                 str(epochs), device], _env())
            runs[mode].append({**result, "load": load})
            print(f"  train {mode}: {result['tiles_per_second']:.2f} tiles/s, {result['peak_mib']:.0f} MiB",
                  flush=True)
    median = {mode: statistics.median(r["tiles_per_second"] for r in rows) for mode, rows in runs.items()}
    epoch = {mode: statistics.median(r["epoch_tiles_per_second"] for r in rows) for mode, rows in runs.items()}
    return {"encoder": encoder, "tiles": tiles, "epochs": epochs, "device": device, "runs": runs,
            "tiles_per_second": median,
            "speedup": median["cached"] / median["off"], "epoch_tiles_per_second": epoch,
            "epoch_speedup": epoch["cached"] / epoch["off"]}


def markdown(result: dict[str, Any]) -> str:
    per = {row["encoder"]: row for row in result["per_encoder"]}
    scene, check, tiles = result["scene"], result["check_scene"], result["scene_tiles"]
    where = (f"on {result['gpu']} (bf16 autocast, as `segment` runs there; a tile's time is a batch of 8's / 8)"
             if result["device"] != "cpu" else f"on {result['cores']} CPU cores shared with other work (the 1-minute "
                                                 f"load average shown); no GPU")
    lines = [f"Random weights of the real sizes; UNet light decoder; 6 bands; {where}. {scene}² = {tiles} tiles of "
             f"{result['tile']} px at the default overlap; its time is one tile's forward x {tiles} (extrapolated).",
             "", f"| encoder | parameters | s per {result['tile']}² tile | {scene}² extrapolated (min) | peak MiB | "
             f"load |", "|---|---|---|---|---|---|"]
    for row in result["per_encoder"]:
        memory = f"{row['peak_mib']:.0f}" + (f" (GPU {row['peak_gpu_mib']:.0f})" if row.get("peak_gpu_mib") else "")
        lines.append(f"| {row['encoder']} | {row['parameters'] / 1e6:.1f} M | {row['tile_seconds']:.4f} | "
                     f"{row['tile_seconds'] * tiles / 60:.2f} | {memory} | {row['load']:.1f} |")
    lines += ["", f"Measured end to end (`segment --backend torch --device {result['device']}`, {check}², a fresh "
              f"process): the model's seconds per tile in the run against the probe's, the threads each took",
              "", "| encoder | tiles | process s | model s per tile | probe s per tile | run / probe | threads run "
              "(probe) | load |", "|---|---|---|---|---|---|---|---|"]
    for row in result["end_to_end"]:
        probe = per.get(row["encoder"], {})
        per_tile = (row["model_s"] or 0) / max(1, row["tiles"] or 1)
        ratio = per_tile / probe["tile_seconds"] if probe.get("tile_seconds") else float("nan")
        lines.append(f"| {row['encoder']} | {row['tiles']} | {row['wall_s']:.1f} | {per_tile:.2f} | "
                     f"{probe.get('tile_seconds', float('nan')):.2f} | {ratio:.2f} | {row['threads']} "
                     f"({probe.get('threads', '?')}) | {row['load']:.1f} |")
    train = result["training"]
    rate, epoch = train["tiles_per_second"], train["epoch_tiles_per_second"]
    memory = {mode: max(r["peak_mib"] for r in rows) for mode, rows in train["runs"].items()}
    lines += ["", f"Training with {train['encoder']} (random weights) on {train['device']}, {train['tiles']} tiles x "
              f"{train['epochs']} epochs of 256 px, batch 4, runs alternating: frozen and cached "
              f"{rate['cached']:.2f} tiles/s, frozen and recomputed {rate['off']:.2f} tiles/s "
              f"(x{train['speedup']:.1f}; whole runs: process start, data, and the caching itself counted); one "
              f"epoch's steps: cached "
              f"{epoch['cached']:.2f}, recomputed {epoch['off']:.2f} tiles/s (x{train['epoch_speedup']:.1f}); peak "
              f"memory cached {memory['cached']:.0f} MiB, recomputed {memory['off']:.0f} MiB."]
    if "finetune" in rate:
        lines[-1] += (f" The whole model fine-tuned: {rate['finetune']:.2f} tiles/s (one epoch's steps "
                      f"{epoch['finetune']:.2f}), peak {memory['finetune']:.0f} MiB.")
    return "\n".join(lines)


def run(ctx: Any) -> dict[str, Any]:
    from engine.runtime.environment import resolve_device

    device = resolve_device(getattr(ctx, "device", "cpu"))
    gpu = device.startswith("cuda")
    folder = Path(ctx.output_dir) / "foundation"
    folder.mkdir(parents=True, exist_ok=True)
    quick = bool(getattr(ctx, "quick", False))
    check, tile = (512, 256) if quick else ((4096, 512) if gpu else (1024, 512))  # a GPU runs the whole scene
    encoders = ENCODERS[:3] + ENCODERS[6:7] if quick else ENCODERS
    result: dict[str, Any] = {"cores": os.cpu_count(), "scene": 4096, "check_scene": check, "tile": tile,
                              "scene_tiles": scene_tiles(4096, tile), "device": device, "gpu": "none lent"}
    if gpu:
        import torch

        result["gpu"] = torch.cuda.get_device_name(torch.device(device))
    result["per_encoder"] = per_encoder(tile, encoders, device)
    checked = encoders if gpu else (END_TO_END[:2] if quick else END_TO_END)
    result["end_to_end"] = end_to_end(folder, check, checked, tile, device)
    result["training"] = cached_vs_recomputed(folder, "prithvi_eo2_tiny_tl" if quick else "prithvi_eo2_100m_tl",
                                              32 if gpu else 8, 2 if quick else 4, 1, device)
    result["markdown"] = markdown(result)
    return result


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(REPO / "bench_output"))
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--scene", type=int, help="measure segment of a SCENE² scene instead (CPU, default "
                                                  "backend), for --encoders")
    parser.add_argument("--encoders", default="resnet18,prithvi_eo2_tiny_tl,prithvi_eo2_100m_tl,dinov3_convnext_tiny")
    args = parser.parse_args()
    if args.scene:
        measured = scene_measured(Path(args.output) / "foundation", args.scene, tuple(args.encoders.split(",")))
        Path(args.output, f"foundation_{args.scene}.json").write_text(json.dumps(measured, indent=2))
        sys.exit(0)
    ctx = type("Ctx", (), {"output_dir": Path(args.output), "quick": args.quick, "device": args.device})()
    outcome = run(ctx)
    Path(args.output, "foundation.json").write_text(json.dumps(outcome, indent=2, default=str))
    print(outcome["markdown"])
