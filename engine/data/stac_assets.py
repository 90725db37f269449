"""A STAC item's assets checked before they are stacked into one raster: each one there and readable, all in one
CRS, all covering the same ground. Each refusal names the asset's key and href, the true cause and what to do;
GDAL's own stacking would only say "got 2 of 3" bands, and would stack assets lying side by side into one wide
raster.

Hrefs that reach outside the item's folder through ``..`` are read (a local catalogue may keep its assets in a
sibling folder), but are said in the log, and named so in every error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DataError, mention
from ..io import locations
from ..io.network import apply_defaults, remote_hint
from ..runtime.environment import require
from .stac import StacBand

PARTIAL = 0.99  # assets whose common ground is less than this share of the largest one's are said in a warning


@dataclass(frozen=True)
class _Footprint:
    crs: str
    crs_name: str
    bounds: tuple[float, float, float, float]  # west, south, east, north in the CRS


def _footprint(band: StacBand, item: str) -> _Footprint:
    gdal = require("osgeo.gdal")
    gdal.UseExceptions()
    apply_defaults()
    local = locations.local_file(band.href)
    if local is not None and not locations.exists(local):
        raise DataError(f"The STAC item '{item}' {band.where()}: the file '{local}' does not exist. Assets with "
                        f"relative hrefs are read beside the item: copy the asset there, or fix its href.")
    try:
        dataset = gdal.Open(band.href)
    except RuntimeError as exc:
        hint = remote_hint(band.href) if local is None else ""
        what = "cannot be read" if local is None else "is not a raster GDAL can read"
        raise DataError(f"The STAC item '{item}' {band.where()} {what} ({str(exc).strip()}){hint}. Fix the href, "
                        f"or give the bands as one raster with {mention('segment.image')}.") from exc
    try:
        if dataset.RasterCount < 1:
            raise DataError(f"The STAC item '{item}' {band.where()} holds no raster band; fix the href.")
        wkt = dataset.GetProjection()
        x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
        xs, ys = (x0, x0 + dx * dataset.RasterXSize), (y0, y0 + dy * dataset.RasterYSize)
        srs = dataset.GetSpatialRef()
        name = "no CRS"
        if srs is not None:
            code = srs.GetAuthorityCode(None)
            name = f"{srs.GetAuthorityName(None)}:{code}" if code else srs.GetName()
        return _Footprint(wkt, name, (min(xs), min(ys), max(xs), max(ys)))
    finally:
        dataset = None


def _box(bounds: tuple[float, float, float, float]) -> str:
    return "x {:.6g}..{:.6g}, y {:.6g}..{:.6g}".format(bounds[0], bounds[2], bounds[1], bounds[3])


def _area(bounds: tuple[float, float, float, float]) -> float:
    return max(0.0, bounds[2] - bounds[0]) * max(0.0, bounds[3] - bounds[1])


def check_stack(bands: Sequence[StacBand], item: str) -> tuple[list[str], list[str]]:
    """Refuse (DataError) assets that cannot be stacked into one raster: missing, unreadable, in different CRSs,
    or not overlapping; return (notes for the log: hrefs outside the item's folder, warnings: assets covering only
    part of each other's ground)."""
    notes = [f"The STAC item '{item}' {b.where()}: read as given." for b in bands if b.outside]
    prints = [_footprint(b, item) for b in bands]
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(prints):
        groups.setdefault(p.crs, []).append(i)
    if len(groups) > 1:
        said = "; ".join(f"{prints[ix[0]].crs_name}: " + ", ".join(f"'{bands[i].key}'" for i in ix)
                         for ix in groups.values())
        raise DataError(f"The STAC item '{item}' has bands in {len(groups)} CRSs ({said}), which cannot be stacked "
                        f"into one raster; reproject the assets into one CRS (gdalwarp -t_srs), or pick bands of "
                        f"one CRS with {mention('segment.bands')}.")
    common = (max(p.bounds[0] for p in prints), max(p.bounds[1] for p in prints),
              min(p.bounds[2] for p in prints), min(p.bounds[3] for p in prints))
    extents = "; ".join(f"'{b.key}' {_box(p.bounds)}" for b, p in zip(bands, prints))
    if common[0] >= common[2] or common[1] >= common[3]:
        raise DataError(f"The STAC item '{item}': its assets do not cover common ground ({extents}, in "
                        f"{prints[0].crs_name}), so they are no bands of one scene. Fix the hrefs of the assets "
                        f"that lie apart.")
    largest = max(_area(p.bounds) for p in prints)
    warnings = []
    if largest > 0 and _area(common) < PARTIAL * largest:
        warnings.append(f"The STAC item '{item}': its assets cover different ground ({extents}); all of them cover "
                        f"only {100 * _area(common) / largest:.0f} % of the largest, and where a band misses the "
                        f"ground it reads as empty (its nodata, else 0). Check the item's hrefs.")
    return notes, warnings
