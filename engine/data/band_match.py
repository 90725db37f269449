"""Bands by name: which bands of an input feed which model input.

A model records the names of the bands it takes, in its order (a ready model's common names "blue", "nir",
"swir16"; a trained model's the training images' band descriptions). An input's bands are named by their
descriptions (GDAL band descriptions, a STAC asset's ``eo:bands``), which may be the common names themselves or a
sensor's band names: Sentinel-2 ``B1``..``B12``/``B8A`` (``B01``, ``S2_B04``), Landsat 8/9 and 4-7 ``SR_B*`` /
``B*``. A sensor's band numbers mean different bands on different sensors (band 5 is red edge on Sentinel-2, NIR on
Landsat 8, SWIR on Landsat 5), so the sensor is told from the whole set of the input's names; where more than one
sensor fits and they disagree on a band the model needs, that is said, never guessed.

:func:`match_bands` picks and orders an input's bands for a model; :func:`pick_bands` reads ``--bands`` (numbers
or names, in the model's order). Both say in words which band fed which model input, and fail with a
:class:`~engine.errors.DataError` listing what the model needs and what the input has.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DataError

#: The common names of STAC's eo extension (and of the ready models' catalogue).
COMMON = ("coastal", "blue", "green", "red", "yellow", "pan", "rededge", "rededge1", "rededge2", "rededge3", "nir",
          "nir08", "nir09", "cirrus", "swir16", "swir22", "lwir", "lwir11", "lwir12")
# a band name that stands for another when the input lacks the exact one (a model's "nir" is Landsat's "nir08")
SYNONYMS = {"nir": ("nir08",), "nir08": ("nir",), "rededge": ("rededge1",)}

# band number (as written after the B, without leading zeros) -> common name, per sensor
SENSORS: dict[str, dict[str, str]] = {
    "Sentinel-2": {"1": "coastal", "2": "blue", "3": "green", "4": "red", "5": "rededge1", "6": "rededge2",
                   "7": "rededge3", "8": "nir", "8A": "nir08", "9": "nir09", "10": "cirrus", "11": "swir16",
                   "12": "swir22"},
    "Landsat 8/9": {"1": "coastal", "2": "blue", "3": "green", "4": "red", "5": "nir08", "6": "swir16",
                    "7": "swir22", "8": "pan", "9": "cirrus", "10": "lwir11", "11": "lwir12"},
    "Landsat 4-7": {"1": "blue", "2": "green", "3": "red", "4": "nir08", "5": "swir16", "6": "lwir", "7": "swir22",
                    "8": "pan"},
}
_NUMBERED = re.compile(r"^(?:([A-Z0-9]+)_)*?B0?(\d{1,2}A?)$")
# GDAL's SENTINEL2 driver describes its bands "B4, central wavelength 665 nm" (and a gdal_translate copy keeps it)
_GDAL_S2 = re.compile(r"^\s*(B0?\d{1,2}A?),\s*central wavelength \d+\s*nm\s*$", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class BandPick:
    """The input's 1-based bands in the model's order, and the same in words for the log."""

    bands: tuple[int, ...]
    said: str

    @property
    def identity(self) -> bool:
        return self.bands == tuple(range(1, len(self.bands) + 1))


def _number(name: str) -> tuple[str, str] | None:
    """("SR" or another prefix or "", band number) of a sensor band name like B04, B8A, SR_B5, S2_B11, or GDAL's
    SENTINEL2 driver's description "B4, central wavelength 665 nm"."""
    gdal_s2 = _GDAL_S2.match(name)
    match = _NUMBERED.match((gdal_s2[1] if gdal_s2 else name).strip().upper().replace(" ", ""))
    if not match:
        return None
    return (match[1] or "", match[2].lstrip("0") or "0")


def _common(name: str) -> str | None:
    """The common name a description states outright ("red", "NIR", "B04 (red)" -> "red")."""
    words = _WORD.findall(name.lower())
    found = [w for w in words if w in COMMON]
    return found[0] if len(found) == 1 else None


def sensors_for(names: Sequence[str | None]) -> list[str]:
    """The sensors whose band numbering holds every numbered name among ``names`` (none numbered: [])."""
    numbers = [n for n in (_number(x or "") for x in names) if n]
    if not numbers:
        return []
    fits = [s for s, table in SENSORS.items() if all(num in table for _, num in numbers)]
    prefixes = {p for p, _ in numbers}
    if "SR" in prefixes:  # Landsat Collection 2 surface reflectance
        fits = [s for s in fits if s.startswith("Landsat")]
        have = {num for _, num in numbers}
        if "7" in have and "6" not in have:  # Landsat 4-7 SR has no band 6 (thermal)
            fits = [s for s in fits if s == "Landsat 4-7"] or fits
        elif "6" in have:
            fits = [s for s in fits if s == "Landsat 8/9"] or fits
    if any(re.match(r"^(?:[A-Z0-9]+_)*B0\d$", (x or "").strip().upper()) or _GDAL_S2.match(x or "") for x in names):
        # zero-padded B01..B09: Sentinel-2's spelling; "B4, central wavelength 665 nm": GDAL's SENTINEL2 driver
        fits = [s for s in fits if s == "Sentinel-2"] or fits
    return fits


def band_meanings(names: Sequence[str | None]) -> list[set[str]]:
    """Per band, the common names it may stand for (empty: unnamed or unknown). A numbered name on an input that
    more than one sensor fits may mean several."""
    sensors = sensors_for(names)
    out: list[set[str]] = []
    for name in names:
        text = (name or "").strip()
        meanings: set[str] = set()
        number = _number(text)
        if number:
            meanings = {SENSORS[s][number[1]] for s in sensors if number[1] in SENSORS[s]}
        common = _common(text)
        if common and not meanings:
            meanings = {common}
        out.append(meanings)
    return out


