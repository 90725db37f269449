"""The one door from a source to pixels: :func:`open_image` turns an :class:`~.request.ImageRequest` into a raster any
reader of the engine opens (:class:`~.resolve.ResolvedImage`), each step said through the callback: a web service's
window, the bands picked by name and values brought to a model's units (:mod:`.resolve`), or a STAC item's assets picked
and stacked (:mod:`.stac_assets`). The caller closes the result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..bundle.view import ModelView, model_view
from ..callbacks import Callback, warn
from ..data.ground import DEGREES
from ..data.shown import shown_layer
from ..data.stac import looks_like_stac, read_item
from ..errors import ConfigError, mention
from ..io.locations import WEB_DESCRIPTIONS, is_web_description
from ..io.locations import stem as source_stem
from .request import ImageRequest
from .resolve import ResolvedImage, fit_to_model
from .stac_assets import pick_item_bands, stack_pick
from .web import WINDOW_SUFFIX, service_kind, service_url, web_window

#: How a front end names the web layer whose description it hands over (as QGIS names one layer of a file).
LAYER_NAME = "|layername="


def open_image(request: ImageRequest, callback: Callback | None = None, *, members: list[Any] | None = None,
               warnings: list[str] | None = None, view: ModelView | None = None,
               folder: str | os.PathLike | None = None, aux: Sequence[str] = ()) -> ResolvedImage:
    """The image ``request`` asks for, as a raster path a reader opens. ``members``: the models that will read it, whose
    bands and units it is brought to (their members as they read it in ``.members``); ``warnings`` collects the cautions
    also given to ``callback.warning``; ``view``: without members, the model whose training pixel size a web source is
    read at; ``folder``: where a web source's window is kept after :meth:`close` (suggest's windows are read again by
    propose), else it is temporary; ``aux``: rasters read with the image, a web layer among them over the same extent at
    the same pixel size (in ``.aux``).

    Raises ConfigError (a web source without an extent, or without a pixel size where no model records one) or DataError
    (the source cannot be read, or its bands or values do not fit the model).
    """
    callback = callback or Callback()
    warnings = [] if warnings is None else warnings
    opened = ResolvedImage(path=str(request.source), source=str(request.source), aux=list(aux))
    view = model_view(members[0].data) if members else view
    try:
        if not request.stac and is_web_description(opened.path):
            opened.window, name = _window(request, view, folder or opened.files.path("web"), callback)
            opened.named = f"the {name}"
            opened.path = opened.source = opened.window.path
        elif request.pixel_size and not any(is_web_description(source) for source in aux):
            message = (f"{mention(request.size_key)} ({request.pixel_size:g} m) is the pixel size web layers are read "
                       f"at; '{opened.source}' has pixels of its own and is read at them.")
            warn(callback, warnings, message)
        if any(is_web_description(source) for source in aux):
            opened.aux = web_windows(aux, request.extent, request.extent_crs, request.pixel_size,
                                     folder or opened.files.path("aux"), callback, view=view,
                                     extent_key=request.extent_key, size_key=request.size_key)
        if members:
            opened.members = fit_to_model(request, members, opened, callback, warnings)
        elif request.stac or looks_like_stac(opened.path):
            pick = pick_item_bands(read_item(opened.path, callback.info), request.bands)
            opened.path = stack_pick(pick, opened.path, opened.files.path("item.vrt"), callback, opened.said)
            opened.assets, opened.changed = pick.keys, True
    except BaseException:
        opened.close()
        raise
    return opened


def _window(request: ImageRequest, view: ModelView | None, folder: str | os.PathLike,
            callback: Callback) -> tuple[Any, str]:
    """(The web source's window (:class:`~.web.WebWindow`), the source's name for messages): the window over the
    extent at the pixel size (else ``view``'s training pixel size, said in the log), a virtual raster in a new folder
    inside ``folder``, fetched as the run reads it."""
    given, stem, name = web_source(request.source)
    stem, name = request.stem or stem, request.name or name
    if request.extent is None:
        raise no_extent(name, request.extent_key)
    resolution = None if view is None else view.resolution
    size: Any = request.pixel_size
    if not size:
        if resolution is None or resolution.metres() is None:
            whose = "the model records no training pixel size" if view else "no pixel size was given"
            raise ConfigError(f"The {name} has no pixel grid of its own and {whose}; give {mention(request.size_key)} "
                              f"(metres per pixel).")
        size = resolution.metres  # at the training latitude; a bundle recording none: at the extent's
    Path(folder).mkdir(parents=True, exist_ok=True)
    file = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60] or "web_layer"
    window = web_window(given, list(request.extent), request.extent_crs, size,
                        Path(tempfile.mkdtemp(prefix="web_", dir=folder)) / f"{file}{WINDOW_SUFFIX}", name=name,
                        no_finer_than_service=request.finest)
    if window.asked is not None:
        callback.info(f"The {name} has nothing finer than {window.pixel_size:.3g} m per pixel here (its finest "
                      f"level): read at that, not at the {window.asked:.3g} m asked.")
    if not request.pixel_size and resolution is not None:  # the model's: its units said where no metres
        geographic = resolution.ground.kind == DEGREES
        where = "the extent's" if resolution.latitude is None else "the training scenes'"
        units = (f" ({resolution.size[0]:.6g}{'°' if geographic else ' map units'} of a "
                 f"{'geographic' if geographic else 'Mercator'} CRS, in metres at {where} latitude)"
                 if geographic or resolution.ground.mercator else "")
        callback.info(f"{mention(request.size_key)} not given: the {name} is read at {window.pixel_size:g} m per "
                      f"pixel, the model's training pixel size{units}.")
    callback.info(f"The {name} is read over the extent at {window.pixel_size:g} m per pixel "
                  f"({window.map_pixel_size:.4g} map units): {window.width} x {window.height} pixels, "
                  f"{window.bands} bands, fetched window by window as needed.")
    return window, name


def _layer_of(source: str) -> tuple[str, str]:
    """(description, layer name) of a web source as a front end hands it (``DESCRIPTION|layername=NAME``, else "")."""
    given, named, layer = str(source).strip().rpartition(LAYER_NAME)
    return (given, layer) if named else (layer, "")


def web_source(source: str) -> tuple[str, str, str]:
    """(description, stem, name) of a web source: as a front end hands a layer, ``DESCRIPTION|layername=NAME`` (its
    window and outputs named after NAME, its messages "XYZ layer 'NAME'"), or as given (named after the file)."""
    given, layer = _layer_of(source)
    stem = layer or ("web_service" if given.startswith(WEB_DESCRIPTIONS) else source_stem(given))
    name = (f"{service_kind(given)} layer '{layer}'" if layer else
            "web service" if stem == "web_service" else f"web service '{given}'")
    return given, stem, name


def shown_web(source: str) -> str:
    """How a training run's messages name web source ``source`` in place of its window's path
    (:mod:`engine.data.shown`), e.g. "'tiles' (XYZ layer, http://host/{z}/{x}/{y}.png)"."""
    given, layer = _layer_of(source)
    kind, url = service_kind(given), service_url(given).replace("${", "{")  # a tile URL as QGIS shows it
    if layer:
        return shown_layer(layer, f"{kind} layer" + (f", {url}" if url else ""))
    if given.startswith(WEB_DESCRIPTIONS):  # the description itself, no name: its service is what the user knows
        return shown_layer(url, f"{kind} service") if url else f"a {kind} service"
    return shown_layer(given, f"{kind} service" + (f", {url}" if url else ""))


def no_extent(name: str, extent_key: str) -> ConfigError:
    """The refusal of web source ``name`` read without an extent, naming ``extent_key``."""
    return ConfigError(f"The {name} covers far more than any run can read; give {mention(extent_key)} (the area to "
                       f"read).")


def web_windows(sources: Sequence[str], extent: Sequence[float] | None, extent_crs: str | None,
                pixel_size: float | None, folder: str | os.PathLike, callback: Callback, *,
                view: ModelView | None = None, extent_key: str = "segment.extent",
                size_key: str = "segment.pixel_size") -> list[str]:
    """``sources`` with each web service's description replaced by its window over ``extent`` at ``pixel_size`` (else
    ``view``'s training pixel size), kept in ``folder``: for a run whose outputs name its scenes. Others unchanged."""
    def read(source: str) -> str:
        if not is_web_description(source):
            return source
        opened = open_image(ImageRequest(source, extent, extent_crs, pixel_size, extent_key=extent_key,
                                         size_key=size_key), callback, view=view, folder=folder)
        opened.close()  # the window stays: it lies in ``folder``
        return opened.path

    return [read(str(source)) for source in sources]
