"""Presto and Galileo nano, release weights against the same networks from random weights, on the real NDVI season
that ``bench/season_real.py`` prepares (eo-learn's TestEOPatch near Ljubljana, 2017, MIT): every labelled pixel's
series of the dates' NDVI (the encoders' NDVI group; each date's cloud mask leaves that date out of the pixel's
series; the dates entirely cloudy are left out as the engine does, and of the 27 left the 24 clearest are kept: the
releases take at most 24 dates), frozen features (the releases' pooling), a
least-squares classifier (ridge on one-hot classes, closed form) fitted on a sample of the west half's labelled
pixels and scored on a sample of the east half's: mIoU and overall accuracy. The release weights give one figure
(nothing random); random weights are drawn with seeds 0, 1, 2 (mean, min-max). A floor: the same classifier on the
NDVI series itself (cloudy values set to the date's clear mean).

Usage: ``python bench/eo_season_ndvi.py --data DIR [--weights DIR] [--pixels N] [--out DIR]`` (DIR: the folder
``season_real.py prepare`` wrote; ``--weights``: a folder holding ``presto_default_model.pt`` and
``galileo_nano/``, else ``release``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from engine.training.metrics import ConfusionMatrix  # noqa: E402 - after the path line

CLASSES = 4
MAX_DATES = 24  # Presto's and Galileo's most dates per series
SEEDS = (0, 1, 2)


def load(data: Path) -> dict[str, Any]:
    """NDVI (T, H, W), clear (T, H, W), months (T,) 0..11, labels (H, W), the place's lat/lon."""
    import rasterio
    from rasterio.warp import transform

    ndvi, clear, months = [], [], []
    for path in sorted(p for p in (data / "dates").glob("*.tif") if not p.stem.endswith("_cloud")):
        with rasterio.open(path.with_name(path.stem + "_cloud.tif")) as src:
            ok = src.read(1) == 0
        if not ok.any():
            continue  # entirely cloudy: dropped, as the engine drops it
        with rasterio.open(path) as src:
            ndvi.append(src.read(1))
            months.append(dt.datetime.fromisoformat(src.tags()["ACQUISITIONDATETIME"]).month - 1)
        clear.append(ok)
    if len(ndvi) > MAX_DATES:  # the releases' position tables: keep the clearest, in time order
        kept = sorted(np.argsort([-c.mean() for c in clear], kind="stable")[:MAX_DATES])
        ndvi, clear, months = [ndvi[i] for i in kept], [clear[i] for i in kept], [months[i] for i in kept]
    with rasterio.open(data / "label.tif") as src:
        labels = src.read(1).astype(np.int64)
        (x0, y0, x1, y1), crs = src.bounds, src.crs
    lon, lat = transform(crs, "EPSG:4326", [(x0 + x1) / 2], [(y0 + y1) / 2])
    return {"ndvi": np.stack(ndvi).astype(np.float32), "clear": np.stack(clear), "months": np.array(months),
            "labels": labels, "latlon": np.array([lat[0], lon[0]], np.float32)}


def pick(d: dict[str, Any], pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of up to ``pixels`` labelled pixels of the west half (fit) and of the east half (test)."""
    rng = np.random.default_rng(0)
    h, w = d["labels"].shape
    cols = np.tile(np.arange(w), h)
    labelled = d["labels"].ravel() < CLASSES
    west, east = np.flatnonzero(labelled & (cols < w // 2)), np.flatnonzero(labelled & (cols >= w // 2))
    return (np.sort(rng.choice(west, min(pixels, len(west)), replace=False)),
            np.sort(rng.choice(east, min(pixels, len(east)), replace=False)))


def features(name: str, pretrained: str | None, d: dict[str, Any], rows: np.ndarray, seed: int) -> np.ndarray:
    """(N, D) frozen features of the pixels ``rows`` (flat indices)."""
    import torch

    from engine.models.encoders.eo_series import series_encoder

    torch.manual_seed(seed)
    encoder = series_encoder(name, pretrained=pretrained, patch=1)
    t = d["ndvi"].shape[0]
    series = d["ndvi"].reshape(t, -1)[:, rows].T  # (N, T)
    valid = d["clear"].reshape(t, -1)[:, rows].T
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), 256):
            x = torch.from_numpy(series[start:start + 256])[:, :, None, None, None]  # (B, T, 1, 1, 1)
            b = x.shape[0]
            months = torch.from_numpy(d["months"]).long()[None].expand(b, -1)
            ok = torch.from_numpy(valid[start:start + 256])
            latlon = torch.from_numpy(d["latlon"])[None].expand(b, -1)
            out.append(encoder.encode(x, ["ndvi"], months, valid=ok, latlon=latlon)[:, :, 0, 0].numpy())
    return np.concatenate(out).astype(np.float64)


def classify(fit: np.ndarray, y_fit: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Ridge on one-hot classes (alpha by a fixed fifth of the fit rows), argmax; mIoU and accuracy on ``test``."""
    mean, std = fit.mean(0), fit.std(0) + 1e-8
    a, b = (fit - mean) / std, (test - mean) / std
    target = np.eye(CLASSES)[y_fit]

    def solve(rows: np.ndarray, alpha: float) -> np.ndarray:
        z = np.c_[a[rows], np.ones(len(rows))]
        return np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ target[rows])

    idx = np.arange(len(a))
    held, kept = idx[idx % 5 == 0], idx[idx % 5 != 0]
    alphas = [10.0 ** k for k in range(-2, 5)]
    scores = [float((np.c_[a[held], np.ones(len(held))] @ solve(kept, al)).argmax(1).__eq__(y_fit[held]).mean())
              for al in alphas]
    w = solve(idx, alphas[int(np.argmax(scores))])
    found = (np.c_[b, np.ones(len(b))] @ w).argmax(1)
    confusion = ConfusionMatrix(CLASSES)  # the engine's scores: mIoU over the classes found or labelled
    confusion.update(found, y_test)
    summary = confusion.summary()
    return {"miou": round(summary["miou"], 4), "oa": round(summary["pixel_accuracy"], 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--weights", default="release")
    parser.add_argument("--pixels", type=int, default=2000, help="labelled pixels sampled in each half")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    d = load(args.data)
    fit, test = pick(d, args.pixels)
    y = d["labels"].ravel()
    results: dict[str, Any] = {"dates": int(d["ndvi"].shape[0]), "fit_pixels": len(fit), "test_pixels": len(test)}

    def keep(key: str, value: Any) -> None:
        results[key] = value
        print(f"{key}: {value}", flush=True)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "eo_season_ndvi.json").write_text(json.dumps(results, indent=1))

    t = d["ndvi"].shape[0]
    raw = np.where(d["clear"], d["ndvi"], np.nan).reshape(t, -1).T
    raw = np.where(np.isnan(raw), np.nanmean(raw, 0), raw)
    keep("ndvi series (floor)", classify(raw[fit], y[fit], raw[test], y[test]))
    for name, release in (("presto", "presto_default_model.pt"), ("galileo_nano", "galileo_nano")):
        source = str(Path(args.weights) / release) if args.weights != "release" else "release"
        keep(f"{name} release", classify(features(name, source, d, fit, 0), y[fit], features(name, source, d, test, 0),
                                         y[test]))
        keep(f"{name} random", [classify(features(name, None, d, fit, s), y[fit], features(name, None, d, test, s),
                                         y[test]) for s in SEEDS])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
