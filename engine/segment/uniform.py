"""A result that is one class (or no class) everywhere because the input's values were in other units.

An input far outside the model's units (``ResolvedImage.out_of_range``) that gives one class on every pixel, or no
class anywhere (NaN or infinite scores), is most likely wrong, not a scene without other classes: the run fails
before anything is published (judged on the temporary class raster), saying which value scale and offset to set,
unless the user keeps such a result (then a warning).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..callbacks import Callback
from ..errors import DataError, command, mention


def _classes(path: Path) -> set[int]:
    """The classes of the class raster at ``path`` (nodata left out), read until a second one is found."""
    from ..data.raster import open_raster

    seen: set[int] = set()
    with open_raster(path, "class raster") as dataset:
        nodata = dataset.nodata
        for _, window in dataset.block_windows(1):
            values = dataset.read(1, window=window)
            seen.update(int(v) for v in np.unique(values) if nodata is None or v != nodata)
            if len(seen) > 1:
                break
    return seen


def judge_uniform(plan: Any, classes_path: Path, nonfinite: int, callback: Callback) -> None:
    """DataError (saying which settings to give) when the class raster at ``classes_path`` is one class everywhere,
    or no class anywhere though the model ran on ``nonfinite`` pixels with data, and the plan's input was far outside
    the model's units; a warning instead with ``segment.accept_one_class``."""
    inputs = getattr(plan, "inputs", None)
    if inputs is None or not inputs.out_of_range:
        return
    cfg = plan.cfg
    seen = _classes(classes_path)
    if len(seen) > 1 or (not seen and not nonfinite):
        return  # several classes, or an input with no data at all (said by the run)
    if seen:
        value = seen.pop()
        name = plan.class_names[value] if value < len(plan.class_names) else str(value)
        what = f"Every pixel of '{cfg.output}' is class {value} ({name})"
    else:
        what = (f"No pixel of '{cfg.output}' has a class: the model gave NaN or infinite scores at every pixel "
                f"with data ({nonfinite:,})")
    accept = mention("segment.accept_one_class")
    message = (f"{what}, and {inputs.out_of_range}: the result is most likely wrong, not a scene without other "
               f"classes.")
    advice = (f" State the units of the image's values with {mention('segment.value_scale')} (e.g. 0.0001 for "
              f"digital numbers of reflectance x 10000) and {mention('segment.value_offset')} (e.g. -0.1 for "
              f"Sentinel-2 L2A from processing baseline 04.00), then run {command('segment')} again")
    if not cfg.accept_one_class:
        raise DataError(f"{message} Nothing was written.{advice}; {accept} keeps such a result.")
    plan.warnings.append(f"{message} Kept as {accept} asks.{advice}.")
    callback.warning(plan.warnings[-1])
