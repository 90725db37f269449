"""What a caller asks the image door for (:class:`ImageRequest`), shaped like an image source rather than any one
command's settings, so every command, the map tool and a scene's second date ask the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImageRequest:
    """One image to open; ``extent``, ``extent_crs`` and ``pixel_size`` pick a web service's window."""

    source: str  # a raster file, a URL or /vsi path, a STAC item, or a web service's GDAL description (text or .xml)
    extent: Sequence[float] | None = None  # xmin, ymin, xmax, ymax in ``extent_crs`` (None: the image's CRS)
    extent_crs: str | None = None
    pixel_size: float | None = None  # metres per pixel; None: the model's training one
    bands: Sequence[str] | None = None  # by number or name (a STAC item's asset keys too)
    stac: bool = False  # the source is a STAC item, whatever it looks like
    value_scale: float | None = None  # with a model: the values' units
    value_offset: float | None = None
    strict_inputs: bool = False  # values far from the model's are an error
    finest: bool = False  # never finer than the service's finest level (a picture gains nothing from enlarged tiles)
    extent_key: str = "segment.extent"  # the settings a refusal names
    size_key: str = "segment.pixel_size"
    name: str = ""  # how messages name a web source ("XYZ layer 'OSM'")
    stem: str = ""  # its window's file name

    @classmethod
    def of_segment(cls, cfg: Any) -> ImageRequest:
        """The image of a segment run (``SegmentConfig``)."""
        return cls(str(cfg.stac_item or cfg.image), cfg.extent, cfg.extent_crs, cfg.pixel_size, cfg.bands,
                   stac=bool(cfg.stac_item), value_scale=cfg.value_scale, value_offset=cfg.value_offset,
                   strict_inputs=cfg.strict_inputs)
