"""Images that are no raster file, made into one the model reads: a web service's GDAL description (XYZ, WMS,
WMTS, WCS, ArcGIS REST) windowed over the extent at a pixel size, by default the one the model was trained at.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..bundle.model_files import read_model_metadata
from ..callbacks import Callback
from ..config import SegmentConfig
from ..data.web import WINDOW_SUFFIX, web_window
from ..errors import ConfigError, mention
from ..io.locations import WEB_DESCRIPTIONS, is_web_description
from ..io.locations import stem as source_stem


def training_pixel_size(model: str) -> float | None:
    """The pixel size (metres, x) a bundle was trained at, or None when it records none (or is not a bundle)."""
    try:
        metadata: Any = read_model_metadata(model)
    except Exception:  # noqa: BLE001 - any unreadable model: no default, the caller asks for one
        return None
    gsd = getattr(getattr(metadata, "data", None), "gsd", None)
    try:
        value = float(gsd[0]) if gsd else None
    except (TypeError, ValueError, IndexError):
        return None
    return value if value and value > 0 else None


@contextmanager
def web_image(cfg: SegmentConfig, callback: Callback) -> Iterator[SegmentConfig]:
    """``cfg`` with an image that is a web service's description replaced by its window over the extent at the
    pixel size (given, else the model's training pixel size, said in the log), a virtual raster in a temporary
    folder that lasts the run; ``cfg`` itself otherwise."""
    if cfg.stac_item or not is_web_description(cfg.image):
        yield cfg
        return
    if cfg.extent is None:
        raise ConfigError(f"The image is a web service (a GDAL description of one), which covers far more than any "
                          f"run can read; give {mention('segment.extent')} (the area to read).")
    size = cfg.pixel_size
    if not size:
        size = training_pixel_size(cfg.models[0]) if cfg.models else None
        if not size:
            raise ConfigError(f"The image is a web service and the model '{cfg.models[0] if cfg.models else ''}' "
                              f"records no training pixel size; give {mention('segment.pixel_size')} (metres per "
                              f"pixel).")
        callback.info(f"{mention('segment.pixel_size')} not given: the web service is read at {size:g} m per pixel, "
                      f"the model's training pixel size.")
    given = str(cfg.image).strip()
    stem = "web_service" if given.startswith(WEB_DESCRIPTIONS) else source_stem(given)
    with tempfile.TemporaryDirectory(prefix="dualstream_web_") as folder:
        name = "web service" if stem == "web_service" else f"web service '{given}'"
        window = web_window(cfg.image, cfg.extent, cfg.extent_crs, float(size),
                            Path(folder) / f"{stem}{WINDOW_SUFFIX}", name=name)
        callback.info(f"The {name} is read over the extent at {window.pixel_size:g} m per pixel "
                      f"({window.map_pixel_size:.4g} map units): {window.width} x {window.height} pixels, "
                      f"{window.bands} bands, fetched window by window as needed.")
        yield dataclasses.replace(cfg, image=window.path)
