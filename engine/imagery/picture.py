"""One window of an image, as the RGB picture Segment Anything models take, with its georeferencing.

Any source the image door opens, read at its own pixel size (a window wider than :data:`MAX_SIDE` pixels at a coarser,
whole-number step, said). Natural-colour bands are picked by name unless given; values that are not 8-bit are stretched
per band between their 2nd and 98th percentiles, as a picture is shown, since the models learnt from photographs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..callbacks import Callback
from ..data.band_match import pick_bands
from ..data.band_names import pick_rgb
from ..data.raster import band_count, open_raster
from ..errors import DataError
from ..runtime.environment import require
from .door import open_image
from .request import ImageRequest

MAX_SIDE = 4096  # pixels: a wider window is read at a coarser step (the models see 1024 px anyway)


@dataclass
class ImageWindow:
    """``rgb`` (rows, cols, 3) uint8; ``transform`` GDAL's six numbers; ``crs`` WKT ("" when none)."""

    rgb: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    crs: str
    source: str
    key: str  # what makes this window the same window again (source, pixels, bands, step)
    said: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])

    def to_pixels(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates (the image's CRS) -> (column, row) in this window's pixels (fractional)."""
        x0, dx, rx, y0, ry, dy = self.transform
        det = dx * dy - rx * ry
        u, v = np.asarray(x, float) - x0, np.asarray(y, float) - y0
        return (dy * u - rx * v) / det, (-ry * u + dx * v) / det


def transform_points(xs: Sequence[float], ys: Sequence[float], from_crs: str, to_crs: str) -> tuple[list, list]:
    """Points from ``from_crs`` to ``to_crs`` (EPSG:xxxx, WKT); unchanged when either is empty or both are the same."""
    if not from_crs or not to_crs:
        return list(xs), list(ys)
    osr = require("osgeo.osr")
    source, target = osr.SpatialReference(), osr.SpatialReference()
    for ref, text in ((source, from_crs), (target, to_crs)):
        if ref.SetFromUserInput(text) != 0:
            raise DataError(f"The CRS '{text[:80]}' is not one GDAL knows; give it as EPSG:XXXX or WKT.")
        ref.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if source.IsSame(target):
        return list(xs), list(ys)
    try:
        moved = osr.CoordinateTransformation(source, target).TransformPoints([(float(x), float(y)) for x, y in
                                                                             zip(xs, ys)])
    except RuntimeError as exc:  # PROJ alone says "Invalid coordinate"
        raise DataError(f"Points in {source.GetName() or 'an unnamed CRS'} could not be carried into the image's CRS "
                        f"{target.GetName() or ''} (PROJ: {' '.join(str(exc).split())}); check that the points' CRS is "
                        f"the one their coordinates are in.") from exc
    return [p[0] for p in moved], [p[1] for p in moved]


def _stretch(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """One band as 0..255: 8-bit values as they are, others between their 2nd and 98th percentiles."""
    if values.dtype == np.uint8:
        return np.where(valid, values, 0).astype(np.uint8)
    seen = values[valid].astype(np.float64)
    if seen.size == 0:
        return np.zeros(values.shape, np.uint8)
    low, high = np.percentile(seen, [2, 98])
    if high <= low:
        high = low + 1.0
    scaled = (values.astype(np.float64) - low) / (high - low) * 255.0
    return np.where(valid, np.clip(scaled, 0, 255), 0).astype(np.uint8)


def read_window(source: str, extent: Sequence[float] | None = None, extent_crs: str = "",
                bands: Sequence[int | str] | None = None, callback: Callback | None = None, *,
                pixel_size: float | None = None, name: str = "") -> ImageWindow:
    """The window of ``source`` covering ``extent`` (xmin, ymin, xmax, ymax in ``extent_crs``, default the image's CRS;
    None: the whole image), clipped to the image, through the image door: a web service read at ``pixel_size`` metres
    per pixel (``name``: how messages name it), a STAC item's assets picked by name. ``bands``: three (red, green, blue)
    or one (grey), numbers from 1 or names (:data:`.stac_assets.BANDS_HELP`).

    Raises ConfigError (a web service without an extent or a pixel size) or DataError (the source cannot be read, the
    extent misses it, or a band is not in it).
    """
    given = [str(b).strip() for b in bands or ()]
    request = ImageRequest(str(source), extent, extent_crs or None, pixel_size, given or None, finest=True,
                           extent_key="label.extent", size_key="label.pixel_size", name=name, stem=name)
    opened = open_image(request, callback)  # its temporary files (a web window, a STAC item's VRTs) last the read
    try:
        how = f"assets {','.join(opened.assets)}" if opened.assets else ""  # stacked in the order shown
        web = opened.window is not None  # named by its window's file, known again by its description and size
        return _read(opened.path, opened.path if web else str(source), extent, extent_crs, given, how, opened.said,
                     f"{source}|{opened.window.pixel_size}" if web else str(source))
    finally:
        opened.close()


def _read(path: str, source: str, extent: Sequence[float] | None, extent_crs: str, bands: list[str], how: str,
          said: list[str], identity: str) -> ImageWindow:
    from rasterio.windows import Window

    with open_raster(path, "image") as src:
        crs = src.crs.to_wkt() if src.crs else ""
        if extent is None:
            col0, row0, col1, row1 = 0, 0, src.width, src.height
        else:
            xmin, ymin, xmax, ymax = (float(v) for v in extent)
            if not (xmax > xmin and ymax > ymin):
                raise DataError(f"The extent {list(extent)} is empty; give xmin, ymin, xmax, ymax with max > min.")
            xs, ys = transform_points([xmin, xmax, xmin, xmax], [ymin, ymin, ymax, ymax], extent_crs, crs)
            inverse = ~src.transform
            cols, rows = zip(*(inverse * (x, y) for x, y in zip(xs, ys)))
            col0, col1 = max(0, math.floor(min(cols))), min(src.width, math.ceil(max(cols)))
            row0, row1 = max(0, math.floor(min(rows))), min(src.height, math.ceil(max(rows)))
            if col1 <= col0 or row1 <= row0:
                raise DataError(f"The extent {list(extent)} does not overlap the image '{source}'; draw it over the "
                                f"image (in the image's CRS unless the extent's CRS is given).")
        count = band_count(src)  # an alpha band is the picture's mask (read below), never one of its colours
        if how:  # a STAC item's assets, stacked as shown
            picked = list(range(1, count + 1))
        elif bands:
            if len(bands) not in (1, 3):
                raise DataError(f"Bands {','.join(bands)} do not fit '{source}' ({count} band(s)): give three "
                                f"(red, green, blue) or one (grey).")
            names = ("red", "green", "blue") if len(bands) == 3 else ("grey",)
            picked = list(pick_bands(bands, names, len(bands), list(src.descriptions)[:count], source, "Bands",
                                     src.count - count).bands)
            how = f"bands {','.join(map(str, picked))} as given"
        else:
            choice = pick_rgb(list(src.descriptions)[:count], [c.name.lower() for c in src.colorinterp][:count])
            picked = [p + 1 for p in choice.positions]
            how = choice.how
        width, height = col1 - col0, row1 - row0
        step = max(1, math.ceil(max(width, height) / MAX_SIDE))
        shape = (max(1, height // step), max(1, width // step))
        window = Window(col0, row0, width, height)
        data = src.read(picked, window=window, out_shape=(len(picked), *shape), masked=True)
        t = src.window_transform(window)
        transform = (t.c, t.a * width / shape[1], t.b * height / shape[0], t.f, t.d * width / shape[1],
                     t.e * height / shape[0])
    # NaN (clouds masked as NaN, no nodata declared) is no value either: one NaN would make every percentile NaN
    valid = ~np.ma.getmaskarray(data).any(axis=0) & np.isfinite(np.ma.getdata(data)).all(axis=0)
    where = f"window of {width} x {height} pixels at column {col0}, row {row0}"
    if not valid.any():
        raise DataError(f"The {where} of '{source}' holds no valid pixel (all nodata or NaN): Segment Anything "
                        f"would be shown a blank picture. Draw the window over the image's data, or check the "
                        f"image's nodata value.")
    rgb = np.stack([_stretch(np.ma.getdata(band), valid) for band in data], axis=-1)
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    blank = 1.0 - float(valid.mean())
    said = [*said, f"'{source}': {how}; {where}"
            + (f", read every {step} pixels (wider than {MAX_SIDE})" if step > 1 else "")
            + (f"; {100 * blank:.2g} % of it nodata or NaN, shown black" if blank > 0 else "")]
    key = hashlib.sha1(f"{identity}|{col0},{row0},{width},{height}|{how}|{picked}|{step}".encode()).hexdigest()
    return ImageWindow(rgb, transform, crs, source, key, said)
