"""Partial labels on real data: a few completely labelled squares, trained with and without the labelled area.

Massachusetts buildings (``gdl_buildings_landcover/massachusetts_buildings_rgb`` of the shared real data: 1 m aerial
RGB, 626 x 865 px, every building labelled). A user who labels a scene partly draws the buildings of a few squares;
here those are the ``squares`` 96 px squares of the upper 600 rows holding the most building pixels, and the label
layer holds the buildings inside them only (polygons made from the complete mask, clipped to the squares). Both runs
train on the upper 600 rows (``--extent``) and are scored on the rows below against the complete mask:

- *today's meaning* (no labelled area): every pixel outside the polygons is background, so the unlabelled
  buildings of the scene are taught as background;
- *with the labelled area* (``--labelled-area`` squares): pixels outside the squares are ignored.

Usage: ``python bench/partial_labels.py [--out DIR] [--epochs 8]``; prints the validation IoU of both runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FOLDER = "gdl_buildings_landcover/massachusetts_buildings_rgb"
IMAGE, MASK = "22978945_15_uint8_clipped2.tif", "22978945_15_buildings_mask.tif"
TRAIN_ROWS = 600


def squares(mask: np.ndarray, count: int, size: int) -> list[tuple[int, int]]:
    """The ``count`` non-overlapping ``size`` px squares of the training rows with the most building pixels."""
    cells = [(int(mask[r:r + size, c:c + size].sum()), c, r) for r in range(0, TRAIN_ROWS - size + 1, size)
             for c in range(0, mask.shape[1] - size + 1, size)]
    return [(c, r) for _, c, r in sorted(cells, reverse=True)[:count]]


def write_layers(out: Path, data: Path, chosen: list[tuple[int, int]], size: int) -> tuple[str, str]:
    """The labelled squares and the buildings inside them (polygons of the mask there) as two GeoPackages."""
    import rasterio
    from osgeo import gdal, ogr, osr
    from rasterio.features import shapes

    with rasterio.open(data / MASK) as ds:
        mask, t, crs = ds.read(1), ds.transform, ds.crs
    inside = np.zeros(mask.shape, bool)
    for c, r in chosen:
        inside[r:r + size, c:c + size] = True
    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs.to_wkt())
    paths = []
    for name in ("labelled_squares", "buildings_in_squares"):
        path = out / f"{name}.gpkg"
        if path.exists():
            path.unlink()
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
        layer = ds.CreateLayer(name, srs=srs, geom_type=ogr.wkbPolygon)
        if name == "labelled_squares":
            polygons = []
            for c, r in chosen:
                ring = [t * (c, r), t * (c + size, r), t * (c + size, r + size), t * (c, r + size), t * (c, r)]
                polygons.append({"type": "Polygon", "coordinates": [ring]})
        else:
            buildings = ((mask == 1) & inside).astype(np.uint8)
            polygons = [g for g, v in shapes(buildings, mask=buildings.astype(bool), transform=t) if v == 1]
        for geometry in polygons:
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetGeometry(ogr.CreateGeometryFromJson(__import__("json").dumps(geometry)))
            layer.CreateFeature(feature)
        ds = None
        paths.append(str(path))
    gdal.UseExceptions()
    return paths[0], paths[1]


def train_once(out: Path, name: str, data: Path, label: str, area: str | None, args: argparse.Namespace,
               extents: tuple[list[float], list[float]]) -> dict[str, Any]:
    import torch

    from engine.api import QuietCallback, train, train_request

    torch.set_num_threads(args.threads)
    sections = {
        "model": {"name": "unet", "preset": "tiny"},
        "data": {"train_scenes": [{"image": str(data / IMAGE), "label": label, "aoi": area,
                                   "extent": extents[0]}],
                 "val_scenes": [{"image": str(data / IMAGE), "label": str(data / MASK), "extent": extents[1]}],
                 "label_mapping": {"1": 1}, "class_names": ["background", "building"], "tile_size": 64,
                 "tiles_per_epoch": args.tiles},
        "train": {"epochs": args.epochs, "warmup_epochs": 0, "seed": args.seed, "batch_size": 8,
                  "learning_rate": 2e-3, "vision_lr_factor": 1.0, "device": "cpu",
                  "output": str(out / f"{name}.dsmodel")},
    }
    given = {f"{s}.{k}" for s, values in sections.items() for k in values}
    start = time.perf_counter()
    run = train(train_request(sections, given), QuietCallback())
    best = run.result.best_metrics
    return {"iou": best.get("val_iou"), "miou": best.get("val_miou"), "epoch": run.result.best_epoch,
            "seconds": round(time.perf_counter() - start)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import rasterio

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--realdata", default=os.environ.get("DUALSTREAM_REALDATA", "/work/shared/realdata"))
    p.add_argument("--out", default=str(REPO / "bench_output" / "partial_labels"))
    p.add_argument("--squares", type=int, default=4)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--tiles", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    data = Path(args.realdata) / FOLDER
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with rasterio.open(data / MASK) as ds:
        mask, b, res = ds.read(1), ds.bounds, ds.res[1]
    split_y = b.top - TRAIN_ROWS * res
    extents = ([b.left, split_y, b.right, b.top], [b.left, b.bottom, b.right, split_y])
    chosen = squares(mask, args.squares, args.size)
    area, label = write_layers(out, data, chosen, args.size)
    share = 100.0 * args.squares * args.size ** 2 / (mask.shape[1] * TRAIN_ROWS)
    print(f"{args.squares} labelled squares of {args.size} px: {share:.1f} % of the training rows; "
          f"{int(sum(mask[r:r + args.size, c:c + args.size].sum() for c, r in chosen))} of "
          f"{int(mask[:TRAIN_ROWS].sum())} building pixels of the training rows labelled", flush=True)
    results = {}
    for name, with_area in (("todays_meaning", None), ("labelled_area", area)):
        results[name] = train_once(out, name, data, label, with_area, args, extents)
        print(f"{name}: validation IoU (building) {results[name]['iou']:.4f}, mIoU {results[name]['miou']:.4f} "
              f"(best epoch {results[name]['epoch']}, {results[name]['seconds']} s)", flush=True)
    return results


if __name__ == "__main__":
    main()
