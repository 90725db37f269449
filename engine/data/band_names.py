"""Which bands of an image show it in natural colour: by the bands' descriptions (red/green/blue, the letters
R/G/B, or the band names of Sentinel-2 and Landsat), else by their GDAL colour interpretation, else the first
three. Used for the training report's preview; the choice is said in words, so a false-colour preview is never a
surprise."""

from __future__ import annotations

import re
from dataclasses import dataclass

# band names whose number gives red, green and blue: Sentinel-2 (B04/B03/B02 or B4/B3/B2, optionally "S2_",
# "SR_" or "B0" spelled) and Landsat 8/9 (SR_B4/SR_B3/SR_B2) share the numbers; Landsat 4-7 (no band 6 among
# its reflectance bands, band 7 there) has red 3, green 2, blue 1
_NUMBERED = re.compile(r"^(?:[A-Z0-9]+_)*B0?(\d{1,2}A?)$")
_MODERN = {"red": "4", "green": "3", "blue": "2"}
_LANDSAT_4_7 = {"red": "3", "green": "2", "blue": "1"}
_WORDS = {"red": re.compile(r"\bred\b"), "green": re.compile(r"\bgreen\b"), "blue": re.compile(r"\bblue\b")}
_NOT_VISIBLE = re.compile(r"edge|infra|nir|swir|coastal|aerosol")


@dataclass(frozen=True)
class RgbChoice:
    """Positions (0-based, among the bands given) shown as red, green and blue, and how they were chosen."""

    positions: tuple[int, int, int]
    how: str


def _by_words(names: list[str]) -> list[int] | None:
    found = []
    for colour in ("red", "green", "blue"):
        hits = [i for i, n in enumerate(names)
                if _WORDS[colour].search(n.lower()) and not _NOT_VISIBLE.search(n.lower())]
        if not hits:
            return None
        found.append(hits[0])
    return found


def _by_letters(names: list[str]) -> list[int] | None:
    """Bands named by one letter each (R, G, B; N for the near infrared beside them): "B, G, R" is blue first."""
    letters = [n.strip().lower() for n in names]
    if not all(c in letters for c in "rgb"):
        return None
    return [letters.index(c) for c in "rgb"]


def _by_sensor_names(names: list[str]) -> tuple[list[int], str] | None:
    numbers = {}
    for i, name in enumerate(names):
        match = _NUMBERED.match(name.strip().upper().replace(" ", ""))
        if match:
            numbers.setdefault(match[1], i)
    if not numbers:
        return None
    landsat_4_7 = "7" in numbers and "6" not in numbers and "8A" not in numbers
    table = _LANDSAT_4_7 if landsat_4_7 else _MODERN
    if not all(table[c] in numbers for c in ("red", "green", "blue")):
        return None
    sensor = "Landsat 4-7" if landsat_4_7 else "Sentinel-2 / Landsat 8-9"
    return [numbers[table[c]] for c in ("red", "green", "blue")], sensor


def pick_rgb(names: list[str | None], interpretations: list[str] | None = None,
             band_numbers: list[int] | None = None) -> RgbChoice:
    """Red, green and blue among bands described by ``names`` (descriptions, None where a band has none) and
    ``interpretations`` (GDAL colour interpretations, lower case: "red", "gray", ...). ``band_numbers``: the
    image's 1-based numbers of those bands, for the words (default 1..n)."""
    count = len(names)
    numbers = band_numbers or list(range(1, count + 1))
    texts = [n or "" for n in names]

    def said(positions: list[int], why: str) -> RgbChoice:
        bands = ",".join(str(numbers[p]) for p in positions)
        labels = ", ".join(texts[p] for p in positions if texts[p])
        return RgbChoice((positions[0], positions[1], positions[2]),
                         f"bands {bands} as red, green, blue ({why}{': ' + labels if labels else ''})")

    if count >= 3:
        found = _by_words(texts)
        if found:
            return said(found, "by band description")
        found = _by_letters(texts)
        if found:
            return said(found, "by band letters")
        sensor = _by_sensor_names(texts)
        if sensor:
            return said(sensor[0], f"{sensor[1]} band names")
        interps = interpretations or []
        if all(c in interps for c in ("red", "green", "blue")):
            return said([interps.index(c) for c in ("red", "green", "blue")], "by colour interpretation")
        return said([0, 1, 2], "the first three: no band names tell red, green and blue")
    return RgbChoice((0, 0, 0), f"band {numbers[0]} as grey (fewer than three bands)")


def image_rgb(path: str, bands: list[int]) -> RgbChoice:
    """:func:`pick_rgb` for the 1-based ``bands`` of the raster at ``path`` (the first three if unreadable)."""
    from .raster import open_raster

    try:
        with open_raster(path) as src:
            names = [src.descriptions[b - 1] for b in bands]
            interps = [src.colorinterp[b - 1].name.lower() for b in bands]
    except Exception:  # noqa: BLE001 - a preview's colours never stop a training
        return pick_rgb([None] * len(bands), None, bands)
    return pick_rgb(names, interps, bands)

