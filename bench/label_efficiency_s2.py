"""Label efficiency on Sentinel-2 land cover over five scenes: windows chosen by ``suggest`` against random ones.

The five real TerraMesh tiles of the shared real data (``terramesh_s2_s1_dem``: Sentinel-2 L2A, 12 bands, 224 x 224
px at 10 m, one per UTM zone on four continents; LULC codes 1-9, model-derived) are five scenes: the left
``POOL_COLS`` columns of each are the pool the windows are labelled in, the rest of each the validation scenes
(every tile is in the validation, so the score is over every kind of ground). ``suggest`` gets the five pool scenes
at once, so its spread over scenes and classes is exercised; the random arm draws uniformly among the windows of
all five (positions on the half-window lattice, not overlapping the windows labelled so far). Otherwise as
:mod:`bench.label_efficiency`: a model trained on ``initial`` random windows, then rounds of ``per_round`` windows
each, fine-tuned from the previous round's with the same epochs and tiles in both arms.

The tiles lie in five UTM zones and one labelled-area layer cannot be reprojected into all of them (a polygon in
zone 22S is outside zone 32N's domain), so each scene is a VRT of the tile's pixels re-placed side by side in one
CRS (EPSG:32632, 10 km apart): pixels and labels unchanged, only where they sit.

Reported, per round, arm and seed: the validation mIoU over the classes present in the validation scenes (not
the engine's mIoU, which also counts a class only predicted) and the IoU of every class; and the labelled windows
each arm needs to reach a target mIoU.

Usage: ``python bench/label_efficiency_s2.py [--seeds 3] [--first-seed 0] [--rounds 4] [--out DIR]`` (CPU: about
15 minutes per 3 seeds on the busy 2-core VM, one torch thread);
``--combine`` as in :mod:`bench.label_efficiency`. ``make bench`` runs it as the section ``label_efficiency_s2``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.label_efficiency import combine, free, lattice, loop_parser  # noqa: E402 - needs the repository root on sys.path first

TITLE = "Label efficiency over five Sentinel-2 scenes: suggest against random windows (TerraMesh LULC)"
FOLDER = "terramesh_s2_s1_dem"
TILE = 224  # every tile is 224 x 224 px
POOL_COLS = 160  # columns 0-159 of each tile the pool, 160-223 validation
CODES = [1, 2, 3, 4, 5, 6, 7, 9]  # the LULC codes the tiles hold (README: 1-7 and 9)
CLASSES = [f"lulc{c}" for c in CODES]
MAPPING = {"0": 255, "8": 255, **{str(c): i for i, c in enumerate(CODES)}}
CRS = "EPSG:32632"
SPACING = 10_000.0  # metres between the scenes' left edges in the common CRS
PIXEL = 10.0

Window = tuple[int, int, int]  # scene, col, row (top-left pixel)


def prepare(realdata: Path, out: Path) -> list[dict[str, str]]:
    """Per tile, the pool and validation parts of image and labels as VRTs in ``out``, re-placed in one CRS."""
    from osgeo import gdal

    gdal.UseExceptions()
    tiles = sorted(p.stem for p in (realdata / FOLDER / "S2L2A").glob("*.tif"))
    if len(tiles) != 5:
        raise SystemExit(f"Expected the five TerraMesh tiles in '{realdata / FOLDER}'; found {len(tiles)}.")
    scenes = []
    for i, tile in enumerate(tiles):
        scene = {"tile": tile}
        x0 = i * SPACING
        for part, (c0, cols) in (("pool", (0, POOL_COLS)), ("val", (POOL_COLS, TILE - POOL_COLS))):
            for kind, sub in (("image", "S2L2A"), ("label", "LULC")):
                dst = out / f"{tile}_{part}_{kind}.vrt"
                gdal.Translate(str(dst), str(realdata / FOLDER / sub / f"{tile}.tif"), format="VRT",
                               srcWin=[c0, 0, cols, TILE], outputSRS=CRS,
                               outputBounds=[x0 + c0 * PIXEL, 0.0, x0 + (c0 + cols) * PIXEL, -TILE * PIXEL])
                scene[f"{part}_{kind}"] = str(dst)
        scenes.append(scene)
    return scenes


def write_area(path: Path, windows: list[Window], window: int, scenes: list[dict[str, str]]) -> None:
    """The labelled windows as one polygon layer in the common CRS."""
    import rasterio
    from osgeo import ogr, osr

    transforms = []
    for s in scenes:
        with rasterio.open(s["pool_image"]) as ds:
            transforms.append(ds.transform)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(int(CRS.split(":")[1]))
    if path.exists():
        path.unlink()
    out = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = out.CreateLayer("labelled", srs=srs, geom_type=ogr.wkbPolygon)
    for scene, col, row in windows:
        t = transforms[scene]
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


def class_counts(paths: list[str]) -> np.ndarray:
    """Pixels of each class (index of ``CLASSES``) over the label rasters."""
    import rasterio

    counts = np.zeros(len(CLASSES), np.int64)
    for path in paths:
        with rasterio.open(path) as ds:
            codes = ds.read(1)
        for i, c in enumerate(CODES):
            counts[i] += int((codes == c).sum())
    return counts


def train_round(work: Path, name: str, area: Path, windows: list[Window], parent: Path | None,
                args: argparse.Namespace, seed: int, scenes: list[dict[str, str]],
                present: list[int]) -> dict[str, Any]:
    import torch

    from engine.api import QuietCallback, train, train_request

    epochs = args.first_epochs if parent is None else args.epochs
    used = sorted({w[0] for w in windows})  # a scene without a labelled window has nothing to train on
    sections = {
        "model": {"name": "unet", "preset": "tiny"},
        "data": {"train_scenes": [{"image": scenes[i]["pool_image"], "label": scenes[i]["pool_label"],
                                   "aoi": str(area)} for i in used],
                 "val_scenes": [{"image": s["val_image"], "label": s["val_label"]} for s in scenes],
                 "label_mapping": MAPPING, "class_names": CLASSES, "tile_size": args.window,
                 "tiles_per_epoch": args.tiles},
        "train": {"epochs": epochs, "warmup_epochs": 0, "seed": seed, "output": str(work / f"{name}.dsmodel"),
                  "batch_size": args.batch, "learning_rate": args.lr, "vision_lr_factor": 1.0,
                  "device": "cpu", **({"init_from": str(parent)} if parent else {})},
    }
    given = {f"{s}.{k}" for s, values in sections.items() for k in values}
    torch.set_num_threads(args.threads)  # see bench.label_efficiency.train_round
    start = time.perf_counter()
    run = train(train_request(sections, given), QuietCallback())
    best = run.result.best_metrics
    iou = [v if v is not None else 0.0 for v in best.get("val_class_iou") or []]
    return {"bundle": str(work / f"{name}.dsmodel"), "miou": float(np.mean([iou[c] for c in present])),
            "engine_miou": best.get("val_miou"), "class_iou": [round(float(v), 4) for v in iou],
            "seconds": round(time.perf_counter() - start, 1)}


def suggested(model: Path, scenes: list[dict[str, str]], area: Path, count: int, window: int,
              out: Path) -> list[Window]:
    """The ``count`` windows ``suggest`` ranks first over the five pool scenes at once."""
    from engine.api import QuietCallback, SuggestConfig, suggest

    images = [s["pool_image"] for s in scenes]
    if out.exists():
        out.unlink()
    result = suggest(SuggestConfig(models=[str(model)], images=images, labelled_area=str(area), count=count,
                                   window=window, output=str(out), device="cpu"), QuietCallback())
    return [(images.index(w.scene), w.col, w.row) for w in result.windows]


def composition(windows: list[Window], truths: list[np.ndarray], window: int) -> list[float]:
    """The share of each class over the windows' pixels."""
    counts = np.zeros(len(CLASSES), np.int64)
    for scene, col, row in windows:
        patch = truths[scene][row:row + window, col:col + window]
        counts += np.array([(patch == c).sum() for c in CODES])
    return [round(float(v), 4) for v in counts / max(counts.sum(), 1)]


