"""The post-classification comparison's settings: the ``compare`` command (two dates segmented by one model of one
date, or two class rasters, compared pixel by pixel). Each field declares how the front ends offer it."""

from __future__ import annotations

from dataclasses import dataclass

from ..declarations import check_choices, setting
from ..errors import mention
from ..settings import Settings, check
from .reading import (
    TRAINING_PIXEL_SIZE,
    checked_area,
    checked_pixel_size,
    extent_crs_setting,
    extent_setting,
    web_pixel_size,
)
from .values import backend_setting, device_setting

#: Why the change table's file is no QGIS parameter: QGIS writes the table itself, as a table layer.
CHANGE_TABLE_IN_QGIS = "QGIS writes the change table as a table layer (OUTPUT_TABLE), in any format QGIS writes"
CLASSES_IN_QGIS = ("QGIS takes the two class rasters as the first and later date layers (INPUT, AFTER) when no "
                   "model is given")


@dataclass
class CompareConfig(Settings):
    """Two dates compared class by class: each date segmented with ``models`` (or given as a class raster), the
    transition of every pixel written as a change raster, its table and polygons."""

    image: str = setting("", metavar="RASTER", group="input and output", param="INPUT", custom_qgis=True,
                         label="First date (before)", help="The first date (before), segmented with the model.")
    after: str = setting("", metavar="RASTER", group="input and output", param="AFTER", custom_qgis=True,
                         label="Later date (after)",
                         help="The later date (after), segmented with the same model; any CRS and pixel size: its "
                              "classes are brought onto the first date's grid (nearest).")
    models: list[str] = setting(
        default_factory=list, flag="--model", cli={"action": "append"}, metavar="MODEL", group="input and output",
        param="MODEL", custom_qgis=True, label="Segmentation model (of one date; several separated by ;)",
        help="A segmentation model of one date (a .dsmodel, an imported or ready model, an ONNX model) that "
             "segments both dates; several make an ensemble.")
    before_classes: str | None = setting(
        None, metavar="CLASSES.tif", group="input and output", no_qgis=CLASSES_IN_QGIS,
        help="Instead of a model: the first date's class raster (two cloud masks, two land-cover maps).")
    after_classes: str | None = setting(
        None, metavar="CLASSES.tif", group="input and output", no_qgis=CLASSES_IN_QGIS,
        help="Instead of a model: the later date's class raster, with the same classes.")
    output: str = setting("", flag="--out", metavar="CHANGE.tif", group="input and output", param="OUTPUT",
                          custom_qgis=True, label="Change raster",
                          help="The change raster: 0 no change (transparent), then one class per transition "
                               "(from -> to), each its colour; a .qml style beside it.")
    change_table: str | None = setting(
        None, metavar="TABLE.csv", group="input and output", no_qgis=CHANGE_TABLE_IN_QGIS,
        help="The change table (CSV): the hectares of each transition.")
    polygons: str | None = setting(None, metavar="P.gpkg", group="input and output", param="OUTPUT_POLYGONS",
                                   custom_qgis=True, label="Polygons of change",
                                   help="Also write polygons of change (GeoPackage): transition, from, to, area.")
    extent: list[float] | None = extent_setting(
        "settings", "With a model: compare only this area of the two dates (both segmented over it; web layers need "
                    "it). Empty: the whole first date.")
    extent_crs: str | None = extent_crs_setting("settings")
    pixel_size: float | None = web_pixel_size("settings", "as a date over the extent, with a model.",
                                              default_note=TRAINING_PIXEL_SIZE)
    mask: bool = setting(False, group="settings", label="A change mask (change or not) instead of transitions",
                         help="Write a change mask (no change, change) instead of one class per transition.")
    device: str = device_setting("settings")
    backend: str = backend_setting("settings")

    def __post_init__(self) -> None:
        self.pixel_size = checked_pixel_size(self.pixel_size, "compare.pixel_size")
        check_choices(self, "compare")
        self.extent = checked_area(self.extent, self.extent_crs, "compare")
        classes = bool(self.before_classes or self.after_classes)
        check(bool(self.output), f"No output given; give {mention('compare.output')} (a .tif) for the change raster.")
        if classes:
            check(bool(self.before_classes and self.after_classes),
                  f"Give both class rasters, {mention('compare.before_classes')} and "
                  f"{mention('compare.after_classes')}.")
            check(not self.models, f"Give either a model ({mention('compare.models')}) or two class rasters, not "
                                   f"both.")
            check(self.extent is None, f"{mention('compare.extent')} applies when a model segments the dates; crop "
                                       f"the class rasters to the area first (gdal_translate -projwin).")
        else:
            check(bool(self.models), f"Give a segmentation model ({mention('compare.models')}) to segment both "
                                     f"dates, or the two dates' class rasters ({mention('compare.before_classes')}, "
                                     f"{mention('compare.after_classes')}).")
            check(bool(self.image and self.after), f"Give both dates: {mention('compare.image')} (before) and "
                                                   f"{mention('compare.after')}.")
