"""Seasons on real data through the command line: a season of dated Sentinel-2 rasters against its best single date
and its median composite with the same family (the season family), and the speed of a season's segment against T
times one date's on the default CPU backend.

The data (kept out of the repository; ``--data`` or $DUALSTREAM_SEASON_REAL): eo-learn's TestEOPatch
(github.com/sentinel-hub/eo-learn ``example_data/TestEOPatch``, MIT): a real Sentinel-2 L1C NDVI series of one place
near Ljubljana (EPSG:32633, 100 x 101 px at 10 m), Sentinel Hub's cloud masks per date and a land-cover label (LULC:
forest, grassland, shrubland, artificial surface; cultivated land, 11 px, and no-data are unlabelled).
``prepare`` turns it into what users give: one GeoTIFF per date (the date in its ACQUISITIONDATETIME tag and its
file name), its cloud mask beside it (``<name>_cloud.tif``, non-zero = cloud), a label raster (255 = unlabelled) and
the LULC polygons as shipped. Every date of 2017 is given (36); the engine drops those entirely cloudy itself.
``prepare --source dtwsat`` takes dtwSat's Mato Grosso season instead (``bench/season_dtwsat.py``: 23 MOD13Q1
composites of a crop season, five classes of field points), whose classes lie in clusters no half of the place holds
all of: ``run --blocks PX`` makes the two folds a checkerboard of PX px squares (the whole place segmented, each
fold scored on the squares it did not train on).

The measurement: spatial folds (train on the west half, segment and score the east half, and with ``--folds 2`` the
other way round too: ``--extent``), 3 seeds, the same recipe for every input (``RECIPE``: a fixed number of epochs
of random 32 px crops, no early stop, so that inputs are compared at one training length):
(a) the season: every date (``train --dates D1 ... Dn``: the engine sorts them, reads their clouds, drops the dates
    entirely cloudy),
(b) the best single date: clear dates (< 5 % cloud; ``--search`` of them spread evenly over the year) trained once
    with seed 0, the best by the training half alone (the validation mIoU of ``train``: the strip it holds out of
    the training half), then seeds 1, 2; beside it the oracle: the best by the test half's own scores,
(c) the per-pixel median of the same dates' clear observations (numpy + rasterio here), one raster,
all with ``--model season`` (T = 1 for (b) and (c)). Reported: mIoU and overall accuracy of ``evaluate`` on the
test half, mean and spread (min-max) over the 3 seeds. Speed: the seed-0 season and best-date models' ``segment`` of
the whole place (``--backend``: segment's default unless given).

``--recipe auto`` trains with the engine's automatic choices instead (preset, tile, batch, learning rate: what a
user gets), only the epochs (and ``--tiles-per-epoch``) fixed so that every input gets the same optimisation steps;
``--config FILE`` hands every training a config file (a family's options); ``--inputs`` runs some inputs only.
The 1-minute load average when each training starts is kept (a shared machine's runs are slower, not other).

Usage: ``python bench/season_real.py prepare [--source eolearn|dtwsat] PATCH_DIR OUT_DIR`` once, then
``python bench/season_real.py run [--data OUT_DIR] --work DIR [--epochs N] [--search N] [--folds 1|2] [--blocks PX]
[--backend B] [--recipe fixed|auto] [--tiles-per-epoch N] [--config FILE] [--inputs season composite best_date]
[--seeds S ...] [--no-speed]``; prints the tables and writes ``season_real.json`` and ``season_real.md`` into
``--work``. The speed alone, of a run's models:
``python bench/season_real.py speed [--data OUT_DIR] --work DIR --models SEASON.dsmodel ONE_DATE.dsmodel``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import cli, spread  # noqa: E402 - after the path line

LULC = {2: "forest", 3: "grassland", 4: "shrubland", 8: "artificial_surface"}  # eo-learn LULC codes kept, in order
UNLABELLED = 255
YEAR = 2017
CLEAR = 0.05


def prepare(patch: Path, out: Path, year: int = YEAR) -> dict[str, Any]:
    """Write ``patch``'s ``year`` as users have it under ``out``: dates/, label.tif, lulc.gpkg; a summary."""
    import shutil

    import rasterio
    from rasterio.transform import from_bounds

    bounds = np.array(json.loads((patch / "bbox.geojson").read_text())["coordinates"][0])
    stamps = [dt.datetime.fromisoformat(s) for s in json.loads((patch / "timestamps.json").read_text())]
    ndvi = np.load(patch / "data" / "NDVI.npy")[..., 0].astype(np.float32)
    cloud = np.load(patch / "mask" / "CLM.npy")[..., 0].astype(np.uint8)
    codes = np.load(patch / "mask_timeless" / "LULC.npy")[..., 0]
    height, width = codes.shape
    transform = from_bounds(bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 0].max(), bounds[:, 1].max(), width,
                            height)
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1, "crs": "EPSG:32633",
               "transform": transform}
    (out / "dates").mkdir(parents=True, exist_ok=True)
    written = []
    for i, stamp in enumerate(stamps):
        if stamp.year != year:
            continue
        name = out / "dates" / f"S2_{stamp:%Y%m%dT%H%M%S}_NDVI.tif"
        if name.exists():  # two acquisitions of one day keep the first (the engine would say so too)
            continue
        with rasterio.open(name, "w", dtype="float32", **profile) as dst:
            dst.write(ndvi[i], 1)
            dst.set_band_description(1, "ndvi")
            dst.update_tags(ACQUISITIONDATETIME=stamp.isoformat(), TIFFTAG_DATETIME=f"{stamp:%Y:%m:%d %H:%M:%S}")
        with rasterio.open(name.with_name(name.stem + "_cloud.tif"), "w", dtype="uint8", **profile) as dst:
            dst.write(cloud[i], 1)
            dst.set_band_description(1, "cloud")
        written.append({"date": stamp.date().isoformat(), "file": name.name, "cloud": round(float(cloud[i].mean()), 3)})
    labels = np.full(codes.shape, UNLABELLED, np.uint8)
    for index, code in enumerate(LULC):
        labels[codes == code] = index
    with rasterio.open(out / "label.tif", "w", dtype="uint8", nodata=None, **profile) as dst:
        dst.write(labels, 1)
    shutil.copyfile(patch / "vector_timeless" / "LULC.gpkg", out / "lulc.gpkg")
    summary = {"dates": written, "size": [width, height], "classes": list(LULC.values()),
               "labelled_px": {n: int((labels == i).sum()) for i, n in enumerate(LULC.values())}}
    (out / "dates.json").write_text(json.dumps(summary, indent=1))
    return summary