def run_seed(seed: int, args: argparse.Namespace, scenes: list[dict[str, str]], present: list[int],
             out: Path) -> dict[str, Any]:
    import rasterio

    truths = []
    for s in scenes:
        with rasterio.open(s["pool_label"]) as ds:
            truths.append(ds.read(1))
    positions = [(i, c, r) for i, t in enumerate(truths) for c, r in lattice(t.shape[1], t.shape[0], args.window)]

    def draw(rng: np.random.Generator, taken: list[Window], n: int) -> list[Window]:
        added: list[Window] = []
        for _ in range(n):
            options = [(i, c, r) for i, c, r in positions
                       if (c, r) in free([(c, r)], [(q[1], q[2]) for q in taken + added if q[0] == i], args.window)]
            added.append(options[int(rng.integers(len(options)))])
        return added

    rng = np.random.default_rng(seed)
    work = out / f"seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    start = draw(rng, [], args.initial)
    area = work / "round0.gpkg"
    write_area(area, start, args.window, scenes)
    first = train_round(work, "round0", area, start, None, args, seed, scenes, present)
    print(f"seed {seed} round 0: {len(start)} windows, mIoU {first['miou']:.4f} {first['class_iou']}", flush=True)
    arms: dict[str, list[dict[str, Any]]] = {}
    for arm in args.arms:
        windows, parent = list(start), Path(first["bundle"])
        rows = [{"round": 0, "windows": len(windows), **{k: first[k] for k in ("miou", "engine_miou", "class_iou")},
                 "added": start, "added_classes": composition(start, truths, args.window)}]
        arm_rng = np.random.default_rng([seed, 1])  # the random arm's own draws, the same for every run
        for k in range(1, args.rounds + 1):
            area = work / (f"{arm}{k - 1}.gpkg" if k > 1 else "round0.gpkg")
            if arm == "suggest":
                added = suggested(parent, scenes, area, args.per_round, args.window, work / f"{arm}{k}_windows.gpkg")
            else:
                added = draw(arm_rng, windows, args.per_round)
            windows += added
            area = work / f"{arm}{k}.gpkg"
            write_area(area, windows, args.window, scenes)
            trained = train_round(work, f"{arm}{k}", area, windows, parent, args, seed, scenes, present)
            parent = Path(trained["bundle"])
            rows.append({"round": k, "windows": len(windows), **{x: trained[x] for x in ("miou", "engine_miou",
                                                                                        "class_iou")},
                         "added": added, "added_classes": composition(added, truths, args.window)})
            print(f"seed {seed} {arm} round {k}: {len(windows)} windows, mIoU {trained['miou']:.4f} "
                  f"{trained['class_iou']} added {added}", flush=True)
        arms[arm] = rows
    return arms


