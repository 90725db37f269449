"""How an image is read and tiled for a model, and the units of its values as the user states them (value x scale
+ offset), all in :class:`ImageReading`: declared once, offered by every command that runs a model over an image
(segment and its bulk mode, suggest, propose), each handing them to segment, whose messages advise them as the
command that ran it names them (engine/segment/relay.py). QGIS offers them too: its user cannot run gdal_edit. An
area (extent) and its CRS are checked as the settings are made: four finite bounds, max above min; a CRS GDAL knows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..declarations import Settings, check, setting
from ..errors import ConfigError, mention
from ..runtime.environment import require
from .bands import parse_band_list
from .values import check_tile_size

READING_FIELDS = ("bands", "batch_size", "tile_size", "border", "resample_to_training_gsd", "readers",
                  "reader_processes")
UNIT_FIELDS = ("value_scale", "value_offset", "accept_one_class", "strict_inputs")
GROUP = "image reading"  # the command line's help groups
UNITS_GROUP = "image values"
DEFAULT_BORDER = 0  # the mirrored border when neither the user nor the model's maker says
TRAINING_PIXEL_SIZE = "the model's training pixel size (the log says which)"
WEB_LAYER = ("a web layer (XYZ, WMS, WMTS, WCS, ArcGIS REST MapServer or ImageServer: a layer in QGIS; on the command "
             "line its GDAL description, a <GDAL_WMS> or <WCS_GDAL> XML file or text, or WMTS:URL)")


def web_pixel_size(group: str, read: str, **declaration: Any) -> Any:
    """The one declaration of the pixel size a command reads web layers at (``read``: over what, and what for)."""
    return setting(None, label="Pixel size for web layers (m)", minimum=0.0, metavar="METRES", group=group,
                   help=f"Metres on the ground per pixel at which {WEB_LAYER} is read {read} Rasters with pixels "
                        f"of their own are read at those.", **declaration)


def ground_pixel_size(group: str) -> Any:
    """The one declaration of the ground size of a pixel of dates without georeferencing: the change table's
    hectares, which such a raster cannot give itself."""
    return setting(None, label="Pixel size of dates without georeferencing (m, for the change table)", minimum=0.0,
                   metavar="METRES", group=group,
                   help="Metres on the ground per pixel of dates that carry no georeferencing (the PNG tiles of "
                        "LEVIR-CD: 0.5): the change table's hectares. A raster with a CRS gives its own; not set: no "
                        "hectares for a raster without one.")


def extent_setting(group: str, help: str, label: str = "Extent", **declaration: Any) -> Any:
    """The one declaration of the area a command reads (in QGIS the EXTENT parameter, which carries its CRS)."""
    return setting(None, cli={"nargs": 4}, metavar=("XMIN", "YMIN", "XMAX", "YMAX"), group=group, custom_qgis=True,
                   label=label, help=help, **declaration)


def extent_crs_setting(group: str, label: str = "Extent", of: str = "extent", default: str = "the image's",
                       **declaration: Any) -> Any:
    """The one declaration of the CRS of :func:`extent_setting`'s area (``of``), ``default`` where none is given."""
    return setting(None, metavar="CRS", group=group, param="EXTENT", custom_qgis=True, label=label,
                   help=f"CRS of the {of}, e.g. EPSG:4326 (default: {default}).", **declaration)


def checked_pixel_size(value: float | None, key: str) -> float | None:
    """A web pixel size in metres, None where unset or 0 (the command's default); ConfigError for a negative one."""
    if value is None:
        return None
    check(value >= 0, f"{mention(key)} must be a positive number of metres, or 0 for its default (got {value}).")
    return float(value) or None