def class_names(data: Path) -> list[str]:
    """The classes of the label raster in value order: the ones ``prepare`` recorded (eo-learn's LULC before)."""
    recorded = json.loads((data / "dates.json").read_text()).get("classes") if (data / "dates.json").exists() else None
    return list(recorded or LULC.values())


def cloud_mask(path: Path) -> Any:
    """The date's cloud mask beside it (non-zero = cloud), or None where it has none (a composite)."""
    import rasterio

    beside = path.with_name(path.stem + "_cloud.tif")
    if not beside.exists():
        return None
    with rasterio.open(beside) as src:
        return src.read(1) != 0


#: The training recipe of every input (the same epochs and tiles, so inputs are compared at one training length).
RECIPE = ("--preset", "tiny", "--tile-size", "32", "--tiles-per-epoch", "64", "--batch-size", "8", "--lr", "2e-3",
          "--patience", "1000")  # no early stop: every input trains its full epochs
AUTO_RECIPE = ("--patience", "1000")  # the automatic choices; the epochs given: every input trains them all
TRAINING: list[str] = list(RECIPE)  # the recipe in use (``--recipe``, ``--tiles-per-epoch``, ``--config``)
FOLDS: list[int] = [0, 1]  # which of the two spatial folds run (--folds 1: west -> east only, half the time)
SEEDS: list[int] = [0, 1, 2]


def folds(data: Path) -> list[tuple[str, list[str], list[str]]]:
    """(name, training extent, test extent) of the two spatial folds: the west and the east half of the place."""
    import rasterio

    with rasterio.open(data / "label.tif") as src:
        left, bottom, right, top = src.bounds
        middle = f"{left + (src.width // 2) * src.res[0]:.2f}"  # on a pixel edge: no column in both halves
    west = [f"{left:.2f}", f"{bottom:.2f}", middle, f"{top:.2f}"]
    east = [middle, f"{bottom:.2f}", f"{right:.2f}", f"{top:.2f}"]
    return [("west->east", west, east), ("east->west", east, west)]


