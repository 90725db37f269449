"""Band selection: which bands of the image are the vision input and which (CMX's X modality) the aux input.

Bands are numbered from 1, as GDAL numbers them (``--bands 3,2,1`` = B, G, R of a file stored R, G, B).
``vision`` None = every band of the image, in file order (unless ``x`` takes some: then the bands ``x`` does not
take). ``x`` None = no X modality from the image (aux, if any, comes from aux rasters). The selection is stored in
the bundle and applied again at segmentation, so a model always sees the bands it was trained on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, mention

_SEPARATOR = re.compile(r"[,;]")


def parse_bands(text: str | Sequence[int] | None, what: str = "bands") -> list[int] | None:
    """``"3,2,1"`` (or a list) -> [3, 2, 1]; None / "" -> None. ConfigError for anything but positive integers."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    items = str(text).split(",") if isinstance(text, str) else list(text)
    try:
        bands = [int(str(v).strip()) for v in items if str(v).strip()]
    except ValueError:
        raise ConfigError(f"{what} must be band numbers counted from 1, comma-separated like 3,2,1 "
                          f"(got {text!r}).") from None
    check_band_list(bands, what)
    return bands


def parse_band_list(text: str | Sequence[str | int] | None, key: str = "segment.bands") -> list[str] | None:
    """A segmentation's bands as given, numbers or names (``"2,3,4"``, ``"B2,B3,B4"``, ``"blue,nir"``, a list) ->
    the items as text; None / "" -> None: the one rule for a band list, which every front end hands its text as
    typed. Commas separate the items; so do semicolons, the separator of QGIS's own lists."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    items = [v.strip() for v in (_SEPARATOR.split(text) if isinstance(text, str) else [str(v) for v in text])]
    shown = text if isinstance(text, str) else ",".join(items)
    if not all(items):  # ",,," is no "every band", "1,,3" no "1,3": a slip, said
        raise ConfigError(f"{mention(key)} '{shown}' has an empty entry; give band numbers or names "
                          f"separated by single commas, like 3,2,1 or red,green,blue (or leave it unset for every "
                          f"band in file order).")
    for item in items:
        # '²' or '٣' read as a number by some of Python and refused by the rest
        if odd := [c for c in item if c.isdigit() and not c.isascii()]:
            raise ConfigError(f"{mention(key)} '{shown}': '{item}' holds the character '{odd[0]}', "
                              f"which is no digit 0-9; write band numbers with the digits 0-9 (like 3,2,1) or give "
                              f"band names.")
    return items


def check_band_list(bands: Sequence[int] | None, what: str) -> None:
    """Positive, not repeated (ConfigError naming ``what``)."""
    if bands is None:
        return
    if not bands:
        raise ConfigError(f"{what} is empty; give band numbers counted from 1 like 3,2,1, or leave it unset.")
    if any(int(b) != b or b < 1 for b in bands):
        raise ConfigError(f"{what} {list(bands)}: bands are counted from 1 (as in GDAL); 0 and negative numbers "
                          f"are not bands.")
    if repeated := sorted({b for b in bands if list(bands).count(b) > 1}):
        raise ConfigError(f"{what} {list(bands)} names band(s) {repeated} more than once.")


@dataclass(frozen=True)
class BandSelection:
    """Vision bands and X bands of one image (1-based; see the module docstring)."""

    vision: tuple[int, ...] | None = None
    x: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check_band_list(self.vision, "bands")
        check_band_list(self.x, "x_bands")
        if overlap := sorted(set(self.vision or ()) & set(self.x or ())):
            raise ConfigError(f"x_bands {list(self.x)} overlap the vision bands {list(self.vision)} (band(s) "
                              f"{overlap}); the X modality must use other bands of the image.")

    @classmethod
    def of(cls, vision: Sequence[int] | None, x: Sequence[int] | None) -> BandSelection:
        return cls(None if vision is None else tuple(int(b) for b in vision),
                   None if x is None else tuple(int(b) for b in x))

    @property
    def active(self) -> bool:
        return self.vision is not None or self.x is not None

    def vision_bands(self, count: int) -> list[int]:
        """The 1-based vision bands of an image with ``count`` bands."""
        if self.vision is not None:
            return list(self.vision)
        taken = set(self.x or ())
        return [b for b in range(1, count + 1) if b not in taken]

    def check(self, count: int, image: str) -> None:
        """DataError when a selected band is not in the image (``count`` bands) or no vision band is left."""
        for what, bands in (("bands", self.vision), ("x_bands", self.x)):
            if missing := [b for b in bands or () if b > count]:
                raise DataError(f"{what} {list(bands)} name band(s) {missing} but the image '{image}' has {count} "
                                f"band(s) (numbered 1..{count}); choose bands the image has.")
        if not self.vision_bands(count):
            raise DataError(f"x_bands {list(self.x or ())} take every band of the image '{image}' ({count}); leave "
                            f"at least one band for the vision input or give {mention('data.bands')}.")

    def split(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(vision, x) from all bands of an image tile (C, H, W); x None without X bands."""
        vision = raw[[b - 1 for b in self.vision_bands(raw.shape[0])]]
        x = None if self.x is None else raw[[b - 1 for b in self.x]]
        return vision, x

    def to_metadata(self) -> dict[str, Any]:
        return {"bands": None if self.vision is None else list(self.vision),
                "x_bands": None if self.x is None else list(self.x)}

    def describe(self, count: int) -> str:
        """E.g. ``bands 3,2,1 | X 4`` (for logs and ``info``)."""
        text = "bands " + ",".join(str(b) for b in self.vision_bands(count))
        return text + (" | X " + ",".join(str(b) for b in self.x) if self.x else "")
