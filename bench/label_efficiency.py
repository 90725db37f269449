"""Label efficiency: windows chosen by ``suggest`` against windows chosen at random, on real labelled data.

New Brunswick land cover (``gdl_buildings_landcover/new_brunswick_aerial_rgb`` of the shared real data: 0.5 m
aerial RGB, vegetation / water / road / building / railway): the second crop's upper 320 rows are the pool the
windows are labelled in, its rows below the validation scene (two VRTs of the crop, written to the output
folder). Per seed, a model is trained on ``initial`` random windows; then, in each round, ``per_round`` windows
are added (a) by ``suggest`` (the current model, the windows labelled so far as its labelled area) and (b) at
random (positions on the same half-window lattice, not overlapping the windows labelled so far), and the model is
fine-tuned from the previous round's with the same epochs and tiles (the loop a user runs). Labels are the crop's
full mask, used only inside the labelled area: the rest is ignored, not background. A fifth of the pool is mask 0,
which the data set leaves unlabelled: a window there would teach nothing here, though a user would label it, so
every arm takes only windows the mask labels at least half of (``--min-annotated``): the starting windows and the
random ones are drawn among those, and of ``suggest``'s windows (4 x as many asked for) the first ``per_round``
of those in rank order. Reported: the validation mIoU of every round, both arms, every seed, and the labelled
windows each arm needs to reach a target mIoU.

Usage: ``python bench/label_efficiency.py [--seeds 3] [--first-seed 0] [--rounds 3] [--out DIR]`` (CPU: about 13
minutes on two busy cores at the defaults); ``--combine A/results.json B/results.json`` makes one table of runs
of other seeds (or of one arm: ``--arms suggest``); ``make bench`` runs it as the section ``label_efficiency``.
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

TITLE = "Label efficiency: suggest against random windows (New Brunswick land cover)"
FOLDER = "gdl_buildings_landcover/new_brunswick_aerial_rgb"
SOURCE = ("23322E759967N_clipped_1m_2of2.tif", "23322E759967N_2of2_landcover_mask.tif")
POOL = ("pool_image.vrt", "pool_label.vrt")
VAL = ("val_image.vrt", "val_label.vrt")
POOL_ROWS = 320  # the crop is 326 x 482 px: rows 0-319 the pool, 320-481 validation
CLASSES = ["vegetation", "water", "road", "building", "railway"]
MAPPING = {"0": 255, "1": 0, "2": 1, "3": 2, "4": 3, "5": 4}  # mask 0 is "unlabelled"


def write_area(path: Path, windows: list[tuple[int, int]], window: int, image: str) -> None:
    """The labelled windows (pixel top-left corners) as a polygon layer in the image's CRS."""
    import rasterio
    from osgeo import ogr, osr

    with rasterio.open(image) as ds:
        t, crs = ds.transform, ds.crs
    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs.to_wkt())
    if path.exists():
        path.unlink()
    out = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = out.CreateLayer("labelled", srs=srs, geom_type=ogr.wkbPolygon)
    for col, row in windows:
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for c, r in ((col, row), (col + window, row), (col + window, row + window), (col, row + window), (col, row)):
            x, y = t * (c, r)
            ring.AddPoint_2D(x, y)
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(poly)
        layer.CreateFeature(feature)
    out = None


def split(source: Path, out: Path) -> Path:
    """The pool and validation parts of the crop, as VRTs in ``out`` (the data folder is read-only)."""
    from osgeo import gdal

    gdal.UseExceptions()
    height = gdal.Open(str(source / SOURCE[0])).RasterYSize
    width = gdal.Open(str(source / SOURCE[0])).RasterXSize
    for (image, label), (row, rows) in ((POOL, (0, POOL_ROWS)), (VAL, (POOL_ROWS, height - POOL_ROWS))):
        for src, dst in ((SOURCE[0], image), (SOURCE[1], label)):
            gdal.Translate(str(out / dst), str(source / src), format="VRT", srcWin=[0, row, width, rows])
    return out


