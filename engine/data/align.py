"""Bringing rasters onto a tile's grid: warping in map coordinates, whatever their CRS, resolution and extent.

Every tile is a window of the vision raster's grid. The aux grid of a tile is the tile's transform scaled
by the aux ratio, so aux pixel (i, j) covers exactly the vision pixels (i*r..i*r+r, j*r..j*r+r). Sources are
warped onto these grids with GDAL (bilinear for continuous data, nearest for categories); pixels with no
source data come back invalid.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import AlignmentError
from ..runtime.environment import require
from .raster import RasterGrid, compose

# Stand-in CRS for rasters without georeferencing: GDAL's warper needs a CRS on both sides; using the same
# one for source and destination makes the warp a pure affine resampling (pixel space).
PIXEL_SPACE_CRS = "EPSG:3857"


def quiet_in_memory_dataset_warnings() -> None:
    """Silence rasterio's NotGeoreferencedWarning about its own in-memory datasets (aux warps, AOI masks),
    process-wide: hiding it with ``warnings.catch_warnings()`` is not thread-safe, and with several reader threads
    about one warning per run reached the user. Warnings from ``rasterio.warp`` and ``rasterio.features`` only;
    ungeoreferenced user files are reported by our own messages."""
    warnings.filterwarnings("ignore", message="Dataset has no geotransform, gcps, or rpcs",
                            module=r"rasterio\.(warp|features)")


def tile_grid(grid: RasterGrid, col_off: int, row_off: int, width: int, height: int) -> RasterGrid:
    """The grid of a (possibly partly outside) window of ``grid``."""
    return RasterGrid(grid.crs, grid.window_transform(col_off, row_off), width, height)


def aux_grid(tile: RasterGrid, ratio: int) -> RasterGrid:
    """The aux grid of a tile: same footprint origin, pixels ``ratio`` times larger, shape (h//r, w//r)."""
    return RasterGrid(tile.crs, compose(tile.transform, (ratio, 0, 0, 0, ratio, 0)), tile.width // ratio,
                      tile.height // ratio)


def resize_transform(full: RasterGrid, src_width: int, src_height: int) -> Any:
    """Transform that stretches a ``src_width`` x ``src_height`` raster over the whole of ``full``: the reference's
    whole-file resize, expressed as georeferencing so tiles can be cut from it at any offset."""
    return compose(full.transform, (full.width / src_width, 0, 0, 0, full.height / src_height, 0))  # a scaling


def warp_to_grid(source: Any, dst: RasterGrid, bands: list[int] | None = None, *, resampling: str = "bilinear",
                 src_transform: Any = None, src_crs: Any = None,
                 src_nodata: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Float32 (C, h, w) values of ``source`` warped onto ``dst`` (whose CRS may differ) and an (h, w) validity mask.
    ``source``: an open rasterio dataset (``bands``: 1-based, default all; ``src_transform``, ``src_crs`` and
    ``src_nodata`` override its own), or a float32 (C, H, W) array georeferenced by ``src_transform``/``src_crs``.
    ``resampling``: a rasterio Resampling name (see above). Pixels that no source pixel covers, nodata and NaN are
    invalid (valid False, value 0)."""
    rasterio = require("rasterio")
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    if isinstance(source, np.ndarray):
        src: Any = (source if source.ndim == 3 else source[None]).astype(np.float32, copy=False)
        count, nodata = src.shape[0], src_nodata
    else:
        bands = bands or list(range(1, source.count + 1))
        count = len(bands)
        src = rasterio.band(source, bands if len(bands) > 1 else bands[0])
        nodata = source.nodata if src_nodata is None else src_nodata
        src_transform = source.transform if src_transform is None else src_transform
        src_crs = source.crs if src_crs is None else src_crs
    dst_crs = dst.crs or PIXEL_SPACE_CRS
    src_crs = src_crs or dst_crs
    out = np.full((count, dst.height, dst.width), np.nan, dtype=np.float32)
    if dst.width == 0 or dst.height == 0:
        return out, np.zeros((dst.height, dst.width), dtype=bool)
    reproject(src, out if count > 1 else out[0], src_transform=src_transform, src_crs=src_crs, src_nodata=nodata,
              dst_transform=dst.transform, dst_crs=dst_crs,
              # no dst nodata: GDAL then skips its per-band destination validity masks (costly with many bands)
              # and leaves the NaN prefill where no source pixel lands, which is the same result
              init_dest_nodata=False, resampling=Resampling[resampling], num_threads=1,
              UNIFIED_SRC_NODATA="NO")  # nodata per band: GDAL's default treats a pixel as nodata only in all bands
    valid = np.isfinite(out).all(axis=0)
    out[:, ~valid] = 0.0
    return out, valid


def warped_blocks_xml(dataset: Any, dst: RasterGrid, block: tuple[int, int], *, src_crs: Any = None) -> str:
    """The XML of ``dataset`` warped onto ``dst`` as a GDAL warped VRT with ``block`` (width, height) pixel blocks.
    Reading one block's window warps that block alone, with the values ``warp_to_grid`` gives for it. Why not
    ``warp_to_grid`` per block: ``reproject`` builds its PROJ transformer and in-memory datasets holding Python's
    interpreter lock, and reader threads queue on it; the VRT builds them once and reads with the lock released.
    Each reader thread opens the XML (:func:`open_warped_blocks`). GDAL picks a warped VRT's block size itself
    (512 x 128) and rasterio does not expose it, so it is set in the XML."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    dst_crs = dst.crs or PIXEL_SPACE_CRS
    with WarpedVRT(dataset, src_crs=src_crs or dataset.crs or dst_crs, crs=dst_crs, transform=dst.transform,
                   width=dst.width, height=dst.height, resampling=Resampling.bilinear, dtype="float32",
                   # no destination nodata: GDAL then skips its per-band destination masks (as warp_to_grid)
                   src_nodata=dataset.nodata, nodata=None, init_dest_nodata=False, num_threads=1,
                   INIT_DEST="NaN", UNIFIED_SRC_NODATA="NO") as vrt:
        xml = vrt.tags(ns="xml:VRT")["xml:VRT"]
    for axis, size in zip("XY", block):
        tag = f"Block{axis}Size"
        element = f"<{tag}>{int(size)}</{tag}>"
        xml, found = re.subn(rf"<{tag}>\d+</{tag}>", element, xml)
        if not found:  # not written by this GDAL: its reader still takes it from the root's children
            xml = re.sub(r"(<VRTDataset[^>]*>)", lambda match: match.group(1) + element, xml, count=1)
    return xml


def open_warped_blocks(xml: str, block: tuple[int, int]) -> Any | None:
    """The warped VRT of ``xml`` (:func:`warped_blocks_xml`) opened, or None when this GDAL will not take the
    ``block`` size (then warp the blocks with ``warp_to_grid``: the same values)."""
    warped = require("rasterio").open(xml)
    if warped.block_shapes[0] != (int(block[1]), int(block[0])):
        warped.close()
        return None
    return warped


def footprint_in(grid: RasterGrid, crs: Any) -> tuple[float, float, float, float]:
    """Bounds of ``grid`` expressed in ``crs`` (densified edges, so curved footprints are covered)."""
    if grid.crs is None or crs is None or grid.crs == crs:
        return grid.bounds
    from rasterio.warp import transform_bounds

    return transform_bounds(grid.crs, crs, *grid.bounds, densify_pts=21)


def check_overlap(target: RasterGrid, other: RasterGrid, target_path: str, other_path: str, role: str,
                  target_role: str = "image") -> None:
    """Raise AlignmentError naming both files when ``other`` does not overlap ``target`` at all (``role``,
    ``target_role``: what each file is to the user). Compared in the other file's CRS first (a small image footprint
    always transforms, a global aux grid may not transform into a local projection), then in the target's. An
    ``other`` without a CRS is taken to be in the target's."""
    other = replace(other, crs=other.crs or target.crs)
    errors = []
    for moved, fixed, crs in ((target, other, other.crs), (other, target, target.crs)):
        try:
            box = footprint_in(moved, crs)
        except Exception as exc:  # noqa: BLE001 - PROJ errors vary; the other direction may still work
            errors.append(exc)
            continue
        if not all(np.isfinite(box)):
            errors.append(ValueError("non-finite bounds"))
            continue
        b = fixed.bounds
        if box[2] <= b[0] or box[0] >= b[2] or box[3] <= b[1] or box[1] >= b[3]:
            raise AlignmentError(f"The {role} '{other_path}' does not overlap the {target_role} '{target_path}' "
                                 f"(footprints {tuple(round(v, 6) for v in box)} and "
                                 f"{tuple(round(v, 6) for v in fixed.bounds)} in {crs}); give files that cover the "
                                 f"same area.")
        return
    raise AlignmentError(f"The {role} '{other_path}' (CRS {other.crs}) cannot be related to the image '{target_path}' "
                         f"(CRS {target.crs}): {errors[-1]}. Check both files' CRS.")


def covered_fraction(target: RasterGrid, other: RasterGrid) -> float | None:
    """Share of ``target``'s footprint that ``other``'s footprint covers, both the quadrilaterals their pixels
    cover (a rotated grid's is no box; edges densified, so a footprint curved by another CRS is followed), in
    ``other``'s CRS (``target``'s where it has none); None if unknown."""
    crs = other.crs or target.crs
    try:
        moved, own = footprint_polygon(target, crs), footprint_polygon(other, crs)
    except Exception:  # noqa: BLE001 - PROJ errors vary; overlap itself is checked by check_overlap
        return None
    if moved is None or own is None or moved.GetArea() <= 0:
        return None
    return float(moved.Intersection(own).GetArea() / moved.GetArea())


def footprint_polygon(grid: RasterGrid, crs: Any, points: int = 21) -> Any:
    """The outline of ``grid``'s pixels (an OGR polygon; ``points`` per edge) in ``crs``; None where a point does
    not transform to a finite place."""
    ogr = require("osgeo.ogr")
    steps = np.linspace(0.0, 1.0, points)[:-1]
    columns = np.concatenate([steps * grid.width, np.full(steps.size, grid.width), (1 - steps) * grid.width,
                              np.zeros(steps.size)])
    rows = np.concatenate([np.zeros(steps.size), steps * grid.height, np.full(steps.size, grid.height),
                           (1 - steps) * grid.height])
    t = grid.transform
    xs, ys = t.c + t.a * columns + t.b * rows, t.f + t.d * columns + t.e * rows
    if grid.crs is not None and crs is not None and grid.crs != crs:
        from rasterio.warp import transform

        xs, ys = map(np.asarray, transform(grid.crs, crs, xs.tolist(), ys.tolist()))
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return None
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in zip([*xs, xs[0]], [*ys, ys[0]]):
        ring.AddPoint_2D(float(x), float(y))
    polygon = ogr.Geometry(ogr.wkbPolygon)
    polygon.AddGeometry(ring)
    return polygon if polygon.IsValid() else polygon.Buffer(0)
