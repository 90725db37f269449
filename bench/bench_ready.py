"""Ready models on real data: ukis-csmask's cloud model wrapped by ``dualstream models get`` and run by
``dualstream segment``, against ukis-csmask's own ``CSmask`` on the same array and against 38-Cloud's ground truth.

Data: ``../shared/realdata/cloud38_sample`` (one 384 x 384 Landsat-8 L1TP patch of scene
LC08_L1TP_002053_20160520, digital numbers per band, and its hand-drawn cloud mask; see its README). The digital
numbers become top-of-atmosphere reflectance as Landsat 8 Collection 1 defines it,
``(2e-5 * DN - 0.1) / sin(sun elevation)``. The sample carries no MTL file, so the sun elevation is computed from
the scene's WRS-2 path/row centre (about 10.1 N, 64.6 W), its date and Landsat 8's overpass (about 10:00 local
solar time): about 60.3 degrees (``--sun-elevation`` to give another). Both runs get the same reflectance array,
so the agreement does not depend on it; the accuracy against the ground truth does, a little.

Runs (the bench needs ukis-csmask installed, ``pip install ukis-csmask==1.0.0``, for CSmask and for the wrap):
1. ``python -m engine models get MODEL --folder OUT/models`` (the wrap, checksums verified);
2. ``python -m engine segment --model OUT/models/MODEL.dsmodel --image OUT/reflectance.tif --out ...`` with the
   model's own tiling (CSmask's: overlap 0.2, the scene mirrored by 51 px), and with tiles kept inside the scene
   (``--border 0``) at overlaps 0.2 and 0.25;
3. ``CSmask(img, band_order=[blue, green, red, nir], product_level=l1c).csm`` on the same array;
4. where ``../shared/realdata/terramesh_s2_s1_dem`` is there, the 6-band L2A model on its five real Sentinel-2 L2A
   tiles (reflectance = digital numbers / 10000), against CSmask on the same arrays (agreement only: no labels).
Writes ``OUT/results.json`` and prints a table: pixel agreement of the class rasters (three classes), and for
each run the cloud class against the ground truth (IoU, precision, recall, F1, pixel accuracy; cloud shadow counts
as not cloud, as 38-Cloud labels only clouds). ``python bench/bench_ready.py [--out DIR]``; not part of
``make test``. Figures: docs/ready-models.md.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "realdata" / "cloud38_sample"
SCENE = "patch_192_10_by_12_LC08_L1TP_002053_20160520_20170324_01_T1"
S2_DATA = REPO.parent / "shared" / "realdata" / "terramesh_s2_s1_dem" / "S2L2A"
S2_BANDS = {"blue": 2, "green": 3, "red": 4, "nir": 8, "swir16": 11, "swir22": 12}  # of B1..B12 without B10
S2_MODEL = "ukis-csmask-6b-l2a"
BANDS = ("blue", "green", "red", "nir")  # the order ukis-csmask's graphs take
SUN_ELEVATION = 60.3  # degrees; see the module docstring
# Landsat 8 Collection 1 reflectance rescaling (the same for every OLI reflective band)
REFLECTANCE_MULT, REFLECTANCE_ADD = 2.0e-5, -0.1


def reflectance(data: Path, sun_elevation: float) -> np.ndarray:
    """(rows, cols, 4) float32 top-of-atmosphere reflectance, bands in BANDS order."""
    import rasterio

    bands = []
    for band in BANDS:
        with rasterio.open(data / "original" / f"{band}_{SCENE}.TIF") as src:
            dn = src.read(1).astype(np.float64)
        bands.append((REFLECTANCE_MULT * dn + REFLECTANCE_ADD) / math.sin(math.radians(sun_elevation)))
    return np.stack(bands, axis=-1).astype(np.float32)


def write_image(path: Path, image: np.ndarray) -> None:
    """The array as a float32 GeoTIFF, one band per channel, described by name (no georeferencing: the sample
    has none)."""
    import rasterio

    rows, cols, count = image.shape
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=count, dtype="float32") as dst:
        dst.write(np.moveaxis(image, -1, 0))
        for index, band in enumerate(BANDS, start=1):
            dst.set_band_description(index, band)


def run(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`dualstream {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def cloud_scores(predicted_cloud: np.ndarray, truth_cloud: np.ndarray) -> dict[str, float]:
    tp = float(np.sum(predicted_cloud & truth_cloud))
    fp = float(np.sum(predicted_cloud & ~truth_cloud))
    fn = float(np.sum(~predicted_cloud & truth_cloud))
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"iou": tp / max(tp + fp + fn, 1), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / max(precision + recall, 1e-12),
            "accuracy": float(np.mean(predicted_cloud == truth_cloud)),
            "cloud_share": float(np.mean(predicted_cloud))}


def one_tile(image: np.ndarray, bundle: Path, out: Path, csmask: Any, level: str) -> dict[str, float]:
    """One tile's worth of the scene: dualstream's class raster and probabilities against CSmask's own graph
    session run once on CSmask's own normalised input (its reordering and standardisation, no tiling)."""
    import rasterio

    crop = np.ascontiguousarray(image[64:320, 64:320])
    path = out / "tile.tif"
    write_image(path, crop)
    run("segment", "--model", str(bundle), "--image", str(path), "--out", str(out / "tile_classes.tif"),
        "--probabilities", str(out / "tile_probabilities.tif"), "--device", "cpu", "--border", "0")
    with rasterio.open(out / "tile_classes.tif") as src:
        classes = src.read(1)
    with rasterio.open(out / "tile_probabilities.tif") as src:
        probabilities = src.read().astype(np.float64)
    model = csmask(img=crop.copy(), band_order=list(BANDS), product_level=level)
    logits = model.session.run(None, {model.input_names: np.moveaxis(model.img, -1, 0)[None]})[0][0]
    theirs = np.exp(logits - logits.max(0))
    theirs /= theirs.sum(0)
    return {"agreement": float(np.mean(classes == theirs.argmax(0))),
            "max_probability_diff": float(np.abs(probabilities - theirs).max())}


