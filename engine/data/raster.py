"""Raster file access: opening with clear errors, grids, and windowed reads that may reach outside the file.

A :class:`RasterGrid` is the georeferencing of a raster (CRS, affine transform, size). Tiles are windows of
the vision raster's grid; everything else (aux, labels) is brought onto that grid by :mod:`.align`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import locations, network
from ..io.formats import is_vector_path
from ..runtime.environment import require
from .tile_parts import assemble_window


def compose(outer: Any, inner: Any) -> Any:
    """``outer`` after ``inner`` (Affines, or their six coefficients a..f) as one Affine, spelled without the ``*``
    operator (deprecated in affine 3 in favour of ``@``, which affine 2 lacks)."""
    from affine import Affine

    a, b, c, d, e, f = outer[:6]
    ia, ib, ic, id_, ie, if_ = inner[:6]
    return Affine(a * ia + b * id_, a * ib + b * ie, a * ic + b * if_ + c,
                  d * ia + e * id_, d * ib + e * ie, d * ic + e * if_ + f)


def apply(transform: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """``transform`` applied to the point(s) (x, y) (numbers or arrays), without the deprecated ``*``."""
    a, b, c, d, e, f = transform[:6]
    return a * x + b * y + c, d * x + e * y + f


@dataclass
class RasterGrid:
    """Georeferencing of a raster: ``crs`` (rasterio CRS or None), ``transform`` (Affine), ``width``, ``height``."""

    crs: Any
    transform: Any
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in map units (pixel units when not georeferenced)."""
        t = self.transform
        xs = [t.c, t.c + t.a * self.width, t.c + t.b * self.height, t.c + t.a * self.width + t.b * self.height]
        ys = [t.f, t.f + t.d * self.width, t.f + t.e * self.height, t.f + t.d * self.width + t.e * self.height]
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) as positive numbers."""
        t = self.transform
        return (float(np.hypot(t.a, t.d)), float(np.hypot(t.b, t.e)))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def georeferenced(self) -> bool:
        """True when the raster has a CRS or a non-identity geotransform."""
        return self.crs is not None or not self.transform.is_identity

    def window_transform(self, col_off: float, row_off: float) -> Any:
        """Affine transform of a window whose upper-left pixel is (col_off, row_off) of this grid."""
        return compose(self.transform, (1, 0, col_off, 0, 1, row_off))  # a translation

    def same_as(self, other: RasterGrid, tolerance: float = 1e-6) -> bool:
        """Same CRS, size and (within a small share of a pixel) transform."""
        same_crs = self.crs is other.crs if self.crs is None or other.crs is None else self.crs == other.crs
        return ((self.width, self.height) == (other.width, other.height) and same_crs
                and self.transform.almost_equals(other.transform, precision=tolerance * max(self.res + (1.0,))))


def open_raster(path: str | Path, role: str = "raster") -> Any:
    """Open ``path`` with rasterio, or raise DataError naming the file and the ``role`` it plays."""
    rasterio = require("rasterio")
    path = str(path)
    if not locations.exists(path):
        raise DataError(f"The {role} file '{path}' does not exist; check the path.")
    if is_vector_path(path):
        raise DataError(f"The {role} file '{path}' is a vector layer, but a raster (e.g. GeoTIFF) is needed here.")
    network.apply_defaults()  # also for a local VRT of remote files, in reader processes too
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            dataset = rasterio.open(locations.gdal_path(path) if locations.is_remote(path) else path)
    except Exception as exc:  # noqa: BLE001 - GDAL raises several error types; re-raised with the file name
        hint = network.remote_hint(path)
        if network.stalled(f"{exc} {hint}"):  # the server, not the file: no advice about formats
            raise DataError(f"The {role} '{path}' could not be read: its server sent nothing, or too little "
                            f"({exc}){hint}.") from exc
        raise DataError(f"The {role} file '{path}' could not be read as a raster ({exc}); give a GDAL-readable "
                        f"raster such as a GeoTIFF{hint}.") from exc
    if dataset.count < 1 or dataset.width < 1 or dataset.height < 1:
        dataset.close()
        raise DataError(f"The {role} file '{path}' has no raster bands or no pixels; give a non-empty raster.")
    if any(np.dtype(dtype).kind == "c" for dtype in dataset.dtypes):
        dtype = dataset.dtypes[0]
        dataset.close()
        raise DataError(f"The {role} file '{path}' holds complex numbers ({dtype}); give real-valued bands (e.g. "
                        f"the amplitude: gdal_calc.py -A '{path}' --calc='absolute(A)' --type=Float32).")
    return dataset


ALPHA_SPOTS, ALPHA_SIDE = 5, 32  # a band tagged alpha is judged by this many windows of this many pixels
ALPHA_MASK_SHARE = 0.75  # ... a mask when at least this share of their pixels are fully clear or fully opaque


def band_count(dataset: Any) -> int:
    """The bands of ``dataset`` that hold data: every band but its trailing alpha band(s) (ColorInterp=Alpha, as
    GDAL, QGIS and image editors write RGBA and grey + alpha). An alpha band is the image's mask, not a band: the
    reads take it as every band's validity (:func:`has_own_mask`), and no band count, number or pick counts it.
    Only trailing alpha bands are left out, so the bands before them keep their numbers.

    GDAL tags the 4th band of any 4-band 8-bit GeoTIFF written without ``ALPHA=NO`` / ``PHOTOMETRIC=MINISBLACK`` as
    alpha, near-infrared or not: a band tagged alpha that holds data (:func:`alpha_holds_data`) stays a band.
    Reads the file: call it once per opened image, never per tile."""
    count = dataset.count
    while count > 1 and _is_alpha(dataset.colorinterp[count - 1]) and not alpha_holds_data(dataset, count):
        count -= 1
    return count


def mistagged_alpha(dataset: Any, count: int) -> int | None:
    """The number of ``dataset``'s last band when it is tagged alpha but holds data (its :func:`band_count`
    ``count`` keeps it)."""
    last = dataset.count
    return last if last > 1 and count == last and _is_alpha(dataset.colorinterp[last - 1]) else None


def mistagged_note(dataset: Any, count: int) -> str:
    """Words for a band count's message where the last band is tagged alpha but holds data (else ""): why it counts."""
    band = mistagged_alpha(dataset, count)
    return "" if band is None else (f"its band {band} is tagged alpha but holds data, not a mask's clear and opaque "
                                    f"values, so it counts as a band")


