"""Pairs of dates of one place for tests, demos and benchmarks, deterministic for a seed.

A place is a textured ground with rectangular "buildings" (bright roofs, a shadow on one side). The later date sees
the same ground in other light (a gain, an offset and noise per band: a season or another sensor), some buildings
built and some torn down (:class:`Pair`'s rasters). ``changes=0`` makes a sensor pair: nothing changed, which a
change model must not call a change. The later date can be written on another grid to exercise the alignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.environment import require
from .synthetic import write_tif

ORIGIN = (500_000.0, 4_650_000.0)  # upper-left corner in EPSG:32619 (Massachusetts, as the shared buildings)
CRS = "EPSG:32619"
BUILT, TORN_DOWN = 1, 2  # the from-to raster's codes (0: no change)


@dataclass
class Pair:
    """The files of one synthetic pair."""

    before: str
    after: str
    change: str  # uint8 0/1 change mask
    transitions: str  # uint8 0 no change, 1 built, 2 torn down
    before_classes: str  # uint8 0 ground, 1 building
    after_classes: str
    change_polygons: str  # GeoPackage: one polygon per changed building, fields "before" and "after" (classes)
    changed_pixels: int


def _ground(rng: np.random.Generator, size: int, bands: int) -> np.ndarray:
    """(bands, size, size) float ground reflectance 0..1: smooth fields plus fine texture."""
    y, x = np.mgrid[0:size, 0:size] / size
    ground = np.zeros((bands, size, size))
    for band in range(bands):
        for _ in range(3):
            kx, ky, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 2 * np.pi)
            ground[band] += 0.06 * np.sin(2 * np.pi * (kx * x + ky * y) + phase)
        ground[band] += 0.3 + 0.05 * band
    return ground + rng.normal(0, 0.015, ground.shape)


def _buildings(rng: np.random.Generator, size: int, count: int) -> list[tuple[int, int, int, int]]:
    """``count`` non-overlapping rectangles (row, col, height, width) of 6..16 px."""
    boxes: list[tuple[int, int, int, int]] = []
    taken = np.zeros((size, size), bool)
    for _ in range(count * 20):
        if len(boxes) == count:
            break
        h, w = (int(v) for v in rng.integers(6, 17, 2))
        r, c = (int(v) for v in rng.integers(2, size - 18, 2))
        if taken[max(r - 3, 0):r + h + 3, max(c - 3, 0):c + w + 3].any():
            continue
        taken[r:r + h, c:c + w] = True
        boxes.append((r, c, h, w))
    return boxes


def _draw(ground: np.ndarray, boxes: list[tuple[int, int, int, int]], roof: np.ndarray) -> np.ndarray:
    image = ground.copy()
    for r, c, h, w in boxes:
        image[:, r:r + h, c:c + w] = roof[:, None, None]
        image[:, r + h:r + h + 2, c + 1:c + w + 1] *= 0.55  # the shadow
    return image


def _polygons(path: Path, boxes: list[tuple[tuple[int, int, int, int], int, int]], gsd: float) -> str:
    """One square polygon per changed building, with its class before and after."""
    from ..io.geopackage import write_layer

    rows = []
    for (r, c, h, w), before, after in boxes:
        x0, y0 = ORIGIN[0] + c * gsd, ORIGIN[1] - r * gsd
        x1, y1 = x0 + w * gsd, y0 - h * gsd
        rows.append((f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))", (before, after)))
    write_layer(path, CRS, (("before", "OFTInteger"), ("after", "OFTInteger")), rows, name="change",
                geometry="Polygon")
    return str(path)


def make_pair(folder: str | Path, seed: int = 0, size: int = 128, bands: int = 3, buildings: int = 14,
              changes: int = 6, gsd: float = 1.0, after_grid: str = "same", name: str = "pair") -> Pair:
    """Write one pair into ``folder`` (``name``_before.tif, ``name``_after.tif, the change mask and the rest).
    ``changes``: buildings built or torn down (about half each; 0: a sensor pair); ``after_grid``: the later date's,
    "same", "coarser" (pixels 1.5 times larger, a shifted origin) or "geographic" (EPSG:4326), resampled onto it."""
    from affine import Affine

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed), 63])
    ground = _ground(rng, size, bands)
    boxes = _buildings(rng, size, buildings + changes)
    built = boxes[:(changes + 1) // 2]
    torn = boxes[len(built):changes]
    stay = boxes[changes:]
    roof = rng.uniform(0.7, 0.95, bands)
    before_img = _draw(ground, stay + torn, roof)
    after_img = _draw(ground, stay + built, roof)
    gain, offset = rng.uniform(0.8, 1.2, bands), rng.uniform(-0.06, 0.06, bands)  # other light, another sensor
    after_img = np.clip(after_img * gain[:, None, None] + offset[:, None, None]
                        + rng.normal(0, 0.01, after_img.shape), 0, 1)
    before_classes, after_classes = np.zeros((2, size, size), np.uint8)
    for classes, present in ((before_classes, stay + torn), (after_classes, stay + built)):
        for r, c, h, w in present:
            classes[r:r + h, c:c + w] = 1
    transitions = (BUILT * (after_classes > before_classes)
                   + TORN_DOWN * (before_classes > after_classes)).astype(np.uint8)
    transform = Affine(gsd, 0, ORIGIN[0], 0, -gsd, ORIGIN[1])
    to_uint16 = lambda a: np.round(a * 10000).astype(np.uint16)  # noqa: E731 - reflectance x 10000
    before = write_tif(folder / f"{name}_before.tif", to_uint16(before_img), CRS, transform)
    after_path = folder / f"{name}_after.tif"
    if after_grid == "same":
        after = write_tif(after_path, to_uint16(after_img), CRS, transform)
    else:
        after = _regridded(after_path, after_img, transform, size, gsd, after_grid)
    rasters = {"change": (transitions > 0).astype(np.uint8), "transitions": transitions,
               "before_classes": before_classes, "after_classes": after_classes}
    return Pair(
        before=before, after=after,
        **{key: write_tif(folder / f"{name}_{key}.tif", raster, CRS, transform) for key, raster in rasters.items()},
        change_polygons=_polygons(folder / f"{name}_change.gpkg", [(b, 0, 1) for b in built]
                                  + [(b, 1, 0) for b in torn], gsd),
        changed_pixels=int((transitions > 0).sum()))


def _regridded(path: Path, image: np.ndarray, transform: object, size: int, gsd: float, grid: str) -> str:
    """The later date warped (bilinear) from the before grid onto a coarser shifted grid or EPSG:4326."""
    rasterio = require("rasterio")
    from affine import Affine
    from rasterio.warp import calculate_default_transform, reproject

    if grid == "coarser":
        dst_crs, step = CRS, gsd * 1.5
        dst_transform = Affine(step, 0, ORIGIN[0] - 2.3 * gsd, 0, -step, ORIGIN[1] + 1.7 * gsd)
        width = height = int(size / 1.5) + 4
    elif grid == "geographic":
        dst_crs = "EPSG:4326"
        west, south, east, north = rasterio.transform.array_bounds(size, size, transform)
        dst_transform, width, height = calculate_default_transform(CRS, dst_crs, size, size, left=west, bottom=south,
                                                                   right=east, top=north)
    else:
        raise ValueError(f"after_grid '{grid}' is unknown; use same, coarser or geographic")
    out = np.zeros((image.shape[0], height, width), np.float32)
    reproject(image.astype(np.float32), out, src_transform=transform, src_crs=CRS, dst_transform=dst_transform,
              dst_crs=dst_crs, resampling=rasterio.enums.Resampling.bilinear, src_nodata=None, dst_nodata=0)
    return write_tif(path, np.round(out * 10000).astype(np.uint16), dst_crs, dst_transform, nodata=0)
