"""Section "polygons" of ``make bench``: polygonising an 8192^2 class raster with many features (buildings
regularised, forest smoothed) in bounded memory: peak RSS of the process against the raster's own size.

The raster is written block by block (a grid of 32 px cells, each with an L-shaped building of random size and
position, a 1 px notch in its side,
and forest patches between them); the polygons are made by ``dualstream polygons`` in a child process, which
reports its own peak RSS. ``--quick``: 2048^2.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

TITLE = "Polygons of a large class raster: peak memory"
REPO = Path(__file__).resolve().parents[2]
CHILD = """
import json, resource, sys, time
from engine.api import PolygonsConfig, polygons
start = time.perf_counter()
result = polygons(PolygonsConfig(raster=sys.argv[1], output=sys.argv[2], polygon_classes=[1, 2]))
print(json.dumps({"polygons": result.polygons, "seconds": time.perf_counter() - start,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_raster(path: Path, size: int, seed: int = 0) -> None:
    """``size``^2 classes: 0 background, 1 building (one per 32 px cell), 2 forest patches; written in blocks."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    cells = size // 32
    widths, heights = rng.integers(6, 26, (2, cells, cells))
    left, top = rng.integers(0, 32 - widths), rng.integers(0, 32 - heights)
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", nodata=255, crs="EPSG:32616",
                   transform=from_origin(700000, 3700000, 0.5, 0.5), tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate")
    columns = np.arange(size)
    with rasterio.open(path, "w", **profile) as dst:
        for row0 in range(0, size, 256):
            rows = np.arange(row0, row0 + 256)[:, None]
            cy, cx = rows // 32, columns[None, :] // 32
            y, x = rows % 32, columns[None, :] % 32
            building = ((x >= left[cy, cx]) & (x < left[cy, cx] + widths[cy, cx]) & (y >= top[cy, cx])
                        & (y < top[cy, cx] + heights[cy, cx]))
            # an L-shaped wing and a 1 px notch: outlines the regularisation has to work on
            building |= ((x >= left[cy, cx]) & (x < left[cy, cx] + widths[cy, cx] // 2) & (y >= top[cy, cx])
                         & (y < np.minimum(31, top[cy, cx] + heights[cy, cx] + 4)))
            building &= ~((x == left[cy, cx] + widths[cy, cx] - 1) & (y == top[cy, cx] + heights[cy, cx] // 2))
            forest = (np.sin(rows / 37.0) * np.cos(columns[None, :] / 23.0)) > 0.55
            block = np.where(building, 1, np.where(forest, 2, 0)).astype(np.uint8)
            dst.write(block[None], window=((row0, row0 + 256), (0, size)))
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(1, CLASS_NAMES=json.dumps(["background", "building", "forest"]))
    from osgeo import gdal

    dataset = gdal.Open(str(path))
    dataset.GetRasterBand(1).SetCategoryNames(["background", "building", "forest"])
    dataset = None


def run(ctx: Any) -> dict[str, Any]:
    size = 2048 if ctx.quick else 8192
    folder = Path(ctx.output_dir) / "polygons"
    folder.mkdir(parents=True, exist_ok=True)
    raster, output = folder / f"classes_{size}.tif", folder / f"classes_{size}.gpkg"
    start = time.perf_counter()
    make_raster(raster, size, ctx.seed)
    made = time.perf_counter() - start
    output.unlink(missing_ok=True)
    child = subprocess.run([sys.executable, "-c", CHILD, str(raster), str(output)], cwd=REPO, check=True,
                           capture_output=True, text=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result.update(size=size, raster_mib=size * size / 2 ** 20, make_seconds=made,
                  gpkg_mib=output.stat().st_size / 2 ** 20)
    result["markdown"] = (
        f"{size}x{size} class raster (uint8, {result['raster_mib']:.0f} MiB in memory), "
        f"{result['polygons']:,} polygons (buildings regularised, forest smoothed) in {result['seconds']:.0f} s; "
        f"peak RSS of the process {result['peak_rss_mib']:.0f} MiB (interpreter and libraries included); "
        f"GeoPackage {result['gpkg_mib']:.0f} MiB.")
    return result


if __name__ == "__main__":
    import argparse

    sys.path.insert(0, str(REPO))
    from bench.common import BenchContext

    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(REPO / "bench_output"))
    args = parser.parse_args()
    out = run(BenchContext(output_dir=Path(args.output), quick=args.quick, device="cpu"))
    print(out["markdown"])
