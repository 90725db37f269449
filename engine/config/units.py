"""The units of an image's values as the user states them (value x scale + offset), whether a result of one class
everywhere from values in other units may be kept, and whether an image unlike the training data stops the run:
declared once (:class:`ValueUnits`), offered by every command that reads imagery for a model (segment and its bulk
mode, suggest, propose), each handing them to segment (its input resolver, engine/imagery/resolve.py, and its
checks), whose messages name them whichever command ran it. A QGIS user cannot run gdal_edit, so every dialog that
runs a model on imagery offers them too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..declarations import setting
from ..errors import mention
from ..settings import Settings, check

UNIT_FIELDS = ("value_scale", "value_offset", "accept_one_class", "strict_inputs")
GROUP = "image values"  # the command line's help group


@dataclass
class ValueUnits(Settings):
    """The units of the image's values, the one-class rule and strict inputs, for the commands that read imagery
    for a model."""

    value_scale: float | None = setting(
        None, metavar="SCALE", group=GROUP, label="Value scale (value x scale + offset; empty: as the "
        "file says)",
        default_note="the file's own scale and offset (GDAL band scale/offset, Sentinel-2 metadata, STAC "
                     "raster:bands), applied when the values lie far outside the model's units",
        help="The units of the image's values, as value x scale + offset, for every band the model reads: e.g. "
             "0.0001 for Sentinel-2 or Landsat digital numbers given to a model of reflectance 0-1 (with "
             "value offset -0.1 for Sentinel-2 L2A from processing baseline 04.00). Given, it replaces what the "
             "file says of its units.")
    value_offset: float | None = setting(
        None, metavar="OFFSET", group=GROUP, label="Value offset (added after the value scale)",
        default_note="0 when a value scale is given, else the file's own",
        help="Added to every value after the value scale (value x scale + offset), e.g. -0.1 for Sentinel-2 "
             "L2A digital numbers from processing baseline 04.00 with value scale 0.0001.")
    accept_one_class: bool = setting(
        False, label="Keep a result of one class or no data everywhere from values in other units",
        advanced=True, group=GROUP,
        help="When the image's values lie far outside the model's units and the result is one class on every "
             "pixel (or no class anywhere: the model gave no finite score), the run fails and writes nothing, "
             "saying which value scale and offset to set. With it (ticked in QGIS), such a result is written "
             "with a warning.")

    strict_inputs: bool = setting(
        False, label="Stop when the image is unlike the training data", advanced=True, group=GROUP,
        help="Stop with an error, not a warning, when the image's data type or value range per band is far from "
             "the model's training statistics (another product level, an 8-bit export, bands in another order). "
             "For pipelines that must not write a prediction of noise.")

    def check_units(self, section: str) -> None:
        """ConfigError naming ``section``'s setting when a stated scale or offset is no finite number (or a scale
        of 0: every value the same)."""
        for key, nonzero in (("value_scale", True), ("value_offset", False)):
            value = getattr(self, key)
            check(value is None or (math.isfinite(float(value)) and not (nonzero and float(value) == 0)),
                  f"{mention(section + '.' + key)} must be a finite number{' other than 0' if nonzero else ''} "
                  f"(got {value}).")

    def units(self) -> dict[str, Any]:
        """The settings as SegmentConfig takes them, for a command that runs segment on its imagery."""
        return {name: getattr(self, name) for name in UNIT_FIELDS}
