"""Change detection: seconds per pair against a one-date segment of the same family, and change F1 on real pairs.

- speed: a synthetic pair (``engine.data.synthetic_pairs``, 1024 px; 384 with ``--quick``) segmented by a change
  model (preset light: ResNet-18 encoder shared by the dates, UNet decoder) and its first date by the one-date
  UNet of the same encoder and decoder (preset light), both with random weights, on the CPU with the default
  backend (onnxruntime, the export made once before timing); the target is at most 1.5 times the one-date time
  (the encoder runs twice, the decoder once). Beside the whole run's ratio, the model's own (its ONNX graph
  alone on the same 16 tiles of 256 px, process CPU seconds on one thread, so that a loaded machine disturbs it
  less): what the second encoder pass costs, against which the reading and writing around it are measured.
- realdata (``--realdata``, or ``make bench`` when ``realdata/change_pairs`` exists and not ``--quick``): LEVIR-CD's
  sample pairs (``realdata/change_pairs/samples_LEVIR``, see its README): a change model (preset light) trained on
  the ``train_*`` and ``val_*`` pairs under a time budget, scored on the held-out ``test_*`` pairs, against the
  post-classification baseline: a one-date UNet (preset light) trained on the Massachusetts buildings
  (``realdata/gdl_buildings_landcover``) under the same budget, segmenting both dates of each test pair
  (``compare --mask``). Change precision, recall, F1 and IoU over all test pixels.

Usage: ``python bench/change.py [--quick] [--realdata] [--budget MINUTES] [--out DIR]``; writes ``change.json`` and
``change.md`` there. Quiet figures: ``python bench/change.py --realdata --budget 10`` (about 30 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TITLE = "Change detection: seconds per pair against one date, change F1 on real pairs"
REALDATA = Path(os.environ.get("DUALSTREAM_REALDATA") or REPO.parent / "shared" / "realdata")
LEVIR = "change_pairs/samples_LEVIR"
MASS = "gdl_buildings_landcover/massachusetts_buildings_rgb"


def _bundle(path: Path, family: str, dates: int) -> str:
    """A light model of ``family`` with random weights saved as a bundle of 3 bands per date."""
    import torch

    from engine.bundle.store import save_bundle
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model(family, preset="light", vision_channels=3, num_classes=1)
    stats = {"method": "percentile", "low": [0.0] * 3 * dates, "high": [10000.0] * 3 * dates}
    data = {"vision_bands": 3, "vision_stats": stats, "aux_channels": 0, "class_names": ["no change", "change"],
            "class_colors": ["#000000", "#ff0000"], "tile_size": 256, "gsd": [1.0, 1.0], "dates": dates}
    return str(save_bundle(path, model, {"model": model.config.to_dict(), "data": data}))


def _segment(args: list[str]) -> float:
    from engine.cli.main import main

    start = time.perf_counter()
    if main(["segment", *args, "--quiet"]) != 0:
        raise RuntimeError(f"segment {' '.join(args)} failed")
    return time.perf_counter() - start


def model_seconds(bundle: str, repeats: int = 3, tiles: int = 16, tile: int = 256) -> float:
    """CPU seconds of the bundle's ONNX graph alone on ``tiles`` random tiles (one thread, the median of
    ``repeats``): the model's cost without reading, blending or writing."""
    import numpy as np
    import onnxruntime as ort

    from engine.export.onnx_cache import cached_export

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(cached_export(bundle, None).path), options,
                                   providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.random((tiles, 3, tile, tile), dtype=np.float32) for i in session.get_inputs()}
    session.run(None, feeds)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        session.run(None, feeds)
        times.append(time.process_time() - start)
    return sorted(times)[len(times) // 2]


def speed(out: Path, quick: bool, repeats: int = 3) -> dict[str, Any]:
    """Seconds per pair (change model) and per image (one-date model), the median of ``repeats`` runs."""
    from engine.data.synthetic_pairs import make_pair

    size = 384 if quick else 1024
    pair = make_pair(out / "pair", seed=0, size=size, buildings=size // 10, changes=size // 40)
    change, one = _bundle(out / "change.dsmodel", "change", 2), _bundle(out / "unet.dsmodel", "unet", 1)
    runs = {"change": ["--model", change, "--image", pair.before, "--after", pair.after],
            "one_date": ["--model", one, "--image", pair.before]}
    figures: dict[str, Any] = {"size": size}
    for name, args in runs.items():
        _segment([*args, "--out", str(out / f"{name}_warm.tif")])  # the ONNX export, made once and cached
        times = sorted(_segment([*args, "--out", str(out / f"{name}_{i}.tif")]) for i in range(repeats))
        figures[f"{name}_seconds"] = round(times[len(times) // 2], 3)
    figures["ratio"] = round(figures["change_seconds"] / figures["one_date_seconds"], 3)
    figures["target_ratio"] = 1.5
    graphs = {name: model_seconds(bundle) for name, bundle in (("change", change), ("one_date", one))}
    figures |= {f"{name}_model_cpu_seconds": round(v, 3) for name, v in graphs.items()}
    figures["model_ratio"] = round(graphs["change"] / graphs["one_date"], 3)
    return figures


def _scores(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Change precision, recall, F1, IoU over every pixel of (prediction, label 0/255) pairs."""
    import rasterio

    tp = fp = fn = 0
    for prediction, label in pairs:
        with rasterio.open(prediction) as p, rasterio.open(label) as t:
            found, truth = p.read(1) == 1, t.read(1) > 0
        tp, fp, fn = tp + int((found & truth).sum()), fp + int((found & ~truth).sum()), fn + int((~found & truth).sum())
    return {"precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / max(tp + fn, 1), 4),
            "f1": round(2 * tp / max(2 * tp + fp + fn, 1), 4), "iou": round(tp / max(tp + fp + fn, 1), 4),
            "changed_pixels": tp + fn}


def realdata(out: Path, root: Path, budget: float) -> dict[str, Any]:
    """The change model and the post-classification baseline on LEVIR-CD's held-out sample pairs."""
    from engine.cli.main import main

    levir = root / LEVIR
    names = sorted(p.name for p in (levir / "label").glob("*.png"))
    train = [n for n in names if not n.startswith("test_")]
    test = [n for n in names if n.startswith("test_")]
    scenes: list[str] = []
    for name in train:
        scenes += ["--image", str(levir / "A" / name), "--after", str(levir / "B" / name), "--label",
                   str(levir / "label" / name)]
    common = ["--label-map", "255=1", "--time-budget", str(budget), "--val-fraction", "0.2", "--quiet"]
    change = out / "levir_change.dsmodel"
    started = time.perf_counter()
    if main(["train", *scenes, "--model", "change", "--preset", "light", "--tile-size", "128", *common,
             "--out", str(change)]) != 0:
        raise RuntimeError("training the change model failed")
    change_seconds = time.perf_counter() - started
    buildings = out / "buildings.dsmodel"
    mass = root / MASS
    if main(["train", "--image", str(mass / "22978945_15_uint8_clipped2.tif"), "--label",
             str(mass / "22978945_15_buildings_mask.tif"), "--model", "unet", "--preset", "light", "--tile-size", "128",
             "--class-names", "background", "building", *common[2:], "--out", str(buildings)]) != 0:
        raise RuntimeError("training the one-date building model failed")
    predicted, baseline = [], []
    for name in test:
        before, after, label = (str(levir / d / name) for d in ("A", "B", "label"))
        stem = Path(name).stem
        _segment(["--model", str(change), "--image", before, "--after", after, "--out", str(out / f"{stem}_cd.tif")])
        if main(["compare", "--model", str(buildings), "--image", before, "--after", after, "--mask", "--out",
                 str(out / f"{stem}_pcc.tif"), "--quiet"]) != 0:
            raise RuntimeError(f"compare on {name} failed")
        predicted.append((str(out / f"{stem}_cd.tif"), label))
        baseline.append((str(out / f"{stem}_pcc.tif"), label))
    return {"dataset": "LEVIR-CD sample pairs (wgcban/ChangeFormer samples_LEVIR)",
            "split": f"trained on {len(train)} pairs ({', '.join(train)}), scored on {len(test)} held-out test pairs",
            "budget_minutes": budget, "change_train_seconds": round(change_seconds, 1),
            "change_model": _scores(predicted),
            "post_classification_baseline": _scores(baseline) | {
                "model": "UNet light trained on the Massachusetts buildings (1 m), applied to both dates"}}


def markdown(result: dict[str, Any]) -> str:
    s = result["speed"]
    lines = [f"Seconds per pair ({s['size']} px, CPU, default backend): change model {s['change_seconds']} s, one "
             f"date of the same family {s['one_date_seconds']} s, ratio {s['ratio']} (target <= {s['target_ratio']}). "
             f"The models alone (ONNX, 16 tiles of 256 px, CPU seconds on one thread): {s['change_model_cpu_seconds']}"
             f" s and {s['one_date_model_cpu_seconds']} s, ratio {s['model_ratio']}."]
    real = result.get("realdata")
    if real:
        lines += ["", f"{real['dataset']}; {real['split']}; {real['budget_minutes']} min budget each.", "",
                  "| | precision | recall | F1 | IoU |", "|---|---|---|---|---|"]
        for key, label in (("change_model", "change model (light)"), ("post_classification_baseline",
                                                                      "post-classification baseline")):
            r = real[key]
            lines.append(f"| {label} | {r['precision']} | {r['recall']} | {r['f1']} | {r['iou']} |")
    return "\n".join(lines)


def run(ctx: Any) -> dict[str, Any]:
    """``make bench``'s section: the speed always, the real pairs when they are there and the run is not quick."""
    out = Path(ctx.output_dir) / "change"
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"speed": speed(out, ctx.quick)}
    root = Path(ctx.realdata) if ctx.realdata else REALDATA
    if not ctx.quick and (root / LEVIR).is_dir():
        result["realdata"] = realdata(out, root, float(ctx.extra.get("change_budget", 10)))
    result["markdown"] = markdown(result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--realdata", action="store_true", help="also train and score on the LEVIR-CD sample pairs")
    parser.add_argument("--budget", type=float, default=10.0, help="minutes of training per model (realdata)")
    parser.add_argument("--out", default="bench_output/change")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"speed": speed(out, args.quick)}
    if args.realdata:
        result["realdata"] = realdata(out, REALDATA, args.budget)
    (out / "change.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "change.md").write_text(markdown(result) + "\n", encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
