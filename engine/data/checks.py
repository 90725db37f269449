"""Data checks with numbers, run by training and segmentation alike once a scene is open and before any tile
is read: an aux raster with no valid pixel is an error; the rest (mostly nodata, cut or too narrow 8-bit aux,
NaN/inf in the image, part cover, values far from the model's training) are warnings naming the file and fraction.

Each check reads at most a bounded sample of the file (the whole file when it is small, else a grid of
windows), so it costs about the same on a 64-px test scene and on a 40,000-px one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..callbacks import Callback, warn
from ..errors import DataError
from .align import covered_fraction
from .domain_shift import Shift, domain_shift, training_ranges
from .normalize import BandStatistics
from .raster import RasterGrid, grid_of, open_raster, read_raw

WHOLE_FILE_PIXELS = 1024 * 1024  # smaller files are read whole; larger ones through SAMPLE_WINDOWS windows
SAMPLE_WINDOWS, SAMPLE_SIDE = 4, 256  # a 4 x 4 grid of 256-px windows
MOSTLY_NODATA = 0.5  # an aux raster with more nodata than this is warned about
SATURATED = 0.5  # an 8-bit aux with more of its valid pixels at the type's limits than this was cut
COVER = 0.99  # an aux raster covering less of the image (or region) than this is warned about
# the domain check's percentiles from at most this many sampled pixels, evenly strided: a 2 % point within about
# 0.2 % of the pixels of the whole scene's, against factors of ten; 0.15 ms a scene (10 ms at 65,536), paid by bulk
DOMAIN_PIXELS = 4096


def _windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(col, row, width, height) windows that sample a raster: the whole of it, or a spread grid."""
    if width * height <= WHOLE_FILE_PIXELS:
        return [(0, 0, width, height)]
    w, h = min(SAMPLE_SIDE, width), min(SAMPLE_SIDE, height)
    cols = np.linspace(0, width - w, SAMPLE_WINDOWS).astype(int)
    rows = np.linspace(0, height - h, SAMPLE_WINDOWS).astype(int)
    return sorted({(int(c), int(r), w, h) for r in rows for c in cols})


def sample_values(dataset: Any, bands: list[int]) -> tuple[np.ndarray, np.ndarray, bool]:
    """(C, N) values, (N,) validity of the sampled pixels, and whether it was a sample (not the whole file)."""
    parts = [read_raw(dataset, c, r, w, h, bands) for c, r, w, h in _windows(dataset.width, dataset.height)]
    if len(parts) == 1:  # the whole file: views, not a copy of it (1 ms a 512² scene of 4 bands)
        return parts[0][0].reshape(len(bands), -1), parts[0][1].reshape(-1), False
    return (np.concatenate([d.reshape(len(bands), -1) for d, _ in parts], axis=1),
            np.concatenate([ok.reshape(-1) for _, ok in parts]), True)


def _pixels(n: int, total: int, sampled: bool) -> str:
    return f"{n:,} of {total:,} {'sampled ' if sampled else ''}pixels"


def check_aux_values(dataset: Any, path: str, bands: list[int], callback: Callback,
                     warnings: list[str] | None = None, statistics: BandStatistics | None = None,
                     first_channel: int = 0) -> None:
    """Refuse an aux raster with no valid pixel; warn when it is mostly nodata, its 8-bit values were cut, or (an
    8-bit file) it cannot hold the model's aux ``statistics`` whose channels ``first_channel`` onwards are its."""
    values, valid, sampled = sample_values(dataset, bands)
    count = int(valid.sum())
    if count == 0:
        nodata = "" if dataset.nodata is None else f" (nodata value {dataset.nodata:g})"
        raise DataError(f"The aux raster '{path}' has no valid pixel{' in the sampled windows' if sampled else ''}: "
                        f"every pixel is nodata{nodata}, NaN or masked, so the model would see no aux data. Give "
                        f"an aux raster with data, or check its nodata value (gdalinfo -stats '{path}').")
    if count < (1 - MOSTLY_NODATA) * valid.size:
        warn(callback, warnings, f"The aux raster '{path}' is {100 * (1 - count / valid.size):.1f} % nodata "
             f"(valid: {_pixels(count, valid.size, sampled)}); where it has no data the model sees none. Check "
             f"its nodata value, or give an aux raster that covers the image.")
    dtype = np.dtype(dataset.dtypes[bands[0] - 1])
    if dtype.kind not in "iu" or dtype.itemsize > 1:
        return
    info = np.iinfo(dtype)
    kept = values[:, valid]
    at_limits = (kept == info.max) | ((kept == info.min) if dtype.kind == "i" else False)
    if (share := float(at_limits.mean())) > SATURATED:
        warn(callback, warnings, f"The aux raster '{path}' is {dtype.name} and {100 * share:.1f} % of its valid "
             f"values sit at the type's limits ({info.min}/{info.max}): the values were cut when the file was "
             f"written, so the model cannot learn from them or see what it learnt. Write the aux as Int16/Float32.")
    if statistics is not None:
        low, high = (v[first_channel:first_channel + len(bands)] for v in training_ranges(statistics))
        if outside := int(((low < info.min) | (high > info.max)).sum()):
            warn(callback, warnings, f"The aux raster '{path}' is {dtype.name} ({info.min}..{info.max}) but the "
                 f"model's aux statistics of {outside} of its {len(bands)} band(s) "
                 f"({100 * outside / len(bands):.0f} %) lie outside that range (e.g. {low.min():.4g}.."
                 f"{high.max():.4g}): these cannot be the values the model was trained on. Give the aux in the data "
                 f"type used in training.")


