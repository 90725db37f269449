"""Galileo nano as the change family's encoder on real Sentinel-2 pairs: its release weights against the same network
from random weights, and the change family's own default encoder, at the same steps.

The data (kept out of the repository; the change labels are CC BY-NC-SA): the Onera Satellite Change Detection
dataset (OSCD; Caye Daudt et al., IGARSS 2018), 14 cities whose change labels are published: registered 13-band
Sentinel-2 L1C pairs (2015-2018), one GeoTIFF per band at 10, 20 or 60 m, urban change labelled per pixel (1 no
change, 2 change). A copy is in github.com/ChenHongruixuan/ChangeDetectionRepository (``Dataset/OSCD``).

``prepare OSCD_DIR OUT``: each city's two dates as one 10-band GeoTIFF each (B02, B03, B04, B05, B06, B07, B08, B8A,
B11, B12: Galileo's Sentinel-2 bands, in its order), the 20 m bands resampled (bilinear) onto the first date's 10 m
B02 grid, and the label as 0/1 on that grid, in the change family's dataset layout (``train/``, ``val/``, ``test/``
with ``A/``, ``B/``, ``label/``). The split (``SPLIT``) is fixed: 8 training cities, 2 validation, 4 test, each
with buildings appearing.

``run --data OUT/OSCD-CD [--weights DIR] [--arms ...] [--seeds ...] [--epochs N]``: ``dualstream train --data`` with
the same recipe (``RECIPE``; 64 px tiles, 10 epochs of 512 tiles in batches of 16, 320 steps, or ``--epochs`` x 32
steps: a fine-tuned Galileo step took 14-22 s on the 2-core VM at load 2-6, a cached one 0.07-0.22 s; a frozen
encoder's arms train on the same 512 cached tiles every epoch) per arm and seed, then every test pair segmented
(``SEGMENT``: no flips) and scored together (change precision, recall, F1, IoU: ``bench.change_real.scores``). Arms:
``pretrained`` (Galileo nano, release weights, frozen, features cached), ``random`` (the same network from random
weights, frozen and cached: what the weights add), ``default`` (the change family's own encoder, trained from random
weights), ``finetuned`` (the release, every layer trained, the shared encoder at 0.1x the rate) and
``random_finetuned`` (the same from random weights, at the same 0.1x: what the weights add when the encoder learns
too). ``--arms`` picks some.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import cli, spread  # noqa: E402 - after the path line

BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
SPLIT = {"train": ("abudhabi", "aguasclaras", "bercy", "bordeaux", "cupertino", "hongkong", "nantes", "paris"),
         "val": ("rennes", "saclay_e"),
         "test": ("beihai", "beirut", "mumbai", "pisa")}
RECIPE = ("--model", "change", "--tile-size", "64", "--tiles-per-epoch", "512", "--batch-size", "16", "--patience", "0",
          "--warmup-epochs", "0", "--lr", "1e-3")
EPOCHS = 10  # 320 steps; ``run --epochs`` fewer, for every arm of the run alike
#: Every arm's test pairs are segmented alike, without flips (Galileo's 6 band groups x 256 tokens of a 64 px tile
#: cost 0.3 s a pair on one core: three passes would make a seed's scoring 25 minutes); the default overlap, as a
#: user runs it (side by side, a Galileo change model found a tenth of its change in a tile's outer 4 rows)
SEGMENT = ("--tta", "none")
#: The fine-tuned arms pin the shared encoder's rate at 0.1x: left unset, a random start would learn at 1x (the
#: CPU's choice for encoders from scratch), and the two arms would differ in more than their weights
FINETUNE = ("--encoder", "galileo_nano", "--frozen-encoder", "off", "--vision-lr-factor", "0.1")
ARMS = {"pretrained": ("--encoder", "galileo_nano", "--frozen-encoder", "cached"),
        "random": ("--encoder", "galileo_nano", "--frozen-encoder", "cached", "--pretrained", "none"),
        "default": (),
        "finetuned": FINETUNE,
        "random_finetuned": (*FINETUNE, "--pretrained", "none")}


def _date(folder: Path, grid: dict[str, Any], out: Path, day: str) -> None:
    """The 10 bands of one date's folder onto ``grid`` (bilinear), as one GeoTIFF with the bands' names and its
    acquisition date ``day`` (YYYYMMDD, from the city's ``dates.txt``: Galileo reads the month)."""
    import numpy as np
    import rasterio
    from rasterio.warp import Resampling, reproject

    stack = np.zeros((len(BANDS), grid["height"], grid["width"]), dtype=np.float32)
    for i, band in enumerate(BANDS):
        (path,) = folder.glob(f"*_{band}.tif")
        with rasterio.open(path) as src:
            reproject(src.read(1).astype(np.float32), stack[i], src_transform=src.transform, src_crs=src.crs,
                      dst_transform=grid["transform"], dst_crs=grid["crs"], resampling=Resampling.bilinear)
    profile = dict(grid, driver="GTiff", count=len(BANDS), dtype="uint16", compress="deflate")
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(np.clip(np.rint(stack), 0, 65535).astype(np.uint16))
        dst.descriptions = BANDS
        dst.update_tags(ACQUISITIONDATETIME=f"{day[:4]}-{day[4:6]}-{day[6:8]}")


def prepare(oscd: Path, out: Path) -> Path:
    """The change-family dataset folder of the ``SPLIT`` cities (see the module doc)."""
    import numpy as np
    import rasterio

    images = oscd / "Onera Satellite Change Detection dataset - Images"
    labels = oscd / "Onera Satellite Change Detection dataset - Train Labels"
    dataset = out / "OSCD-CD"
    for split, cities in SPLIT.items():
        for city in cities:
            for sub in ("A", "B", "label"):
                (dataset / split / sub).mkdir(parents=True, exist_ok=True)
            (b02,) = (images / city / "imgs_1").glob("*_B02.tif")
            with rasterio.open(b02) as src:
                grid = {"crs": src.crs, "transform": src.transform, "width": src.width, "height": src.height}
            days = dict(line.split(": ") for line in (images / city / "dates.txt").read_text().split("\n") if line)
            _date(images / city / "imgs_1", grid, dataset / split / "A" / f"{city}.tif", days["date_1"])
            _date(images / city / "imgs_2", grid, dataset / split / "B" / f"{city}.tif", days["date_2"])
            with rasterio.open(labels / city / "cm" / f"{city}-cm.tif") as src:
                label = src.read(1)
            if label.shape != (grid["height"], grid["width"]):
                raise SystemExit(f"{city}: label {label.shape} is not the B02 grid {grid['height']}x{grid['width']}")
            with rasterio.open(dataset / split / "label" / f"{city}.tif", "w", driver="GTiff", count=1, dtype="uint8",
                               **grid) as dst:
                dst.write((label == 2).astype(np.uint8), 1)
            print(f"{split} {city}: {grid['width']}x{grid['height']} px, change {float((label == 2).mean()):.3f}")
    return dataset


def one(dataset: Path, work: Path, arm: str, seed: int, weights: str | None, epochs: int = EPOCHS) -> dict[str, Any]:
    """Train one arm with one seed for ``epochs`` epochs of 32 steps; score the test pairs together."""
    from bench.change_real import predict, scores

    run = work / f"{arm}_s{seed}"
    run.mkdir(parents=True, exist_ok=True)
    extra = ("--pretrained", weights) if arm in ("pretrained", "finetuned") and weights else ()
    cli("train", "--data", str(dataset), *RECIPE, "--epochs", str(epochs), *ARMS[arm], *extra, "--seed", str(seed),
        "--out", str(run / "oscd.dsmodel"), "--quiet")
    test = [tuple(str(dataset / "test" / d / p.name) for d in ("A", "B", "label"))
            for p in sorted((dataset / "test" / "label").glob("*.tif"))]
    found = predict(run, str(run / "oscd.dsmodel"), None, test, SEGMENT)["change_model"]
    result = {"seed": seed, **scores(found),
              "city_f1": {Path(label).stem: scores([(p, label)])["f1"] for p, label in found}}
    print(f"{arm} seed {seed}: {json.dumps(result)}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="OSCD's folder -> the change family's dataset folder")
    prep.add_argument("oscd", type=Path, help="the folder holding OSCD's 'Images' and 'Train Labels' folders")
    prep.add_argument("out", type=Path)
    go = sub.add_parser("run", help="train and score each arm and seed")
    go.add_argument("--data", type=Path, required=True, help="OUT/OSCD-CD made by prepare")
    go.add_argument("--work", type=Path, required=True, help="folder for the bundles, predictions and results")
    go.add_argument("--weights", default=None, help="galileo_nano release folder (encoder.pt, config.json)")
    go.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    go.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    go.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs of 32 steps for every arm (default {EPOCHS})")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        print(prepare(args.oscd, args.out))
        return 0
    results: dict[str, list[dict[str, Any]]] = {}
    for arm in args.arms:
        for seed in args.seeds:
            results.setdefault(arm, []).append(one(args.data, args.work, arm, seed, args.weights, args.epochs))
            (args.work / "eo_change.json").write_text(json.dumps(results, indent=1))
    lines = ["| arm | change F1 | precision | recall | per seed |", "|---|---|---|---|---|"]
    lines += [f"| {arm} | {spread(rows, 'f1')} | {spread(rows, 'precision')} | {spread(rows, 'recall')} | "
              f"{', '.join(format(r['f1'], '.3f') for r in rows)} |" for arm, rows in results.items()]
    print("\n".join(lines))
    (args.work / "eo_change.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
