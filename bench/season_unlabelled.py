"""What a season's unlabelled pixels add (issue 81 for seasons) on a real season, through the command line.

The data: what ``bench/season_real.py prepare`` writes (eo-learn's TestEOPatch, MIT: the 2017 Sentinel-2 NDVI season
near Ljubljana, its cloud masks beside each date, a land-cover label). The west half is labelled (``--labelled-area``,
a polygon of it written into ``--work``); the east half's pixels are unlabelled imagery of the same season, the
imagery a user wants mapped. Two arms at the same number of optimisation steps (season_real's recipe: ``--epochs``
of 64 random 32 px crops, batch 8, no early stop): the labels alone (``--consistency off``) and with the unlabelled
pixels (``--consistency on``, weak-to-strong consistency). Each model segments the east half, scored by
``evaluate`` (mIoU, overall accuracy); 3 seeds, mean (min-max); each run's training seconds and the machine's load,
and its learning curve (each epoch's validation mIoU, seconds of steps, confident unlabelled share).

Usage: ``python bench/season_unlabelled.py --data OUT_DIR --work DIR [--epochs 40] [--seeds 0 1 2] [--auto]``
(``--auto``: the automatic choices, the CPU's time budget, instead of the recipe); writes
``season_unlabelled[_auto].json`` into ``--work``.
"""

from __future__ import annotations

import argparse
import csv
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

from bench.season_real import LULC, RECIPE, cli, date_files, folds, inputs  # noqa: E402

TAG = [""]  # the run's --tag, in its files' names


def west_polygon(data: Path, work: Path) -> Path:
    """The west half of the place as one polygon (a GeoPackage in ``work``), in the label's CRS."""
    import rasterio
    from osgeo import ogr, osr

    _, west, _ = folds(data)[0]
    with rasterio.open(data / "label.tif") as src:
        wkt = src.crs.to_wkt()
    path = work / "west_half.gpkg"
    path.unlink(missing_ok=True)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("west_half", osr.SpatialReference(wkt), ogr.wkbPolygon)
    left, bottom, right, top = map(float, west)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON(({left} {bottom},{right} {bottom},{right} {top},{left} {top},{left} {bottom}))"))
    layer.CreateFeature(feature)
    source = None  # closing writes the file
    return path


def run(data: Path, work: Path, area: Path, consistency: str, epochs: int | None, seed: int) -> dict[str, Any]:
    """Train on the labelled west half with the consistency ``on`` or ``off``, segment and score the east half;
    ``epochs`` None: the automatic choices (the CPU's time budget) instead of the recipe."""
    _, _, east = folds(data)[0]
    stem = work / f"consistency_{consistency}_{'auto_' if epochs is None else ''}s{seed}{TAG[0]}"
    recipe = ["--class-names", *LULC.values()] + (
        [*RECIPE, "--epochs", str(epochs)] if epochs is not None else [])
    load = os.getloadavg()[0]
    started = time.perf_counter()
    trained = cli("train", *inputs(date_files(data)), "--label", str(data / "label.tif"), "--labelled-area",
                  str(area), *recipe, "--seed", str(seed),
                  "--consistency", consistency, "--out", f"{stem}.dsmodel", "--quiet", "--json")
    seconds = time.perf_counter() - started
    cli("segment", "--model", f"{stem}.dsmodel", *inputs(date_files(data)), "--extent", *east, "--out",
        f"{stem}.tif", "--quiet")
    metrics = cli("evaluate", "--pred", f"{stem}.tif", "--label", str(data / "label.tif"), "--json", "--quiet")
    return {"seed": seed, "miou": round(metrics["miou"], 4), "oa": round(metrics["pixel_accuracy"], 4),
            "train_seconds": round(seconds, 1), "load_at_start": round(load, 1), "load_at_end": round(
                os.getloadavg()[0], 1), "best_epoch": trained.get("best_epoch"), "epochs": trained.get("epochs_run"),
            **curve(Path(f"{stem}_metrics.csv"))}


def curve(metrics: Path) -> dict[str, list[float | None]]:
    """The learning curve from the bundle's ``_metrics.csv``: each epoch's validation mIoU, the seconds of its
    training steps (the unlabelled half's cost shows from its first epoch on) and the share of confident
    unlabelled pixels (None where the run had no consistency)."""
    rows = list(csv.DictReader(metrics.open()))
    return {"val_miou": [round(float(r["val_miou"]), 4) for r in rows],
            "epoch_seconds": [round(float(r["train_seconds"]), 2) for r in rows],
            "confident": [round(float(r["unlabelled_confident"]), 3) if r.get("unlabelled_confident") else None
                          for r in rows]}


def epoch_seconds(runs: list[dict[str, Any]]) -> str:
    """The seconds of the first epoch (labelled steps alone in both arms) and of the later ones, over the runs."""
    first = [r["epoch_seconds"][0] for r in runs if r.get("epoch_seconds")]
    later = [s for r in runs for s in r.get("epoch_seconds", [])[1:]]
    return f"{np.mean(first):.1f} s, then {np.mean(later):.1f} s" if first and later else "-"


def spread(runs: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in runs]
    return f"{np.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("DUALSTREAM_SEASON_REAL"))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--auto", action="store_true", help="the automatic choices (time budget), not --epochs")
    parser.add_argument("--arms", nargs="+", choices=["off", "on"], default=["off", "on"])
    parser.add_argument("--tag", default="", help="appended to the results file's name")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data (or $DUALSTREAM_SEASON_REAL): the folder 'season_real.py prepare' wrote")
    args.work.mkdir(parents=True, exist_ok=True)
    TAG[0] = args.tag
    area = west_polygon(args.data, args.work)
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for seed in args.seeds:
        for arm in args.arms:
            results[arm].append(run(args.data, args.work, area, arm, None if args.auto else args.epochs, seed))
            print(arm, results[arm][-1], flush=True)
            (args.work / f"season_unlabelled{'_auto' if args.auto else ''}{args.tag}.json").write_text(
                json.dumps(results, indent=1))
    for arm, label in (("off", "labels alone"), ("on", "with the east half's unlabelled pixels")):
        runs = results[arm]
        if not runs:
            continue
        print(f"| {label} | {spread(runs, 'miou')} | {spread(runs, 'oa')} | "
              f"{np.mean([r['train_seconds'] for r in runs]):.0f} s | an epoch {epoch_seconds(runs)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