def lattice(width: int, height: int, window: int) -> list[tuple[int, int]]:
    step = window // 2
    return [(c, r) for r in range(0, height - window + 1, step) for c in range(0, width - window + 1, step)]


def annotated(positions: list[tuple[int, int]], truth: np.ndarray, window: int,
              least: float) -> list[tuple[int, int]]:
    """The windows of which at least ``least`` of the pixels carry a label in the data set (mask 0 is unlabelled)."""
    return [(c, r) for c, r in positions if (truth[r:r + window, c:c + window] != 0).mean() >= least]


def free(positions: list[tuple[int, int]], taken: list[tuple[int, int]], window: int) -> list[tuple[int, int]]:
    return [p for p in positions if all(abs(p[0] - q[0]) >= window or abs(p[1] - q[1]) >= window for q in taken)]


def train_round(work: Path, name: str, area: Path, parent: Path | None, args: argparse.Namespace,
                seed: int, data: Path) -> dict[str, Any]:
    from engine.api import QuietCallback, train, train_request

    epochs = args.first_epochs if parent is None else args.epochs
    sections = {
        "model": {"name": "unet", "preset": "tiny"},
        "data": {"train_scenes": [{"image": str(data / POOL[0]), "label": str(data / POOL[1]), "aoi": str(area)}],
                 "val_scenes": [{"image": str(data / VAL[0]), "label": str(data / VAL[1])}],
                 "label_mapping": MAPPING, "class_names": CLASSES, "tile_size": args.window,
                 "tiles_per_epoch": args.tiles},
        "train": {"epochs": epochs, "warmup_epochs": 0, "seed": seed, "output": str(work / f"{name}.dsmodel"),
                  "batch_size": args.batch, "learning_rate": args.lr, "vision_lr_factor": 1.0,
                  "device": "cpu", **({"init_from": str(parent)} if parent else {})},
    }
    given = {f"{s}.{k}" for s, values in sections.items() for k in values}
    import torch

    # One intra-op thread: on a shared 2-core machine a second thread waits for a busy core at every operator (a
    # tiny UNet step took 7-20 s with 2 threads against 0.33 s with 1 while other jobs ran); segment (suggest)
    # sets its own threads, so this is said again before every round.
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    run = train(train_request(sections, given), QuietCallback())
    best = run.result.best_metrics
    return {"bundle": str(work / f"{name}.dsmodel"), "miou": best.get("val_miou"), "iou": best.get("val_iou"),
            "seconds": round(time.perf_counter() - start, 1)}


def suggested(model: Path, image: str, area: Path, count: int, window: int, out: Path, truth: np.ndarray,
              least: float) -> list[tuple[int, int]]:
    """The first ``count`` windows ``suggest`` ranks (of 4 x ``count`` asked for) that the data set labels."""
    from engine.api import QuietCallback, SuggestConfig, suggest

    if out.exists():
        out.unlink()
    result = suggest(SuggestConfig(models=[str(model)], images=[image], labelled_area=str(area), count=4 * count,
                                   window=window, output=str(out), device="cpu"), QuietCallback())
    return annotated([(w.col, w.row) for w in result.windows], truth, window, least)[:count]