def sentinel2_agreement(folder: Path, out: Path, csmask: Any) -> dict[str, Any]:
    """The 6-band L2A model on real Sentinel-2 L2A tiles (224 px, smaller than its 256-px tile: one tile reaching
    past the scene on every side, mirrored), wrapped and segmented as on 38-Cloud, against CSmask on the same
    reflectance (digital numbers / 10000). No cloud labels here: agreement only."""
    import rasterio

    run("models", "get", S2_MODEL, "--folder", str(out / "models"), "--force")
    bundle = out / "models" / f"{S2_MODEL}.dsmodel"
    tiles: dict[str, Any] = {}
    for path in sorted(folder.glob("*.tif")):
        with rasterio.open(path) as src:
            raw = src.read(list(S2_BANDS.values())).astype(np.float32) / 10000
            profile = dict(driver="GTiff", width=src.width, height=src.height, count=len(S2_BANDS), dtype="float32",
                           crs=src.crs, transform=src.transform)
        image, classes = out / f"s2_{path.name}", out / f"s2_classes_{path.name}"
        with rasterio.open(image, "w", **profile) as dst:
            dst.write(raw)
        run("segment", "--model", str(bundle), "--image", str(image), "--out", str(classes), "--device", "cpu")
        with rasterio.open(classes) as src:
            ours = src.read(1)
        theirs = csmask(img=np.moveaxis(raw, 0, -1).copy(), band_order=list(S2_BANDS),
                        product_level="l2a").csm[..., 0]
        tiles[path.stem] = {"pixels": int(ours.size), "agreeing": int(np.sum(ours == theirs)),
                            "csmask_class_shares": [float(np.mean(theirs == c)) for c in (0, 1, 2)]}
    return {"model": S2_MODEL, "tiles": tiles, "agreement": sum(t["agreeing"] for t in tiles.values())
            / max(1, sum(t["pixels"] for t in tiles.values()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the cloud38_sample folder")
    parser.add_argument("--out", type=Path, default=REPO / "bench_output" / "ready")
    parser.add_argument("--model", default="ukis-csmask-4b-l1c")
    parser.add_argument("--sun-elevation", type=float, default=SUN_ELEVATION, help="degrees")
    args = parser.parse_args(argv)
    import rasterio
    from ukis_csmask.mask import CSmask

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    image = reflectance(args.data, args.sun_elevation)
    image_path = out / "reflectance.tif"
    write_image(image_path, image)
    with rasterio.open(args.data / "original" / f"gt_{SCENE}.TIF") as src:
        truth_cloud = src.read(1) == 255

    seconds: dict[str, float] = {"models get": run("models", "get", args.model, "--folder", str(out / "models"),
                                                  "--force")}
    bundle = out / "models" / f"{args.model}.dsmodel"
    ours: dict[str, np.ndarray] = {}
    runs = {  # the bundle's own tiling (CSmask's: overlap 0.2, the scene mirrored by 51 px), then tiles inside it
        "dualstream (the model's tiling)": [],
        "dualstream --border 0 (tiles inside the scene)": ["--border", "0"],
        "dualstream --border 0 --overlap 0.25": ["--border", "0", "--overlap", "0.25"],
    }
    for index, (label, options) in enumerate(runs.items()):
        classes = out / f"classes_{index}.tif"
        seconds[label] = run("segment", "--model", str(bundle), "--image", str(image_path), "--out", str(classes),
                             "--device", "cpu", *options)
        with rasterio.open(classes) as src:
            ours[label] = src.read(1)
    started = time.perf_counter()
    level = args.model.rsplit("-", 1)[-1]
    theirs = CSmask(img=image.copy(), band_order=list(BANDS), product_level=level).csm[..., 0]
    seconds["ukis-csmask CSmask"] = time.perf_counter() - started
    shift = 8  # CSmask against itself with its tile grid moved: how much the tiling alone changes
    moved = np.pad(image, ((shift, 0), (shift, 0), (0, 0)), mode="symmetric")
    self_moved = CSmask(img=moved, band_order=list(BANDS), product_level=level).csm[shift:, shift:, 0]
    tile = one_tile(image, bundle, out, CSmask, level)

    results: dict[str, Any] = {"model": args.model, "scene": SCENE, "pixels": int(theirs.size),
                               "sun_elevation": args.sun_elevation, "seconds": seconds, "one_tile": tile,
                               f"csmask_vs_itself_grid_moved_{shift}px": float(np.mean(self_moved == theirs)),
                               "runs": {}}
    for label, classes in {**ours, "ukis-csmask CSmask": theirs}.items():
        entry: dict[str, Any] = {"cloud_vs_ground_truth": cloud_scores(classes == 1, truth_cloud),
                                 "class_shares": {str(c): float(np.mean(classes == c)) for c in (0, 1, 2)}}
        if label in ours:
            entry["agreement_with_csmask"] = float(np.mean(classes == theirs))
            confusion = np.zeros((3, 3), dtype=int)
            np.add.at(confusion, (classes.ravel().astype(int), theirs.ravel().astype(int)), 1)
            entry["confusion_ours_vs_csmask"] = confusion.tolist()
        results["runs"][label] = entry
    if S2_DATA.is_dir():
        results["sentinel2_l2a"] = sentinel2_agreement(S2_DATA, out, CSmask)
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")

    print(f"{args.model} on {SCENE} ({theirs.shape[1]} x {theirs.shape[0]} px, sun elevation "
          f"{args.sun_elevation:g} deg)")
    print("| run | agreement with CSmask | cloud IoU | precision | recall | F1 | pixel accuracy | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for label, entry in results["runs"].items():
        scores = entry["cloud_vs_ground_truth"]
        agreement = f"{100 * entry['agreement_with_csmask']:.3f} %" if "agreement_with_csmask" in entry else "-"
        print(f"| {label} | {agreement} | {scores['iou']:.3f} | {scores['precision']:.3f} | {scores['recall']:.3f} "
              f"| {scores['f1']:.3f} | {scores['accuracy']:.3f} | {seconds[label]:.1f} |")
    print(f"one 256-px tile (no tiling on either side): dualstream and CSmask's graph on CSmask's input agree on "
          f"{100 * tile['agreement']:.3f} % of pixels, largest probability difference "
          f"{tile['max_probability_diff']:.1e}")
    print(f"CSmask against itself with its tile grid moved by {shift} px: "
          f"{100 * results[f'csmask_vs_itself_grid_moved_{shift}px']:.2f} % agreement")
    print(f"ground truth cloud share {100 * float(np.mean(truth_cloud)):.1f} %; results: {out / 'results.json'}")
    if "sentinel2_l2a" in results:
        s2 = results["sentinel2_l2a"]
        print(f"{S2_MODEL} on {len(s2['tiles'])} Sentinel-2 L2A tiles of {S2_DATA.parent.name}: "
              f"{100 * s2['agreement']:.3f} % of the pixels agree with CSmask")
        for name, tile in s2["tiles"].items():
            shares = ", ".join(f"{100 * v:.1f}" for v in tile["csmask_class_shares"])
            print(f"  {name}: {100 * tile['agreeing'] / tile['pixels']:.3f} % (CSmask background, cloud, shadow: "
                  f"{shares} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
