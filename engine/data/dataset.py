"""Torch datasets of (vision, aux, label) tiles; the training data's bands and summary (``summary``) for the bundle.

``build_datasets`` does the one-off work in the main process: scenes resolved and checked to agree, every label
scanned once (:mod:`.label_scan`), validation held out when no validation scenes are given (:mod:`.sampling`), and
the band statistics of random training tiles (:mod:`.training_stats`).

The datasets are cheap to pickle: they hold scene settings and numpy indexes, never open files. Each process
(the main one or a DataLoader worker) opens its own :class:`SceneReader` per scene on first use and keeps it
(a small LRU cache), so files are not re-opened per sample and no GDAL handle crosses a fork. A training scene
whose tiles are its pixels' own values (image and label raster on one grid, no extent or AOI, one date) is read,
mapped and normalised once per process while the scenes fit ``KEPT_SCENE_BYTES``, and each tile is cut from it:
the same values as reading the window, without a read and a normalising pass a tile.

Samples are dicts ready for the default collate: ``vision`` (Cv, T, T) float32 normalised (nodata 0),
``aux`` (Ca, T/r, T/r) float32 normalised (only with aux), ``labels`` (T, T) int64 (ignore index where
unknown, outside the image, outside the scene's extent/AOI, in a held-out band, or rotated in).

Label semantics: with a ``label_mapping`` the raw values 0 and the mapping's keys are expected (0 and unmapped
values become ``label_default_class``; a value mapped to ``ignore_index`` is unlabelled); nodata pixels are
ignored. Any other raw value is an error listing every file and value with its pixel count, unless
``strict_labels`` is False. Without a mapping the raw values are the classes and must lie in
``0..len(class_names)-1`` (or equal ``ignore_index``).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..callbacks import Callback, CondensedCallback, QuietCallback
from ..config import DataConfig, SceneSpec
from ..errors import DataError, mention
from ..time_axis import day_of_year, days_since, join_dates, month, per_date
from .augment import augment_dates, augment_season, swappable
from .band_match import pick_bands
from .checks import check_scene_aux, check_scene_image, warn_dates_cover
from .domain_shift import training_ranges
from .ground import scenes_latitude
from .holdout_choice import choose_ends, counted_regions, held_out_parts_line, strips_said
from .label_scan import held_out_bands, scan_labels
from .metadata import DataMetadata, DataSummary
from .normalize import BandStatistics
from .raster import image_band_names, open_raster
from .sampling import Region, TileSampler, band_split, region_mask, split_parts
from .scene import SceneReader
from .season_batch import season_tile
from .shown import given_file, scene_names
from .sources import resolve_scenes
from .training_stats import training_statistics

READER_CACHE_SIZE = 32  # open scenes per process (each holds the image, label and aux files)
# validation tiles kept in memory per process, read once for every epoch's validation (the rest read each time)
KEPT_TILE_BYTES = 256 * 2**20
# training scenes kept read and normalised per process, cut for every tile (the rest read tile by tile)
KEPT_SCENE_BYTES = 256 * 2**20


# ----------------------------------------------------------------------------------------- readers
def bands_by_name(bands: list[Any] | None) -> bool:
    """Whether ``bands`` name bands (matched to each image's own band descriptions) rather than number them."""
    return bool(bands) and not all(isinstance(b, int) or str(b).isdigit() for b in bands)


def band_numbers(bands: list[Any] | None, image: str) -> list[int] | None:
    """The image's 1-based bands ``bands`` names (numbers as they are; names matched to the image's band
    descriptions and sensor band names, DataError listing its bands when one is missing or ambiguous)."""
    if not bands_by_name(bands):
        return None if bands is None else [int(b) for b in bands]
    with open_raster(image, "image") as dataset:
        names = [d or None for d in dataset.descriptions]
    return list(pick_bands([str(b) for b in bands], None, len(bands), names, image, mention("data.bands")).bands)


def band_names_said(bands: list[Any], scenes: list[dict[str, Any]], shown: int = 6) -> str:
    """``Bands by name (red, green, nir), each image by its own band descriptions: 'a.tif' bands 3,2,4; ...``."""
    listed = [f"'{Path(str(kw['image'])).name}' bands {','.join(map(str, kw['bands']))}" for kw in scenes[:shown]]
    more = f"; and {len(scenes) - shown} more" if len(scenes) > shown else ""
    return (f"Bands by name ({', '.join(map(str, bands))}), each image by its own band descriptions: "
            + "; ".join(listed) + more + ".")


def training_band_names(reader: SceneReader) -> list[str] | None:
    """The names of the vision bands the model takes, in its order: the first training image's band descriptions
    (None when any is missing: segment then goes by band counts, or by ``--bands``)."""
    described = image_band_names(reader.image)
    names = [described[b - 1] for b in reader.selection.vision_bands(reader.image_bands)]
    return [str(n).strip() for n in names] if all(n and str(n).strip() for n in names) else None


def training_value_range(stats: Any) -> list[float]:
    """[low, high] of the training values over all vision bands (2-98 % percentiles, or mean +- 2 std)."""
    low, high = training_ranges(stats)
    return [round(float(low.min()), 6), round(float(high.max()), 6)]


def reader_kwargs(spec: SceneSpec, data_cfg: DataConfig, season: bool = False) -> dict[str, Any]:
    """SceneReader arguments for one scene under the data settings (``season``: each date's validity its own)."""
    return {
        **{key: getattr(spec, key) for key in ("image", "label", "label_field", "label_after_field", "extent",
                                               "extent_crs", "aoi")},
        **{key: getattr(data_cfg, key) for key in ("label_default_class", "ignore_index", "aux_ratio", "x_bands")},
        "aux": [] if data_cfg.x_bands else list(spec.aux),  # x_bands: the aux input is the image's own bands
        "label_mapping": dict(data_cfg.label_mapping) or None,
        "aux_bands_per_file": data_cfg.aux_bands_used,
        "bands": band_numbers(data_cfg.bands, spec.image),
        "after": list(spec.after),
        "after_bands": [band_numbers(data_cfg.bands, a) for a in spec.after] if bands_by_name(data_cfg.bands) else None,
        "each_date": season,
    }


class _TileDataset(torch.utils.data.Dataset):
    """Shared reading and normalising (module doc). ``with_coords`` (for an encoder that takes them): samples carry
    ``coords``, their window centre's (year, day of year, latitude, longitude), NaN where unknown."""

    with_coords = False
    keeps_scenes = False  # training: each scene read once and cut for its tiles (``_scene_kept``)
    season = False  # a season model's tiles (``season_batch``): each date's bands, validity and day numbers

    def __init__(self, scenes: list[dict[str, Any]], vision_stats: BandStatistics, aux_stats: BandStatistics | None,
                 tile_size: int, aux_ratio: int, ignore_index: int):
        self.scenes, self.vision_stats, self.aux_stats = scenes, vision_stats, aux_stats
        self.tile_size, self.aux_ratio, self.ignore_index = tile_size, aux_ratio, ignore_index
        self.__dict__.update(self._own_state())

    def _own_state(self) -> dict[str, Any]:
        """What each process holds of its own, never pickled (a loader worker opens and keeps its own): the open
        readers, its GDAL environment and the scenes kept (scene -> (vision, validity, classes) or None)."""
        return {"_readers": OrderedDict(), "_env": None, "_env_pid": None, "_scenes_kept": {},
                "_scenes_kept_with": None, "_date_valid": None}  # a season tile's dates' validity, while it is made

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, **self._own_state()}

    def reader(self, scene: int) -> SceneReader:
        """The process's reader of ``scene`` (opened on first use, least recently used closed beyond the cap)."""
        if self._env_pid != os.getpid():  # one GDAL environment a process: rasterio otherwise starts one per warp
            import rasterio

            if self._env_pid is not None:  # forked copy of a parent's readers: drop, never close, them
                self._readers = OrderedDict()
            self._env = rasterio.Env()
            self._env.__enter__()
            self._env_pid = os.getpid()
        if scene in self._readers:
            self._readers.move_to_end(scene)
        else:  # a worker re-opens the scene: what its opening says, build_datasets said once already
            self._readers[scene] = SceneReader(**self.scenes[scene], callback=QuietCallback())
            while len(self._readers) > READER_CACHE_SIZE:
                self._readers.popitem(last=False)[1].close()
        return self._readers[scene]

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()

    def _read(self, scene: int, col: int, row: int, size: int, region: Region) -> tuple[
            np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """Normalised vision, its validity, normalised aux, and classes of a window; outside ``region`` masked."""
        reader = self.reader(scene)
        inside = region_mask(region, col, row, size)
        kept = self._scene_kept(scene, reader)
        if kept is not None:  # cut from the scene read once: the values a read of the window gives, elementwise
            fills = (0, False, self.ignore_index)
            vision, valid, label = (_cut(a, col, row, size, fill) for a, fill in zip(kept, fills))
            tile_aux = reader.read_aux(col, row, size, size) if reader.aux_channels else (None, None)
            if inside is not None:
                vision[:, ~inside] = 0.0
        else:
            tile = reader.read(col, row, size, size)
            vision, valid, label, tile_aux = tile.vision, tile.valid, tile.label, (tile.aux, tile.aux_valid)
            # a season's: each date's own validity, for its sample (one date: the tile's)
            self._date_valid = tile.date_valid if tile.date_valid is not None else tile.valid[None]
        if inside is not None:
            valid = valid & inside
            label = np.where(inside, label, np.uint8(self.ignore_index))
        if kept is None and self.season:  # one set of band statistics for every date, over its own pixels
            self._date_valid = self._date_valid & valid
            vision = join_dates([self.vision_stats.apply(v, ok) for v, ok in
                                 zip(per_date(vision, len(self._date_valid), axis=0), self._date_valid)], axis=0)
        elif kept is None:
            vision = self.vision_stats.apply(vision, valid)
        aux = self.aux_stats.apply(*tile_aux) if self.aux_stats is not None and tile_aux[0] is not None else None
        return vision, valid, aux, label

    def _scene_kept(self, scene: int, reader: SceneReader) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(normalised vision, validity, classes) of the whole scene (module doc); None where a window's values may
        differ from the whole's at its edges (warps, rasterised polygons, X bands): read tile by tile."""
        if not self.keeps_scenes:
            return None
        if self._scenes_kept_with is not self.vision_stats:  # new statistics: the kept values are stale
            self._scenes_kept, self._scenes_kept_with = {}, self.vision_stats
        if scene not in self._scenes_kept:
            height, width = reader.grid.shape
            held = sum(sum(a.nbytes for a in k) for k in self._scenes_kept.values() if k is not None)
            fits = held + (4 * reader.vision_bands + 2) * height * width <= KEPT_SCENE_BYTES
            whole = None
            if (fits and reader.label_path is not None and reader.label_same_grid and not reader.region.active
                    and reader.dates == 1 and not reader.selection.x and not self.season):
                tile = reader.read(0, 0, width, height)
                whole = (self.vision_stats.apply(tile.vision, tile.valid), tile.valid, tile.label)
            self._scenes_kept[scene] = whole
        return self._scenes_kept[scene]

    def _sample(self, vision: torch.Tensor, aux: torch.Tensor | None, label: torch.Tensor, scene: int, col: int,
                row: int, size: int) -> dict[str, torch.Tensor]:
        """The sample of the ``size``-px window at (col, row) of ``scene`` (``coords``: see the class doc)."""
        if self.season:  # (T, C, h, w) with each date's validity and day numbers (``season_batch``)
            dates = self.reader(scene).taken
            sample = {key: torch.from_numpy(np.asarray(value)) for key, value in season_tile(
                vision.numpy(), self._date_valid.numpy() if torch.is_tensor(self._date_valid) else self._date_valid,
                {"doy": day_of_year(dates), "month": month(dates), "days": days_since(dates)}).items()}
            sample["labels"] = label
        else:
            sample = {"vision": vision, "labels": label}
        if aux is not None:
            sample["aux"] = aux
        if self.with_coords:
            centre = [(col + size / 2, row + size / 2)]
            sample["coords"] = torch.from_numpy(self.reader(scene).acquisition.coords(centre)[0])
        return sample


class TrainTileDataset(_TileDataset):
    """Random augmented training tiles; ``len`` = tiles per epoch; reproducible from (seed, epoch, index). The
    epoch lives in a shared-memory tensor, so ``set_epoch`` (before iterating the loader) reaches persistent workers."""

    keeps_scenes = True

    def __init__(self, scenes: list[dict[str, Any]], sampler: TileSampler, length: int, **kwargs: Any):
        super().__init__(scenes, **kwargs)
        self.sampler = sampler
        self.length = int(length)
        self.swap_dates = False  # a change mask's dates may be swapped (build_datasets sets it from the classes)
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Reseed: tiles and augmentations of epoch ``epoch`` (same epoch -> same samples)."""
        self._epoch[0] = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"tile index {index} out of range 0..{self.length - 1}")
        plan = self.sampler.plan(self.epoch, int(index))
        vision, valid, aux, label = self._read(plan.scene, plan.col, plan.row, plan.size, plan.region)
        if self.season:  # each date's own validity, one radiometry and one geometry
            v, self._date_valid, a, lab = augment_season(
                vision, self._date_valid, aux, label, plan.params, self.tile_size, self.aux_ratio, self.ignore_index)
            return self._sample(v, a, lab, plan.scene, plan.col, plan.row, plan.size)
        # one geometry, each date's own radiometry, the dates swapped where the label allows
        v, a, lab = augment_dates(vision, valid, aux, label, plan.params, 1 + len(self.scenes[plan.scene]["after"]),
                                  self.sampler.augment, self.swap_dates, [self.sampler.seed, self.epoch, int(index)],
                                  self.tile_size, self.aux_ratio, self.ignore_index)
        return self._sample(v, a, lab, plan.scene, plan.col, plan.row, plan.size)


class GridTileDataset(_TileDataset):
    """A fixed grid of non-overlapping tiles over validation regions, no augmentation; tiles that stick out of a
    region or image are padded (labels ``ignore_index``, inputs 0). The same tiles are validated every epoch, so
    each is read once and kept (up to ``KEPT_TILE_BYTES`` per process, never pickled)."""

    def __init__(self, scenes: list[dict[str, Any]], windows: list[tuple[int, int, int, Region]], **kwargs: Any):
        super().__init__(scenes, **kwargs)
        self.windows = windows  # (scene, col, row, region)

    def _own_state(self) -> dict[str, Any]:  # and the tiles kept (index -> sample)
        return {**super()._own_state(), "_kept": {}, "_kept_bytes": 0, "_kept_with": ()}

    def __len__(self) -> int:
        return len(self.windows)

    def inside(self, index: int) -> np.ndarray:
        """(size, size) bool of tile ``index``: True on its scene and its validation region, False on padding."""
        scene, col, row, region = self.windows[index]
        height, width = self.reader(scene).grid.shape
        rows, cols = np.arange(row, row + self.tile_size)[:, None], np.arange(col, col + self.tile_size)[None, :]
        on_scene = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        in_region = region_mask(region, col, row, self.tile_size)
        return on_scene if in_region is None else on_scene & in_region

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        made_with = (self.vision_stats, self.aux_stats, self.with_coords)
        if len(made_with) != len(self._kept_with) or any(a is not b for a, b in zip(made_with, self._kept_with)):
            self._kept, self._kept_bytes, self._kept_with = {}, 0, made_with  # stale: new statistics or coordinates
        kept = self._kept.get(index)
        if kept is None:
            scene, col, row, region = self.windows[index]
            vision, _, aux, label = self._read(scene, col, row, self.tile_size, region)
            kept = self._sample(torch.from_numpy(vision), None if aux is None else torch.from_numpy(aux),
                                torch.from_numpy(label.astype(np.int64)), scene, col, row, self.tile_size)
            size = sum(t.element_size() * t.nelement() for t in kept.values())
            if self._kept_bytes + size > KEPT_TILE_BYTES:
                return kept
            self._kept[index] = kept
            self._kept_bytes += size
        return {key: tensor.clone() for key, tensor in kept.items()}  # a copy: the kept tile stays as read


def _cut(whole: np.ndarray, col: int, row: int, size: int, fill: Any) -> np.ndarray:
    """A copy of the ``size``-px window at (col, row) of a whole scene's (..., H, W) array, ``fill`` outside it
    (a copy: the jitter's passes run faster over a contiguous tile than over a strided view, and the kept scene
    stays as read)."""
    height, width = whole.shape[-2:]
    c0, r0, c1, r1 = max(col, 0), max(row, 0), min(col + size, width), min(row + size, height)
    if (c0, r0, c1, r1) == (col, row, col + size, row + size):
        return whole[..., row:row + size, col:col + size].copy()
    out = np.full((*whole.shape[:-2], size, size), fill, dtype=whole.dtype)
    if c1 > c0 and r1 > r0:
        out[..., r0 - row:r1 - row, c0 - col:c1 - col] = whole[..., r0:r1, c0:c1]
    return out


# ----------------------------------------------------------------------------------------- building
def build_datasets(data_cfg: DataConfig, callback: Callback | None = None, season: bool = False) -> tuple[
        TrainTileDataset, GridTileDataset, DataSummary]:
    """Resolve scenes, check labels, compute statistics and build the training and validation datasets; DataError
    for missing/incomplete/unreadable data, scenes with different bands, label values outside the configured set
    (with counts per value and file), a training label with no labelled pixel."""
    callback = callback or Callback()
    train_specs, val_specs = resolve_scenes(data_cfg, callback)
    if data_cfg.x_bands and any(s.aux for s in train_specs + val_specs):
        callback.warning(f"x_bands {data_cfg.x_bands}: the aux input comes from the images' own bands; the aux "
                         f"rasters found in '{data_cfg.data_dir}' are not used.")
    train_kw = [reader_kwargs(s, data_cfg, season) for s in train_specs]
    val_kw = [reader_kwargs(s, data_cfg, season) for s in val_specs]
    condensed = CondensedCallback(callback)  # each scene's own lines, of a dataset of hundreds: the first few
    train_readers = [SceneReader(**kw, callback=condensed) for kw in train_kw]
    val_readers: list[SceneReader] = []
    try:
        # opening reads headers only: band selections and aux layouts are checked before this line is printed
        val_readers = [SceneReader(**kw, callback=condensed) for kw in val_kw]
        condensed.finish()
        callback.info(f"Data: {len(train_specs)} training scene(s), "
                      f"{len(val_specs) if val_specs else 'no'} validation scene(s).")
        return _build(data_cfg, callback, train_kw, val_kw, train_readers, val_readers)
    finally:
        for reader in train_readers + val_readers:
            reader.close()


def _build(data_cfg: DataConfig, callback: Callback, train_kw: list[dict[str, Any]], val_kw: list[dict[str, Any]],
           train_readers: list[SceneReader], val_readers: list[SceneReader]) -> tuple[
        TrainTileDataset, GridTileDataset, DataSummary]:
    first = train_readers[0]
    _check_consistent(first, train_readers + val_readers, first.each_date)
    for reader in train_readers + val_readers:  # before the label scan and the statistics: numbers, not silence
        check_scene_image(reader, callback)
        check_scene_aux(reader, callback)
        warn_dates_cover(reader, callback)
    tile = data_cfg.tile_size

    holdout = not val_readers and data_cfg.val_fraction > 0
    split = band_split(data_cfg.val_fraction, data_cfg.seed, tile, train_readers, val_readers, holdout)
    counts, indexes, val_foreground, class_pixels = scan_labels(data_cfg, callback, train_kw + val_kw, train_readers,
                                                                 val_readers, counted_regions(split))
    for line in choose_ends(split, class_pixels, list(data_cfg.class_names), train_readers):
        callback.warning(line)
    val_foreground |= held_out_bands(split, class_pixels, train_readers, callback)
    if split.parts:
        val_foreground |= split_parts(split, indexes, data_cfg.val_fraction, data_cfg.seed)
        callback.info(held_out_parts_line(split, train_readers))

    sampler = TileSampler(indexes, split.train_regions, tile, data_cfg.aux_ratio, data_cfg.foreground_share,
                          data_cfg.augment, data_cfg.seed)
    fg = sum(ix.fg_pixels for ix in indexes)
    labelled = sum(ix.labelled_pixels for ix in indexes)
    if fg == 0:
        callback.warning(f"Only class 0 ('{data_cfg.class_names[0]}') is present in the training labels: the model "
                         f"will learn to predict it everywhere and the other classes will score IoU 0. Check the "
                         f"{mention('data.label_mapping')} and label field against the label values.")
    elif fg == labelled and len(data_cfg.class_names) == 2:  # several classes: class 0 may be absent ("nodata")
        callback.warning(f"No pixel of class 0 ('{data_cfg.class_names[0]}') in the training labels: every labelled "
                         f"pixel is foreground, so the model never learns what is not. Check the "
                         f"{mention('data.label_mapping')} and {mention('data.label_default_class')}, or label some "
                         f"background.")

    vision_stats, aux_stats = training_statistics(data_cfg, train_readers, indexes, split.train_regions, callback)
    common = {"vision_stats": vision_stats, "aux_stats": aux_stats, "tile_size": tile,
              "aux_ratio": data_cfg.aux_ratio, "ignore_index": data_cfg.ignore_index}
    train_ds = TrainTileDataset(train_kw, sampler, data_cfg.tiles_per_epoch, **common)
    train_ds.swap_dates = swappable(list(data_cfg.class_names))
    val_ds = GridTileDataset(train_kw if holdout else val_kw, split.val_windows, **common)
    train_ds.season = val_ds.season = first.each_date
    if len(val_ds) == 0:
        callback.warning("No validation tiles: give validation scenes (vs_sn/ or val_scenes) or val_fraction > 0.")
    by_name = bands_by_name(data_cfg.bands)
    in_parts = bool(split.parts) and len(split.parts) == len(train_readers)
    names = scene_names(data_cfg)  # the held-out windows' scenes as the user gave them, not a VRT standing in
    metadata = DataMetadata(
        vision_bands=first.vision_bands, vision_stats=vision_stats, aux_channels=first.aux_channels,
        aux_prefixes=list(data_cfg.aux_prefixes) if data_cfg.data_dir and first.aux_channels else [],
        **{key: getattr(data_cfg, key) for key in ("aux_ratio", "label_default_class", "ignore_index", "num_classes")},
        aux_stats=aux_stats, aux_bands_per_file=data_cfg.aux_bands_used, label_mapping=dict(data_cfg.label_mapping),
        class_names=list(data_cfg.class_names), class_colors=list(data_cfg.class_colors), tile_size=tile,
        gsd=[float(abs(v)) for v in first.gsd], crs=first.crs_wkt,
        latitude=scenes_latitude(first.crs_wkt, [r.grid.bounds for r in train_readers]),
        train_scenes=len(train_readers), val_scenes=len(val_readers),
        validation=("parts of the labelled area held out of training" if in_parts
                    else f"{'strips or squares' if split.squares else 'strips'} of the training scenes held out of "
                         "training" if holdout else "separate scenes"),
        foreground_fraction=round(float(fg / max(labelled, 1)), 6),
        held_out=[{"scene": given_file(names, train_readers[s].image), "window": [r.col, r.row, r.width, r.height]}
                  for s, r in split.val_regions] if holdout else None,
        aux_files_per_scene=len(train_kw[0]["aux"]), aux_file_bands=list(first.aux_file_bands),
        # bands by name: each image was read by its own descriptions, so the names are recorded, not the first
        # image's numbers (a later input is matched by name; an unnamed one of another band count needs --bands)
        image_bands=first.vision_bands if by_name else first.image_bands,
        bands=None if by_name else train_kw[0]["bands"], x_bands=data_cfg.x_bands,
        band_names=training_band_names(first), value_range=training_value_range(vision_stats), dates=first.dates,
        date_months=sorted({d.month for r in train_readers for d in r.taken if d}) if first.each_date else None,
    )
    summary = DataSummary(metadata, holdout=holdout, label_counts=counts,
                          val_has_foreground=val_foreground if len(val_ds) else None)
    if by_name:
        callback.info(band_names_said(data_cfg.bands, train_kw + val_kw))
    elif first.selection.active:
        callback.info(f"Band selection of the {first.image_bands}-band images: "
                      f"{first.selection.describe(first.image_bands)}.")
    taken = "".join(f"; {said}" for said in split.overridden)  # ends taken against the seed (choose_ends)
    strips = (" (parts of the labelled area held out of training)" if in_parts
              else f" (held out of training: {strips_said(split, train_readers)}{taken})" if holdout else "")
    callback.info(f"Data: {metadata.vision_bands} vision band(s), {metadata.aux_channels} aux channel(s), "
                  f"{len(train_ds)} training tiles per epoch, {len(val_ds)} validation tiles{strips}, "
                  f"foreground {100 * metadata.foreground_fraction:.1f} %.")
    return train_ds, val_ds, summary


def _check_consistent(first: SceneReader, readers: list[SceneReader], season: bool = False) -> None:
    for reader in readers[1:]:
        if reader.dates != first.dates and not season:  # a season's places may hold any number: padded, masked
            raise DataError(f"The scene '{reader.image}' has {reader.dates} date(s) but '{first.image}' has "
                            f"{first.dates}; give every scene the same dates (each its later date, --after).")
        if reader.vision_bands != first.vision_bands:
            raise DataError(f"The image '{reader.image}' has {reader.vision_bands} band(s) but '{first.image}' has "
                            f"{first.vision_bands}; all images of a dataset need the same bands.")
        if reader.aux_file_bands != first.aux_file_bands:
            raise DataError(f"The scene '{reader.image}' has aux files of {reader.aux_file_bands} band(s) but "
                            f"'{first.image}' has {first.aux_file_bands}; give every scene the same aux files (the "
                            f"same number, in the same order, with the same bands), or set "
                            f"{mention('data.aux_bands_per_file')} to use the first N bands of each.")
    first_gsd = abs(first.gsd[0])
    odd = [r.image for r in readers if not first_gsd / 1.5 <= abs(r.gsd[0]) <= 1.5 * first_gsd]
    if odd:
        first.callback.warning(f"Pixel sizes differ by more than 50 % between scenes (e.g. {odd[:3]}); the "
                               "model learns one scale, so resample the imagery to a common resolution.")
