"""int8 against fp32 on the CPU: speed (the same tiles through both sessions, interleaved) and IoU against labels.

For each data set a small model (UNet light) is trained briefly with the CLI, exported with ``export`` (fp32) and
``export --quantize int8``; both run the held-out scene through ``segment --backend onnxruntime``, and
``evaluate`` gives the IoU of each against the labels. The bar (issue 25): int8 at least 1.5x faster at an IoU
loss of at most 0.005.

- sample: the demo's synthetic scenes (scene A trains, scene B is segmented);
- cloud38 (``../shared/realdata``, when present): the Landsat-8 38-Cloud patch, cloud = label 255 (one patch:
  trained and segmented on the same scene, so the IoU compares the two precisions, not generalisation).

Run: ``python bench/int8.py [--output DIR] [--epochs N]``; prints a markdown table, writes int8.json.
"""

from __future__ import annotations

import argparse
import json
import os
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

from bench.common import child_env  # noqa: E402 - repository root first

REALDATA = Path(os.environ.get("DUALSTREAM_REALDATA", REPO.parent.parent / "shared" / "realdata"))
TILE = 128


def cli(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "engine", *argv], capture_output=True, text=True, cwd=str(REPO),
                          env=child_env())
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def datasets(folder: Path) -> list[dict[str, Any]]:
    from engine.data import synthetic

    common = {"crs": "EPSG:32652", "gsd": 1.0, "aux_channels": 0, "field_seed": 7}
    train = synthetic.make_scene(folder / "sample", "scene_a", size=(384, 384), seed=11, **common)
    test = synthetic.make_scene(folder / "sample", "scene_b", size=(256, 320), seed=12, **common)
    sets = [{"name": "sample (synthetic scenes A -> B)", "train": train["image"], "train_label": train["label"],
             "test": test["image"], "test_label": test["label"], "label_map": ["90=1"]}]
    cloud = REALDATA / "cloud38_sample"
    images = sorted(cloud.glob("patch_*_RGBN.tif"))
    labels = sorted((cloud / "original").glob("gt_patch_*.TIF"))
    if images and labels:
        sets.append({"name": "cloud38 (Landsat-8, one patch)", "train": str(images[0]), "train_label": str(labels[0]),
                     "test": str(images[0]), "test_label": str(labels[0]), "label_map": ["255=1"]})
    return sets


def model_speed(fp32: Path, int8: Path, rounds: int) -> dict[str, float]:
    """Median seconds of both sessions on the same 16 random tiles (batch 4), in alternating order."""
    from engine.bundle.onnx_metadata import session
    from engine.runtime.cores import free_cores

    threads = free_cores()
    sessions = {"fp32": session(fp32, threads=threads), "int8": session(int8, threads=threads)}
    shape = [d if isinstance(d, int) else 4 for d in sessions["fp32"].get_inputs()[0].shape]
    name = sessions["fp32"].get_inputs()[0].name
    batches = [np.random.default_rng(i).random(shape, dtype=np.float32) for i in range(4)]
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for key in sessions:
        sessions[key].run(None, {name: batches[0]})  # warm-up
    for index in range(rounds):
        for key in (("fp32", "int8") if index % 2 == 0 else ("int8", "fp32")):
            begin = time.perf_counter()
            for batch in batches:
                sessions[key].run(None, {name: batch})
            times[key].append(time.perf_counter() - begin)
    fp32_s, int8_s = statistics.median(times["fp32"]), statistics.median(times["int8"])
    return {"threads": threads, "fp32_s": fp32_s, "int8_s": int8_s, "speedup": fp32_s / int8_s}


def measure(folder: Path, data: dict[str, Any], epochs: int, rounds: int, lr: float) -> dict[str, Any]:
    slug = data["name"].split()[0]
    bundle = folder / f"{slug}.dsmodel"
    if not bundle.exists():
        args = ["train", "--image", data["train"], "--label", data["train_label"], "--out", str(bundle), "--model",
                "unet", "--preset", "light", "--tile-size", str(TILE), "--tiles-per-epoch", "32", "--batch-size",
                "8", "--warmup-epochs", "0", "--epochs", str(epochs), "--lr", str(lr), "--device", "cpu", "--quiet"]
        for mapping in data["label_map"]:
            args += ["--label-map", mapping]
        cli(*args)
    onnx = {"fp32": folder / f"{slug}_fp32.onnx", "int8": folder / f"{slug}_int8.onnx"}
    cli("export", str(bundle), "--onnx", str(onnx["fp32"]), "--dynamic-batch", "--quiet")
    cli("export", str(bundle), "--onnx", str(onnx["int8"]), "--dynamic-batch", "--quantize", "int8", "--quiet")
    iou = {}
    for key, path in onnx.items():
        out = folder / f"{slug}_{key}.tif"
        cli("segment", "--image", data["test"], "--model", str(path), "--out", str(out), "--device", "cpu", "--quiet")
        metrics = json.loads(cli("evaluate", "--pred", str(out), "--label", data["test_label"], "--out",
                                 str(folder / f"{slug}_{key}_metrics.json"), "--quiet", "--json",
                                 *[a for m in data["label_map"] for a in ("--label-map", m)]))
        iou[key] = metrics["iou"][1]
    return {"data": data["name"], "iou_fp32": iou["fp32"], "iou_int8": iou["int8"],
            "iou_loss": iou["fp32"] - iou["int8"], **model_speed(onnx["fp32"], onnx["int8"], rounds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(REPO / "bench_output" / "int8"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--only", help="run only the data set whose name starts with this")
    args = parser.parse_args()
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [measure(folder, data, args.epochs, args.rounds, args.lr) for data in datasets(folder)
            if not args.only or data["name"].startswith(args.only)]
    (folder / "int8.json").write_text(json.dumps(rows, indent=2))
    print("| data | IoU fp32 | IoU int8 | IoU loss | fp32 (s) | int8 (s) | int8 speed-up | threads |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['data']} | {r['iou_fp32']:.4f} | {r['iou_int8']:.4f} | {r['iou_loss']:+.4f} | {r['fp32_s']:.2f} | "
              f"{r['int8_s']:.2f} | **{r['speedup']:.2f}x** | {r['threads']} |")


if __name__ == "__main__":
    main()
