"""Segmentation benchmarks: pipeline efficiency, peak memory vs scene size, and the naive whole-scene approach.

1. Pipeline efficiency: end-to-end pixels/s of ``engine.segment.segment`` on a multi-tile scene with 48 aux
   channels in EPSG:4326 (warped per tile), divided by the model-only pixels/s on the same tiles, batch and
   device (tensors prepared in memory beforehand, same ensemble/TTA code). Target >= 0.90.
2. Memory: peak RSS (``ru_maxrss``) of a fresh process segmenting an N x N and a 4N x 4N scene with the same
   model (N = 2048; 1024 with ``--quick``). Target: growth <= 15 %.
3. Naive approach of the reference scripts (read the whole scene, resize it to one tile, predict, resize the
   prediction back) vs ours: foreground IoU against the label and peak RSS at both sizes.

Scenes for 2 and 3 are written block by block (cheap even at 8192^2): a 4-band uint16 image whose class
pattern (blobs ~40-80 px across) is visible in the vision stream, a label raster, and a coarse 48-band aux in
EPSG:4326. The model (tiny preset) is trained briefly with ``engine.training.trainer.train`` on a small scene of the
same kind, so the IoU figures mean something.

Run alone: ``python bench/bench_segment.py [--quick]``; inside ``make bench`` as section "segment".
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from engine.callbacks import QuietCallback  # noqa: E402 - needs the repository root on sys.path first

TITLE = "Segmentation: pipeline efficiency, memory vs scene size, naive whole-scene resize"
TARGET_EFFICIENCY = 0.90
TARGET_MEMORY_GROWTH = 0.15
TILE = 256
PRODUCT_PRESET = "b1"  # the default ModelConfig preset
PRODUCT_TILE = 512  # the default DataConfig tile size
AUX_CHANNELS = 48
ORIGIN = (320_000.0, 4_150_000.0)
CRS = "EPSG:32652"


# ------------------------------------------------------------------------------------------------ scenes
def _class_field(cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Foreground where a sum of waves is high: blobs ~40-80 px across, everywhere in the scene."""
    f = (np.sin(cols / 23.0 + 0.3) * np.sin(rows / 29.0 + 1.1) + 0.5 * np.sin((cols + rows) / 41.0))
    return (f > 0.35).astype(np.uint8)


def write_scene(folder: Path, size: int, seed: int = 0, block: int = 512) -> dict[str, Any]:
    """Write image, label and a coarse 48-band EPSG:4326 aux for a size x size scene, in row blocks."""
    import rasterio
    from affine import Affine
    from rasterio.warp import transform_bounds

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"image": folder / f"scene{size}_image.tif", "label": folder / f"scene{size}_label.tif",
             "aux": [folder / f"scene{size}_aux.tif"]}
    if all(Path(p).exists() for p in (paths["image"], paths["label"], paths["aux"][0])):
        return {k: (str(v) if not isinstance(v, list) else [str(x) for x in v]) for k, v in paths.items()}
    transform = Affine(1.0, 0, ORIGIN[0], 0, -1.0, ORIGIN[1])
    common = dict(driver="GTiff", width=size, height=size, crs=CRS, transform=transform, tiled=True,
                  blockxsize=256, blockysize=256, compress="deflate")
    rng = np.random.default_rng(seed)
    base = np.array([1200, 1400, 1000, 2200], np.float32)[:, None, None]
    signal = np.array([-500, 250, -350, 1800], np.float32)[:, None, None]
    with rasterio.open(paths["image"], "w", count=4, dtype="uint16", **common) as image, \
            rasterio.open(paths["label"], "w", count=1, dtype="uint8", **common) as label:
        from rasterio.windows import Window

        cols = np.arange(size, dtype=np.float32)[None, :]
        for row in range(0, size, block):
            h = min(block, size - row)
            rows = np.arange(row, row + h, dtype=np.float32)[:, None]
            classes = _class_field(cols, rows)
            noise = rng.normal(0, 120, (4, h, size)).astype(np.float32)
            data = base + classes[None] * signal + noise
            window = Window(0, row, size, h)
            image.write(np.clip(data, 1, 65535).astype(np.uint16), window=window)
            label.write((classes * 90)[None], window=window)
    # coarse aux (~32 m) in EPSG:4326 covering the footprint with a margin: low-frequency drift only
    west, south, east, north = transform_bounds(CRS, "EPSG:4326", ORIGIN[0], ORIGIN[1] - size, ORIGIN[0] + size,
                                                ORIGIN[1], densify_pts=21)
    dy = 32.0 / 111_320.0
    dx = dy / math.cos(math.radians((south + north) / 2))
    west, east, south, north = west - 4 * dx, east + 4 * dx, south - 4 * dy, north + 4 * dy
    width, height = int(math.ceil((east - west) / dx)), int(math.ceil((north - south) / dy))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = np.stack([np.sin(xx / (17.0 + k) + k) * np.cos(yy / (23.0 + k)) * (1 + k) for k in range(AUX_CHANNELS)])
    with rasterio.open(paths["aux"][0], "w", driver="GTiff", width=width, height=height, count=AUX_CHANNELS,
                       dtype="float32", crs="EPSG:4326", transform=Affine(dx, 0, west, 0, -dy, north)) as aux:
        aux.write(channels.astype(np.float32))
    return {k: (str(v) if not isinstance(v, list) else [str(x) for x in v]) for k, v in paths.items()}


