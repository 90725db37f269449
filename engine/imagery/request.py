"""What a caller asks the image door for (:class:`ImageRequest`), shaped like an image source rather than any one
command's settings, so every command, the map tool and a scene's second date ask the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImageRequest:
    """One image to open.

    ``source``: a raster file, a URL or ``/vsi`` path, a STAC item (``stac`` says so whatever it looks like) or a web
    service's GDAL description (the text or a ``.xml`` file). ``extent`` (xmin, ymin, xmax, ymax in ``extent_crs``,
    default the image's CRS) and ``pixel_size`` (metres per pixel; None: the model's training one) pick a web service's
    window; ``finest``: never finer than the service's finest level (a picture gains nothing from enlarged tiles).
    ``bands``: by number or name (a STAC item's asset keys too); with a model, ``value_scale`` / ``value_offset`` state
    the values' units and ``strict_inputs`` makes values far from the model's an error. ``extent_key`` / ``size_key``:
    the settings a refusal names. ``name``: how messages name a web source ("XYZ layer 'OSM'"); ``stem``: its window's
    file name.
    """

    source: str
    extent: Sequence[float] | None = None
    extent_crs: str | None = None
    pixel_size: float | None = None
    bands: Sequence[str] | None = None
    stac: bool = False
    value_scale: float | None = None
    value_offset: float | None = None
    strict_inputs: bool = False
    finest: bool = False
    extent_key: str = "segment.extent"
    size_key: str = "segment.pixel_size"
    name: str = ""
    stem: str = ""

    @classmethod
    def of_segment(cls, cfg: Any) -> ImageRequest:
        """The image of a segment run (``SegmentConfig``)."""
        return cls(str(cfg.stac_item or cfg.image), cfg.extent, cfg.extent_crs, cfg.pixel_size, cfg.bands,
                   stac=bool(cfg.stac_item), value_scale=cfg.value_scale, value_offset=cfg.value_offset,
                   strict_inputs=cfg.strict_inputs)