def check_crs(crs: Any, what: str) -> None:
    """ConfigError naming ``what`` unless ``crs`` (text: 'EPSG:n', WKT, PROJ string) is a CRS GDAL knows."""
    require("osgeo")
    from osgeo import osr

    osr.UseExceptions()
    try:
        failed, cause = osr.SpatialReference().SetFromUserInput(str(crs)) != 0, ""
    except RuntimeError as exc:  # osr with exceptions on: PROJ's "crs not found", OGR's "Corrupt data"
        failed, cause = True, f" ({' '.join(str(exc).split())})"
    if failed or not str(crs).strip():
        raise ConfigError(f"The {what} '{crs}' is not a coordinate reference system GDAL knows{cause}; give an EPSG "
                          f"code such as EPSG:4326 or EPSG:32633, a WKT or PROJ string, or leave it out to use the "
                          f"image's CRS.")


def checked_extent(extent: Any, what: str) -> list[float] | None:
    """``extent`` (xmin, ymin, xmax, ymax) as four floats, None as None; ConfigError naming ``what`` unless there
    are four finite numbers with xmin < xmax and ymin < ymax."""
    if extent is None:
        return None
    values = list(extent)
    if len(values) != 4:
        raise ConfigError(f"{what} must be xmin, ymin, xmax, ymax (got {values}).")
    try:
        bounds = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be four numbers xmin, ymin, xmax, ymax (got {values}).") from exc
    if not all(math.isfinite(v) for v in bounds):
        raise ConfigError(f"{what} must be four finite numbers (got {values}); give the window's bounds in map units.")
    if not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
        raise ConfigError(f"{what} must have xmin < xmax and ymin < ymax (got {bounds}).")
    return bounds


def checked_area(extent: Any, extent_crs: Any, section: str) -> list[float] | None:
    """``section``'s extent and its CRS checked, each error naming its setting; the extent as four floats."""
    if extent_crs is not None and str(extent_crs).strip():
        check_crs(extent_crs, f"extent CRS ({mention(section + '.extent_crs')})")
    return checked_extent(extent, f"extent ({mention(section + '.extent')})")