# ------------------------------------------------------------------------------------------------ model
def train_model(folder: Path, quick: bool, device: str) -> str:
    """A tiny dualstream trained briefly on a 512^2 scene of the benchmark kind (so IoU means something)."""
    from engine.config import AugmentConfig, DataConfig, SceneSpec, TrainConfig
    from engine.models import AutoModelConfig
    from engine.training.trainer import train

    bundle = folder / "bench_segment.dsmodel"
    if bundle.exists():
        return str(bundle)
    scene = write_scene(folder / "train", 512, seed=11)
    result = train(
        AutoModelConfig.for_family(preset="tiny", dropout=0.0, drop_path=0.0),
        DataConfig(train_scenes=[SceneSpec(image=scene["image"], label=scene["label"], aux=scene["aux"])],
                   aux_prefixes=[], aux_bands_per_file=AUX_CHANNELS, tile_size=TILE, aux_ratio=8,
                   tiles_per_epoch=16 if quick else 48, val_fraction=0.2, statistics="percentile",
                   augment=AugmentConfig(rotation_degrees=0, scale_range=[1, 1], color_jitter=0, gray_probability=0)),
        TrainConfig(output=str(bundle), epochs=2 if quick else 4, warmup_epochs=0, batch_size=4, learning_rate=3e-3,
                    vision_lr_factor=1.0, aux_lr_factor=1.0, device=device, preview_tiles=0,
                    early_stop_patience=None),
        QuietCallback(),
    )
    return result.bundle


def product_model(folder: Path, tiny_bundle: str, preset: str = PRODUCT_PRESET, tile: int = PRODUCT_TILE) -> str:
    """A bundle with the default product configuration (preset b1, tile 512) and freshly initialised weights.

    Throughput does not depend on the weights, and training b1 on 2 CPU cores would take far longer than the
    measurement; the data metadata (statistics, bands, classes) is the tiny bundle's.
    """
    from engine.bundle.store import read_metadata, save_bundle
    from engine.models import build_model_from_config

    bundle = folder / f"bench_segment_{preset}_{tile}.dsmodel"
    if bundle.exists():
        return str(bundle)
    meta = read_metadata(tiny_bundle)
    config = meta.model.replace(preset=preset, pretrained=None)
    model = build_model_from_config(config)
    metadata = meta.replace(model=config, data=dataclasses.replace(meta.data, tile_size=tile),
                            train={"note": "untrained: throughput benchmark only"}, metrics={})
    return save_bundle(bundle, model, metadata)


