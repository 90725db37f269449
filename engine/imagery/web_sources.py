"""Images that are no raster file, made into one the model reads: a web service's GDAL description (XYZ, WMS,
WMTS, WCS, ArcGIS REST) windowed over the extent at a pixel size, by default the one the model was trained at.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle.model_files import read_model_metadata
from ..bundle.view import ModelView, Resolution, model_view
from ..callbacks import Callback
from ..config import SegmentConfig
from ..data.ground import DEGREES
from ..errors import ConfigError, mention
from ..io.locations import WEB_DESCRIPTIONS, is_web_description
from ..io.locations import stem as source_stem
from .web import WINDOW_SUFFIX, web_window


def training_pixel_size(model: str, latitude: float | None = None) -> float | None:
    """The pixel size ``model`` was trained at (or made for), in metres on the ground: a geographic training CRS's
    degrees converted at ``latitude`` (None: the equator); None when it records none (or is no model)."""
    view = _view(model)
    return None if view is None else view.pixel_size_metres(latitude)


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
                     no_finer_than_service: bool = False) -> list[str]:
    """Each web source's window over ``extent`` at ``pixel_size`` metres per pixel (None: ``model``'s training
    pixel size, said in the log): virtual rasters in a new folder inside ``folder``, named ``<stem>.web.vrt``
    (a second source of the same stem gets ``_2``), fetched window by window as the run reads them. Refused
    without an extent, or without a pixel size where the model records none (``size_key``: the setting to give).
    The one rule for the command line and QGIS alike. ``no_finer_than_service``: read no finer than a tile
    service's finest level (said in the log), for a reader that takes any pixel size (the labelling panel reads
    at the canvas's pixel; Segment Anything gains nothing from enlarged tiles), never for a model's pixel size."""
    if not sources:
        return []
    what = f"The {sources[0].name}" if len(sources) == 1 else f"The web layers ({', '.join(s.name for s in sources)})"
    if extent is None:
        raise ConfigError(f"{what} cover{'s' if len(sources) == 1 else ''} far more than any run can read; give "
                          f"{mention('segment.extent')} (the area to read).")
    size: float | Callable[[float], float | None] | None = pixel_size
    view = None if pixel_size or not model else _view(model)
    resolution = None if view is None else view.resolution
    if not pixel_size:
        if resolution is None or resolution.metres() is None:
            whose = f"the model '{model}' records no training pixel size" if model else "it has no pixel size"
            raise ConfigError(f"{what} {'is a web service' if len(sources) == 1 else 'are web services'} and "
                              f"{whose}; give {mention(size_key)} (metres per pixel).")
        size = resolution.metres  # degrees: converted at the latitude of the extent read
    Path(folder).mkdir(parents=True, exist_ok=True)
    inside = Path(tempfile.mkdtemp(prefix="web_", dir=folder))
    taken: set[str] = set()
    paths = []
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
        if not pixel_size and not paths:
            read = f"the {sources[0].name} is" if len(sources) == 1 else "web layers are"
            callback.info(f"{mention(size_key)} not given: {read} read at {window.pixel_size:g} m per pixel, the "
                          f"model's training pixel size{_in_degrees(resolution)}.")
        callback.info(f"The {source.name} is read over the extent at {window.pixel_size:g} m per pixel "
                      f"({window.map_pixel_size:.4g} map units): {window.width} x {window.height} pixels, "
                      f"{window.bands} bands, fetched window by window as needed.")
        paths.append(window.path)
    return paths


def _in_degrees(resolution: Resolution | None) -> str:
    """How a pixel size in degrees became metres, for the log (empty for one in metres)."""
    if resolution is None or resolution.ground.kind != DEGREES:
        return ""
    return f" ({resolution.size[0]:.6g}° of a geographic CRS, in metres at the extent's latitude)"


@contextmanager
def web_image(cfg: SegmentConfig, callback: Callback) -> Iterator[SegmentConfig]:
    """``cfg`` with an image that is a web service's description replaced by its window over the extent at the
    pixel size (given, else the model's training pixel size, said in the log), a virtual raster in a temporary
    folder that lasts the run; ``cfg`` itself otherwise."""
    if cfg.stac_item or not is_web_description(cfg.image):
        yield cfg
        return
    given = str(cfg.image).strip()
    stem = "web_service" if given.startswith(WEB_DESCRIPTIONS) else source_stem(given)
    source = WebSource(given, "web service" if stem == "web_service" else f"web service '{given}'", stem)
    with tempfile.TemporaryDirectory(prefix="dualstream_web_") as folder:
        path, = read_web_sources([source], cfg.extent, cfg.extent_crs, cfg.pixel_size, folder, callback,
                                 model=cfg.models[0] if cfg.models else None)
        yield dataclasses.replace(cfg, image=path)