@dataclass
class ImageReading(Settings):
    """The image's bands for the model, its tiles, batches and readers; the units of its values."""

    bands: list[str] | None = setting(
        None, cli={"type": str}, metavar="B,...", group=GROUP, param="BANDS", custom_qgis=True,
        label="Bands (in the model's order; empty: by name)",
        help="The image's bands that feed the model, in the model's order: numbers counted from 1 (2,3,4,8) or "
             "names (B02,B03 or blue,green). Empty: picked by name when the image's bands are named (band "
             "descriptions, Sentinel-2/Landsat band names, STAC common names), else every band in file order.")
    batch_size: int = setting(4, label="Batch size", minimum=1, group=GROUP,
                              help="Tiles predicted at once; lower it when memory runs out.")
    tile_size: int | None = setting(
        None, label="Tile size (0 = the model's)", minimum=0, maximum=8192, off=0, advanced=True, group=GROUP,
        help="Edge of the predicted tiles in pixels, a multiple of 32. 0: the training tile size; on the CPU, for "
             "a convolutional model (UNet, FPN with a ResNet or ConvNeXt encoder), the tile fitted to the region "
             "that computes the fewest pixels (up to one covering the region), the overlap kept in pixels and a "
             "batch no larger than one of doubled training tiles.")
    border: int | None = setting(
        None, label="Mirrored border (pixels)", minimum=0, maximum=8191, advanced=True, group=GROUP,
        default_note=f"the border an imported model's maker used, else {DEFAULT_BORDER}",
        help="Let the tiles reach this far past the scene's edges, the image mirrored there, so the edge pixels "
             "are seen in a tile's middle with context on every side, as inside the scene; the tiles then step "
             "regularly from the mirrored corner. 0: tiles stay inside the scene. Less than the tile size.")
    resample_to_training_gsd: bool = setting(
        False, label="Resample to the training resolution", advanced=True, group=GROUP,
        help="Predict on a virtual copy of the image at the model's training pixel size (averaged when shrinking, "
             "interpolated when enlarging), then bring the results back onto the image's grid. Use it when the "
             "image resolution differs much from the training one (the log warns with the factor).")
    readers: int | None = setting(
        None, label="Tile reader threads (0 = automatic)", minimum=0, maximum=64, off=0, advanced=True, metavar="N",
        group=GROUP,
        help="Threads reading and warping tiles ahead of the model. 0: one on the CPU, the free cores on a GPU "
             "(at most 4).")
    reader_processes: bool = setting(
        False, group=GROUP,
        help="Run the reader workers as processes (no GIL shared with the model; copies each tile once more); "
             "measure with bench/bench_bulk.py which is faster on your machine.",
        no_qgis="processes cannot be started inside QGIS (see engine/segment/reader_pool.py)")
    value_scale: float | None = setting(
        None, metavar="SCALE", group=UNITS_GROUP, label="Value scale (value x scale + offset; empty: as the "
        "file says)",
        default_note="the file's own scale and offset (GDAL band scale/offset, Sentinel-2 metadata, STAC "
                     "raster:bands), applied when the values lie far outside the model's units",
        help="The units of the image's values, as value x scale + offset, for every band the model reads: e.g. "
             "0.0001 for Sentinel-2 or Landsat digital numbers given to a model of reflectance 0-1 (with "
             "value offset -0.1 for Sentinel-2 L2A from processing baseline 04.00). Given, it replaces what the "
             "file says of its units.")
    value_offset: float | None = setting(
        None, metavar="OFFSET", group=UNITS_GROUP, label="Value offset (added after the value scale)",
        default_note="0 when a value scale is given, else the file's own",
        help="Added to every value after the value scale (value x scale + offset), e.g. -0.1 for Sentinel-2 "
             "L2A digital numbers from processing baseline 04.00 with value scale 0.0001.")
    accept_one_class: bool = setting(
        False, label="Keep a result of one class or no data everywhere from values in other units",
        advanced=True, group=UNITS_GROUP,
        help="When the image's values lie far outside the model's units and the result is one class on every "
             "pixel (or no class anywhere: the model gave no finite score), the run fails and writes nothing, "
             "saying which value scale and offset to set. With it (ticked in QGIS), such a result is written "
             "with a warning.")
    strict_inputs: bool = setting(
        False, label="Stop when the image is unlike the training data", advanced=True, group=UNITS_GROUP,
        help="Stop with an error, not a warning, when the image's data type or value range per band is far from "
             "the model's training statistics (another product level, an 8-bit export, bands in another order). "
             "For pipelines that must not write a prediction of noise.")

    def check_reading(self, section: str) -> None:
        """ConfigError naming ``section``'s setting for a value no run could take; the bands as text items."""
        for key, nonzero in (("value_scale", True), ("value_offset", False)):  # a scale of 0: every value the same
            value = getattr(self, key)
            check(value is None or (math.isfinite(float(value)) and not (nonzero and float(value) == 0)),
                  f"{mention(section + '.' + key)} must be a finite number{' other than 0' if nonzero else ''} "
                  f"(got {value}).")
        self.bands = parse_band_list(self.bands, f"{section}.bands")
        check(self.batch_size >= 1, f"{mention(section + '.batch_size')} must be >= 1 (got {self.batch_size}).")
        check(self.border is None or self.border >= 0,
              f"{mention(section + '.border')} must be >= 0 pixels (got {self.border}).")
        check(self.readers is None or self.readers >= 1,
              f"{mention(section + '.readers')} must be >= 1 (got {self.readers}).")
        if self.tile_size is not None:
            check_tile_size(self.tile_size, f"{section}.tile_size", hint="; or leave it unset to use the bundle's")

    def reading(self) -> dict[str, Any]:
        """The settings as SegmentConfig takes them, for a command that runs segment on its imagery."""
        return {name: getattr(self, name) for name in READING_FIELDS + UNIT_FIELDS}
