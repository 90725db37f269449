"""An encoder's released band statistics in place of the data's own, where its weights' record has them for bands
fed by name (Prithvi-EO-2.0: the mean and standard deviation of its 6 HLS bands, reflectance x 10000) and the data
is on the scale they are for.

A pretrained encoder saw its inputs standardised by its release's statistics; training data on the same scale
(Sentinel-2 L2A or HLS reflectance x 10000, brought there by the product's own offsets) is normalised by them, so
the encoder sees what it was trained on. Data on another scale (8-bit, reflectance 0-1) keeps its own statistics,
as said in the log: the released ones would put it far off.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..data.normalize import BandStatistics
from ..models.encoders.weights import model_pretrained

# the released statistics fit data whose bands' middle values lie in this range of reflectance x 10000, and
# whose brightest band reaches past 8-bit values
SCALE_LOW, SCALE_HIGH, EIGHT_BIT = 50.0, 15000.0, 255.0


def _middles(stats: BandStatistics) -> tuple[list[float], float]:
    """(each band's middle value: the mean, or the middle of its 2-98 % range; the highest band's top: its 98 %
    value, or mean + 2 std)."""
    if stats.method == "meanstd":
        return list(stats.low), max(m + 2 * s for m, s in zip(stats.low, stats.high))
    return [(lo + hi) / 2 for lo, hi in zip(stats.low, stats.high)], max(stats.high)


def released_statistics(datasets: tuple[Any, Any, Any], model_cfg: Any,
                        say: Callable[[str], None]) -> tuple[Any, Any, Any]:
    """The datasets normalised by the encoder's released statistics where its loaded weights' record has them for
    bands fed by name, the band count is theirs and the data is on their scale; else unchanged. Each outcome
    said."""
    source = model_pretrained(model_cfg)
    weights = source.weights if source.loads else None
    if weights is None or not weights.by_name or not weights.mean:
        return datasets
    train_ds, val_ds, summary = datasets
    meta = summary.metadata
    mine = meta.vision_stats
    title = f"{weights.title}'s"
    if mine is None or mine.bands != len(weights.mean):
        say(f"The image has {mine.bands if mine else 0} band(s), not the {len(weights.mean)} of the {weights.title}: "
            f"its own band statistics normalise it.")
        return datasets
    middles, top = _middles(mine)
    if not all(SCALE_LOW <= m <= SCALE_HIGH for m in middles) or top <= EIGHT_BIT:
        say(f"The image's values (band middles {', '.join(f'{m:.3g}' for m in middles)}) are not {weights.scale}, "
            f"the scale of the {title} statistics: its own band statistics normalise it.")
        return datasets
    released = BandStatistics("meanstd", list(weights.mean), list(weights.std))
    for ds in (train_ds, val_ds):
        if ds is not None and hasattr(ds, "vision_stats"):
            ds.vision_stats = released
    say(f"The image is normalised by the {title} statistics (mean and standard deviation of {weights.trained_on}, "
        f"{weights.scale}), as the encoder was pretrained.")
    return train_ds, val_ds, dataclasses.replace(summary, metadata=dataclasses.replace(meta, vision_stats=released))