BLOCKS: list[int] = []  # --blocks N: the folds are a checkerboard of N px squares, not the west and east halves


def checkerboard(data: Path, work: Path, block: int) -> dict[str, Path]:
    """The label as a checkerboard of ``block`` px squares, for a place whose classes lie in clusters no half holds
    all of: the labels of its 'even' and 'odd' squares, and of each colour's squares split for training ('even_train')
    and validation ('even_val': every third square in row order; the engine's own 32 px strip would take most of a
    small place), unlabelled elsewhere; written into ``work``."""
    import rasterio

    with rasterio.open(data / "label.tif") as src:
        labels, profile = src.read(1), src.profile
    rows, columns = np.indices(labels.shape) // block
    even = (rows + columns) % 2 == 0
    parts = {}
    for colour, keep in (("even", even), ("odd", ~even)):
        squares = sorted(set(zip(rows[keep].tolist(), columns[keep].tolist())))
        third = np.isin(rows * 10_000 + columns, [r * 10_000 + c for r, c in squares[::3]]) & keep
        parts.update({colour: keep, f"{colour}_train": keep & ~third, f"{colour}_val": third})
    written = {}
    for name, keep in parts.items():
        written[name] = work / f"label_blocks{block}_{name}.tif"
        with rasterio.open(written[name], "w", **profile) as dst:
            dst.write(np.where(keep, labels, UNLABELLED).astype(labels.dtype), 1)
    return written


def split(data: Path, work: Path, index: int) -> tuple[str, list[str], Path | None, list[str], Path]:
    """Fold ``index``: its name, train's label (and extent) arguments, its validation label (None: the engine's own
    strip), segment's extent arguments and the label raster it is scored on: the west and east halves, or with
    ``BLOCKS`` the checkerboard (the whole place segmented, scored on the squares it did not train on)."""
    if not BLOCKS:
        name, train, test = folds(data)[index]
        return (name, ["--label", str(data / "label.tif"), "--extent", *train], None, ["--extent", *test],
                data / "label.tif")
    labels = checkerboard(data, work, BLOCKS[0])
    train, test = ("even", "odd") if index == 0 else ("odd", "even")
    return (f"blocks{BLOCKS[0]}_{train}->{test}", ["--label", str(labels[f"{train}_train"])], labels[f"{train}_val"],
            [], labels[test])


def date_files(data: Path) -> list[Path]:
    """Every date raster of the place (their clouds beside them), in the order the folder lists them."""
    return sorted(p for p in (data / "dates").glob("*.tif") if not p.stem.endswith("_cloud"))