def date_cover_warning(target: RasterGrid, later: RasterGrid, path: str, image: str, what: str,
                       then: str) -> str | None:
    """The warning for a later date (``path``, grid ``later``) covering less than COVER of ``target`` (``what``
    ``image``: the first date or its region, in words; ``then``: what the run does about it), or None."""
    if not later.georeferenced or not target.georeferenced:
        return None  # pixel space: the dates are the same size, pixel for pixel (said elsewhere)
    share = covered_fraction(target, later)  # a later date without a CRS is read in the target's
    if share is None or share >= COVER:
        return None
    return (f"The later date '{path}' covers only {100 * share:.0f} % of {what} '{image}': a pixel is valid only "
            f"where every date holds data, so elsewhere no change can be seen; {then}.")


def warn_dates_cover(reader: Any, callback: Callback, warnings: list[str] | None = None,
                     target: RasterGrid | None = None, what: str = "the first date",
                     then: str = "training draws its tiles and holds out its validation band where every date "
                                 "holds data") -> None:
    """:func:`date_cover_warning` for each later date of an open SceneReader (``target``: default its grid)."""
    for date in reader.later_dates:
        if date.grid is not None and (message := date_cover_warning(target or reader.grid, date.grid, date.path,
                                                                     reader.image, what, then)):
            warn(callback, warnings, message)


