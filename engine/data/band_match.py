"""Bands by name: which bands of an input feed which model input.

A model records the names of the bands it takes, in its order (a ready model's common names "blue", "nir",
"swir16"; a trained model's the training images' band descriptions). An input's bands are named by their
descriptions (GDAL band descriptions, a STAC asset's ``eo:bands``). Both are read with one vocabulary
(:mod:`engine.data.band_names`: common names, sensor band numbers, letters, words), each set of names on its own:
the model's zero-padded ``B02`` is Sentinel-2's blue whatever sensor the input's names are from. Where the input's
names fit several sensors that disagree on a band the model needs, that is said, never guessed.

:func:`match_bands` (by name) and :func:`pick_bands` (``--bands``) say which band fed which model input, and fail
with a :class:`~engine.errors.DataError` listing what the model needs and what the input has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from ..errors import DataError, mention
from .band_names import SYNONYMS, read_names, sensor_number, sensors_for

__all__ = ["BandPick", "band_meanings", "describe_input", "match_bands", "pick_bands", "sensors_for"]


@dataclass(frozen=True)
class BandPick:
    """The input's 1-based bands in the model's order, and the same in words for the log."""

    bands: tuple[int, ...]
    said: str

    @property
    def identity(self) -> bool:
        return self.bands == tuple(range(1, len(self.bands) + 1))


def band_meanings(names: Sequence[str | None]) -> list[set[str]]:
    """Per band, the common names it may stand for (empty: unnamed or unknown), the names read together. A
    numbered name on an input that more than one sensor fits may mean several (one name on its own: the meanings
    of every sensor its spelling fits)."""
    return [set(r.meanings) for r in read_names(names)]


def describe_input(names: Sequence[str | None]) -> str:
    """The input's bands in words: ``1 'B1', 2 'B2', 3 (no name)``."""
    return ", ".join(f"{i} '{n}'" if n else f"{i} (no name)" for i, n in enumerate(names, 1))


def _fail(model_names: Sequence[str], names: Sequence[str | None], source: str, what: str, flag: str) -> DataError:
    sensors = sensors_for(names)
    seen = f" (band names of {' or '.join(sensors)})" if sensors else ""
    return DataError(f"{what}. The model takes {len(model_names)} band(s), in this order: {', '.join(model_names)}; "
                     f"'{source}' has {len(names)}: {describe_input(names)}{seen}. Give the bands in the model's "
                     f"order with {flag} (numbers or names, e.g. "
                     f"{','.join(str(i) for i in range(1, min(len(model_names), len(names)) + 1))}), or set the "
                     f"band descriptions of the file.")


def _find(wanted: str, asked: set[str], names: Sequence[str | None], meanings: list[set[str]]) -> list[int]:
    """0-based positions of the input bands named ``wanted`` (meaning ``asked``): the exact name, else by meaning."""
    if exact := _exact(wanted, names):
        return exact
    hits = [i for i, m in enumerate(meanings) if m and m <= asked]
    if not hits:  # a synonym ("nir" for Landsat's "nir08") when the exact meaning is missing
        wider = asked.union(*(SYNONYMS.get(a, ()) for a in asked))
        hits = [i for i, m in enumerate(meanings) if m and m <= wider]
    unsure = [i for i, m in enumerate(meanings) if len(m) > 1 and m & asked and i not in hits]
    return hits + unsure


def _exact(wanted: str, names: Sequence[str | None]) -> list[int]:
    key = wanted.strip().lower()
    return [i for i, n in enumerate(names) if n and n.strip().lower() == key]


def _same_number(item: str, names: Sequence[str | None]) -> list[int]:
    """0-based positions of the input bands with the sensor band number of ``item`` (``B2`` is ``SR_B2``, ``B02``):
    a name given with --bands names the input's own bands."""
    if not (number := sensor_number(item)):
        return []
    return [i for i, n in enumerate(names) if (found := sensor_number(n or "")) and found[1] == number[1]]


