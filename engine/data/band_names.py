"""What a band's name says it is: one vocabulary of band names, read as STAC's common names, for the input matcher
(:mod:`engine.data.band_match`) and the training report's natural-colour preview (:func:`pick_rgb`: by the bands'
names, else their GDAL colour interpretation, else the first three; said in words, so a false-colour preview is
never a surprise). The names and their examples: docs/inputs.md. A name is read, in this order, as a common name
of STAC's eo extension; a sensor's band number (:data:`SENSORS`: band numbers mean different bands on different
sensors, so the sensor is told from the whole set of names read together; where several fit, the name may mean
several bands); a one-letter name (only where every one-letter name of the set is R, G, B, N or I: ``A, B, C`` are
labels, not colours); a word or phrase anywhere in the name (a name whose words say two different bands says none).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: The common names of STAC's eo extension (and of the ready models' catalogue).
COMMON = ("coastal", "blue", "green", "red", "yellow", "pan", "rededge", "rededge1", "rededge2", "rededge3", "nir",
          "nir08", "nir09", "cirrus", "swir16", "swir22", "lwir", "lwir11", "lwir12")
#: A band name that stands for another when the input lacks the exact one (a model's "nir" is Landsat's "nir08").
SYNONYMS = {"nir": ("nir08",), "nir08": ("nir",), "rededge": ("rededge1",)}

#: Band number (as written after the B, without leading zeros) -> common name, per sensor.
SENSORS: dict[str, dict[str, str]] = {
    "Sentinel-2": {"1": "coastal", "2": "blue", "3": "green", "4": "red", "5": "rededge1", "6": "rededge2",
                   "7": "rededge3", "8": "nir", "8A": "nir08", "9": "nir09", "10": "cirrus", "11": "swir16",
                   "12": "swir22"},
    "Landsat 8/9": {"1": "coastal", "2": "blue", "3": "green", "4": "red", "5": "nir08", "6": "swir16",
                    "7": "swir22", "8": "pan", "9": "cirrus", "10": "lwir11", "11": "lwir12"},
    "Landsat 4-7": {"1": "blue", "2": "green", "3": "red", "4": "nir08", "5": "swir16", "6": "lwir", "7": "swir22",
                    "8": "pan"},
}

# words and phrases, written without spaces, dashes or underscores -> the common names they may mean
_WORDS: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in COMMON},
    "coastalaerosol": ("coastal",), "aerosol": ("coastal",), "ultrablue": ("coastal",), "ca": ("coastal",),
    "panchromatic": ("pan",),
    "re": ("rededge",), "redge": ("rededge",), "vre": ("rededge",),
    **{f"{word}{n}": (f"rededge{n}",) for word in ("rededge", "re", "redge", "vre") for n in "123"},
    **{f"{word}0{n}": (f"rededge{n}",) for word in ("rededge", "re") for n in "123"},
    "nearinfrared": ("nir",), "nearir": ("nir",), "ir": ("nir",), "infrared": ("nir",),
    "nirnarrow": ("nir08",), "narrownir": ("nir08",), "nir8a": ("nir08",), "nirn": ("nir08",),
    "watervapour": ("nir09",), "watervapor": ("nir09",), "wv": ("nir09",),
    "swircirrus": ("cirrus",),
    "swir": ("swir16", "swir22"), "shortwaveinfrared": ("swir16", "swir22"),
    "swir1": ("swir16",), "swir01": ("swir16",), "shortwaveinfrared1": ("swir16",),
    "swir2": ("swir22",), "swir02": ("swir22",), "shortwaveinfrared2": ("swir22",),
    "tir": ("lwir",), "tirs": ("lwir",), "thermal": ("lwir",), "thermalinfrared": ("lwir",),
    **{f"{word}{n}": (f"lwir1{n}",) for word in ("lwir", "tir", "tirs", "thermal", "thermalinfrared") for n in "12"},
}
# short words read only as a whole name ("ca", "re" and "ir" are also pieces of ordinary descriptions)
_WHOLE_ONLY = {word for word in _WORDS if len(word) <= 2}
_LETTERS = {"r": "red", "g": "green", "b": "blue", "n": "nir", "i": "nir"}
_NUMBERED = re.compile(r"^(?:([A-Z0-9]+)_)*?B0?(\d{1,2}A?)$")
# GDAL's SENTINEL2 driver describes its bands "B4, central wavelength 665 nm" (and a gdal_translate copy keeps it)
_GDAL_S2 = re.compile(r"^\s*(B0?\d{1,2}A?),\s*central wavelength \d+\s*nm\s*$", re.IGNORECASE)
_ZERO_PADDED = re.compile(r"^(?:[A-Z0-9]+_)*B0\d$")
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Reading:
    """What one band name says: the common names it may mean (empty: unnamed or not understood; more than one:
    ambiguous) and how it was read ("common name", "sensor", "letter", "word", or "" when it says nothing)."""

    meanings: frozenset[str]
    kind: str


def sensor_number(name: str) -> tuple[str, str] | None:
    """(prefix such as "SR" or "", band number) of a sensor band name like B04, B8A, SR_B5, S2_B11, or GDAL's
    SENTINEL2 driver's description "B4, central wavelength 665 nm"."""
    gdal_s2 = _GDAL_S2.match(name)
    match = _NUMBERED.match((gdal_s2[1] if gdal_s2 else name).strip().upper().replace(" ", ""))
    return (match[1] or "", match[2].lstrip("0") or "0") if match else None


