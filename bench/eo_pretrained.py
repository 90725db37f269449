"""Pretrained Earth-observation encoders (Presto, Galileo) against the same networks from random weights, on real
labelled data: (1) pixel series, (2) Galileo nano as the one-date encoder of a segmentation model through the CLI.

(1) Presto and Galileo nano (``engine.models.encoders.eo_series``), frozen, with a ridge-regression head on their
features (the releases' own pooling: the mean of the kept tokens).

The data (kept out of the repository; ``--data`` or $DUALSTREAM_SEASON_SERIES): Presto's algae-bloom set as its
repository publishes it (github.com/nasaharvest/presto ``data/algae_blooms/npy``, MIT; the labels are the
DrivenData "Tick Tick Bloom" severity, 1..5, of 1122 water samples in the US Midwest): 12 monthly Sentinel-1/2 +
ERA5 + SRTM steps per sample, Presto's own spatial test split (``is_test``: the south-east). The encoders see the
Sentinel-1 and Sentinel-2 bands by name (ERA5, SRTM and B9 are not among their groups here and are left out).
Reported: the test RMSE and R^2 of the severity (Presto's own task on this set is this regression). The head is a
closed-form ridge (its strength picked on a fixed fifth of the training samples), so the pretrained encoders give
one figure; the random-weight networks are drawn with 3 seeds (mean and min-max). A floor: the ridge on the raw
series itself (the same bands, standardised), and the training targets' mean.

(2) ``train --model unet --encoder galileo_nano`` (its training integration: one date), the encoder frozen with its
features cached, the release weights against random ones (``--pretrained none``), the same recipe (``GALILEO``):
TerraMesh's five Sentinel-2 L2A tiles (``--terramesh``: the realdata folder's ``terramesh_s2_s1_dem``, from
IBM/terramind's examples, Apache-2.0; 224 px at 10 m, five UTM zones; LULC codes model-derived, not hand labels),
trained on every tile's west half (``--extent``), segmented and scored (``evaluate``) on the east halves; 3 seeds.

Usage: ``python bench/eo_pretrained.py [--data DIR] [--weights DIR] [--terramesh DIR] [--only series|galileo]``;
``--weights`` is a folder holding the release files (``presto_default_model.pt``, ``galileo_nano/encoder.pt`` +
``config.json``), else ``release`` (the download path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import cli, spread  # noqa: E402 - after the path line

#: The columns of ``s1_s2_era5_srtm.npy`` (Presto's BANDS: S1, S2 less B1 and B10, ERA5, SRTM, NDVI).
COLUMNS = ["VV", "VH", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12", "temperature_2m",
           "total_precipitation", "elevation", "slope", "NDVI"]
USED = ["VV", "VH", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
SEEDS = (0, 1, 2)


def load(folder: Path) -> dict[str, np.ndarray]:
    """The series (N, T, C) of the ``USED`` columns, months (N, T) 0..11, lat/lon, targets, the test flags."""
    x = np.load(folder / "s1_s2_era5_srtm.npy").astype(np.float32)
    return {"x": x[..., [COLUMNS.index(c) for c in USED]], "month": np.load(folder / "month.npy"),
            "latlon": np.load(folder / "latlon.npy").astype(np.float32),
            "y": np.load(folder / "target.npy").astype(np.float64), "test": np.load(folder / "is_test.npy") == 1}


def features(name: str, pretrained: str | None, data: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """(N, D) frozen features of every sample (random weights drawn with ``seed`` when ``pretrained`` is None)."""
    import torch

    from engine.data.band_names import eo_names
    from engine.models.encoders.eo_series import series_encoder

    torch.manual_seed(seed)
    encoder = series_encoder(name, pretrained=pretrained, patch=1)
    bands = eo_names(USED)
    out = []
    with torch.no_grad():
        for start in range(0, len(data["x"]), 64):
            x = torch.from_numpy(data["x"][start:start + 64])[..., None, None]  # (B, T, C, 1, 1)
            months = torch.from_numpy(data["month"][start:start + 64]).long()
            latlon = torch.from_numpy(data["latlon"][start:start + 64])
            out.append(encoder.encode(x, bands, months, latlon=latlon)[:, :, 0, 0].numpy())
    return np.concatenate(out).astype(np.float64)


def ridge_scores(f: np.ndarray, y: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Test RMSE and R^2 of a ridge regression on standardised features; alpha chosen on a fixed fifth of train."""
    train = np.flatnonzero(~test)
    held = train[np.arange(len(train)) % 5 == 0]
    fit = train[np.arange(len(train)) % 5 != 0]

    def solve(rows: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        mean, std = f[rows].mean(0), f[rows].std(0) + 1e-8
        z = (f[rows] - mean) / std
        w = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y[rows] - y[rows].mean()))
        return w, mean, std, float(y[rows].mean())

    def predict(model: tuple, rows: np.ndarray) -> np.ndarray:
        w, mean, std, bias = model
        return ((f[rows] - mean) / std) @ w + bias

    alphas = [10.0 ** k for k in range(-2, 5)]
    errors = [float(np.mean((predict(solve(fit, a), held) - y[held]) ** 2)) for a in alphas]
    alpha = alphas[int(np.argmin(errors))]
    prediction = predict(solve(train, alpha), np.flatnonzero(test))
    truth = y[test]
    mse = float(np.mean((prediction - truth) ** 2))
    return {"rmse": round(mse ** 0.5, 4), "r2": round(1.0 - mse / float(np.var(truth)), 4), "alpha": alpha}




