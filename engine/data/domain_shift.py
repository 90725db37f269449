"""Whether an image's values are in other units or from another sensor than a model's training data: the rule
behind the image-domain warning, on numbers alone (the image's 2-98 % range per band against the training one).

A change of units moves every band by one large factor (digital numbers given to a reflectance model: x 10,000;
0-1 given to a 0-255 model: / 255; an 8-bit export of 16-bit data: / 10 or more), or puts the values where the
training data never was (Landsat L1 numbers from 7,000 up against Sentinel-2 L2A's 0..5,000). A scene of the same
product differs by its content: a dark forest, snow, a lake, a cloud field. Such scenes move their bands by
different, smaller factors (the darkest real Sentinel-2 L2A tile here lies 1/20 below its product's 98th
percentile in its blue bands, 1/2 in its infrared ones), so the rule judges the factor of the typical band (the
median over bands), and a single band only for a factor of a hundred, a range far beside the training one, or an
8-bit mismatch. Measured on the real scenes in ``../shared/realdata`` (tests/realdata/test_domain_shift.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .normalize import BandStatistics

IMAGE_FACTOR = 10.0  # the typical band this many times above or below the training values: other units
APART_FACTOR = 3.0  # ... or this many, with most bands' ranges apart from the training ones: another product
BAND_FACTOR = 100.0  # one band this many times off: that band in other units (the others as in training)
FAR_GAP = 1.0  # one band whose range lies more than this many training widths beside the training range
EIGHT_BIT = 255.0


@dataclass(frozen=True)
class Shift:
    """The bands (0-based) far from training, and the factor of the typical band (image values / training)."""

    far: list[int]
    factor: float
    eight_bit: str = ""  # "export": an 8-bit image of data the model saw beyond 8 bits; "beyond": the reverse


def domain_shift(seen_low: np.ndarray, seen_high: np.ndarray, low: np.ndarray, high: np.ndarray,
                 eight_bit_image: bool = False) -> Shift:
    """The bands whose values (2-98 % range ``seen_low..seen_high``) are in other units than the training ones
    (``low..high`` per band); ``eight_bit_image``: the image is stored in 8 bits."""
    seen_low, seen_high = np.asarray(seen_low, np.float64), np.asarray(seen_high, np.float64)
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    # how large a band's values are: the larger magnitude of its 2 and 98 % points
    trained, seen = np.maximum(np.abs(low), np.abs(high)), np.maximum(np.abs(seen_low), np.abs(seen_high))
    tiny = 1e-12 * max(float(trained.max()), float(seen.max()), 1e-12)
    logs = np.log10(np.maximum(seen, tiny) / np.maximum(trained, tiny))
    typical = float(np.median(logs))
    width = np.maximum(high - low, tiny)
    gap = np.maximum(low - seen_high, seen_low - high) / width  # > 0: the ranges do not overlap
    bands = range(len(low))
    far = {i for i in bands if abs(logs[i]) >= np.log10(BAND_FACTOR) or gap[i] > FAR_GAP}
    apart = sum(gap[i] > 0 for i in bands) > len(low) / 2
    if abs(typical) >= np.log10(IMAGE_FACTOR) or (apart and abs(typical) >= np.log10(APART_FACTOR)):
        # every band moved the same way: those that moved at least half as far as the typical one
        far |= {i for i in bands if logs[i] * typical > 0 and abs(logs[i]) >= abs(typical) / 2}
    odd, eight_bit = set(), ""
    if eight_bit_image:
        odd, eight_bit = {i for i in bands if high[i] > 2 * EIGHT_BIT}, "export"
    elif (low >= 0).all() and (high <= EIGHT_BIT).all() and high.max() > 2:  # 8-bit numbers, not 0-1 reflectance
        odd, eight_bit = {i for i in bands if seen_high[i] > 2 * EIGHT_BIT}, "beyond"
    return Shift(sorted(far | odd), float(10 ** typical), eight_bit if odd else "")


def training_ranges(statistics: BandStatistics) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per band where most training values lay: the 2-98 % percentiles, or mean +- 2 std."""
    low, high = np.asarray(statistics.low, np.float64), np.asarray(statistics.high, np.float64)
    return (low - 2 * high, low + 2 * high) if statistics.method == "meanstd" else (low, high)
