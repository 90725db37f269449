"""Band statistics of a training set: random training tiles read from the scenes (inside their training regions),
robust per-band statistics of the vision and aux streams over their valid pixels (:mod:`.normalize`), and the
warning about vision bands that are constant over the sample.
"""

from __future__ import annotations

import numpy as np

from ..callbacks import Callback, Stage
from ..config import DataConfig
from ..errors import DataError
from ..time_axis import per_date
from .normalize import BandStatistics, compute_statistics
from .sampling import CellIndex, Region, TileSampler, region_mask
from .scene import SceneReader

STATS_MAX_PIXELS = 1_000_000


def training_statistics(data_cfg: DataConfig, readers: list[SceneReader], indexes: list[CellIndex],
                        regions: list[tuple[int, Region]],
                        callback: Callback) -> tuple[BandStatistics, BandStatistics | None]:
    """Robust per-band statistics of vision and aux over valid pixels of random training tiles (a season's: of each
    band over every date, one set for all dates)."""
    sampler = TileSampler(indexes, regions, data_cfg.tile_size, data_cfg.aux_ratio, 0.0, None, data_cfg.seed + 1)
    n = data_cfg.statistics_tiles
    per_tile = max(1, STATS_MAX_PIXELS // n)
    rng = np.random.default_rng([data_cfg.seed, 17])
    vision_samples: list[np.ndarray] = []  # (C, 1, k) valid pixels of each tile
    aux_samples: list[np.ndarray] = []
    has_aux = readers[0].aux_channels > 0
    for k in range(n):
        callback.check_canceled()
        callback.progress(k, n, Stage.BAND_STATISTICS)
        plan = sampler.plan(0, k)
        tile = readers[plan.scene].read(plan.col, plan.row, data_cfg.tile_size, data_cfg.tile_size)
        inside = region_mask(plan.region, plan.col, plan.row, data_cfg.tile_size)
        valid = tile.valid if inside is None else tile.valid & inside
        if readers[plan.scene].each_date:  # a season: each date's bands where that date holds data, one set of bands
            dates = tile.date_valid if tile.date_valid is not None else tile.valid[None]  # a season of one date
            for vision, ok in zip(per_date(tile.vision, len(dates), axis=0), dates):
                vision_samples.append(_subsample(vision, ok & valid, per_tile // len(dates) + 1, rng))
        else:
            vision_samples.append(_subsample(tile.vision, valid, per_tile, rng))
        if has_aux and tile.aux is not None:
            aux_samples.append(_subsample(tile.aux, tile.aux_valid, per_tile, rng))
    callback.progress(n, n, Stage.BAND_STATISTICS)
    _warn_constant_bands(vision_samples, readers[0].image, callback)

    def statistics(samples: list[np.ndarray], failed: str) -> BandStatistics:
        try:
            return compute_statistics(samples, data_cfg.statistics, STATS_MAX_PIXELS, seed=data_cfg.seed)
        except DataError as exc:
            raise DataError(f"{failed}: {exc}") from exc

    images = ", ".join(f"'{r.image}'" for r in readers[:5]) + (" ..." if len(readers) > 5 else "")
    return (statistics(vision_samples, f"Vision band statistics of the training images ({images}) failed"),
            statistics(aux_samples, "Aux band statistics failed (do the aux rasters overlap the images?)")
            if has_aux else None)


def _warn_constant_bands(samples: list[np.ndarray], image: str, callback: Callback) -> None:
    """Warn about vision bands with one value over all sampled pixels (an alpha band not tagged as such?): they carry
    no information, and hide nodata in the other bands (a pixel is nodata only when every band is)."""
    if not (values := [s.reshape(len(s), -1) for s in samples if s.size]):
        return
    stacked = np.concatenate(values, axis=1)
    low, high = stacked.min(axis=1), stacked.max(axis=1)
    for band in np.flatnonzero(low == high):
        callback.warning(f"Vision band {band + 1} of '{image}' is constant ({low[band]:g}) over the sampled pixels: it "
                         f"carries no information (an alpha band?) and stops nodata in the other bands from being "
                         f"ignored (a pixel is nodata only when every band is). If it is not meant to be a channel, "
                         f"drop it, e.g. with `gdal_translate -b 1 -b 2 -b 3` or a virtual raster of the other bands, "
                         f"for training and segmenting.")


def _subsample(array: np.ndarray, valid: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` valid pixels of (C, H, W), as (C, 1, k)."""
    idx = np.flatnonzero(valid.reshape(-1))
    if idx.size > limit:
        idx = np.sort(rng.choice(idx, limit, replace=False))
    return array.reshape(array.shape[0], -1)[:, None, idx]