def run(data_dir: Path, weights: str) -> dict[str, Any]:
    """Every encoder pretrained and from random weights (3 seeds), and the raw floor: the scores and the seconds."""
    data = load(data_dir)
    results: dict[str, Any] = {"samples": int(len(data["y"])), "test_samples": int(data["test"].sum()),
                               "steps": int(data["x"].shape[1]), "bands": USED}
    train_mean = float(data["y"][~data["test"]].mean())
    mse = float(np.mean((data["y"][data["test"]] - train_mean) ** 2))
    results["training mean (no features)"] = {"rmse": round(mse ** 0.5, 4),
                                              "r2": round(1.0 - mse / float(np.var(data["y"][data["test"]])), 4)}
    raw = data["x"].reshape(len(data["x"]), -1).astype(np.float64)
    results["raw series (floor)"] = ridge_scores(raw, data["y"], data["test"])
    for name, release in (("presto", "presto_default_model.pt"), ("galileo_nano", "galileo_nano")):
        source = str(Path(weights) / release) if weights != "release" else "release"
        started = time.perf_counter()
        results[f"{name} pretrained"] = ridge_scores(features(name, source, data, 0), data["y"], data["test"])
        results[f"{name} pretrained"]["feature_seconds"] = round(time.perf_counter() - started, 1)
        results[f"{name} random"] = [ridge_scores(features(name, None, data, seed), data["y"], data["test"])
                                     for seed in SEEDS]
    return results


GALILEO = ("--model", "unet", "--encoder", "galileo_nano", "--frozen-encoder", "cached", "--bands",
           "2,3,4,5,6,7,8,9,11,12", "--label-map", "1=0,2=1,3=2,4=3,5=4,6=5,7=6,9=7", "--class-names", "code1", "code2",
           "code3", "code4", "code5", "code6", "code7", "code9", "--tile-size", "64", "--tiles-per-epoch", "64",
           "--batch-size", "8", "--epochs", "20", "--warmup-epochs", "0", "--lr", "1e-3")




def halves(folder: Path) -> list[tuple[Path, Path, list[str], list[str]]]:
    """(image, label, west extent, east extent) of each TerraMesh tile."""
    import rasterio

    out = []
    for image in sorted((folder / "S2L2A").glob("*.tif")):
        with rasterio.open(image) as src:
            left, bottom, right, top = src.bounds
        middle = f"{(left + right) / 2:.3f}"
        out.append((image, folder / "LULC" / image.name, [f"{left:.3f}", f"{bottom:.3f}", middle, f"{top:.3f}"],
                    [middle, f"{bottom:.3f}", f"{right:.3f}", f"{top:.3f}"]))
    return out