def composite(data: Path, work: Path, dates: list[Path]) -> Path:
    """The per-pixel median of the dates' clear observations (clouds from ``_cloud.tif``) as one dated GeoTIFF;
    a pixel never clear is nodata (NaN). Dated at the middle of the dates (the season family needs a day)."""
    import rasterio

    stack, clear, days = [], [], []
    for path in dates:
        with rasterio.open(path) as src:
            stack.append(src.read().astype(np.float32))
            profile, names = src.profile, src.descriptions
            days.append(dt.datetime.fromisoformat(src.tags()["ACQUISITIONDATETIME"]))
        cloudy = cloud_mask(path)
        clear.append(np.ones(stack[-1].shape[1:], bool) if cloudy is None else ~cloudy)
    values = np.where(np.stack(clear)[:, None], np.stack(stack), np.nan)
    with np.errstate(all="ignore"):
        median = np.nanmedian(values, axis=0).astype(np.float32)
    middle = sorted(days)[len(days) // 2]
    out = work / f"S2_{middle:%Y%m%dT%H%M%S}_NDVI_median.tif"
    profile.update(nodata=float("nan"))
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(median)
        for index, name in enumerate(names, start=1):
            dst.set_band_description(index, name or "ndvi")
        dst.update_tags(ACQUISITIONDATETIME=middle.isoformat())
    return out




def inputs(dates: list[Path]) -> list[str]:
    """The command line's date arguments (one date too: a season of T = 1)."""
    return ["--dates", *map(str, dates)]


BACKEND: list[str] = []  # segment's backend: the default unless --backend is given


def one_run(data: Path, work: Path, name: str, dates: list[Path], family: str, epochs: int, seed: int,
            index: int) -> dict[str, Any]:
    """Train ``family`` on ``dates`` over fold ``index``'s training part, segment its test part, evaluate there."""
    import time

    fold, train, val, test, truth = split(data, work, index)
    if val is not None:  # the same dates, the validation squares' labels
        train = [*train, "--val-dates", *map(str, dates), "--val-label", str(val)]
    stem = work / f"{name.replace(' ', '_')}_{fold.replace('->', '_')}_s{seed}"
    load = round(os.getloadavg()[0], 2)
    started = time.perf_counter()
    result = cli("train", *inputs(dates), *train, "--model", family, "--class-names", *class_names(data), *TRAINING,
                 "--epochs", str(epochs), "--seed", str(seed), "--out", f"{stem}.dsmodel", "--quiet", "--json")
    trained = time.perf_counter() - started
    best = result.get("best_metrics", {})
    cli("segment", "--model", f"{stem}.dsmodel", *inputs(dates), *test, "--out", f"{stem}.tif", *BACKEND, "--quiet")
    metrics = cli("evaluate", "--pred", f"{stem}.tif", "--label", str(truth), "--json", "--quiet")
    return {"miou": round(metrics["miou"], 4), "oa": round(metrics["pixel_accuracy"], 4),
            "val_miou": round(float(best.get("val_miou", best.get("val_iou", 0.0))), 4),
            "train_seconds": round(trained, 1), "load": load}


def both_folds(data: Path, work: Path, name: str, dates: list[Path], family: str, epochs: int,
               seed: int) -> dict[str, Any]:
    """One seed's figures: the mean of the two folds' mIoU and overall accuracy (and each fold's)."""
    runs = [one_run(data, work, name, dates, family, epochs, seed, i) for i in FOLDS]
    return {"seed": seed, **{key: round(float(np.mean([r[key] for r in runs])), 4)
                             for key in ("miou", "oa", "val_miou")}, "folds": runs}


def cloudy_dates(dates: list[Path]) -> list[Path]:
    """The dates whose every pixel is cloudy (the engine drops them)."""
    def cloudy(path: Path) -> bool:
        mask = cloud_mask(path)
        return mask is not None and bool(mask.all())

    return [p for p in dates if cloudy(p)]


def clear_dates(dates: list[Path]) -> list[Path]:
    """The dates with under ``CLEAR`` of their pixels cloudy."""
    kept = []
    for path in dates:
        mask = cloud_mask(path)
        if mask is None or float(mask.mean()) < CLEAR:
            kept.append(path)
    return kept


def accuracy(data: Path, work: Path, family: str, epochs: int, search: int = 8, log: Any = print,
             wanted: tuple[str, ...] = ("season", "composite", "best_date")) -> dict[str, Any]:
    """The season, the median composite and the best single date (of ``search`` clear dates, chosen with seed 0 by
    the training half's validation; the oracle by the test half beside it): 3 seeds each; what is measured is kept
    in ``work/season_real.json`` after each part."""
    dates = date_files(data)
    summary = json.loads((data / "dates.json").read_text()) if (data / "dates.json").exists() else {}
    results: dict[str, Any] = {"source": summary.get("source", "eo-learn TestEOPatch, 2017"), "family": family,
                               "epochs": epochs, "recipe": " ".join(TRAINING), "dates": len(dates),
                               "folds": [split(data, work, i)[0] for i in FOLDS],
                               "segment": " ".join(BACKEND) or "default"}

    def keep(key: str, value: Any) -> None:
        results[key] = value
        (work / "season_real.json").write_text(json.dumps({"accuracy": results}, indent=1))
        log(f"{key}: {value}")

    if "season" in wanted:
        keep("season", [both_folds(data, work, "season", dates, family, epochs, s) for s in SEEDS])
    if "composite" in wanted:
        median = composite(data, work, dates)
        keep("composite", [both_folds(data, work, "composite", [median], family, epochs, s) for s in SEEDS])
    if "best_date" not in wanted:
        return results
    clear = clear_dates(dates)
    if len(clear) > search:  # evenly spread over the year: each candidate costs two trainings
        clear = [clear[round(i * (len(clear) - 1) / (search - 1))] for i in range(search)]
    candidates = {}
    for path in clear:
        candidates[path] = both_folds(data, work, path.stem, [path], family, epochs, 0)
        keep("single_date_search", {p.stem: {"val_miou": r["val_miou"], "miou": r["miou"]}
                                    for p, r in candidates.items()})
    runs: dict[Path, list[dict[str, Any]]] = {}
    for key, by in (("best_date", "val_miou"), ("oracle_date", "miou")):  # the training half's pick; the test half's
        best = max(candidates, key=lambda p, by=by: candidates[p][by])
        if best not in runs:
            runs[best] = [candidates[best]] + [both_folds(data, work, best.stem, [best], family, epochs, s)
                                               for s in SEEDS[1:]]
        results[f"{key}_file"] = best.name
        keep(key, runs[best])
    return results


def speed(work: Path, models: tuple[str, str], dates: list[Path], repeats: int = 3) -> dict[str, Any]:
    """``segment`` of the whole place on the CPU (segment's default backend unless ``--backend``): the season model
    over its T dates against the one-date model of the same family over one date; the fastest of ``repeats`` of
    segment's own seconds and of its model time, and their ratios against the target T."""
    def timed(bundle: str, given: list[Path]) -> tuple[float, float, str]:
        runs = [cli("segment", "--model", bundle, *inputs(given), "--out", str(work / f"speed_{len(given)}_{i}.tif"),
                    *BACKEND, "--quiet", "--json") for i in range(repeats)]
        return (min(r["seconds"] for r in runs), min(r["timings"]["model"] for r in runs), runs[0]["backend"])

    season, one = timed(models[0], dates), timed(models[1], dates[:1])
    seen = len(dates) - len(cloudy_dates(dates))  # the engine drops the dates entirely cloudy
    return {"dates": seen, "backend": season[2], "season_seconds": round(season[0], 3),
            "one_date_seconds": round(one[0], 3), "ratio": round(season[0] / one[0], 2),
            "season_model_seconds": round(season[1], 3), "one_date_model_seconds": round(one[1], 3),
            "model_ratio": round(season[1] / one[1], 2), "target": seen}




def markdown(r: dict[str, Any]) -> list[str]:
    """The accuracy table (3 seeds: mean (min-max)) and the speed line."""
    a = r["accuracy"]
    lines = [f"{a.get('source', 'eo-learn TestEOPatch, 2017')}: {a['dates']} dated rasters given, the engine's date "
             f"handling on; "
             f"family {a['family']}, {a['recipe']}, {a['epochs']} epochs; spatial folds {', '.join(a['folds'])} "
             f"(a seed's figure: their mean); segment {a['segment']}.", "",
             "| input (same family, same recipe) | mIoU | overall accuracy |", "|---|---|---|"]
    for key, label in (("season", f"season ({a['dates']} dates given)"),
                       ("best_date", f"best single date ({a.get('best_date_file', '')}, by the training half's "
                                     f"validation)"),
                       ("oracle_date", f"best single date ({a.get('oracle_date_file', '')}, oracle: by the test "
                                       f"half)"),
                       ("composite", "median composite of the same dates")):
        if key in a:
            lines.append(f"| {label} | {spread(a[key], 'miou')} | {spread(a[key], 'oa')} |")
    loads = [f["load"] for key in ("season", "best_date", "composite") for r in a.get(key, []) for f in r["folds"]]
    if loads:
        lines += ["", f"1-minute load average when the trainings started: {min(loads)}-{max(loads)}."]
    if "speed" in r:
        s = r["speed"]
        lines += ["", f"Speed ({s['backend']}, segment of the place): season of {s['dates']} dates "
                      f"{s['season_seconds']} s against one date {s['one_date_seconds']} s: {s['ratio']}x (model "
                      f"time {s['model_ratio']}x); target at most {s['target']}x."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ready = sub.add_parser("prepare", help="turn eo-learn's TestEOPatch folder (or dtwSat's) into dated GeoTIFFs")
    ready.add_argument("--source", choices=["eolearn", "dtwsat"], default="eolearn",
                       help="eolearn: example_data/TestEOPatch; dtwsat: dtwSat's inst/mato_grosso_brazil")
    ready.add_argument("--scale", type=float, default=1.0, help="dtwsat: the reflectance bands x SCALE")
    ready.add_argument("patch", type=Path)
    ready.add_argument("out", type=Path)
    measure = sub.add_parser("run", help="the accuracy table and the speed ratio")
    measure.add_argument("--data", type=Path, default=os.environ.get("DUALSTREAM_SEASON_REAL"))
    measure.add_argument("--work", type=Path, required=True, help="folder for models, predictions and results")
    measure.add_argument("--family", default="season")
    measure.add_argument("--epochs", type=int, default=8)
    measure.add_argument("--folds", type=int, choices=[1, 2], default=2, help="1: the west -> east fold only")
    measure.add_argument("--blocks", type=int, default=None, metavar="PX",
                         help="folds of a checkerboard of PX px squares instead of the west and east halves")
    measure.add_argument("--backend", default=None, help="segment's --backend (default: segment's default)")
    measure.add_argument("--search", type=int, default=8, help="clear dates tried for the best single date")
    measure.add_argument("--recipe", choices=["fixed", "auto"], default="fixed",
                         help="fixed: RECIPE; auto: the engine's automatic choices, the epochs given")
    measure.add_argument("--tiles-per-epoch", type=int, default=None, help="train's --tiles-per-epoch")
    measure.add_argument("--config", type=Path, default=None, help="a config file handed to every training")
    measure.add_argument("--inputs", nargs="+", default=["season", "composite", "best_date"],
                         choices=["season", "composite", "best_date"])
    measure.add_argument("--no-speed", action="store_true", help="the accuracy table only")
    measure.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="the seeds (the first picks the "
                         "best single date)")
    fast = sub.add_parser("speed", help="the speed ratio alone, of two models a 'run' trained")
    fast.add_argument("--data", type=Path, default=os.environ.get("DUALSTREAM_SEASON_REAL"))
    fast.add_argument("--work", type=Path, required=True, help="folder for the predictions and results")
    fast.add_argument("--models", nargs=2, required=True, metavar=("SEASON", "ONE_DATE"),
                      help="the season model and a one-date model of the same family (a run's seed-0 models)")
    fast.add_argument("--backend", default=None, help="segment's --backend (default: segment's default)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        from bench.season_dtwsat import prepare_dtwsat

        made = (prepare_dtwsat(args.patch, args.out, UNLABELLED, args.scale) if args.source == "dtwsat"
                else prepare(args.patch, args.out))
        print(json.dumps(made, indent=1))
        return 0
    if args.command == "speed":
        if not args.data:
            parser.error("give --data (or $DUALSTREAM_SEASON_REAL): the folder 'prepare' wrote")
        args.work.mkdir(parents=True, exist_ok=True)
        BACKEND[:] = ["--backend", args.backend] if args.backend else []
        result = speed(args.work, tuple(args.models), date_files(args.data))
        print(json.dumps(result, indent=1))
        (args.work / "season_speed.json").write_text(json.dumps(result, indent=1))
        return 0
    if not args.data:
        parser.error("give --data (or $DUALSTREAM_SEASON_REAL): the folder 'prepare' wrote")
    args.work.mkdir(parents=True, exist_ok=True)
    BACKEND[:] = ["--backend", args.backend] if args.backend else []
    FOLDS[:] = [0, 1][:args.folds]
    BLOCKS[:] = [args.blocks] if args.blocks else []
    SEEDS[:] = args.seeds
    TRAINING[:] = [*(RECIPE if args.recipe == "fixed" else AUTO_RECIPE),
                   *(["--tiles-per-epoch", str(args.tiles_per_epoch)] if args.tiles_per_epoch else []),
                   *(["--config", str(args.config.resolve())] if args.config else [])]
    results: dict[str, Any] = {"accuracy": accuracy(args.data, args.work, args.family, args.epochs,
                                                        args.search, wanted=tuple(args.inputs))}
    a, fold = results["accuracy"], split(args.data, args.work, 0)[0].replace("->", "_")
    stem = args.work / f"season_{fold}_s0.dsmodel"
    if not args.no_speed and "best_date_file" in a and "season" in a:
        one = args.work / f"{a['best_date_file'][:-4]}_{fold}_s0.dsmodel"
        results["speed"] = speed(args.work, (str(stem), str(one)), date_files(args.data))
    lines = markdown(results)
    print("\n".join(lines))
    (args.work / "season_real.json").write_text(json.dumps(results, indent=1))
    (args.work / "season_real.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
