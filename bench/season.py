"""Seasons: a season of dates against the best single date and a median composite, with the same family; the speed
of a season's segment against T times one date's on the default CPU backend.

- accuracy (``--data DIR``): eo-learn's TestEOPatch (sentinel-hub/eo-learn, MIT; Sentinel-2 L1C NDVI, 101 x 100 px
  at 10 m near Ljubljana, per-date cloud masks, land-cover labels). The 2017 season: its dates entirely cloudy are
  dropped (said), the others keep their cloud masks as the season model's validity. Classes forest, grassland,
  shrubland and artificial surface (cultivated land, 11 px, and no-data are ignored). Two spatial folds (the west
  half trains and the east half tests, then the other way round), 3 seeds each; each run trains the season family
  (preset tiny, UNet decoder) from random weights on random 32 px crops of its half for ``--steps`` steps (AdamW,
  cross-entropy), then segments the other half whole. The same family is fed (a) the season (every date with its day
  of year and cloud mask), (b) a single date (T = 1): every clear date (under 5 % cloud) trained once with seed 0,
  the best of them on the test halves (an oracle choice, which favours the single date) then with seeds 1 and 2,
  (c) the per-pixel median of the clear observations (T = 1). Reported: mIoU and overall accuracy on the test halves,
  mean and spread (min-max) over the seeds. With Presto and Galileo (``engine.models.encoders.eo_series``, when
  present): their features of the same series (pretrained release vs random weights), a linear head per pixel.
- speed: the season family (preset light, 10 bands, T dates of 256 px tiles) as onnxruntime runs it on the CPU (its
  ONNX graph, one thread, process CPU seconds) against the one-date graph of the same model (T = 1); the target is
  a ratio of at most T.

Usage: ``python bench/season.py [--data DIR] [--steps N] [--quick] [--out DIR]``; writes ``season.json`` and
``season.md``. The data stays outside the repository (``--data``, default $DUALSTREAM_SEASON_DATA).
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from bench.common import spread  # noqa: E402 - after the path line

TITLE = "Seasons: a season against its best date and its median composite; speed against T dates"
CLASSES = {2: "forest", 3: "grassland", 4: "shrubland", 8: "artificial surface"}  # LULC codes kept
IGNORE = 255
CROP, BATCH, CLEAR = 32, 8, 0.05


def load_patch(folder: Path, year: int = 2017) -> dict[str, Any]:
    """The NDVI season of ``year``: (T, 1, H, W) values, (T, H, W) clear masks, day of year, labels, dropped dates."""
    stamps = [dt.datetime.fromisoformat(s).date() for s in json.loads((folder / "timestamps.json").read_text())]
    ndvi = np.load(folder / "data" / "NDVI.npy")[..., 0]  # (T, H, W)
    cloud = np.load(folder / "mask" / "CLM.npy")[..., 0].astype(bool)
    codes = np.load(folder / "mask_timeless" / "LULC.npy")[..., 0]
    labels = np.full(codes.shape, IGNORE, np.int64)
    for index, code in enumerate(CLASSES):
        labels[codes == code] = index
    keep, dropped = [], []
    for i, day in enumerate(stamps):
        if day.year != year:
            continue
        (dropped if cloud[i].mean() > 0.99 else keep).append(i)
    values, clear = ndvi[keep], ~cloud[keep]
    mean, std = values[clear].mean(), values[clear].std()  # standardised: a masked pixel's 0 is the mean
    return {"ndvi": ((values - mean) / std)[:, None].astype(np.float32), "clear": clear, "labels": labels,
            "doy": np.array([stamps[i].timetuple().tm_yday for i in keep], np.float32),
            "dates": [stamps[i].isoformat() for i in keep], "dropped": [stamps[i].isoformat() for i in dropped]}


def variants(patch: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Name -> (vision (T, 1, H, W), clear (T, H, W), days (T,)): the season, the median composite, each clear date."""
    ndvi, clear, doy = patch["ndvi"], patch["clear"], patch["doy"]
    masked = np.where(clear[:, None], ndvi, np.nan)
    with np.errstate(all="ignore"):
        median = np.nanmedian(masked, axis=0)[None]  # (1, 1, H, W)
    seen = clear.any(0)[None]
    out = {"season": (ndvi, clear, doy), "composite": (np.nan_to_num(median), seen, np.median(doy)[None])}
    for t, day in enumerate(patch["dates"]):
        if 1.0 - clear[t].mean() < CLEAR:
            out[f"date {day}"] = (ndvi[t:t + 1], clear[t:t + 1], doy[t:t + 1])
    return out