def run_seed(seed: int, args: argparse.Namespace, data: Path, out: Path) -> dict[str, Any]:
    import rasterio

    image = str(data / POOL[0])
    with rasterio.open(image) as ds:
        width, height = ds.width, ds.height
    with rasterio.open(data / POOL[1]) as ds:
        truth = ds.read(1)
    positions = annotated(lattice(width, height, args.window), truth, args.window, args.min_annotated)
    rng = np.random.default_rng(seed)
    work = out / f"seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    start: list[tuple[int, int]] = []
    for _ in range(args.initial):
        options = free(positions, start, args.window)
        start.append(options[int(rng.integers(len(options)))])
    area = work / "round0.gpkg"
    write_area(area, start, args.window, image)
    first = train_round(work, "round0", area, None, args, seed, data)
    print(f"seed {seed} round 0: {len(start)} windows, mIoU {first['miou']:.4f}", flush=True)
    arms: dict[str, list[dict[str, Any]]] = {}
    for arm in args.arms:
        windows, parent = list(start), Path(first["bundle"])
        rows = [{"round": 0, "windows": len(windows), "miou": first["miou"], "iou": first["iou"]}]
        arm_rng = np.random.default_rng([seed, 1])  # the random arm's own draws, the same for every run
        for k in range(1, args.rounds + 1):
            area = work / f"{arm}{k - 1}.gpkg" if k > 1 else work / "round0.gpkg"
            if arm == "suggest":
                added = suggested(parent, image, area, args.per_round, args.window, work / f"{arm}{k}_windows.gpkg",
                                  truth, args.min_annotated)
            else:
                added = []
                for _ in range(args.per_round):
                    options = free(positions, windows + added, args.window)
                    added.append(options[int(arm_rng.integers(len(options)))])
            windows += added
            area = work / f"{arm}{k}.gpkg"
            write_area(area, windows, args.window, image)
            trained = train_round(work, f"{arm}{k}", area, parent, args, seed, data)
            parent = Path(trained["bundle"])
            rows.append({"round": k, "windows": len(windows), "miou": trained["miou"], "iou": trained["iou"],
                         "added": added})
            print(f"seed {seed} {arm} round {k}: {len(windows)} windows, mIoU {trained['miou']:.4f}", flush=True)
        arms[arm] = rows
    return arms


def windows_to_reach(rows: list[dict[str, Any]], target: float) -> int | None:
    return next((r["windows"] for r in rows if (r["miou"] or 0) >= target), None)


def markdown(results: dict[str, Any], target: float) -> str:
    seeds = results["seeds"]
    rounds = len(next(iter(seeds.values()))["suggest"])
    lines = ["| round | windows | " + " | ".join(f"suggest s{s} | random s{s}" for s in seeds) +
             " | suggest mean | random mean |", "|---" * (4 + 2 * len(seeds)) + "|"]
    for k in range(rounds):
        s_vals = [seeds[s]["suggest"][k]["miou"] for s in seeds]
        r_vals = [seeds[s]["random"][k]["miou"] for s in seeds]
        cells = " | ".join(f"{a:.3f} | {b:.3f}" for a, b in zip(s_vals, r_vals))
        n = next(iter(seeds.values()))["suggest"][k]["windows"]
        lines.append(f"| {k} | {n} | {cells} | {np.mean(s_vals):.3f} | {np.mean(r_vals):.3f} |")
    lines.append("")
    lines.append(f"Labelled windows to reach validation mIoU {target:.2f} (— = not within the rounds):")
    lines.append("")
    lines.append("| seed | suggest | random |")
    lines.append("|---|---|---|")
    for s in seeds:
        a, b = (windows_to_reach(seeds[s][arm], target) for arm in ("suggest", "random"))
        lines.append(f"| {s} | {a if a is not None else '—'} | {b if b is not None else '—'} |")
    return "\n".join(lines)


def report(results: dict[str, Any], target: float | None, out: Path) -> dict[str, Any]:
    """The table of every seed of ``results`` (both arms), written to ``out``."""
    last = [results["seeds"][s][arm][-1]["miou"] for s in results["seeds"] for arm in ("suggest", "random")]
    results["target"] = target if target is not None else round(float(np.mean(last)), 2)
    results["markdown"] = markdown(results, results["target"])
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "results.md").write_text(results["markdown"] + "\n")
    print(results["markdown"])
    return results