def markdown(results: dict[str, Any], target: float) -> str:
    """Both curves for every seed, the per-class IoU of the last round, and the windows to reach ``target``."""
    from bench.label_efficiency import markdown as curves

    text = curves(results, target)
    seeds = results["seeds"]
    present = results["present"]
    last = len(next(iter(seeds.values()))["suggest"]) - 1
    lines = ["", f"IoU per class present in validation after round {last}, mean over the seeds "
             "(validation share in brackets):", "",
             "| arm | " + " | ".join(f"{CLASSES[c]} ({100 * results['val_share'][c]:.1f} %)" for c in present) + " |",
             "|---" * (1 + len(present)) + "|"]
    for arm in ("suggest", "random"):
        mean = [np.mean([seeds[s][arm][last]["class_iou"][c] for s in seeds]) for c in present]
        lines.append(f"| {arm} | " + " | ".join(f"{v:.3f}" for v in mean) + " |")
    return text + "\n" + "\n".join(lines)


def report(results: dict[str, Any], target: float | None, out: Path) -> dict[str, Any]:
    last = [results["seeds"][s][arm][-1]["miou"] for s in results["seeds"] for arm in ("suggest", "random")]
    results["target"] = target if target is not None else round(float(np.mean(last)), 2)
    results["markdown"] = markdown(results, results["target"])
    means = {arm: float(np.mean([results["seeds"][s][arm][-1]["miou"] for s in results["seeds"]]))
             for arm in ("suggest", "random")}
    results["summary"] = {"suggest": round(means["suggest"], 4), "random": round(means["random"], 4),
                          "ratio": round(means["suggest"] / max(means["random"], 1e-9), 4)}
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "results.md").write_text(results["markdown"] + "\n")
    print(results["markdown"])
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = loop_parser(__doc__.splitlines()[0], "label_efficiency_s2", rounds=4, first_epochs=20, epochs=8,
                    first_epochs_help="epochs of the first model (early stopping: patience 10)")
    args = p.parse_args(argv)
    if args.combine:
        return combine(args, report, keep=("present", "val_share"))
    if not (Path(args.realdata) / FOLDER / "S2L2A").is_dir():
        raise SystemExit(f"TerraMesh tiles not found in '{Path(args.realdata) / FOLDER}'; pass --realdata (the "
                         "shared real data folder).")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scenes = prepare(Path(args.realdata), out)
    counts = class_counts([s["val_label"] for s in scenes])
    present = [c for c in range(len(CLASSES)) if counts[c] > 0]
    results: dict[str, Any] = {"settings": vars(args), "present": present,
                               "val_share": [round(float(v), 4) for v in counts / counts.sum()], "seeds": {}}
    print(f"validation: {', '.join(f'{CLASSES[c]} {100 * counts[c] / counts.sum():.1f} %' for c in present)}",
          flush=True)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        results["seeds"][seed] = run_seed(seed, args, scenes, present, out)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    if len(args.arms) < 2:
        return results
    return report(results, args.target, out)


if __name__ == "__main__":
    main()


def run(ctx: Any) -> dict[str, Any]:
    """``make bench`` section: the benchmark on the shared real data (skipped without it)."""
    if ctx.realdata is None:
        return {"skipped": "DUALSTREAM_REALDATA is not set (the shared real data folder)",
                "markdown": "Skipped: set DUALSTREAM_REALDATA to the shared real data folder."}
    quick = ["--seeds", "1", "--rounds", "1"] if ctx.quick else []
    return main(["--realdata", str(ctx.realdata), "--out", str(Path(ctx.output_dir) / "label_efficiency_s2"), *quick])
