"""Images that are no raster file, made into one the model reads: a web service's GDAL description (XYZ, WMS,
WMTS, WCS, ArcGIS REST) windowed over the extent at a pixel size, by default the one the model was trained at.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle.model_files import read_model_metadata
from ..bundle.view import ModelView, Resolution, model_view
from ..callbacks import Callback
from ..data.ground import DEGREES
from ..errors import ConfigError, mention
from .web import WINDOW_SUFFIX, WebWindow, web_window


def _view(model: str) -> ModelView | None:
    try:
        metadata: Any = read_model_metadata(model)
    except Exception:  # noqa: BLE001 - any unreadable model: no default, the caller asks for one
        return None
    data = getattr(metadata, "data", None)
    return None if data is None else model_view(data)


@dataclass(frozen=True)
class WebSource:
    """A web service to read as an image: its GDAL description (XML or connection string), how messages name it
    (``name``: "web service", "XYZ layer 'OSM'") and the name of its window's file (``stem``), after which the
    outputs of a run over it are named."""

    description: str
    name: str = "web service"
    stem: str = "web_service"


def read_web_sources(sources: Sequence[WebSource], extent: list[float] | None, extent_crs: str | None,
                     pixel_size: float | None, folder: str | os.PathLike, callback: Callback, *,
                     model: str | None = None, size_key: str = "segment.pixel_size",
                     no_finer_than_service: bool = False, view: ModelView | None = None,
                     extent_key: str = "segment.extent") -> list[WebWindow]:
    """Each web source's window over ``extent`` at ``pixel_size`` metres per pixel (None: ``model``'s training
    pixel size, said in the log): virtual rasters in a new folder inside ``folder``, named ``<stem>.web.vrt``
    (a second source of the same stem gets ``_2``), fetched window by window as the run reads them; ``view``: the
    model's, when the caller has it (else read from ``model``). Refused
    without an extent, or without a pixel size where the model records none (``size_key``: the setting to give).
    The one rule for the command line and QGIS alike. ``no_finer_than_service``: read no finer than a tile
    service's finest level (said in the log), for a reader that takes any pixel size (the labelling panel reads
    at the canvas's pixel; Segment Anything gains nothing from enlarged tiles), never for a model's pixel size."""
    if not sources:
        return []
    what = f"The {sources[0].name}" if len(sources) == 1 else f"The web layers ({', '.join(s.name for s in sources)})"
    if extent is None:
        raise ConfigError(f"{what} cover{'s' if len(sources) == 1 else ''} far more than any run can read; give "
                          f"{mention(extent_key)} (the area to read).")
    size: float | Callable[[float], float | None] | None = pixel_size
    view = view if view is not None or pixel_size or not model else _view(model)
    resolution = None if view is None else view.resolution
    if not pixel_size:
        if resolution is None or resolution.metres() is None:
            whose = (f"the model '{model}' records no training pixel size" if model else
                     "the model records no training pixel size" if view else "no pixel size was given")
            grid = "has no pixel grid of its own" if len(sources) == 1 else "have no pixel grid of their own"
            raise ConfigError(f"{what} {grid} and {whose}; give {mention(size_key)} (metres per pixel).")
        size = resolution.metres  # degrees: converted at the latitude of the extent read
    Path(folder).mkdir(parents=True, exist_ok=True)
    inside = Path(tempfile.mkdtemp(prefix="web_", dir=folder))
    taken: set[str] = set()
    windows: list[WebWindow] = []
    for source in sources:
        base = "".join(c if c.isalnum() or c in "-_" else "_" for c in source.stem)[:60] or "web_layer"
        stem, number = base, 1
        while stem.lower() in taken:
            number += 1
            stem = f"{base}_{number}"
        taken.add(stem.lower())
        window = web_window(source.description, extent, extent_crs, size if callable(size) else float(size),
                            inside / f"{stem}{WINDOW_SUFFIX}", name=source.name,
                            no_finer_than_service=no_finer_than_service)
        if window.asked is not None:
            callback.info(f"The {source.name} has nothing finer than {window.pixel_size:.3g} m per pixel here (its "
                          f"finest level): read at that, not at the {window.asked:.3g} m asked.")
        if not pixel_size and not windows:
            read = f"the {sources[0].name} is" if len(sources) == 1 else "web layers are"
            callback.info(f"{mention(size_key)} not given: {read} read at {window.pixel_size:g} m per pixel, the "
                          f"model's training pixel size{_in_degrees(resolution)}.")
        callback.info(f"The {source.name} is read over the extent at {window.pixel_size:g} m per pixel "
                      f"({window.map_pixel_size:.4g} map units): {window.width} x {window.height} pixels, "
                      f"{window.bands} bands, fetched window by window as needed.")
        windows.append(window)
    return windows


def _in_degrees(resolution: Resolution | None) -> str:
    """How a pixel size in degrees became metres, for the log (empty for one in metres)."""
    if resolution is None or resolution.ground.kind != DEGREES:
        return ""
    return f" ({resolution.size[0]:.6g}° of a geographic CRS, in metres at the extent's latitude)"