def _said(model_names: Sequence[str], names: Sequence[str | None], bands: Sequence[int], how: str) -> str:
    return f"{how}: " + ", ".join(f"{m} <- band {b}" + (f" '{names[b - 1]}'" if names[b - 1] else "")
                                  for m, b in zip(model_names, bands))


def match_bands(model_names: Sequence[str], names: Sequence[str | None], source: str,
                flag: str = mention("segment.bands")) -> BandPick | None:
    """The input's bands for each of ``model_names`` by name; None when the input's bands carry no names to go by
    (then band counts decide, as before names). DataError when a band the model needs is missing or ambiguous,
    saying to choose them with ``flag`` (the setting that does, as a message names it)."""
    if not any((n or "").strip() for n in names):
        return None
    meanings = band_meanings(names)
    asked_all = band_meanings(model_names)  # the model's names read together, apart from the input's
    fail = partial(_fail, model_names, names, source, flag=flag)
    chosen: list[int] = []
    for wanted, asked in zip(model_names, asked_all):
        if not (hits := _find(wanted, asked, names, meanings)):
            raise fail(f"'{source}' has no band named like the model's '{wanted}'")
        if len(hits) > 1 or len(meanings[hits[0]]) > 1 and not (names[hits[0]] or "").strip().lower() == wanted.lower():
            which = ", ".join(f"{i + 1} '{names[i]}' ({' or '.join(sorted(meanings[i])) or 'same name'})"
                              for i in hits)
            its = f" (the model's '{wanted}' may be {' or '.join(sorted(asked))})" if len(asked) > 1 else ""
            raise fail(f"The model's band '{wanted}' is ambiguous in '{source}'{its}: {which}")
        chosen.append(hits[0] + 1)
    if repeated := sorted({b for b in chosen if chosen.count(b) > 1}):
        raise fail(f"Band(s) {repeated} of '{source}' match more than one model band")
    sensors = sensors_for(names)
    how = "Bands picked by name" + (f" ({' / '.join(sensors)} band names)" if len(sensors) == 1 else "")
    return BandPick(tuple(chosen), _said(model_names, names, chosen, how))


def pick_bands(given: Sequence[str], model_names: Sequence[str] | None, count: int, names: Sequence[str | None],
               source: str, flag: str = mention("segment.bands"), masks: int = 0) -> BandPick:
    """The input's bands that ``given`` (numbers counted from 1, or names) chooses, in the model's order.
    ``names``: the input's data bands; ``masks``: how many alpha bands follow them (the input's mask, never
    picked)."""
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
            if len(names) < band <= len(names) + masks:
                raise DataError(f"{flag} {shown}: band {band} of '{source}' is its alpha band, which is its mask "
                                f"(where the image is valid), not a band a model takes; its bands: "
                                f"{describe_input(names)}.")
            if not 1 <= band <= len(names):
                raise DataError(f"{flag} {shown}: '{source}' has no band {band}; it has {len(names)} "
                                f"({describe_input(names)}).")
            chosen.append(band)
            continue
        hits = (_exact(item, names) or _same_number(item, names)
                or _find(item, band_meanings([item])[0], names, meanings))
        if len(hits) != 1:
            problem = "no band named" if not hits else "more than one band named like"
            raise DataError(f"{flag} {shown}: '{source}' has {problem} '{item}'; its bands: {describe_input(names)}. "
                            f"Give band numbers counted from 1.")
        chosen.append(hits[0] + 1)
    if repeated := sorted({b for b in chosen if chosen.count(b) > 1}):
        raise DataError(f"{flag} {shown} names band(s) {repeated} of '{source}' more than once.")
    labels = list(model_names) if model_names else [f"input {i}" for i in range(1, wanted_count + 1)]
    return BandPick(tuple(chosen), _said(labels, names, chosen, f"Bands from {flag} {shown}"))