def sensors_for(names: Sequence[str | None]) -> list[str]:
    """The sensors whose band numbering holds every numbered name among ``names`` (none numbered: [])."""
    if not (numbers := [n for n in (sensor_number(x or "") for x in names) if n]):
        return []
    fits = [s for s, table in SENSORS.items() if all(num in table for _, num in numbers)]
    if "SR" in {p for p, _ in numbers}:  # Landsat Collection 2 surface reflectance
        fits = [s for s in fits if s.startswith("Landsat")]
        have = {num for _, num in numbers}
        if "7" in have and "6" not in have:  # Landsat 4-7 SR has no band 6 (thermal)
            fits = [s for s in fits if s == "Landsat 4-7"] or fits
        elif "6" in have:
            fits = [s for s in fits if s == "Landsat 8/9"] or fits
    if any(_ZERO_PADDED.match((x or "").strip().upper()) or _GDAL_S2.match(x or "") for x in names):
        # zero-padded B01..B09: Sentinel-2's spelling; "B4, central wavelength 665 nm": GDAL's SENTINEL2 driver
        fits = [s for s in fits if s == "Sentinel-2"] or fits
    return fits


def word_meanings(text: str) -> frozenset[str]:
    """The common names the words of ``text`` say, longest phrase first ("red edge 1" is rededge1, not red); empty
    where none, or where its words say two different bands."""
    tokens: list[str | None] = list(_TOKEN.findall(text.lower()))
    compact = "".join(t for t in tokens if t)
    if compact in _WORDS:
        return frozenset(_WORDS[compact])
    said: set[tuple[str, ...]] = set()
    for size in range(min(len(tokens), 4), 0, -1):
        for start in range(len(tokens) - size + 1):
            piece = tokens[start:start + size]
            if None in piece:
                continue
            word = "".join(p for p in piece if p)
            if word in _WORDS and word not in _WHOLE_ONLY:
                said.add(_WORDS[word])
                tokens[start:start + size] = [None] * size
    return frozenset(said.pop()) if len(said) == 1 else frozenset()


def read_names(names: Sequence[str | None], sensors: Sequence[str] | None = None) -> list[Reading]:
    """Each of ``names`` read with the others (the sensor and the letters are told from the whole set).
    ``sensors``: read band numbers as these sensors' (default: those :func:`sensors_for` finds)."""
    texts = [(n or "").strip() for n in names]
    fits = list(sensors) if sensors is not None else sensors_for(texts)
    # one-letter names are colours only where every one-letter name of the set is R, G, B, N or I
    letters = all(t.lower() in _LETTERS for t in texts if len(t) == 1)
    out: list[Reading] = []
    for text in texts:
        number = sensor_number(text)  # an empty name says nothing: a "word" without meanings
        if text.lower() in COMMON:
            reading = Reading(frozenset({text.lower()}), "common name")
        elif number:
            reading = Reading(frozenset(SENSORS[s][number[1]] for s in fits if number[1] in SENSORS[s]), "sensor")
        elif len(text) == 1:
            reading = Reading(frozenset({_LETTERS[text.lower()]}) if letters else frozenset(), "letter")
        else:
            reading = Reading(word_meanings(text), "word")
        out.append(reading if reading.meanings else Reading(frozenset(), ""))
    return out


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
        if by_name := _by_names(texts):
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


_POLARISATION = re.compile(r"(?:^|[^a-z])(vv|vh)(?:$|[^a-z])")
_NDVI = re.compile(r"(?:^|[^a-z])ndvi(?:$|[^a-z])")


def polarisation(name: str | None) -> str | None:
    """``vv`` / ``vh`` for a Sentinel-1 band name that says one (VV, S1_VH, sigma0_vv, VV_dB), else None."""
    found = set(_POLARISATION.findall((name or "").lower()))
    return found.pop() if len(found) == 1 else None


def eo_names(names: Sequence[str | None]) -> list[str | None]:
    """Each band's common name (read with the others, :func:`read_names`), Sentinel-1 polarisation (``vv``,
    ``vh``) or ``ndvi``; None where it says none or several: what the Presto and Galileo encoders place in their
    groups."""
    out: list[str | None] = []
    for name, reading in zip(names, read_names(names)):
        meanings = set(reading.meanings)
        if meanings:
            out.append(meanings.pop() if len(meanings) == 1 else None)
        else:
            out.append(polarisation(name) or ("ndvi" if _NDVI.search((name or "").lower()) else None))
    return out