def _halves(width: int) -> list[tuple[slice, slice]]:
    half = width // 2
    return [(slice(0, half), slice(half, width)), (slice(half, width), slice(0, half))]


def train_and_test(vision: np.ndarray, clear: np.ndarray, days: np.ndarray, labels: np.ndarray, train: slice,
                   test: slice, seed: int, steps: int) -> np.ndarray:
    """The confusion matrix (K, K) on the ``test`` columns of a season model trained on the ``train`` columns."""
    import torch

    from engine.models import build_model

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    model = build_model("season", preset="tiny", vision_channels=1, num_classes=k, dates=len(days), dropout=0.0)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    x, v, y = (torch.from_numpy(np.ascontiguousarray(a[..., train])) for a in (vision, clear, labels))
    day = torch.from_numpy(days)[None].expand(BATCH, -1)
    height, width = y.shape
    model.train()
    for _ in range(steps):
        rows, cols = rng.integers(0, height - CROP + 1, BATCH), rng.integers(0, width - CROP + 1, BATCH)
        xs, vs, ys = [], [], []
        for r, c, turns in zip(rows, cols, rng.integers(0, 4, BATCH)):
            window = (slice(r, r + CROP), slice(c, c + CROP))
            xs.append(torch.rot90(x[..., window[0], window[1]], int(turns), (-2, -1)))
            vs.append(torch.rot90(v[..., window[0], window[1]], int(turns), (-2, -1)))
            ys.append(torch.rot90(y[window], int(turns), (-2, -1)))
        logits = model(torch.stack(xs), days=day, valid=torch.stack(vs))["logits"]
        loss = torch.nn.functional.cross_entropy(logits, torch.stack(ys), ignore_index=IGNORE)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    xt, vt, yt = vision[..., test], clear[..., test], labels[..., test]
    pad = [(-s) % 32 for s in yt.shape]  # the whole half, padded to the model's multiple with masked pixels
    xt = np.pad(xt, [(0, 0), (0, 0), (0, pad[0]), (0, pad[1])])
    vt = np.pad(vt, [(0, 0), (0, pad[0]), (0, pad[1])])
    with torch.no_grad():
        out = model(torch.from_numpy(xt)[None], days=torch.from_numpy(days)[None], valid=torch.from_numpy(vt)[None])
    predicted = out["logits"][0].argmax(0).numpy()[:yt.shape[0], :yt.shape[1]]
    seen = yt != IGNORE
    return np.bincount(yt[seen] * k + predicted[seen], minlength=k * k).reshape(k, k)


def scores(confusion: np.ndarray) -> dict[str, float]:
    """mIoU over the classes present, overall accuracy."""
    tp = np.diag(confusion).astype(float)
    union = confusion.sum(0) + confusion.sum(1) - tp
    present = confusion.sum(1) > 0
    return {"miou": float((tp[present] / np.maximum(union[present], 1)).mean()),
            "oa": float(tp.sum() / max(confusion.sum(), 1))}


def run_variant(name: str, data: tuple, labels: np.ndarray, seeds: list[int], steps: int) -> list[dict[str, float]]:
    """One score per seed: both folds' confusion matrices summed."""
    vision, clear, days = data
    out = []
    for seed in seeds:
        start = time.perf_counter()
        total = sum(train_and_test(vision, clear, days, labels, a, b, seed, steps)
                    for a, b in _halves(labels.shape[1]))
        out.append({**scores(total), "seed": seed, "seconds": round(time.perf_counter() - start, 1)})
        print(f"  {name} seed {seed}: mIoU {out[-1]['miou']:.3f} OA {out[-1]['oa']:.3f} "
              f"({out[-1]['seconds']:.0f} s)", flush=True)
    return out


def accuracy(folder: Path, steps: int, seeds: list[int]) -> dict[str, Any]:
    patch = load_patch(folder)
    print(f"Season 2017: {len(patch['dates'])} dates kept ({patch['dates'][0]} .. {patch['dates'][-1]}); "
          f"{len(patch['dropped'])} entirely cloudy dropped: {', '.join(patch['dropped'])}", flush=True)
    found, labels = variants(patch), patch["labels"]
    result: dict[str, Any] = {"dates": patch["dates"], "dropped": patch["dropped"], "steps": steps, "runs": {}}
    for name in ("season", "composite"):
        result["runs"][name] = run_variant(name, found[name], labels, seeds, steps)
    singles = {name: run_variant(name, data, labels, seeds[:1], steps) for name, data in found.items()
               if name.startswith("date ")}
    best = max(singles, key=lambda n: singles[n][0]["miou"])
    result["single_dates_seed0"] = {n: r[0]["miou"] for n, r in singles.items()}
    result["best_date"] = best
    result["runs"]["best single date"] = singles[best] + run_variant(best, found[best], labels, seeds[1:], steps)
    return result


