"""Per-band statistics computed from training data, stored in the bundle, and applied to every tile.

Robust by default: the 2nd and 98th percentiles of a random subsample of valid pixels, mapped to 0..1
(clipped). ``meanstd`` standardises instead. Any input dtype works; invalid pixels become 0 after scaling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError

METHODS = ("percentile", "meanstd")


@dataclass
class BandStatistics:
    """Per-band scaling. ``percentile``: low/high = 2nd/98th percentiles; ``meanstd``: low = mean, high = std."""

    method: str
    low: list[float]
    high: list[float]

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise DataError(f"Band statistics method '{self.method}' is unknown; use one of {METHODS}.")
        self.low, self.high = [float(v) for v in self.low], [float(v) for v in self.high]
        if len(self.low) != len(self.high):
            raise DataError(f"Band statistics have {len(self.low)} low but {len(self.high)} high values.")

    @property
    def bands(self) -> int:
        return len(self.low)

    def _check_bands(self, count: int) -> None:
        if count != self.bands:
            raise DataError(f"The data has {count} band(s) but the statistics were computed for {self.bands}; use "
                            f"rasters with the same bands as the training data.")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BandStatistics:
        try:
            return cls(method=data["method"], low=list(data["low"]), high=list(data["high"]))
        except (KeyError, TypeError) as exc:
            raise DataError(f"Band statistics need 'method', 'low' and 'high' (got {data!r}).") from exc

    def apply(self, array: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Scale (C, H, W) raw values to float32 (the class docstring's method); invalid and non-finite pixels -> 0."""
        self._check_bands(array.shape[0])
        low = np.asarray(self.low, dtype=np.float32)[:, None, None]
        high = np.asarray(self.high, dtype=np.float32)[:, None, None]
        # one new float32 array, then in place (inference normalises every tile in the reader thread); a float
        # nodata such as -3.4e38 (at an invalid pixel, or in one band of a pixel the others make valid) overflows
        # to -inf here, clipped or set to 0 below: numpy's warning is not the user's
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.subtract(array, low, dtype=np.float32)
            if self.method == "percentile":
                span = high - low
                span = np.where(span > 0, span, np.float32(1))  # constant band: avoid division by zero
                out /= span
                # maximum then minimum: NaN stays NaN, and both are plain ufunc passes (np.clip's checks took 2.6x
                # as long on a 256-px tile, the largest part of reading a tile: a bulk run's reader competes with
                # the model)
                np.maximum(out, np.float32(0), out=out)
                np.minimum(out, np.float32(1), out=out)
            else:
                out /= np.where(high > 0, high, np.float32(1))
        if array.dtype.kind not in "biu":  # NaN/inf raw values (float rasters); integers give finite values
            finite = np.isfinite(out)
            if not finite.all():
                out[~finite] = 0.0
        if valid is not None and not valid.all():
            out[:, ~valid] = 0.0
        return out

    def apply_tensor(self, x: Any, keep: Any) -> Any:
        """:meth:`apply` on a torch tensor where it lies (on a GPU, the reader then ships raw values). ``x``: (B, C,
        H, W) float32 raw values; ``keep``: (B, H, W) bool, False where the result is 0 (invalid). The same float32
        operations in the same order as :meth:`apply` (a tensor divisor, so a true division, not a multiplication by
        the reciprocal): the same values, bit for bit (tested on the CPU)."""
        from ..runtime.environment import require
        from ..runtime.prefetch import to_device

        torch = require("torch")
        self._check_bands(x.shape[1])
        # to_device: torch.tensor(..., device="cuda") would copy from pageable memory and wait for the GPU
        low = to_device(np.asarray(self.low, np.float32), x.device).view(1, -1, 1, 1)
        high = to_device(np.asarray(self.high, np.float32), x.device).view(1, -1, 1, 1)
        one = torch.ones((), dtype=torch.float32, device=x.device)
        out = x.float() - low
        if self.method == "percentile":
            span = high - low
            out = (out / torch.where(span > 0, span, one)).clamp_(0.0, 1.0)
        else:
            out = out / torch.where(high > 0, high, one)
        return torch.where(torch.isfinite(out) & keep[:, None], out, torch.zeros((), device=x.device))


def compute_statistics(sources: Iterable[Any], method: str = "percentile", max_pixels: int = 1_000_000, *,
                       seed: int = 0) -> BandStatistics:
    """Per-band statistics (``method``: "percentile", the robust 2/98 percentiles, or "meanstd") over the valid pixels
    of ``sources``, (C, H, W) arrays or (array, valid) pairs (NaN/inf pixels are invalid): at most ``max_pixels`` of
    them, a random subsample, the same for a ``seed``. DataError when there are no valid pixels (or ``method`` is
    unknown: :class:`BandStatistics`)."""
    rng = np.random.default_rng(seed)
    # Bottom-k sampling: every valid pixel gets a random key and the max_pixels smallest keys are kept,
    # a uniform sample over all valid pixels however many sources there are.
    values: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    kept, cutoff = 0, 1.0
    bands: int | None = None
    for item in sources:
        array, valid = item if isinstance(item, tuple) else (item, None)
        array = np.asarray(array)
        array = array[None] if array.ndim == 2 else array
        bands = array.shape[0] if bands is None else bands
        if array.shape[0] != bands:
            raise DataError(f"Inconsistent band counts for statistics: {bands} and {array.shape[0]}; all "
                            f"images of a dataset need the same bands.")
        pixels = array.reshape(bands, -1).T  # (N, C) in the source dtype
        ok = np.ones(len(pixels), bool) if valid is None else np.asarray(valid, dtype=bool).reshape(-1)
        if pixels.dtype.kind == "f":
            ok = ok & np.isfinite(pixels).all(axis=1)
        index = np.flatnonzero(ok)
        key = rng.random(index.size)
        chosen = key < cutoff
        if chosen.any():
            values.append(pixels[index[chosen]].astype(np.float64))
            keys.append(key[chosen])
            kept += int(chosen.sum())
        if kept > 2 * max_pixels:
            all_keys, all_values = np.concatenate(keys), np.concatenate(values)
            order = np.argpartition(all_keys, max_pixels)[:max_pixels]
            cutoff = float(all_keys[order].max())
            keys, values, kept = [all_keys[order]], [all_values[order]], max_pixels
    if not values:
        raise DataError("No valid pixels to compute band statistics from: every pixel is nodata, NaN or outside "
                        "the images; check the nodata value and the extent of the input rasters.")
    all_keys, sample = np.concatenate(keys), np.concatenate(values)
    if sample.shape[0] > max_pixels:
        sample = sample[np.argpartition(all_keys, max_pixels)[:max_pixels]]
    low, high = (np.percentile(sample, (2.0, 98.0), axis=0) if method == "percentile"
                 else (sample.mean(axis=0), sample.std(axis=0)))
    return BandStatistics(method, low.tolist(), high.tolist())
