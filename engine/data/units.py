"""Values in the units a model expects: the range it records (``value_range``, else its band statistics), whether an
input's sampled values (2-98 %) lie far outside, and what the product says about its own units to bring them in:
GDAL's band scale and offset, Sentinel-2 L2A's processing-baseline offset, a STAC item's ``raster:bands``. The rules
and messages: docs/inputs.md, "Units". Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, mention
from .normalize import BandStatistics

# values lie far outside an expected range [lo, hi] when their 2-98 % range reaches more than FAR widths past it,
# or spans less than NARROW of it (0-1 reflectance given to a model of 0-10000 numbers); a dark scene stays inside
FAR, NARROW = 1.0, 1e-3
S2_QUANTIFICATION = 10000.0
BASELINE_KEYS = ("PROCESSING_BASELINE", "processing_baseline", "s2:processing_baseline")


@dataclass(frozen=True)
class Scaling:
    """Per band ``value * scale + offset``, and where the product says so (for the log)."""

    scale: tuple[float, ...]
    offset: tuple[float, ...]
    how: str

    @property
    def identity(self) -> bool:
        return all(s == 1.0 for s in self.scale) and all(o == 0.0 for o in self.offset)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """(C, N) values scaled band by band."""
        return values * np.asarray(self.scale)[:, None] + np.asarray(self.offset)[:, None]


def expected_range(value_range: Sequence[float] | None, statistics: BandStatistics) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per band a model expects: its recorded ``value_range`` for every band, else where its band
    statistics put most values (mean +- 3 std, or the 2-98 % percentiles widened by half their width)."""
    bands = statistics.bands
    if value_range is not None:
        return np.full(bands, float(value_range[0])), np.full(bands, float(value_range[1]))
    low, high = np.asarray(statistics.low, np.float64), np.asarray(statistics.high, np.float64)
    if statistics.method == "meanstd":
        return low - 3 * high, low + 3 * high
    width = high - low
    return low - width / 2, high + width / 2


def far_outside(seen_low: np.ndarray, seen_high: np.ndarray, low: np.ndarray, high: np.ndarray) -> list[int]:
    """Positions of the bands whose seen range lies far outside [low, high] (see FAR, NARROW)."""
    width = np.maximum(high - low, 1e-12)
    past = np.maximum(seen_high - high, low - seen_low) / width
    narrow = (seen_high - seen_low) / width < NARROW
    return [i for i in range(len(low)) if past[i] > FAR or (narrow[i] and (seen_high[i] - seen_low[i]) > 0)]


RANGE_SAMPLE = 1 << 15  # values a band's 2-98 % range is read from: within 0.5 % of the band's range of the exact
# percentiles, and "far outside" means several times the model's range (half the time of 65,536 values)


def seen_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2 and 98 % percentiles per band of (C, N) values, from at most RANGE_SAMPLE of them (evenly spaced):
    numpy's linear interpolation, from one partition of the four ranks it needs (np.percentile partitions for
    each; 2.3x faster on a 512² scene's sample)."""
    step = -(-values.shape[1] // RANGE_SAMPLE)  # a whole 512² scene: 20 ms a scene of a bulk run, 1 ms so
    sample = values[:, ::step] if step > 1 else values
    last = sample.shape[1] - 1
    position = np.array([0.02, 0.98]) * last
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, last)
    ranked = _ranked(sample, np.unique(np.concatenate([below, above])))
    share = position - below
    both = ranked[:, below] * (1 - share) + ranked[:, above] * share  # (C, 2)
    return both[:, 0], both[:, 1]


