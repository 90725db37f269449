"""Values in the units a model expects: the range it records, what the product says about its own units, and
whether an input's values lie far outside.

A model records the value range it expects of its inputs (``value_range``: reflectance 0-1, digital numbers
0-10000, 8-bit 0-255); one that records none is judged by its band statistics. An input whose sampled values
(2-98 %) lie far outside that range is brought into it when the product says how: GDAL's band scale and offset,
Sentinel-2 L2A's processing-baseline offset (``BOA_ADD_OFFSET``, -1000 from baseline 04.00, with
``BOA_QUANTIFICATION_VALUE`` 10000), a STAC item's ``raster:bands`` scale and offset. Otherwise the caller
warns, naming the bands, their range and the expected one (an error under strict inputs). Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .normalize import BandStatistics

# values lie far outside an expected range [lo, hi] when their 2-98 % range reaches more than FAR widths past it,
# or spans less than NARROW of it (0-1 reflectance given to a model of 0-10000 numbers); a dark scene stays inside
FAR, NARROW = 1.0, 1e-3
S2_QUANTIFICATION = 10000.0


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


def expected_range(value_range: Sequence[float] | None, statistics: BandStatistics,
                   scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
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


def seen_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2 and 98 % percentiles per band of (C, N) values."""
    low, high = np.percentile(values, [2, 98], axis=1)
    return low, high


def _float(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def _baseline(tags: dict[str, str]) -> float | None:
    for key in ("PROCESSING_BASELINE", "processing_baseline", "s2:processing_baseline"):
        if key in tags:
            return _float(tags[key])
    return None


def sentinel2_offset(dataset_tags: dict[str, str], band_tags: Sequence[dict[str, str]],
                     sensors: Sequence[str]) -> Scaling | None:
    """Sentinel-2 L2A's digital numbers to reflectance, where the product's metadata says its processing baseline
    (from 04.00: ``(DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE``, the offset -1000 unless stated; before:
    ``DN / BOA_QUANTIFICATION_VALUE``). None when the metadata do not say it is such a product."""
    baseline = _baseline(dataset_tags)
    quantification = _float(dataset_tags.get("BOA_QUANTIFICATION_VALUE") or dataset_tags.get("QUANTIFICATION_VALUE"))
    stated = "BOA_ADD_OFFSET" in dataset_tags or any("BOA_ADD_OFFSET" in tags for tags in band_tags)
    if baseline is None and quantification is None and not stated:
        return None
    if baseline is None and not stated and "Sentinel-2" not in sensors:
        return None
    q = quantification or S2_QUANTIFICATION
    offsets = []
    for tags in band_tags:
        stated = _float(tags.get("BOA_ADD_OFFSET") or dataset_tags.get("BOA_ADD_OFFSET"))
        offsets.append(stated if stated is not None else (-1000.0 if baseline is not None and baseline >= 4.0
                                                          else 0.0))
    shown = sorted(set(offsets))
    added = (f"{'-' if shown[0] < 0 else '+'} {abs(shown[0]):g}" if len(shown) == 1
             else "+ BOA_ADD_OFFSET (" + ", ".join(f"{o:g}" for o in offsets) + ")")
    said = (f"Sentinel-2 L2A reflectance = (DN {added}) / {q:g}"
            + (f" (processing baseline {baseline:05.2f})" if baseline is not None else ""))
    return Scaling(tuple(1.0 / q for _ in band_tags), tuple(o / q for o in offsets), said)


def sentinel2_nodata(dataset_tags: dict[str, str]) -> float | None:
    """The digital number a Sentinel-2 product says is nodata (``SPECIAL_VALUE_NODATA``, 0), else None."""
    return _float(dataset_tags.get("SPECIAL_VALUE_NODATA"))


def gdal_scaling(scales: Sequence[float | None], offsets: Sequence[float | None]) -> Scaling | None:
    """The GDAL band scale/offset of the bands (None when every band has 1 and 0)."""
    scale = tuple(1.0 if s is None else float(s) for s in scales)
    offset = tuple(0.0 if o is None else float(o) for o in offsets)
    found = Scaling(scale, offset, "the bands' GDAL scale/offset (" + ", ".join(
        f"x {s:g} {'-' if o < 0 else '+'} {abs(o):g}" for s, o in sorted(set(zip(scale, offset)))) + ")")
    return None if found.identity else found


def describe_far(far: list[int], labels: Sequence[str], seen: tuple[np.ndarray, np.ndarray],
                 expected: tuple[np.ndarray, np.ndarray]) -> str:
    """``nir (band 8): 52..4760, expected 0..1; ...`` for the bands at positions ``far``."""
    shown = [f"{labels[i]}: {seen[0][i]:.4g}..{seen[1][i]:.4g}, expected {expected[0][i]:.4g}..{expected[1][i]:.4g}"
             for i in far[:6]]
    return "; ".join(shown) + ("; ..." if len(far) > 6 else "")