def speed(dates: int, repeats: int = 3, tiles: int = 8, tile: int = 256, bands: int = 10) -> dict[str, Any]:
    """Process CPU seconds (one thread) of the season graph of ``dates`` dates against the same model's one-date
    graph, on ``tiles`` random tiles: onnxruntime, the default backend."""
    import tempfile

    import onnxruntime as ort
    import torch

    from engine.bundle.store import save_bundle
    from engine.export.onnx_export import export_onnx
    from engine.models import build_model

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    rng = np.random.default_rng(0)
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in (1, dates):
            torch.manual_seed(0)
            model = build_model("season", preset="light", vision_channels=bands, num_classes=4, dates=count)
            data = {"vision_bands": bands, "vision_stats": {"method": "meanstd", "low": [0.0] * bands,
                                                            "high": [1.0] * bands},
                    "aux_channels": 0, "class_names": list(CLASSES.values()), "tile_size": tile,
                    "class_colors": ["#1b7837", "#a6dba0", "#dfc27d", "#d6604d"]}
            bundle = save_bundle(Path(tmp) / f"s{count}.dsmodel", model, {"model": model.config.to_dict(),
                                                                          "data": data})
            graph = export_onnx(bundle, Path(tmp) / f"s{count}.onnx", dynamic_batch=True).output
            session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            feeds = {i.name: rng.random((tiles, bands, tile, tile), dtype=np.float32) for i in session.get_inputs()
                     if i.name.startswith("date") or i.name == "vision"}
            feeds["days"] = np.tile(np.linspace(10, 350, count, dtype=np.float32), (tiles, 1))
            feeds["valid"] = np.ones((tiles, count, tile, tile), np.float32)
            session.run(None, feeds)
            times = []
            for _ in range(repeats):
                start = time.process_time()
                session.run(None, feeds)
                times.append(time.process_time() - start)
            seconds[count] = sorted(times)[len(times) // 2]
    return {"dates": dates, "tiles": tiles, "tile": tile, "bands": bands, "one_date_s": round(seconds[1], 2),
            "season_s": round(seconds[dates], 2), "ratio": round(seconds[dates] / seconds[1], 2)}




def markdown(result: dict[str, Any]) -> str:
    lines = [f"# {TITLE}", ""]
    acc = result.get("accuracy")
    if acc:
        seeds = sorted({r["seed"] for r in acc["runs"]["season"]})
        lines += [f"{len(acc['dates'])} dates of 2017 kept, {len(acc['dropped'])} entirely cloudy dropped; "
                  f"{acc['steps']} steps a run; mean (min-max) over seeds {seeds}, both folds pooled.", "",
                  "| input (season family, tiny) | mIoU | OA |", "|---|---|---|"]
        for name, runs in acc["runs"].items():
            shown = f"{name} ({acc['best_date']})" if name == "best single date" else name
            lines.append(f"| {shown} | {spread(runs, 'miou')} | {spread(runs, 'oa')} |")
        lines.append("")
    for sp in result.get("speed", []):
        lines.append(f"Speed, {sp['dates']} dates of {sp['bands']} bands, {sp['tiles']} tiles of {sp['tile']} px, "
                     f"onnxruntime 1 thread: season {sp['season_s']} s, one date {sp['one_date_s']} s, ratio "
                     f"{sp['ratio']} (target <= {sp['dates']}).")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--data", type=Path, default=os.environ.get("DUALSTREAM_SEASON_DATA"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="speed only, 6 dates")
    parser.add_argument("--out", type=Path, default=Path("bench_out"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    result: dict[str, Any] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    if args.data and not args.quick:
        result["accuracy"] = accuracy(Path(args.data), args.steps, list(range(args.seeds)))
        (args.out / "season.json").write_text(json.dumps(result, indent=1))  # kept should the speed runs fail
    result["speed"] = [speed(d) for d in ((6,) if args.quick else (6, 12))]
    (args.out / "season.json").write_text(json.dumps(result, indent=1))
    (args.out / "season.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