def describe_input(names: Sequence[str | None]) -> str:
    """The input's bands in words: ``1 'B1', 2 'B2', 3 (no name)``."""
    return ", ".join(f"{i} '{n}'" if n else f"{i} (no name)" for i, n in enumerate(names, 1))


def _fail(model_names: Sequence[str], names: Sequence[str | None], source: str, what: str) -> DataError:
    sensors = sensors_for(names)
    seen = f" (band names of {' or '.join(sensors)})" if sensors else ""
    return DataError(f"{what}. The model takes {len(model_names)} band(s), in this order: {', '.join(model_names)}; "
                     f"'{source}' has {len(names)}: {describe_input(names)}{seen}. Give the bands in the model's "
                     f"order with --bands / Bands (numbers or names, e.g. --bands "
                     f"{','.join(str(i) for i in range(1, min(len(model_names), len(names)) + 1))}), or set the "
                     f"band descriptions of the file.")


def _find(wanted: str, names: Sequence[str | None], meanings: list[set[str]]) -> list[int]:
    """0-based positions of the input bands named ``wanted`` (the exact name first, then by meaning)."""
    key = wanted.strip().lower()
    exact = [i for i, n in enumerate(names) if n and n.strip().lower() == key]
    if exact:
        return exact
    asked = meanings_of(wanted)
    hits = [i for i, m in enumerate(meanings) if m and m <= asked]
    if not hits:  # a synonym ("nir" for Landsat's "nir08") when the exact meaning is missing
        wider = set(asked)
        for a in asked:
            wider.update(SYNONYMS.get(a, ()))
        hits = [i for i, m in enumerate(meanings) if m and m <= wider]
    unsure = [i for i, m in enumerate(meanings) if len(m) > 1 and m & asked and i not in hits]
    return hits + unsure


def meanings_of(name: str) -> set[str]:
    """What a model's band name stands for: a common name, or a sensor band name (every sensor's meaning)."""
    text = name.strip()
    if text.lower() in COMMON:
        return {text.lower()}
    number = _number(text)
    if number:
        return {table[number[1]] for table in SENSORS.values() if number[1] in table}
    common = _common(text)
    return {common} if common else set()


def _said(model_names: Sequence[str], names: Sequence[str | None], bands: Sequence[int], how: str) -> str:
    pairs = ", ".join(f"{m} <- band {b}" + (f" '{names[b - 1]}'" if names[b - 1] else "")
                      for m, b in zip(model_names, bands))
    return f"{how}: {pairs}"


def match_bands(model_names: Sequence[str], names: Sequence[str | None], source: str) -> BandPick | None:
    """The input's bands for each of ``model_names`` by name; None when the input's bands carry no names to go by
    (then band counts decide, as before names). DataError when a band the model needs is missing or ambiguous."""
    if not any((n or "").strip() for n in names):
        return None
    meanings = band_meanings(names)
    chosen: list[int] = []
    for wanted in model_names:
        hits = _find(wanted, names, meanings)
        if not hits:
            raise _fail(model_names, names, source, f"'{source}' has no band named like the model's '{wanted}'")
        if len(hits) > 1 or len(meanings[hits[0]]) > 1 and not (names[hits[0]] or "").strip().lower() == wanted.lower():
            which = ", ".join(f"{i + 1} '{names[i]}' ({' or '.join(sorted(meanings[i])) or 'same name'})"
                              for i in hits)
            raise _fail(model_names, names, source, f"The model's band '{wanted}' is ambiguous in '{source}': {which}")
        chosen.append(hits[0] + 1)
    repeated = sorted({b for b in chosen if chosen.count(b) > 1})
    if repeated:
        raise _fail(model_names, names, source, f"Band(s) {repeated} of '{source}' match more than one model band")
    sensors = sensors_for(names)
    how = "Bands picked by name" + (f" ({' / '.join(sensors)} band names)" if len(sensors) == 1 else "")
    return BandPick(tuple(chosen), _said(model_names, names, chosen, how))


def pick_bands(given: Sequence[str], model_names: Sequence[str] | None, count: int, names: Sequence[str | None],
               source: str, flag: str = "--bands") -> BandPick:
    """The input's bands that ``given`` (numbers counted from 1, or names) chooses, in the model's order."""
    wanted_count = len(model_names) if model_names else count
    shown = ",".join(given)
    if len(given) != wanted_count:
        needs = f" ({', '.join(model_names)})" if model_names else ""
        raise DataError(f"{flag} {shown} gives {len(given)} band(s), the model takes {wanted_count}{needs}, in its "
                        f"order; '{source}' has {len(names)}: {describe_input(names)}.")
    meanings = band_meanings(names)
    chosen: list[int] = []
    for item in given:
        if item.isdigit():
            band = int(item)
            if not 1 <= band <= len(names):
                raise DataError(f"{flag} {shown}: '{source}' has no band {band}; it has {len(names)} "
                                f"({describe_input(names)}).")
            chosen.append(band)
            continue
        hits = _find(item, names, meanings)
        if len(hits) != 1:
            problem = "no band named" if not hits else "more than one band named like"
            raise DataError(f"{flag} {shown}: '{source}' has {problem} '{item}'; its bands: {describe_input(names)}. "
                            f"Give band numbers counted from 1.")
        chosen.append(hits[0] + 1)
    repeated = sorted({b for b in chosen if chosen.count(b) > 1})
    if repeated:
        raise DataError(f"{flag} {shown} names band(s) {repeated} of '{source}' more than once.")
    labels = list(model_names) if model_names else [f"input {i}" for i in range(1, wanted_count + 1)]
    return BandPick(tuple(chosen), _said(labels, names, chosen, f"Bands from {flag} {shown}"))