def alpha_holds_data(dataset: Any, band: int) -> bool:
    """Whether ``band`` (tagged alpha) holds data rather than a mask: in ALPHA_SPOTS windows of ALPHA_SIDE px,
    less than ALPHA_MASK_SHARE of its values are 0 or its type's maximum (a mask's clear and opaque)."""
    from rasterio.windows import Window

    dtype = np.dtype(dataset.dtypes[band - 1])
    opaque = np.iinfo(dtype).max if dtype.kind in "ui" else 1.0
    w, h = min(ALPHA_SIDE, dataset.width), min(ALPHA_SIDE, dataset.height)
    spots = [(0.5, 0.5), (0.2, 0.2), (0.8, 0.2), (0.2, 0.8), (0.8, 0.8)][:ALPHA_SPOTS]
    values = np.concatenate([dataset.read(band, window=Window(int(fx * (dataset.width - w)),
                                                              int(fy * (dataset.height - h)), w, h)).ravel()
                             for fx, fy in spots])
    return bool(np.isin(values, (0, opaque)).mean() < ALPHA_MASK_SHARE)


def _is_alpha(interpretation: Any) -> bool:
    return getattr(interpretation, "name", str(interpretation)).lower() == "alpha"


def grid_of(dataset: Any) -> RasterGrid:
    """The :class:`RasterGrid` of an open rasterio dataset."""
    return RasterGrid(crs=dataset.crs, transform=dataset.transform, width=dataset.width, height=dataset.height)


def image_band_names(path: str | Path) -> list[str | None]:
    """The descriptions of a raster's data bands (None where a band has none; an alpha band is its mask, not a
    band: :func:`band_count`), as segment counts and names them; DataError if unreadable."""
    with open_raster(path) as dataset:
        return [d or None for d in dataset.descriptions[:band_count(dataset)]]