# ------------------------------------------------------------------------------------------------ children
def _max_rss_mib() -> float:
    """Peak RSS of this process. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child started
    by a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _foreground_iou(pred_path: str, label_path: str, folder: Path) -> float:
    from engine.config import EvaluateConfig
    from engine.evaluate import evaluate

    metrics = evaluate(EvaluateConfig(prediction=pred_path, label=label_path, label_mapping={"90": 1},
                                      output=str(folder / (Path(pred_path).stem + "_metrics.json"))), QuietCallback())
    return float(metrics["iou"][1])


def child_ours(image: str, aux: str, model: str, out: str, device: str, batch: int) -> dict[str, Any]:
    from engine.config import SegmentConfig
    from engine.segment import segment

    start = time.perf_counter()
    result = segment(SegmentConfig(image=image, aux=[aux], models=[model], output=out, device=device,
                                   batch_size=batch, overlap=0.125), QuietCallback())
    return {"seconds": time.perf_counter() - start, "max_rss_mib": _max_rss_mib(), "pixels": result.pixels,
            "tiles": result.tiles}


def child_naive(image: str, aux: str, model: str, out: str, device: str) -> dict[str, Any]:
    """The reference scripts' approach: whole scene in memory, resized to one tile, predicted, resized back."""
    import rasterio
    import torch
    import torch.nn.functional as F

    from engine.bundle.store import load_bundle

    start = time.perf_counter()
    bundle = load_bundle(model, device)
    data = bundle.metadata.data
    with rasterio.open(image) as src:
        vision = src.read().astype(np.float32)  # the whole scene
        profile = src.profile
    valid = np.ones(vision.shape[1:], bool)
    vision = data.vision_stats.apply(vision, valid)
    with rasterio.open(aux) as src:
        aux_all = src.read().astype(np.float32)  # whole-file resize, no georeferencing used
    aux_norm = data.aux_stats.apply(aux_all, np.ones(aux_all.shape[1:], bool))
    tile = data.tile_size
    with torch.inference_mode():
        v = F.interpolate(torch.from_numpy(vision)[None], size=(tile, tile), mode="bilinear", align_corners=False)
        a = F.interpolate(torch.from_numpy(aux_norm)[None], size=(tile // 8, tile // 8), mode="bilinear",
                          align_corners=False)
        logits = bundle.model(v.to(device), a.to(device))["logits"].float().cpu()
        probs = torch.sigmoid(F.interpolate(logits, size=vision.shape[1:], mode="bilinear", align_corners=False))
    classes = (probs[0, 0].numpy() >= 0.5).astype(np.uint8)
    profile.update(count=1, dtype="uint8", nodata=255)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(classes[None])
    return {"seconds": time.perf_counter() - start, "max_rss_mib": _max_rss_mib(), "pixels": int(classes.size)}


def _run_child(mode: str, *args: str) -> dict[str, Any]:
    """Run a measurement in a fresh interpreter (peak RSS of that process only)."""
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", mode, *args],
                          capture_output=True, text=True, cwd=str(REPO))
    if done.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ efficiency
def torch_threads() -> int:
    """Torch intra-op threads for the efficiency measurements: DUALSTREAM_BENCH_THREADS or all CPU cores."""
    import torch

    threads = int(os.environ.get("DUALSTREAM_BENCH_THREADS") or os.cpu_count() or 1)
    torch.set_num_threads(threads)
    return torch.get_num_threads()