def combine(args: argparse.Namespace, table: Any = None, keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """``--combine``: one table (``table``: a module's ``report``, this one's by default) of the seeds of
    several results.json files; ``keep``: entries of the files' results besides the seeds (the last file's)."""
    results: dict[str, Any] = {"settings": vars(args), "seeds": {}}
    for path in args.combine:  # per seed, the arms of every file, a later file's winning (a suggest-only run)
        loaded = json.loads(Path(path).read_text())
        results.update({key: loaded[key] for key in keep})
        for seed, arms in loaded["seeds"].items():
            results["seeds"].setdefault(seed, {}).update(arms)
    missing = [f"seed {s}: {arm}" for s, arms in results["seeds"].items() for arm in ("suggest", "random")
               if arm not in arms]
    if missing:
        raise SystemExit(f"--combine: no results for {', '.join(missing)}; add the results.json that has them.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return (table or report)(results, args.target, out)


def loop_parser(description: str, out_name: str, rounds: int, first_epochs: int, epochs: int,
                first_epochs_help: str = "epochs of the first model") -> argparse.ArgumentParser:
    """The options of a label-efficiency loop (both benchmarks; their defaults apart)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--realdata", default=os.environ.get("DUALSTREAM_REALDATA", str(REPO.parent / "shared" /
                                                                                 "realdata")))
    p.add_argument("--out", default=str(REPO / "bench_output" / out_name))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="the first seed (seeds first-seed, first-seed + 1, ...)")
    p.add_argument("--initial", type=int, default=4)
    p.add_argument("--per-round", type=int, default=4)
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--window", type=int, default=32, help="window side = training tile side, pixels")
    p.add_argument("--tiles", type=int, default=128, help="training tiles per epoch")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the training rounds")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--first-epochs", type=int, default=first_epochs, help=first_epochs_help)
    p.add_argument("--epochs", type=int, default=epochs, help="epochs per round of fine-tuning")
    p.add_argument("--arms", nargs="+", default=["suggest", "random"], choices=["suggest", "random"],
                   help="the arms to run (the random arm does not depend on the ranking: same seeds, same windows)")
    p.add_argument("--target", type=float, default=None, help="mIoU to reach (default: the mean of the last round's)")
    p.add_argument("--combine", nargs="+", metavar="RESULTS", help="no runs: one table of the seeds of these "
                   "results.json files (runs of other seeds, e.g. --first-seed 3), written to --out")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = loop_parser(__doc__.splitlines()[0], "label_efficiency", rounds=3, first_epochs=5, epochs=3)
    p.add_argument("--min-annotated", type=float, default=0.5,
                   help="the share of a window the data set must label for either arm to take it (0: any window)")
    args = p.parse_args(argv)
    if args.combine:
        return combine(args)
    data = Path(args.realdata) / FOLDER
    if not (data / SOURCE[0]).is_file():
        raise SystemExit(f"New Brunswick crops not found in '{data}'; pass --realdata (the shared real data folder).")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = split(data, out)
    results: dict[str, Any] = {"settings": vars(args), "seeds": {}}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        results["seeds"][seed] = run_seed(seed, args, data, out)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    if len(args.arms) < 2:
        return results
    return report(results, args.target, out)


if __name__ == "__main__":
    main()


def run(ctx: Any) -> dict[str, Any]:
    """``make bench`` section: both benchmarks of partial labels on the shared real data (skipped without it)."""
    from bench import partial_labels

    if ctx.realdata is None:
        return {"skipped": "DUALSTREAM_REALDATA is not set (the shared real data folder)",
                "markdown": "Skipped: set DUALSTREAM_REALDATA to the shared real data folder."}
    out = Path(ctx.output_dir)
    quick = ["--seeds", "1", "--rounds", "1"] if ctx.quick else []
    curves = main(["--realdata", str(ctx.realdata), "--out", str(out / "label_efficiency"), *quick])
    partial = partial_labels.main(["--realdata", str(ctx.realdata), "--out", str(out / "partial_labels"),
                                   *(["--epochs", "2"] if ctx.quick else [])])
    text = "\n".join(f"- {name}: validation IoU (building) {r['iou']:.4f}" for name, r in partial.items())
    return {"curves": curves, "partial_labels": partial,
            "markdown": f"{curves.get('markdown', '')}\n\nPartial labels (Massachusetts buildings):\n\n{text}"}
