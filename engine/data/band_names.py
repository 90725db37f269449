"""Which bands of an image show it in natural colour: by the bands' names (read with the one vocabulary of
:mod:`engine.data.band_vocab`: red/green/blue, the letters R/G/B, the band numbers of Sentinel-2 and Landsat, ...),
else by their GDAL colour interpretation, else the first three. Used for the training report's preview; the choice
is said in words, so a false-colour preview is never a surprise."""

from __future__ import annotations

from dataclasses import dataclass

from .band_vocab import Reading, read_names, sensors_for

_RGB = ("red", "green", "blue")


@dataclass(frozen=True)
class RgbChoice:
    """Positions (0-based, among the bands given) shown as red, green and blue, and how they were chosen."""

    positions: tuple[int, int, int]
    how: str


def _rgb_of(readings: list[Reading]) -> list[int] | None:
    """The first band read as exactly red, green and blue each, or None where one is missing."""
    found = [next((i for i, r in enumerate(readings) if r.meanings == {colour}), None) for colour in _RGB]
    return None if None in found else found


def _by_names(names: list[str]) -> tuple[list[int], str] | None:
    """Red, green and blue by name, and how they were told; band numbers that several sensors fit count where
    every sensor that finds all three colours puts them on the same bands."""
    found = _rgb_of(read_names(names))
    sensors = sensors_for(names)
    if found is None and len(sensors) > 1:
        each = {s: _rgb_of(read_names(names, [s])) for s in sensors}
        agree = {tuple(p) for p in each.values() if p}
        if len(agree) == 1:
            found = list(agree.pop())
            sensors = [s for s, p in each.items() if p]
    if found is None:
        return None
    kinds = {read_names(names, sensors)[i].kind for i in found}
    if "sensor" in kinds:
        return found, f"{' / '.join(sensors)} band names"
    return found, "by band letters" if kinds == {"letter"} else "by band description"


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
        by_name = _by_names(texts)
        if by_name:
            return said(*by_name)
        interps = interpretations or []
        if all(c in interps for c in _RGB):
            return said([interps.index(c) for c in _RGB], "by colour interpretation")
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

