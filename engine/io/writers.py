"""Class and probability GeoTIFFs, streamed to a temporary file beside the destination and renamed onto it when
complete (:mod:`.atomic`'s rule): tiled and DEFLATE-compressed, written block row by block row as the segmenter
finishes rows, then given internal overviews; a class raster carries its category names (GDAL's ``.aux.xml``, also
embedded as band metadata) and nodata. And how a class raster is drawn: QGIS styles (``.qml``) written beside it, so
it opens styled even from a headless run, and its palette: exactly the model's classes, some transparent. A
GeoTIFF's own colour table has 2^bits entries, so QGIS's legend would list "3, 4, ... 255" wherever the style file
is missing; the palette goes instead into the ``.aux.xml``: an entry per class, with an alpha channel the TIFF table
lacks, so a mask's "background" stays transparent without the style.
"""

from __future__ import annotations

import json
import math
import os
import traceback
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from ..errors import DataError, DualStreamError
from ..runtime.environment import process_cores, require
from .atomic import refuse_special, temporary_path, write_failure
from .safety import SIDECARS

CLASS_NODATA = 255  # of a Byte class raster (classes 0..254); see class_raster_type for more classes
PROBABILITY_NODATA_UINT8 = 255
PROBABILITY_SCALE_UINT8 = 254  # probability p is stored as round(p * 254); 255 is nodata
BLOCK = 256
SMALL_RASTER_BLOCKS = 16  # up to this many blocks GDAL compresses on the calling thread alone


@contextmanager
def writing(destination: str | os.PathLike, needed: int | None = None) -> Iterator[None]:
    """Write ``destination`` (through GDAL or OGR) inside: any file-system failure becomes an OutputError, with
    ``needed`` (the space the file may take). GDAL reports some write failures only to its error handler (a block
    flushed at close onto a full disk); a handler pushed for this thread collects them, so a truncated file is never
    taken for a finished one."""
    gdal = require("osgeo.gdal")
    failures: list[str] = []

    def _record(level: int, _number: int, message: str) -> None:
        if level >= gdal.CE_Failure:
            failures.append(" ".join(str(message).split()))

    gdal.PushErrorHandler(_record)
    try:
        yield
    except DualStreamError:
        raise
    except (OSError, RuntimeError) as exc:  # the file system (anything else is a programming error: raised as is)
        # the traceback's frames hold the GDAL dataset open; clear them so it closes now (its last write fails
        # here, under this handler) and not at garbage collection, after the temp files are gone
        traceback.clear_frames(exc.__traceback__)
        cause = exc if isinstance(exc, OSError) or not failures else RuntimeError(_root_cause(failures))
        raise write_failure(destination, cause, needed, "up to") from exc
    finally:
        gdal.PopErrorHandler()
    if failures:
        raise write_failure(destination, RuntimeError(_root_cause(failures)), needed, "up to")


def _root_cause(failures: list[str]) -> str:
    """The GDAL message that says why (disk full, file too large), not the follow-up errors it caused."""
    why = ("no space", "too large", "quota", "i/o error")
    return next((m for m in failures if any(word in m.lower() for word in why)), failures[0])


def remove_quietly(path: Path) -> None:
    """Delete ``path`` and its GDAL sidecars where they exist (clean-up must not mask the error behind it)."""
    for candidate in [path] + [Path(str(path) + s) for s in SIDECARS]:
        with suppress(OSError):
            candidate.unlink()


def commit_file(tmp: Path, destination: Path) -> None:
    """Rename ``tmp`` (and its GDAL sidecars) onto ``destination``; stale sidecars of the old file go."""
    refuse_special(destination)
    for sidecar in SIDECARS:
        old, new = f"{destination}{sidecar}", f"{tmp}{sidecar}"
        # os.path.exists: False for a name too long to exist (Path.exists raises on it)
        if os.path.exists(new):
            os.replace(new, old)
        elif os.path.exists(old):
            os.unlink(old)  # it described the file being replaced
    os.replace(tmp, destination)