def clip_window(col_off: int, row_off: int, width: int, height: int,
                grid: RasterGrid) -> tuple[int, int, int, int] | None:
    """Intersection of a window with the raster: (col, row, w, h) in raster pixels, or None if disjoint."""
    c0, r0 = max(col_off, 0), max(row_off, 0)
    c1, r1 = min(col_off + width, grid.width), min(row_off + height, grid.height)
    return (c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None


def has_own_mask(dataset: Any, band: int) -> bool:
    """Whether ``band`` of ``dataset`` is masked by the dataset's own mask or alpha band."""
    from rasterio.enums import MaskFlags

    flags = dataset.mask_flag_enums[band - 1]
    return MaskFlags.per_dataset in flags or MaskFlags.alpha in flags


def read_raw(dataset: Any, col_off: int, row_off: int, width: int, height: int,
             bands: list[int] | None = None, masked: bool | None = None,
             out_shape: tuple[int, int] | None = None,
             inside: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A window inside the raster in the file's dtype (C, height, width), and where it is valid (height, width).

    Invalid: equal to nodata in every band, NaN/inf in any band, masked by the dataset's own mask/alpha band, or
    outside ``inside`` (col0, row0, col1, row1: an image's fill collar lies outside it, :mod:`.edge_fill`).
    Values at invalid pixels are left as read (an integer array has no NaN). ``masked``: ``has_own_mask`` of the
    first band, when the caller knows it (rasterio builds every band's flags on each ask). ``out_shape``: (rows,
    columns) to read the window at, decimated by nearest neighbour (a COG's overviews), so nodata stays nodata.
    """
    rasterio = require("rasterio")
    from rasterio.windows import Window

    bands = bands or list(range(1, dataset.count + 1))
    window = Window(col_off, row_off, width, height)
    shape = out_shape or (height, width)
    try:
        data = dataset.read(bands, window=window, out_shape=None if out_shape is None else (len(bands), *out_shape))
    except rasterio.errors.RasterioIOError as exc:
        if service := dataset.tags().get(network.SERVICE_TAG):
            raise DataError(network.read_failure(service, dataset.name, str(exc)) + ".") from exc
        hint = network.remote_hint(dataset.name) or "; the file may be truncated"
        raise DataError(f"Reading the raster '{dataset.name}' failed ({exc}){hint}.") from exc
    ok = np.ones(shape, dtype=bool)
    if data.dtype.kind == "f":
        ok &= np.isfinite(data).all(axis=0)
    nodata = dataset.nodata
    if nodata is not None and not np.isnan(nodata):  # a NaN nodata is caught by isfinite
        ok &= ~(data == nodata).all(axis=0)
    if has_own_mask(dataset, bands[0]) if masked is None else masked:
        ok &= dataset.read_masks(bands[0], window=window, out_shape=out_shape) > 0
    if inside is not None:
        _outside_invalid(ok, inside, col_off, row_off, width, height)
    return data, ok


def _outside_invalid(ok: np.ndarray, inside: tuple[int, int, int, int], col_off: int, row_off: int, width: int,
                     height: int) -> None:
    """``ok`` (of the window at col_off, row_off, maybe read at another shape) made False outside ``inside``."""
    c0, r0, c1, r1 = inside
    if col_off >= c0 and row_off >= r0 and col_off + width <= c1 and row_off + height <= r1:
        return  # the window lies inside (most tiles)
    rows, cols = ok.shape
    ys = row_off + (np.arange(rows) + 0.5) * (height / rows)  # each pixel's centre in raster rows / columns
    xs = col_off + (np.arange(cols) + 0.5) * (width / cols)
    ok &= ((ys >= r0) & (ys < r1))[:, None] & ((xs >= c0) & (xs < c1))[None, :]


def read_window(dataset: Any, col_off: int, row_off: int, width: int, height: int,
                bands: list[int] | None = None,
                inside: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boundless windowed read as float32 (C, h, w) plus a validity mask (h, w): pixels outside the raster or
    invalid by :func:`read_raw`'s rule (``inside``: an image's part inside its fill collar) are invalid and set
    to 0."""
    bands = bands or list(range(1, dataset.count + 1))
    if (inner := clip_window(col_off, row_off, width, height, grid_of(dataset))) is None:
        return np.zeros((len(bands), height, width), dtype=np.float32), np.zeros((height, width), dtype=bool)
    data, ok = read_raw(dataset, *inner, bands, inside=inside)
    # as few passes over the tile as possible: the tile reader does this for every tile of a scene
    block = data.astype(np.float32, copy=False)  # rasterio's array is ours: zeroed in place below
    if not ok.all():
        block[:, ~ok] = 0.0
    if inner[2:] == (width, height):  # the whole window inside the raster (most tiles)
        return block, ok
    return assemble_window([(inner, block, ok)], col_off, row_off, width, height, len(bands))