def _ranked(sample: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """(C, N) ``sample`` with the values of rank ``ranks`` (per band, from 0) in those columns: integers of a
    narrow range (8- and 16-bit imagery) counted per value, the same values as a partition in a fifth of its
    time (1 ms of a 512² bulk scene); anything else partitioned."""
    low = int(sample.min()) if sample.dtype.kind in "ui" and sample.size else 0
    if sample.dtype.kind not in "ui" or sample.size == 0 or int(sample.max()) - low > COUNTED_SPAN:
        return np.partition(sample, ranks, axis=1)
    ranked = np.empty_like(sample)
    for band, row in enumerate(sample):
        shifted = row if low == 0 else row.astype(np.int64) - low  # from 0, without wrapping an int8
        below = np.cumsum(np.bincount(shifted))  # pixels at or below each value
        ranked[band, ranks] = np.searchsorted(below, ranks, side="right") + low
    return ranked


COUNTED_SPAN = 1 << 16  # value ranges counted rather than partitioned (a count per value: 512 KB at most)


def as_float(value: Any) -> float:
    """``value`` (a number, or text holding one: a raw label key, a field's value) as a float; NaN where it is none."""
    try:
        return float(str(value))
    except ValueError:
        return float("nan")


def _float(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def sentinel2_offset(dataset_tags: dict[str, str], band_tags: Sequence[dict[str, str]], sensors: Sequence[str],
                     where: str, labels: Sequence[str], remedy: str) -> Scaling | None:
    """Sentinel-2 L2A's digital numbers to reflectance, where the product's metadata says its processing baseline
    (from 04.00: ``(DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE``, the offset -1000 unless stated; before:
    ``DN / BOA_QUANTIFICATION_VALUE``). None when the metadata do not say it is such a product; DataError for a
    quantification value, processing baseline or band offset stated but no number (or a quantification <= 0).
    """
    said_baseline = next((k for k in BASELINE_KEYS if k in dataset_tags), None)
    baseline = None if said_baseline is None else _float(dataset_tags[said_baseline])
    key = "BOA_QUANTIFICATION_VALUE" if "BOA_QUANTIFICATION_VALUE" in dataset_tags else "QUANTIFICATION_VALUE"
    quantification = _float(dataset_tags.get(key))
    stated = "BOA_ADD_OFFSET" in dataset_tags or any("BOA_ADD_OFFSET" in tags for tags in band_tags)
    if baseline is None and not stated and ((quantification is None and key not in dataset_tags)
                                            or (not said_baseline and "Sentinel-2" not in sensors)):
        return None

    def nonsense(what: str, value: Any) -> DataError:
        return DataError(f"{where} says {what} is {value!r}, which is no usable number, so its digital numbers "
                         f"cannot be brought to reflectance. {remedy}")

    if key in dataset_tags and (quantification is None or not np.isfinite(quantification) or quantification <= 0):
        raise nonsense(f"its {key}", dataset_tags[key])
    if said_baseline and (baseline is None or not np.isfinite(baseline)):
        raise nonsense(f"its {said_baseline}", dataset_tags[said_baseline])
    q = quantification or S2_QUANTIFICATION
    default = -1000.0 if baseline is not None and baseline >= 4.0 else 0.0
    offsets = []
    for i, tags in enumerate(band_tags):
        text = tags.get("BOA_ADD_OFFSET", dataset_tags.get("BOA_ADD_OFFSET"))
        stated = _float(text)
        if text is not None and (stated is None or not np.isfinite(stated)):
            raise nonsense(f"the BOA_ADD_OFFSET of {labels[i]}", text)
        offsets.append(stated if stated is not None else default)
    shown = sorted(set(offsets))
    added = (f"{'-' if shown[0] < 0 else '+'} {abs(shown[0]):g}" if len(shown) == 1
             else "+ BOA_ADD_OFFSET (" + ", ".join(f"{o:g}" for o in offsets) + ")")
    said = (f"Sentinel-2 L2A reflectance = (DN {added}) / {q:g}"
            + (f" (processing baseline {baseline:05.2f})" if baseline is not None else ""))
    return Scaling(tuple(1.0 / q for _ in band_tags), tuple(o / q for o in offsets), said)


def sentinel2_nodata(dataset_tags: dict[str, str]) -> float | None:
    """The digital number a Sentinel-2 product says is nodata (``SPECIAL_VALUE_NODATA``, 0), else None (also when
    it is no finite number)."""
    return _number(dataset_tags.get("SPECIAL_VALUE_NODATA"), None)


def _number(value: Any, default: float | None) -> float | None:
    """``value`` as a finite float (``default`` when absent), None when it is no number (text, a list, NaN, inf)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str, np.number)):
        return None
    number = _float(value)
    return number if number is not None and np.isfinite(number) else None


def gdal_scaling(scales: Sequence[Any], offsets: Sequence[Any], where: str, labels: Sequence[str], kind: str,
                 remedy: str) -> Scaling | None:
    """The bands' scale/offset (GDAL's, or ``kind``'s: a STAC item's ``raster:bands``) as a Scaling (None when
    every band has 1 and 0); DataError for a scale or offset that is no finite number, or a scale of 0."""
    scale = tuple(_number(s, 1.0) for s in scales)
    offset = tuple(_number(o, 0.0) for o in offsets)
    for i, (s, o) in enumerate(zip(scale, offset)):
        if s is None or s == 0 or o is None:
            field, value = ("offset", offsets[i]) if s not in (None, 0) else ("scale", scales[i])
            why = ("every value times 0 is the same" if s == 0 else "that is not a finite number")
            shown = f"{value:g}" if isinstance(value, (float, np.floating)) else repr(value)
            raise DataError(f"{where} declares a {kind} {field} of {shown} for {labels[i]}: {why}, so its values "
                            f"cannot be brought to the model's units. {remedy}")
    found = Scaling(scale, offset, f"the bands' {kind} scale/offset (" + ", ".join(  # type: ignore[arg-type]
        f"x {s:g} {'-' if o < 0 else '+'} {abs(o):g}" for s, o in sorted(set(zip(scale, offset)))) + ")")
    return None if found.identity else found


def describe_far(far: list[int], labels: Sequence[str], seen: tuple[np.ndarray, np.ndarray],
                 expected: tuple[np.ndarray, np.ndarray]) -> str:
    """``nir (band 8): 52..4760, expected 0..1; ...`` for the bands at positions ``far``."""
    shown = [f"{labels[i]}: {seen[0][i]:.4g}..{seen[1][i]:.4g}, expected {expected[0][i]:.4g}..{expected[1][i]:.4g}"
             for i in far[:6]]
    return "; ".join(shown) + ("; ..." if len(far) > 6 else "")


def remedy(kind: str, source: str) -> str:
    """What to do about nonsense scaling metadata of ``kind`` (GDAL, STAC, Sentinel-2) in ``source``."""
    state = (f"or state the values' units with {mention('segment.value_scale')} (e.g. 0.0001 for reflectance "
             f"stored x 10000) and {mention('segment.value_offset')}, which replace what the file says.")
    if kind == "STAC":
        return f"Correct the item's raster:bands (numbers, e.g. \"scale\": 0.0001, \"offset\": 0), {state}"
    if kind == "Sentinel-2":
        return (f"Correct the metadata (gdal_edit -mo BOA_QUANTIFICATION_VALUE=10000 -mo BOA_ADD_OFFSET=-1000 "
                f"'{source}'), {state}")
    return (f"Set the right scale and offset in the file (gdal_edit -scale 0.0001 -offset 0 '{source}' for "
            f"reflectance stored x 10000; -scale 1 -offset 0 for values already in their units), {state}")