def class_raster_type(classes: int) -> tuple[str, int]:
    """The one rule for a class raster's type, everywhere one is written: (numpy dtype, nodata value). A Byte
    raster holds classes 0..254 with nodata 255; more classes need UInt16 (0..65534, nodata 65535), or class 315
    would wrap around to 59."""
    if classes <= CLASS_NODATA:
        return "uint8", CLASS_NODATA
    if classes <= 65535:
        return "uint16", 65535
    raise DataError(f"A class raster holds at most 65,535 classes; this model has {classes:,}.")


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' (or 'rrggbb', '#rgb') -> (r, g, b)."""
    text = str(color).strip().lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    if len(text) not in (6, 8):
        raise DataError(f"Colour '{color}' is not a '#rrggbb' hex colour; fix the bundle's class_colors.")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def overview_levels(width: int, height: int, min_size: int = 512) -> list[int]:
    """Power-of-two overview factors until the smallest is at most ``min_size`` px on its longer side: none up to 512
    px, as GDAL's COG driver does (QGIS draws that whole in a blink; a bulk run's 512² scene would pay 2 ms of 20)."""
    levels, level = [], 1
    while math.ceil(max(width, height) / level) > min_size:
        level *= 2
        levels.append(level)
    return levels


class GeoTiffStreamWriter:
    """A tiled, compressed GeoTIFF written in order to a temp file, rows buffered until a block row is full:
    ``crs`` (may be None) and ``transform`` a rasterio CRS and Affine."""

    def __init__(self, destination: str | os.PathLike, *, width: int, height: int, count: int, dtype: str,
                 crs: Any, transform: Any, nodata: float | None, block: int = BLOCK):
        gdal = require("osgeo.gdal")
        self.destination = Path(destination)
        self.tmp = temporary_path(self.destination, ".tif")
        self.width, self.height, self.count = int(width), int(height), int(count)
        self.dtype = np.dtype(dtype)
        self.block = block
        if crs is None and transform is not None and transform.almost_equals(require("affine").Affine.identity()):
            # the input had no georeferencing: nor has the output (an identity geotransform would put row 0 at
            # y = 0 going up, and QGIS would draw the output upside down above the input it shows downwards)
            transform = None
        options = ["COMPRESS=DEFLATE", f"PREDICTOR={3 if self.dtype.kind == 'f' else 2}", "BIGTIFF=IF_SAFER",
                   f"NUM_THREADS={self._threads()}"]  # compressed by GDAL's threads at close: a run ends sooner
        if self.width >= 16 and self.height >= 16:  # GTiff tiles must be multiples of 16; tiny rasters stay striped
            options += ["TILED=YES", f"BLOCKXSIZE={block}", f"BLOCKYSIZE={block}"]
        # uncompressed size plus a third for overviews: what the file may need at most
        self.needed = self.width * self.height * self.count * self.dtype.itemsize * 4 // 3
        # GDAL itself, not rasterio: rasterio starts a GDAL environment for each file it opens (the drivers
        # registered again, PROJ's files read), 0.5 ms of the 1 ms a bulk run spent opening each scene's output
        with writing(self.destination, self.needed):  # GDAL's errors, with or without its exceptions
            dataset = gdal.GetDriverByName("GTiff").Create(
                str(self.tmp), self.width, self.height, self.count,
                require("osgeo.gdal_array").NumericTypeCodeToGDALTypeCode(self.dtype), options)
            if dataset is None:  # without exceptions: the error handler holds why
                raise RuntimeError(f"GDAL could not create '{self.tmp}'")
            try:
                if crs is not None:  # a rasterio CRS, or anything it takes ("EPSG:32652", WKT)
                    crs = crs if hasattr(crs, "to_wkt") else require("rasterio.crs").CRS.from_user_input(crs)
                    dataset.SetProjection(crs.to_wkt())
                if transform is not None:
                    dataset.SetGeoTransform(transform.to_gdal())
                if nodata is not None:
                    for band in range(1, self.count + 1):
                        dataset.GetRasterBand(band).SetNoDataValue(float(nodata))
            except BaseException:
                dataset = None
                remove_quietly(self.tmp)
                raise
        self._dataset = dataset
        self._buffer = np.zeros((self.count, min(block, self.height), self.width), self.dtype)
        self._buffer_row = 0  # first row held in the buffer: the rows written so far
        self._filled = 0  # rows filled in the buffer
        self._closed = False

    def _threads(self) -> int:
        """GDAL's compressing threads: one for a few blocks (a bulk run's small scenes), where more cost more."""
        blocks = -(-self.width // self.block) * -(-self.height // self.block) * self.count
        return process_cores() if blocks > SMALL_RASTER_BLOCKS else 1

    def write_rows(self, row: int, array: np.ndarray) -> None:
        """Append (count, n, W) rows starting at ``row``, which must follow the rows written so far."""
        if row != self._buffer_row + self._filled:
            raise ValueError(f"rows must be written in order: expected row {self._buffer_row + self._filled}, "
                             f"got {row}")
        array = np.asarray(array)
        if array.ndim == 2:
            array = array[None]
        start = 0
        while start < array.shape[1]:
            take = min(array.shape[1] - start, self._buffer.shape[1] - self._filled)
            self._buffer[:, self._filled:self._filled + take] = array[:, start:start + take]
            self._filled += take
            start += take
            if self._filled == self._buffer.shape[1] or self._buffer_row + self._filled == self.height:
                self._flush()

    def _flush(self) -> None:
        if self._filled == 0:
            return
        with writing(self.destination, self.needed):
            self._dataset.WriteArray(self._buffer[:, :self._filled], xoff=0, yoff=self._buffer_row)
        self._buffer_row += self._filled
        self._filled = 0

    def set_descriptions(self, names: Sequence[str]) -> None:
        for band, name in enumerate(names, start=1):
            self._dataset.GetRasterBand(band).SetDescription(str(name))

    def close(self) -> None:
        """Flush the last rows and close the dataset (the file stays at the temp path)."""
        if self._closed:
            return
        self._flush()
        try:
            with writing(self.destination, self.needed):
                self._dataset.FlushCache()  # writes GDAL's cached blocks: a full disk shows here
                self._dataset = None  # and closes it (the last reference)
        finally:
            self._dataset = None
            self._closed = True
        if self._buffer_row != self.height:
            raise DataError(f"Only {self._buffer_row} of {self.height} rows were written to '{self.destination}'.")

    def finalize(self, *, overviews: str | None = "nearest", category_names: Sequence[str] | None = None,
                 scale: float | None = None, metadata: dict[str, str] | None = None,
                 describe: Callable[[Any], None] | None = None) -> None:
        """Add metadata, scale and category names, close, then add overviews (once, before :meth:`commit`).
        ``describe``: called with band 1 opened read-only, so what it sets (the palette) goes to the ``.aux.xml``."""
        if self._closed:
            raise RuntimeError(f"finalize after close: '{self.destination}'")
        # written with the file's directory as it closes: reopening it to add them rewrites it (1.5 ms a bulk scene)
        with writing(self.destination, self.needed):
            for key, value in (metadata or {}).items():
                self._dataset.SetMetadataItem(str(key), str(value))
            if category_names is not None:  # in the TIFF
                self._dataset.GetRasterBand(1).SetMetadataItem("CLASS_NAMES", json.dumps(list(category_names)))
            if scale is not None:
                for band in range(1, self.count + 1):
                    self._dataset.GetRasterBand(band).SetScale(float(scale))
                    self._dataset.GetRasterBand(band).SetOffset(0.0)
        self.close()
        gdal = require("osgeo.gdal")
        levels = overview_levels(self.width, self.height) if overviews else []
        if levels:
            # this thread's only (a bulk run publishes a scene while the next runs); computed by GDAL's threads
            config = {"COMPRESS_OVERVIEW": "DEFLATE", "GDAL_NUM_THREADS": str(self._threads())}
            with writing(self.destination, self.needed), gdal_errors(gdal):
                ds = gdal.Open(str(self.tmp), gdal.GA_Update)
                try:
                    for key, value in config.items():
                        gdal.SetThreadLocalConfigOption(key, value)
                    ds.BuildOverviews(overviews.upper(), levels)
                    ds.FlushCache()
                finally:
                    for key in config:
                        gdal.SetThreadLocalConfigOption(key, None)
                    ds = None
        if category_names is None and describe is None:
            return
        with writing(self.destination, self.needed), gdal_errors(gdal):
            ds = gdal.Open(str(self.tmp))  # read-only: GDAL keeps what is set in its side file
            band = ds.GetRasterBand(1)
            try:
                if category_names is not None:
                    band.SetCategoryNames([str(n) for n in category_names])
                if describe is not None:
                    describe(band)
                ds.FlushCache()
            finally:
                band = ds = None  # a band keeps its dataset open: both go, so it closes here, not at GC

    def commit(self) -> str:
        """Rename the finished temp file and sidecars onto the destination."""
        self.close()
        commit_file(self.tmp, self.destination)
        return str(self.destination)

    def abort(self) -> None:
        """Drop the temp file; the destination is left as it was."""
        if not self._closed:
            with suppress(Exception), writing(self.destination):
                self._dataset = None  # closes it (a half-written file may fail to; it is deleted anyway)
            self._dataset = None
            self._closed = True
        remove_quietly(self.tmp)


@contextmanager
def gdal_errors(gdal: Any) -> Iterator[None]:
    """GDAL raises Python exceptions inside (restores the previous mode)."""
    previous = gdal.GetUseExceptions()
    gdal.UseExceptions()
    try:
        yield
    finally:
        if not previous:
            gdal.DontUseExceptions()


def set_palette(band: Any, class_names: Sequence[str], class_colors: Sequence[str],
                transparent: Collection[int] = ()) -> None:
    """The palette and class names on a GDAL band opened read-only (so they go to the side file)."""
    if len(class_names) != len(class_colors):
        raise DataError(f"{len(class_names)} class names but {len(class_colors)} colours; they must match.")
    gdal = require("osgeo.gdal")
    table = gdal.ColorTable()
    for index, color in enumerate(class_colors):
        table.SetColorEntry(index, (*hex_to_rgb(color), 0 if index in transparent else 255))
    band.SetColorTable(table)
    band.SetColorInterpretation(gdal.GCI_PaletteIndex)
    band.SetCategoryNames([str(n) for n in class_names])


def qml_text(class_names: Sequence[str], class_colors: Sequence[str], transparent: Collection[int] = ()) -> str:
    """A QGIS (3.x) paletted raster style naming every class; nodata and ``transparent`` stay transparent."""
    palette = "\n".join(f'        <paletteEntry value="{value}" color="#{"%02x%02x%02x" % hex_to_rgb(color)}" alpha="'
                        f'{0 if value in transparent else 255}" label={quoteattr(str(name))}/>'
                        for value, (name, color) in enumerate(zip(class_names, class_colors)))
    return _qml(f"""    <provider>
      <resampling enabled="false" zoomedInResamplingMethod="nearestNeighbour"
        zoomedOutResamplingMethod="nearestNeighbour" maxOversampling="2"/>
    </provider>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <colorPalette>
{palette}
      </colorPalette>
    </rasterrenderer>""", ' invertColors="0"', "    <resamplingStage>resamplingFilter</resamplingStage>\n")


def qml_path_for(raster: str | os.PathLike) -> Path:
    """The sidecar style QGIS loads by itself."""
    return Path(raster).with_suffix(".qml")


def confidence_qml_text(low: float, scale: float | None = None) -> str:
    """A QGIS (3.x) style for a confidence raster: opaque red at 0, orange at ``low`` (the review threshold), a
    transparent green at 1, so over the imagery the unsure pixels stand out. ``scale``: the stored value per unit
    (254 for uint8), since the style sees stored values."""
    factor = scale or 1.0
    stops = ((0.0, "#d7191c", 255, "0: unsure"), (low, "#fdae61", 200, f"{low:g}: review below"),
             (1.0, "#1a9641", 0, "1: sure"))
    items = "\n".join(f'          <item value="{value * factor:g}" color="{color}" alpha="{alpha}" label="{label}"/>'
                      for value, color, alpha, label in stops)
    return _qml(f"""    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" nodataColor=""
      classificationMin="0" classificationMax="{factor:g}">
      <rasterTransparency/>
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="0"
          maximumValue="{factor:g}" labelPrecision="2">
{items}
        </colorrampshader>
      </rastershader>
    </rasterrenderer>""")


def _qml(renderer: str, hue: str = "", stage: str = "") -> str:
    """A QGIS (3.x) raster style around ``renderer``'s lines."""
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="Symbology" hasScaleBasedVisibilityFlag="0" minScale="1e+08" maxScale="0">
  <pipe>
{renderer}
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" colorizeGreen="128"
      colorizeBlue="128" colorizeStrength="100"{hue}/>
    <rasterresampler maxOversampling="2"/>
{stage}  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""