def galileo_cli(folder: Path, work: Path, weights: str, seed: int) -> dict[str, Any]:
    """Train on the west halves with ``weights``, segment every east half, evaluate them together: mIoU, accuracy."""
    import shutil

    tiles = halves(folder)
    name = "random" if weights == "none" else "pretrained"
    model = work / f"galileo_{name}_s{seed}.dsmodel"
    scenes = [a for image, label, west, _ in tiles for a in ("--image", str(image), "--label", str(label), "--extent",
                                                             *west)]
    cli("train", *scenes, *GALILEO, "--pretrained", weights, "--seed", str(seed), "--out", str(model), "--quiet")
    predictions = work / f"galileo_{name}_s{seed}"
    labels = work / "galileo_labels"
    predictions.mkdir(exist_ok=True)
    labels.mkdir(exist_ok=True)
    for image, label, _, east in tiles:
        cli("segment", "--model", str(model), "--image", str(image), "--extent", *east, "--out",
            str(predictions / image.name), "--quiet")
        shutil.copyfile(label, labels / image.name)
    metrics = cli("evaluate", "--pred", str(predictions), "--label", str(labels), "--json", "--quiet")
    found = {"seed": seed, "miou": round(metrics["miou"], 4), "oa": round(metrics["pixel_accuracy"], 4)}
    print(f"galileo_nano {name} seed {seed}: {found}", flush=True)
    return found


def markdown(r: dict[str, Any]) -> list[str]:
    """The table: test RMSE and R^2 (random weights: mean (min-max) over 3 seeds)."""
    lines: list[str] = []
    if "samples" in r:
        lines = [f"Presto's algae-bloom severity set: {r['samples']} samples ({r['test_samples']} in its test "
                 f"split), {r['steps']} monthly steps, bands {', '.join(r['bands'])}; frozen features, ridge head.",
                 "", "| features | test RMSE | test R^2 |", "|---|---|---|"]
    for key, row in r.items():
        if key == "galileo_cli":
            continue
        if isinstance(row, dict):
            lines.append(f"| {key} | {row['rmse']:.3f} | {row['r2']:.3f} |")
        elif isinstance(row, list) and row and isinstance(row[0], dict):
            lines.append(f"| {key} weights, seeds {', '.join(map(str, SEEDS))} | {spread([x['rmse'] for x in row])}"
                         f" | {spread([x['r2'] for x in row])} |")
    if "galileo_cli" in r:
        g = r["galileo_cli"]
        lines += ["", "Galileo nano as a segmentation encoder (CLI, frozen, cached features), TerraMesh west halves "
                      "-> east halves, 3 seeds:", "", "| weights | mIoU | overall accuracy |", "|---|---|---|"]
        for key in ("pretrained", "random"):
            lines.append(f"| {key} | {spread([x['miou'] for x in g[key]])} | {spread([x['oa'] for x in g[key]])} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("DUALSTREAM_SEASON_SERIES"),
                        help="folder of Presto's algae_blooms/npy files")
    parser.add_argument("--weights", default="release", help="folder of the release files, or release")
    parser.add_argument("--terramesh", default=None, help="the realdata folder terramesh_s2_s1_dem (part 2)")
    parser.add_argument("--only", choices=["series", "galileo"], default=None)
    parser.add_argument("--out", default=None, help="folder for eo_pretrained.json and .md")
    args = parser.parse_args(argv)
    if not args.data and args.only != "galileo":
        parser.error("give --data (or $DUALSTREAM_SEASON_SERIES): the folder of Presto's algae_blooms/npy files")
    results = run(Path(args.data), args.weights) if args.only != "galileo" else {}
    if args.terramesh and args.only != "series":
        work = Path(args.out or ".") / "galileo_runs"
        work.mkdir(parents=True, exist_ok=True)
        source = str(Path(args.weights) / "galileo_nano") if args.weights != "release" else "release"
        results["galileo_cli"] = {key: [galileo_cli(Path(args.terramesh), work, weights, seed) for seed in SEEDS]
                                  for key, weights in (("pretrained", source), ("random", "none"))}
    if args.out:  # the figures first, so that nothing measured is lost to the table's layout
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "eo_pretrained.json").write_text(json.dumps(results, indent=1))
    lines = markdown(results)
    print("\n".join(lines))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "eo_pretrained.json").write_text(json.dumps(results, indent=1))
        (Path(args.out) / "eo_pretrained.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