def pipeline_efficiency(folder: Path, model: str, device: str, quick: bool, batch: int, *, tile: int = TILE,
                        size: int | None = None, name: str = "eff", rounds: int = 3) -> dict[str, Any]:
    """End-to-end segment() pixels/s vs model-only pixels/s on the same tiles (aux in EPSG:4326, 48 bands).

    A shared VM's speed drifts by tens of percent between minutes, so the two are measured in ``rounds``
    adjacent pairs, alternating which goes first (ABBA: drift cancels), and the efficiency is the median of
    the per-pair ratios. segment()'s own timings say how long the model waited on the reader and writer.
    """
    from engine.config import SegmentConfig
    from engine.data import synthetic
    from engine.segment import Predictor, plan_segmentation, prepared_batches, segment

    threads = torch_threads()
    if size is None:
        size = 1024 if quick else 3072  # full: 196 tiles, so one-off costs (model load, overviews) are amortised
    scene = synthetic.make_scene(folder / f"eff{size}", "eff", size=(size, size), seed=5, aux_channels=AUX_CHANNELS)
    cfg = SegmentConfig(image=scene["image"], aux=scene["aux"], models=[model], output=str(folder / f"{name}.tif"),
                        device=device, batch_size=batch, overlap=0.125, tile_size=tile)
    segment(cfg.replace(output=str(folder / f"{name}_warmup.tif")), QuietCallback())  # imports and allocator warm-up
    # model only: the same tiles, read and batched beforehand, through the same predictor
    plan = plan_segmentation(cfg, QuietCallback())
    try:
        predictor = Predictor.from_bundles(plan.members, plan.cfg.tta, device)
        start = time.perf_counter()
        batches = prepared_batches(plan, batch)
        read_s = time.perf_counter() - start
    finally:
        plan.reader.close()
    tiles = sum(len(b.tiles) for b in batches)
    predictor(batches[0].vision, batches[0].aux)

    def model_only() -> float:
        start = time.perf_counter()
        for b in batches:
            predictor(b.vision, b.aux)
        return time.perf_counter() - start

    def end_to_end() -> tuple[float, Any]:
        start = time.perf_counter()
        result = segment(cfg, QuietCallback())
        return time.perf_counter() - start, result

    pairs = []
    for index in range(rounds):
        if index % 2 == 0:
            e2e, result = end_to_end()
            alone = model_only()
        else:
            alone = model_only()
            e2e, result = end_to_end()
        pairs.append({"end_to_end_s": e2e, "model_only_s": alone, "efficiency": alone / e2e,
                      "model_s": result.timings["model"], "input_wait_s": result.timings["input_wait"],
                      "output_wait_s": result.timings["output_wait"]})
    ranked = sorted(pairs, key=lambda p: p["efficiency"])
    median = ranked[len(ranked) // 2]
    pixels = result.pixels
    preset = plan.members[0].metadata.model.preset
    return {"scene": f"{size}x{size}", "preset": preset, "tiles": tiles, "tile": tile, "batch": batch,
            "torch_threads": threads, "rounds": pairs, "end_to_end_s": median["end_to_end_s"],
            "model_only_s": median["model_only_s"], "read_ms_per_tile": 1000 * read_s / max(tiles, 1),
            "end_to_end_px_s": pixels / median["end_to_end_s"], "model_only_px_s": pixels / median["model_only_s"],
            "input_wait_share": median["input_wait_s"] / median["end_to_end_s"],
            "efficiency": median["efficiency"],
            "efficiency_range": [ranked[0]["efficiency"], ranked[-1]["efficiency"]]}


# ------------------------------------------------------------------------------------------------ section
def run(ctx: Any) -> dict[str, Any]:
    from engine.runtime.environment import resolve_device

    device = resolve_device(ctx.device)
    quick = bool(ctx.quick)
    batch = 4
    folder = Path(ctx.output_dir) / "segment_work"
    folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    model = train_model(folder, quick, device)
    timings["train_s"] = time.perf_counter() - start

    start = time.perf_counter()
    efficiency = pipeline_efficiency(folder, model, device, quick, batch, rounds=3 if quick else 5)
    timings["efficiency_s"] = time.perf_counter() - start
    # the same measurement with the default product configuration (b1, tile 512): what users run
    start = time.perf_counter()
    product = product_model(folder, model)
    efficiency_product = pipeline_efficiency(folder, product, device, quick, batch, tile=PRODUCT_TILE,
                                             size=1024 if quick else 2048, name="eff_product",
                                             rounds=3 if quick else 5)
    timings["efficiency_product_s"] = time.perf_counter() - start

    small, large = (1024, 4096) if quick else (2048, 8192)
    rows = []
    for size in (small, large):
        start = time.perf_counter()
        scene = write_scene(folder, size)
        timings[f"write_{size}_s"] = time.perf_counter() - start
        ours = _run_child("ours", scene["image"], scene["aux"][0], model, str(folder / f"ours{size}.tif"), device,
                          str(batch))
        naive = _run_child("naive", scene["image"], scene["aux"][0], model, str(folder / f"naive{size}.tif"),
                           device)
        ours["iou"] = _foreground_iou(str(folder / f"ours{size}.tif"), scene["label"], folder)
        naive["iou"] = _foreground_iou(str(folder / f"naive{size}.tif"), scene["label"], folder)
        rows.append({"size": size, "ours": ours, "naive": naive})
        for name in (f"ours{size}", f"naive{size}"):  # outputs and their sidecars (.qml, .aux.xml)
            for p in folder.glob(f"{name}.*"):
                p.unlink()
    growth = rows[1]["ours"]["max_rss_mib"] / rows[0]["ours"]["max_rss_mib"] - 1.0
    result = {
        "device": device,
        "efficiency": efficiency,
        "efficiency_product": efficiency_product,
        "memory": rows,
        "memory_growth": growth,
        "targets": {"efficiency": TARGET_EFFICIENCY, "memory_growth": TARGET_MEMORY_GROWTH},
        "passed": {"efficiency": efficiency["efficiency"] >= TARGET_EFFICIENCY,
                   "efficiency_product": efficiency_product["efficiency"] >= TARGET_EFFICIENCY,
                   "memory_growth": growth <= TARGET_MEMORY_GROWTH},
        "timings": timings,
    }
    result["markdown"] = _markdown(result)
    return result


def _markdown(r: dict[str, Any]) -> str:
    e = r["efficiency"]
    lines = [
        f"Device: {r['device']}, torch threads {e['torch_threads']}. Batch {e['batch']}, overlap 1/8, 48-band aux "
        f"in EPSG:4326 warped onto each tile (aux blocks shared by the tiles).",
        "",
        "| pipeline efficiency | scene | tiles | end-to-end | model only | reader per tile | model waiting on input "
        "| efficiency (median) | range over rounds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, x in ((f"tiny preset, tile {e['tile']}", e),
                     (f"{r['efficiency_product']['preset']} preset (default), tile {r['efficiency_product']['tile']}"
                      f" (untrained weights)", r["efficiency_product"])):
        low, high = x["efficiency_range"]
        lines.append(f"| {label} | {x['scene']} | {x['tiles']} | {x['end_to_end_px_s']:,.0f} px/s | "
                     f"{x['model_only_px_s']:,.0f} px/s | {x['read_ms_per_tile']:.1f} ms | "
                     f"{100 * x['input_wait_share']:.1f} % | **{x['efficiency']:.2f}** | {low:.2f}-{high:.2f} "
                     f"({len(x['rounds'])} rounds) |")
    lines += [
        "",
        f"Target >= {TARGET_EFFICIENCY}. Efficiency = model-only time / end-to-end time on the same tiles, batches "
        f"and device, measured in adjacent pairs (alternating order) and reported as the median pair; the reader "
        f"column is the serial read + warp + normalise time per tile, and 'waiting on input' is the share of the "
        f"end-to-end time the model sat idle because the prefetching reader had no batch ready.",
        "",
        f"Memory (tiny DualStream, tile {e['tile']}):",
        "",
        "| scene | ours: peak RSS | ours: IoU | ours: time | naive: peak RSS | naive: IoU | naive: time |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["memory"]:
        o, n = row["ours"], row["naive"]
        lines.append(f"| {row['size']}² | {o['max_rss_mib']:,.0f} MiB | {o['iou']:.3f} | {o['seconds']:.1f} s | "
                     f"{n['max_rss_mib']:,.0f} MiB | {n['iou']:.3f} | {n['seconds']:.1f} s |")
    lines += ["", f"Peak RSS growth (ours) from {r['memory'][0]['size']}² to {r['memory'][1]['size']}²: "
                  f"**{r['memory_growth'] * 100:+.1f} %** (target <= {TARGET_MEMORY_GROWTH * 100:.0f} %)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", type=Path, default=REPO / "bench_output")
    args = parser.parse_args(argv)
    if args.child:
        mode, *rest = args.child
        if mode == "ours":
            image, aux, model, out, device, batch = rest
            print(json.dumps(child_ours(image, aux, model, out, device, int(batch))))
        else:
            image, aux, model, out, device = rest
            print(json.dumps(child_naive(image, aux, model, out, device)))
        return 0
    from bench.common import BenchContext

    result = run(BenchContext(output_dir=args.output, quick=args.quick, device=args.device))
    (Path(args.output) / "segment_results.json").write_text(json.dumps(result, indent=2, default=str))
    print(result["markdown"])
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

