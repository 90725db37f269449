"""The training data's bands: picked by name in each image (its own band descriptions) or by number, said in the
log, and recorded in the bundle (their names, the range of their values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import mention
from .band_match import pick_bands
from .domain_shift import training_ranges
from .raster import image_band_names, open_raster
from .scene import SceneReader


def bands_by_name(bands: list[Any] | None) -> bool:
    """Whether ``bands`` name bands (matched to each image's own band descriptions) rather than number them."""
    return bool(bands) and not all(isinstance(b, int) or str(b).isdigit() for b in bands)


def band_numbers(bands: list[Any] | None, image: str) -> list[int] | None:
    """The image's 1-based bands ``bands`` names (numbers as they are; names matched to the image's band
    descriptions and sensor band names, DataError listing its bands when one is missing or ambiguous)."""
    if not bands_by_name(bands):
        return None if bands is None else [int(b) for b in bands]
    with open_raster(image, "image") as dataset:
        names = [d or None for d in dataset.descriptions]
    return list(pick_bands([str(b) for b in bands], None, len(bands), names, image, mention("data.bands")).bands)


def band_names_said(bands: list[Any], scenes: list[dict[str, Any]], shown: int = 6) -> str:
    """``Bands by name (red, green, nir), each image by its own band descriptions: 'a.tif' bands 3,2,4; ...``."""
    listed = [f"'{Path(str(kw['image'])).name}' bands {','.join(map(str, kw['bands']))}" for kw in scenes[:shown]]
    more = f"; and {len(scenes) - shown} more" if len(scenes) > shown else ""
    return (f"Bands by name ({', '.join(map(str, bands))}), each image by its own band descriptions: "
            + "; ".join(listed) + more + ".")


def training_band_names(reader: SceneReader) -> list[str] | None:
    """The names of the vision bands the model takes, in its order: the first training image's band descriptions
    (None when any is missing: segment then goes by band counts, or by ``--bands``)."""
    described = image_band_names(reader.image)
    names = [described[b - 1] for b in reader.selection.vision_bands(reader.image_bands)]
    return [str(n).strip() for n in names] if all(n and str(n).strip() for n in names) else None


def training_value_range(stats: Any) -> list[float]:
    """[low, high] of the training values over all vision bands (2-98 % percentiles, or mean +- 2 std)."""
    low, high = training_ranges(stats)
    return [round(float(low.min()), 6), round(float(high.max()), 6)]