def check_scene_aux(reader: Any, callback: Callback, warnings: list[str] | None = None,
                    target: RasterGrid | None = None, what: str = "the image",
                    limit: str = "restrict the scene to their footprint (its extent or AOI)",
                    statistics: BandStatistics | None = None) -> None:
    """Every aux file of an open SceneReader: values (no valid pixel, mostly nodata, 8-bit limits) and cover
    of ``target`` (default the whole image; ``limit``: how to leave the rest out): warned when an aux raster's
    footprint covers less than COVER of it."""
    channel = 0
    for path, bands in zip(reader.aux_paths, [list(range(1, n + 1)) for n in reader.aux_file_bands]):
        with open_raster(path, "aux raster") as dataset:
            check_aux_values(dataset, path, bands, callback, warnings, statistics, channel)
            grid = grid_of(dataset)
        channel += len(bands)
        if grid.georeferenced and reader.grid.georeferenced:
            share = covered_fraction(target or reader.grid, grid)
            if share is not None and share < COVER:
                warn(callback, warnings, f"The aux raster '{path}' covers only {100 * share:.0f} % of {what} "
                     f"'{reader.image}'; outside it the model sees no aux data, so it learns and predicts there "
                     f"without it. Give aux rasters that cover it whole, or {limit}.")


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The share of range ``a`` that lies inside range ``b``."""
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0])) / max(a[1] - a[0], 1e-12)


def _causes(shift: Shift, bands: list[int], dtype: np.dtype, seen: tuple[np.ndarray, np.ndarray],
            trained: tuple[np.ndarray, np.ndarray]) -> str:
    """Likely reasons, in words, for the bands ``shift.far`` (positions) lying far from the training values."""
    (seen_low, seen_high), (low, high) = seen, trained
    far, causes = shift.far, []
    if shift.eight_bit == "export":
        causes.append(f"an 8-bit export ({dtype.name}) of data the model saw up to {high.max():.4g}")
    elif shift.eight_bit == "beyond":
        causes.append(f"values beyond 8 bits (up to {seen_high.max():.4g}) given to a model of 8-bit data "
                      f"(another sensor or product)")
    elif dtype.kind == "f" and float(np.nanmax(seen_high)) <= 1.5 < float(high.max()):
        causes.append("values scaled to 0-1 where the training data was 0-255 (8-bit)" if float(high.max()) <= 255
                      else "reflectance scaled to 0-1 where the training data was scaled (e.g. x 10000)")
    elif shift.factor >= 10:
        units = " (digital numbers given to a model of reflectance 0-1)" if float(high.max()) <= 1.5 else ""
        causes.append(f"values about {shift.factor:,.0f} times those in training{units}")
    elif shift.factor <= 0.1:
        causes.append(f"values about 1/{1 / shift.factor:,.0f} of those in training")
    # another band order leaves some bands where they were; with every band off, another scaling is likelier
    alike = [(i, j) for i in far for j in range(len(bands)) if j != i and len(far) < len(bands)
             and _overlap((seen_low[i], seen_high[i]), (low[j], high[j])) >= 0.5]
    if alike:
        pairs = ", ".join(f"band {bands[i]} looks like training band {j + 1}" for i, j in alike[:4])
        causes.append(f"bands in another order than in training ({pairs})")
    causes.append("another product level, sensor or units")
    return "; ".join(causes[:-1]) + ("; or " if len(causes) > 1 else "") + causes[-1]


def check_image_domain(dataset: Any, path: str, bands: list[int], statistics: BandStatistics, model: str,
                       callback: Callback, warnings: list[str] | None = None, strict: bool = False,
                       strict_hint: str = "", seen: Any = None, named: str | None = None) -> None:
    """Warn (``strict``: DataError) when the image's values are in other units or from another sensor than the
    model's training data (:func:`~engine.data.domain_shift.domain_shift`); a darker, brighter or narrower scene of
    the same product passes silently.

    ``bands``: the image's 1-based bands the model reads, in the order of ``statistics``. ``seen``: the image
    door's ``SeenValues`` of these bands (``low``, ``high``, ``sampled``), else the bounded sample is read.
    ``named``: how messages name the image instead of by ``path`` (a web layer, whose window is a temporary file).
    """
    if statistics.bands != len(bands):
        return  # the band count check says so
    if seen is not None:
        seen_low, seen_high, sampled = seen.low, seen.high, seen.sampled
    else:
        values, valid, sampled = sample_values(dataset, bands)
        step = -(-values.shape[1] // DOMAIN_PIXELS)
        values, valid, sampled = values[:, ::step], valid[::step], sampled or step > 1
        kept = values[:, valid & np.isfinite(values).all(axis=0)].astype(np.float64)
        if kept.shape[1] < 16:
            return  # nothing to judge by (an all-nodata image is reported elsewhere)
        seen_low, seen_high = np.percentile(kept, [2, 98], axis=1)
    low, high = training_ranges(statistics)
    dtype = np.dtype(dataset.dtypes[bands[0] - 1])
    shift = domain_shift(seen_low, seen_high, low, high, eight_bit_image=dtype.kind in "iu" and dtype.itemsize == 1)
    if not (far := shift.far):
        return
    shown = "; ".join(f"band {bands[i]}: {seen_low[i]:.4g}..{seen_high[i]:.4g} here, {low[i]:.4g}..{high[i]:.4g} in "
                      f"training" for i in far[:6]) + ("; ..." if len(far) > 6 else "")
    subject = named or f"the image '{path}'"
    message = (f"{subject[0].upper()}{subject[1:]} ({dtype.name}) looks unlike the data the model '{model}' was "
               f"trained on: {len(far)} of its {len(bands)} band(s) lie far from the training values (2-98 % of "
               f"{'sampled ' if sampled else ''}pixels: {shown}). Likely causes: "
               f"{_causes(shift, bands, dtype, (seen_low, seen_high), (low, high))}. The prediction may be noise; "
               f"give the image as it was in training.")
    if strict:
        raise DataError(message + (f" ({strict_hint} made this an error.)" if strict_hint else ""))
    warn(callback, warnings, message + (f" {strict_hint} makes this an error." if strict_hint else ""))


def check_scene_image(reader: Any, callback: Callback, warnings: list[str] | None = None,
                      image: str | None = None) -> None:
    """Warn with the fraction when the image bands an open SceneReader uses (vision and X bands), read through its
    own dataset, are floating-point and hold NaN or infinite values (used as nodata)."""
    dataset, path = reader.image_dataset(), image or reader.image
    bands = reader.selection.vision_bands(reader.image_bands) + list(reader.selection.x or ())
    if not any(np.dtype(dataset.dtypes[b - 1]).kind == "f" for b in bands):
        return
    values, _, sampled = sample_values(dataset, bands)
    bad = ~np.isfinite(values).all(axis=0)
    if count := int(bad.sum()):
        warn(callback, warnings, f"The image '{path}' has NaN or infinite values in {100 * count / bad.size:.1f} % "
             f"of its pixels ({_pixels(count, bad.size, sampled)}): they are treated as nodata (no training on "
             f"them, no prediction there). If they are not meant as nodata, replace them before training or "
             f"segmenting.")
