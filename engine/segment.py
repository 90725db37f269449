"""Whole-scene segmentation: streaming sliding-window inference with blended tiles, TTA and ensembles.

Pipeline (three threads, bounded queues between them)::

    reader thread   SceneReader.read(tile) -> BandStatistics.apply -> batches      (prefetch queue)
    main thread     model(s) x TTA -> probabilities -> RowBandAccumulator.add       (blending)
    writer thread   finished rows -> classes / probabilities -> GeoTIFF row blocks  (write queue)

Tiles are read exactly as in training (same reader, same per-tile aux alignment, same normalisation).
The accumulator only holds one tile height of rows, so memory is bounded by tile size x scene width.
Every check that can fail on the inputs runs before any model is loaded or any tile is read, and every
output is written to a temp file beside its destination and renamed only when the whole run succeeded.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import load_bundle, read_metadata
from .callbacks import Callback
from .config import SegmentConfig
from .environment import require, resolve_device
from .errors import AlignmentError, BundleError, CanceledError, ConfigError, DataError
from .outputs import (
    CLASS_NODATA,
    PROBABILITY_NODATA_UINT8,
    PROBABILITY_SCALE_UINT8,
    GeoTiffStreamWriter,
    _remove_quietly,
    check_writable,
    commit_file,
    qml_path_for,
    qml_text,
    temporary_path,
    write_polygons,
    write_text_atomic,
)
from .prefetch import Prefetcher
from .tiling import RowBandAccumulator, Tile, TileGrid, blend_window, overlap_pixels

GSD_WARNING_FACTOR = 1.5  # warn when the image resolution differs from the training one by more than this
# GDAL's block cache defaults to 5 % of RAM and would grow with the scene. 32 MB holds the input blocks of a
# tile-high band of an 8192-px-wide 4-band 16-bit scene plus the output blocks being written; wider scenes
# decompress a few blocks twice instead of growing (bench: peak RSS +6 % from 2048^2 to 8192^2, +13-15 % at 64 MB).
GDAL_CACHE_BYTES = 32 * 2**20


@dataclass
class SegmentResult:
    """What :func:`segment` produced."""

    output: str
    qml: str
    probabilities: str | None
    polygons: str | None
    class_names: list[str]
    class_colors: list[str]
    pixels: int
    seconds: float
    tiles: int = 0
    skipped_tiles: int = 0
    device: str = "cpu"
    width: int = 0
    height: int = 0
    warnings: list[str] = field(default_factory=list)
    working_gsd: list[float] | None = None  # pixel size the model saw (the training one when resampled)
    # where the time went: model (predictor calls), input_wait (model idle, waiting for the reader thread),
    # output_wait (waiting for the writer thread), read/write (busy time of those background threads)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pixels_per_second(self) -> float:
        return self.pixels / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ planning
@dataclass
class _Member:
    """One ensemble member: its bundle metadata (and, once loaded, its model)."""

    path: str
    metadata: dict[str, Any]
    weight: float
    model: Any = None

    @property
    def data(self) -> dict[str, Any]:
        return self.metadata["data"]

    @property
    def aux_channels(self) -> int:
        return int(self.data.get("aux_channels") or 0)

    @property
    def output_channels(self) -> int:
        return int(self.metadata["model"].get("num_classes", 1))

    @property
    def stats_key(self) -> str:
        import json

        return json.dumps([self.data.get("vision_stats"), self.data.get("aux_stats")], sort_keys=True)


@dataclass
class SegmentPlan:
    """Everything checked and decided before any heavy work (exposed for tests and benchmarks)."""

    cfg: SegmentConfig
    members: list[_Member]
    reader: Any  # SceneReader
    grid: TileGrid
    region: tuple[int, int, int, int]  # col_off, row_off, width, height in image pixels
    tile: int
    overlap: int
    aux_ratio: int
    class_names: list[str]
    class_colors: list[str]
    binary: bool
    use_aux: bool
    use_region_mask: bool
    crs: Any
    transform: Any  # of the output (the region's window of the image grid)
    warnings: list[str]

    @property
    def width(self) -> int:
        return self.region[2]

    @property
    def height(self) -> int:
        return self.region[3]

    @property
    def probability_channels(self) -> int:
        return 1 if self.binary else len(self.class_names)


def _order_aux(paths: Sequence[str], prefixes: Sequence[str] | None, callback: Callback) -> list[str]:
    """Put aux files in the bundle's prefix order when every file name matches exactly one prefix."""
    paths = [str(p) for p in paths]
    if not prefixes or len(paths) < 2:
        return paths
    keys = []
    for p in paths:
        hits = [i for i, prefix in enumerate(prefixes) if Path(p).name.startswith(prefix)]
        if len(hits) != 1:
            return paths  # user-given order
        keys.append(hits[0])
    ordered = [p for _, p in sorted(zip(keys, paths), key=lambda kv: kv[0])]
    if ordered != paths:
        callback.info(f"Aux files ordered as in training (prefixes {list(prefixes)}): {ordered}")
    return ordered


def _aux_layout(data: dict[str, Any]) -> str:
    """How the bundle's aux stack was made, in words (for error messages)."""
    per_file = data.get("aux_bands_per_file")
    prefixes = data.get("aux_prefixes") or []
    text = f"the first {per_file} band(s) of each aux file" if per_file else "all bands of each aux file"
    return text + (f", files named {', '.join(p + '*' for p in prefixes)} in that order" if prefixes else "")


def _check_members(cfg: SegmentConfig) -> list[_Member]:
    if not cfg.models:
        raise ConfigError("No model bundle given; pass --model PATH (a .dsmodel file written by `train`).")
    weights = cfg.model_weights or [1.0] * len(cfg.models)
    members = [_Member(str(p), read_metadata(p), float(w)) for p, w in zip(cfg.models, weights)]
    first = members[0]
    for other in members[1:]:
        for key, what in (("class_names", "classes"), ("vision_bands", "band counts")):
            if other.data.get(key) != first.data.get(key):
                raise BundleError(
                    f"The ensemble members '{first.path}' and '{other.path}' have different {what} "
                    f"({first.data.get(key)} vs {other.data.get(key)}); an ensemble needs models trained for "
                    f"the same classes and bands."
                )
        if other.output_channels != first.output_channels:
            raise BundleError(f"The ensemble members '{first.path}' and '{other.path}' have different outputs "
                              f"({first.output_channels} vs {other.output_channels} channels).")
    aux_members = [m for m in members if m.aux_channels > 0]
    for other in aux_members[1:]:
        for key in ("aux_channels", "aux_ratio", "aux_bands_per_file"):
            if other.data.get(key) != aux_members[0].data.get(key):
                raise BundleError(f"The ensemble members '{aux_members[0].path}' and '{other.path}' need different "
                                  f"aux layouts ({key}: {aux_members[0].data.get(key)} vs {other.data.get(key)}).")
    return members


def _snap_region(reader: Any, cfg: SegmentConfig) -> tuple[int, int, int, int]:
    """The image window to segment: the extent/AOI snapped outward to the image's pixel grid."""
    if cfg.extent is None and cfg.aoi is None:
        return (0, 0, reader.grid.width, reader.grid.height)
    try:
        return tuple(int(v) for v in reader.region_window())  # type: ignore[return-value]
    except AlignmentError as exc:
        raise AlignmentError(
            f"The extent {cfg.extent} (CRS {cfg.extent_crs or 'of the image'})"
            f"{' / AOI ' + repr(cfg.aoi) if cfg.aoi else ''} lies outside the image '{cfg.image}' "
            f"(image bounds {tuple(round(v, 3) for v in reader.grid.bounds)}); give an extent inside the image."
        ) from exc


def _check_gsd(reader: Any, meta: dict[str, Any], path: str, callback: Callback, warnings: list[str],
               resample: bool = False) -> None:
    train_gsd = meta["data"].get("gsd")
    if resample or not train_gsd or not reader.grid.georeferenced:
        return  # when resampling, _resample_target checks the pixel sizes and reports the factor
    try:
        from rasterio.crs import CRS

        train_crs = meta["data"].get("crs")
        if train_crs and reader.grid.crs is not None:
            if CRS.from_user_input(train_crs).is_geographic != reader.grid.crs.is_geographic:
                return  # degrees vs metres: not comparable
    except Exception:  # noqa: BLE001 - an unparsable training CRS only skips this advisory check
        return
    factor = float(np.mean(reader.gsd)) / float(np.mean(train_gsd))
    if factor > GSD_WARNING_FACTOR or factor < 1 / GSD_WARNING_FACTOR:
        message = (f"The image '{reader.image}' has a pixel size of {reader.gsd[0]:.4g} x {reader.gsd[1]:.4g}, "
                   f"{factor:.2f} times the training pixel size {train_gsd} of '{path}'; results may be poor. "
                   f"Set resample_to_training_gsd (--resample-to-training-gsd) to predict at the training pixel "
                   f"size, or resample the image first, e.g. `gdalwarp -tr {train_gsd[0]} {train_gsd[1]} "
                   f"-r average IN.tif OUT.tif`.")
        warnings.append(message)
        callback.warning(message)


def plan_segmentation(cfg: SegmentConfig, callback: Callback | None = None) -> SegmentPlan:
    """Check the inputs against the bundle(s) and plan the tiles; reads metadata only, no weights, no tiles.

    Raises:
        ConfigError, DataError, AlignmentError, BundleError: with the file or parameter and the fix.
    """
    from .data.scene import SceneReader

    callback = callback or Callback()
    warnings: list[str] = []
    if not cfg.image:
        raise ConfigError("No image given; pass --image PATH (a GeoTIFF or other GDAL raster).")
    if not cfg.output:
        raise ConfigError("No output given; pass --out PATH.tif for the class raster.")
    members = _check_members(cfg)
    first = members[0]
    data = first.data
    # destinations first: cheap, and a read-only folder should not cost a model load
    check_writable(cfg.output, "output class raster")
    if cfg.probabilities:
        check_writable(cfg.probabilities, "probability raster")
    if cfg.polygons:
        check_writable(cfg.polygons, "polygon GeoPackage")
    outputs = [Path(p).resolve() for p in (cfg.output, cfg.probabilities, cfg.polygons) if p]
    if len(set(outputs)) != len(outputs):
        raise ConfigError("The class raster, probability raster and polygon outputs must be different files.")
    if Path(cfg.image).resolve() in outputs:
        raise ConfigError(f"The output '{cfg.output}' would overwrite the input image; choose another name.")

    aux_members = [m for m in members if m.aux_channels > 0]
    use_aux = bool(aux_members)
    aux_data = aux_members[0].data if use_aux else {}
    aux_paths: list[str] = []
    if use_aux:
        if not cfg.aux:
            raise DataError(f"The model '{aux_members[0].path}' needs {aux_members[0].aux_channels} aux channel(s) "
                            f"({_aux_layout(aux_data)}); pass them with --aux (aux).")
        aux_paths = _order_aux(cfg.aux, aux_data.get("aux_prefixes"), callback)
    elif cfg.aux:
        message = f"The model(s) use no aux data; the {len(cfg.aux)} aux file(s) given are ignored."
        warnings.append(message)
        callback.warning(message)

    aux_ratio = int(aux_data.get("aux_ratio") or data.get("aux_ratio") or first.metadata["model"].get("aux_ratio", 8))
    tile = int(cfg.tile_size or data["tile_size"])
    if tile % 32 or tile < 32 or (use_aux and tile % aux_ratio):
        raise ConfigError(f"tile_size {tile} must be a positive multiple of 32"
                          f"{f' and of the aux ratio {aux_ratio}' if use_aux else ''}; try {data['tile_size']}.")
    for member in members[1:]:
        if not cfg.tile_size and int(member.data["tile_size"]) != tile:
            message = (f"The ensemble members were trained on different tile sizes; using {tile} px "
                       f"(set tile_size to choose).")
            warnings.append(message)
            callback.warning(message)
            break

    reader = SceneReader(cfg.image, aux_paths, aux_bands_per_file=aux_data.get("aux_bands_per_file"),
                         aux_ratio=aux_ratio, callback=callback, extent=cfg.extent, extent_crs=cfg.extent_crs,
                         aoi=cfg.aoi)
    try:
        if reader.vision_bands != int(data["vision_bands"]):
            raise DataError(
                f"The image '{cfg.image}' has {reader.vision_bands} band(s) but the model '{first.path}' was "
                f"trained on {data['vision_bands']}; give an image with the same bands in the same order."
            )
        if use_aux and reader.aux_channels != aux_members[0].aux_channels:
            raise DataError(
                f"The aux files {aux_paths} give {reader.aux_channels} channel(s) but the model "
                f"'{aux_members[0].path}' needs {aux_members[0].aux_channels} ({_aux_layout(aux_data)}); give "
                f"the same aux layout as in training."
            )
        region = _snap_region(reader, cfg)
        from .data.align import check_overlap, tile_grid

        region_grid = tile_grid(reader.grid, region[0], region[1], region[2], region[3])
        if use_aux:
            from .data.raster import grid_of, open_raster

            for path in aux_paths:
                ds = open_raster(path, "aux raster")
                try:
                    aux_grid_ = grid_of(ds)
                finally:
                    ds.close()
                if aux_grid_.georeferenced and reader.grid.georeferenced:
                    aux_grid_.crs = aux_grid_.crs or reader.grid.crs
                    check_overlap(region_grid, aux_grid_, f"{cfg.image} (segmented extent)", path, "aux raster")
        _check_gsd(reader, first.metadata, first.path, callback, warnings, cfg.resample_to_training_gsd)
        overlap = overlap_pixels(tile, cfg.overlap)
        grid = TileGrid.plan(region, (reader.grid.width, reader.grid.height), tile, overlap)
    except BaseException:
        reader.close()
        raise
    binary = first.output_channels == 1
    return SegmentPlan(cfg=cfg, members=members, reader=reader, grid=grid, region=region, tile=tile,
                       overlap=overlap, aux_ratio=aux_ratio, class_names=list(data["class_names"]),
                       class_colors=list(data["class_colors"]), binary=binary, use_aux=use_aux,
                       use_region_mask=cfg.aoi is not None, crs=reader.grid.crs, transform=region_grid.transform,
                       warnings=warnings)


# ------------------------------------------------------------------------------------------------ prediction
def tta_transforms(mode: str) -> list[tuple[int, bool]]:
    """(rot90 count, flip-W-first) pairs: none -> identity; flips -> id, flip W, flip H; d4 -> 8 dihedral."""
    if mode == "none":
        return [(0, False)]
    if mode == "flips":
        return [(0, False), (0, True), (2, True)]  # rot180 after a W flip == an H flip
    if mode == "d4":
        return [(k, f) for f in (False, True) for k in range(4)]
    raise ConfigError(f"tta '{mode}' is unknown; use none, flips or d4.")


def _forward_transform(x: Any, k: int, flip: bool) -> Any:
    if flip:
        x = x.flip(-1)
    return x.rot90(k, dims=(-2, -1)) if k else x


def _inverse_transform(x: Any, k: int, flip: bool) -> Any:
    if k:
        x = x.rot90(-k, dims=(-2, -1))
    return x.flip(-1) if flip else x


class Predictor:
    """Runs the ensemble with TTA on batches of normalised tiles; returns averaged probabilities.

    Args:
        models: (model, weight, needs_aux, stats_key) per member, models already on ``device``.
        binary: one sigmoid channel (True) or softmax over classes.
        tta: "none", "flips" or "d4".
        device: torch device string.
    """

    def __init__(self, models: list[tuple[Any, float, bool, str]], binary: bool, tta: str, device: str):
        self.torch = require("torch")
        self.models = models
        self.binary = binary
        self.transforms = tta_transforms(tta)
        self.device = self.torch.device(device)
        self.total_weight = float(sum(w for _, w, _, _ in models))
        self.amp_dtype = None
        if self.device.type == "cuda":
            self.amp_dtype = self.torch.bfloat16 if self.torch.cuda.is_bf16_supported() else self.torch.float16

    def __call__(self, vision: dict[str, np.ndarray], aux: dict[str, np.ndarray | None]) -> np.ndarray:
        """``vision``/``aux``: normalised (B, C, h, w) arrays per stats key. Returns (B, K, T, T) float32."""
        torch = self.torch
        total = None
        with torch.inference_mode():
            tensors: dict[str, tuple[Any, Any]] = {}
            for key in vision:
                v = torch.from_numpy(vision[key]).to(self.device, non_blocking=True)
                a = aux.get(key)
                a = None if a is None else torch.from_numpy(a).to(self.device, non_blocking=True)
                tensors[key] = (v, a)
            for model, weight, needs_aux, key in self.models:
                v, a = tensors[key]
                for k, flip in self.transforms:
                    vt = _forward_transform(v, k, flip)
                    at = _forward_transform(a, k, flip) if (needs_aux and a is not None) else None
                    with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                        logits = model(pixel_values=vt, air_values=at)["logits"]
                    logits = logits.float()
                    probs = torch.sigmoid(logits) if self.binary else torch.softmax(logits, dim=1)
                    probs = _inverse_transform(probs, k, flip) * (weight / len(self.transforms))
                    total = probs if total is None else total + probs
            total = total / self.total_weight
            return total.cpu().numpy()


def load_predictor(plan: SegmentPlan, device: str) -> Predictor:
    """Load every bundle of the plan onto ``device``."""
    models = []
    for member in plan.members:
        loaded = load_bundle(member.path, device)
        member.model = loaded.model
        models.append((loaded.model, member.weight, member.aux_channels > 0, member.stats_key))
    return Predictor(models, plan.binary, plan.cfg.tta, device)


# ------------------------------------------------------------------------------------------------ reading
@dataclass
class _Batch:
    tiles: list[Tile]
    valid: np.ndarray  # (B, T, T) bool
    vision: dict[str, np.ndarray]  # stats key -> (B, Cv, T, T) float32 normalised
    aux: dict[str, np.ndarray | None]
    skipped: int = 0  # all-nodata tiles skipped since the previous batch


class TileReader:
    """Background thread reading, normalising and batching tiles ahead of the model (bounded queue)."""

    def __init__(self, plan: SegmentPlan, batch_size: int, prefetch: int):
        from .data.normalize import BandStatistics

        self.plan = plan
        if plan.use_aux:  # row-major tiles: warp each aux strip once per tile row, not once per overlapping tile;
            plan.reader.enable_aux_strip_cache(max_strips=1)  # a finished tile row's strip is never read again
        self.batch_size = batch_size
        self.prefetch = prefetch
        self.stop = threading.Event()  # checked per tile, so a cancel does not finish the batch being read
        self.stats: dict[str, tuple[Any, Any]] = {}
        for member in plan.members:
            aux_stats = member.data.get("aux_stats")
            self.stats[member.stats_key] = (
                BandStatistics.from_dict(member.data["vision_stats"]),
                BandStatistics.from_dict(aux_stats) if (aux_stats and plan.use_aux) else None,
            )
        self.read_seconds = 0.0
        self._prefetcher: Prefetcher | None = None

    def start(self) -> TileReader:
        self._prefetcher = Prefetcher(self._batches(), depth=self.prefetch, name="dualstream-reader")
        return self

    @property
    def wait_seconds(self) -> float:
        """Time the consumer (the model) spent waiting for a batch."""
        return 0.0 if self._prefetcher is None else self._prefetcher.wait_seconds

    def prepare(self, tile: Tile) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray | None]] | None:
        """Read and normalise one tile; None when it has no valid pixel."""
        plan = self.plan
        size = tile.size
        arrays = plan.reader.read(tile.col, tile.row, size, size)
        valid = arrays.valid
        if plan.use_region_mask:
            from .data.align import tile_grid

            valid = valid & plan.reader.region.mask(tile_grid(plan.reader.grid, tile.col, tile.row, size, size))
        if not valid.any():
            return None
        # only an image smaller than a tile reaches past its right/bottom edge: mirror the image there
        inside_h = min(size, plan.reader.grid.height - tile.row)
        inside_w = min(size, plan.reader.grid.width - tile.col)
        vision, aux = {}, {}
        for key, (vstats, astats) in self.stats.items():
            v = vstats.apply(arrays.vision, arrays.valid & valid)
            if inside_h < size or inside_w < size:
                v = np.pad(v[:, :inside_h, :inside_w], ((0, 0), (0, size - inside_h), (0, size - inside_w)),
                           mode="symmetric")
            vision[key] = np.ascontiguousarray(v, dtype=np.float32)
            if astats is not None and arrays.aux is not None:
                aux[key] = np.ascontiguousarray(astats.apply(arrays.aux, arrays.aux_valid), dtype=np.float32)
            else:
                aux[key] = None
        return valid, vision, aux

    def _batches(self) -> Iterator[_Batch]:
        """Read, normalise and batch the plan's tiles in order (all-nodata tiles skipped and counted)."""
        pending: list[tuple[Tile, np.ndarray, dict, dict]] = []
        skipped = 0
        # runs in the prefetch thread: one GDAL environment for it, not one per aux warp call
        with require("rasterio").Env():
            for tile in self.plan.grid:
                if self.stop.is_set():
                    return
                start = time.perf_counter()
                prepared = self.prepare(tile)
                self.read_seconds += time.perf_counter() - start
                if prepared is None:
                    skipped += 1
                    continue
                pending.append((tile, *prepared))
                if len(pending) == self.batch_size:
                    yield self._stack(pending, skipped)
                    pending, skipped = [], 0
        if pending or skipped:
            yield self._stack(pending, skipped)

    @staticmethod
    def _stack(pending: list, skipped: int) -> _Batch:
        if not pending:
            return _Batch([], np.zeros((0, 0, 0), bool), {}, {}, skipped)
        keys = pending[0][2].keys()
        vision = {k: np.stack([p[2][k] for p in pending]) for k in keys}
        aux = {k: (None if pending[0][3][k] is None else np.stack([p[3][k] for p in pending])) for k in keys}
        return _Batch([p[0] for p in pending], np.stack([p[1] for p in pending]), vision, aux, skipped)

    def __iter__(self) -> Iterator[_Batch]:
        if self._prefetcher is None:
            raise RuntimeError("TileReader.start() first")
        return self._prefetcher

    def close(self) -> None:
        self.stop.set()
        if self._prefetcher is not None:
            self._prefetcher.close()


# ------------------------------------------------------------------------------------------------ writing
class _OutputWriter:
    """Writer thread: turns finished probability rows into class (and probability) raster rows."""

    def __init__(self, plan: SegmentPlan, threshold: float):
        cfg = plan.cfg
        self.plan = plan
        self.threshold = threshold
        common = dict(width=plan.width, height=plan.height, crs=plan.crs, transform=plan.transform)
        self.classes = GeoTiffStreamWriter(cfg.output, count=1, dtype="uint8", nodata=CLASS_NODATA, **common)
        self.classes.write_colormap(plan.class_colors)
        self.classes.set_descriptions(["class"])
        self.probabilities = None
        if cfg.probabilities:
            as_uint8 = cfg.probability_dtype == "uint8"
            self.probabilities = GeoTiffStreamWriter(
                cfg.probabilities, count=plan.probability_channels, dtype=cfg.probability_dtype,
                nodata=PROBABILITY_NODATA_UINT8 if as_uint8 else float("nan"), **common)
            names = [plan.class_names[1]] if plan.binary else plan.class_names
            self.probabilities.set_descriptions([f"probability {n}" for n in names])
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.write_seconds = 0.0
        self.wait_seconds = 0.0  # producer blocked on a full queue: the model waiting on output
        self.thread = threading.Thread(target=self._run, name="dualstream-writer", daemon=True)
        self.thread.start()

    def sink(self, row: int, probs: np.ndarray, valid: np.ndarray) -> None:
        """Called by the accumulator (main thread) with finished rows."""
        if self.error is not None:
            raise self.error
        start = time.perf_counter()
        while True:
            try:
                self.queue.put((row, probs, valid), timeout=0.5)
                self.wait_seconds += time.perf_counter() - start
                return
            except queue.Full:
                if self.error is not None:
                    raise self.error

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue  # drain after a failure
            try:
                start = time.perf_counter()
                self._write(*item)
                self.write_seconds += time.perf_counter() - start
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                self.error = exc

    def _write(self, row: int, probs: np.ndarray, valid: np.ndarray) -> None:
        if self.plan.binary:
            classes = (probs[0] >= self.threshold).astype(np.uint8)
        else:
            classes = probs.argmax(axis=0).astype(np.uint8)
        classes[~valid] = CLASS_NODATA
        self.classes.write_rows(row, classes[None])
        if self.probabilities is not None:
            if self.plan.cfg.probability_dtype == "uint8":
                scaled = np.rint(np.clip(probs, 0, 1) * PROBABILITY_SCALE_UINT8).astype(np.uint8)
                scaled[:, ~valid] = PROBABILITY_NODATA_UINT8
                self.probabilities.write_rows(row, scaled)
            else:
                out = probs.astype(np.float32, copy=True)
                out[:, ~valid] = np.nan
                self.probabilities.write_rows(row, out)

    def finish(self) -> None:
        """Wait for the queue to drain; raise the writer's error if any."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        if self.thread.is_alive():
            self.error = self.error or CanceledError("aborted")
            self.queue.put(None)
            self.thread.join()
        self.classes.abort()
        if self.probabilities is not None:
            self.probabilities.abort()


# ------------------------------------------------------------------------------------------------ entry point
def _finish_outputs(plan: SegmentPlan, writer: _OutputWriter, callback: Callback, extra_tmp: list[Path],
                    metadata: dict[str, str] | None = None) -> Path:
    """Overviews, names, scale and polygons on the finished temp files, then publish them; returns the QML path."""
    cfg = plan.cfg
    callback.progress(0, 1, "finishing outputs")
    writer.classes.finalize(category_names=plan.class_names,
                            metadata={"DUALSTREAM_MODELS": ";".join(m.path for m in plan.members),
                                      **(metadata or {})})
    if writer.probabilities is not None:
        scale = 1.0 / PROBABILITY_SCALE_UINT8 if cfg.probability_dtype == "uint8" else None
        writer.probabilities.finalize(overviews="average", scale=scale)
    callback.check_canceled()
    polygons_tmp = None
    if cfg.polygons:
        polygons_tmp = temporary_path(cfg.polygons, ".gpkg")
        extra_tmp.append(polygons_tmp)
        classes = cfg.polygon_classes if cfg.polygon_classes is not None else (
            [1] if plan.binary else list(range(len(plan.class_names))))
        count = write_polygons(writer.classes.tmp, polygons_tmp, plan.class_names,
                               layer_name=Path(cfg.polygons).stem, classes=classes,
                               min_area=cfg.min_polygon_area, simplify=cfg.simplify_tolerance,
                               callback=callback)
        callback.info(f"{count} polygon(s) written.")
    callback.check_canceled()
    # everything is complete: publish (class raster last, so it only appears once all is in place)
    qml = qml_path_for(cfg.output)
    if writer.probabilities is not None:
        writer.probabilities.commit()
    if polygons_tmp is not None:
        commit_file(polygons_tmp, Path(cfg.polygons))
    write_text_atomic(qml, qml_text(plan.class_names, plan.class_colors))
    writer.classes.commit()
    callback.progress(1, 1, "finishing outputs")
    return qml


def segment(cfg: SegmentConfig, callback: Callback | None = None) -> SegmentResult:
    """Segment a scene with one bundle or a weighted ensemble; write the styled outputs atomically.

    Returns:
        A :class:`SegmentResult` with the output paths, class names/colours, pixel count and run time.

    Raises:
        ConfigError, DataError, AlignmentError, BundleError: bad inputs, before any heavy work.
        CanceledError: the callback asked to stop; nothing was written at the destinations.
    """
    callback = callback or Callback()
    start = time.perf_counter()
    if cfg.resample_to_training_gsd:
        return _segment_resampled(cfg, callback)
    plan = plan_segmentation(cfg, callback)
    device = resolve_device(cfg.device)
    reader_thread = writer = None
    extra_tmp: list[Path] = []
    gdal = require("osgeo.gdal")
    previous_cache = gdal.GetCacheMax()
    gdal.SetCacheMax(min(previous_cache, GDAL_CACHE_BYTES))  # streaming: a small cache is all it needs
    try:
        callback.info(f"Segmenting '{cfg.image}' region {plan.region} ({plan.width}x{plan.height} px) with "
                      f"{len(plan.members)} model(s) on {device}: {len(plan.grid)} tiles of {plan.tile} px, "
                      f"overlap {plan.overlap} px, TTA {cfg.tta}.")
        predictor = load_predictor(plan, device)
        callback.check_canceled()
        writer = _OutputWriter(plan, cfg.threshold)
        accumulator = RowBandAccumulator(plan.width, plan.height, plan.probability_channels, plan.grid.band_rows,
                                         writer.sink)
        weights = blend_window(plan.tile, max(plan.overlap, 1))
        reader_thread = TileReader(plan, cfg.batch_size, cfg.prefetch).start()
        total, done, skipped = len(plan.grid), 0, 0
        col0, row0 = plan.region[0], plan.region[1]
        model_seconds = 0.0
        callback.progress(0, total, "segment")
        for batch in reader_thread:
            callback.check_canceled()
            if batch.tiles:
                tick = time.perf_counter()
                probs = predictor(batch.vision, batch.aux)
                model_seconds += time.perf_counter() - tick
                for i, tile in enumerate(batch.tiles):
                    accumulator.add(probs[i], weights, batch.valid[i], tile.row - row0, tile.col - col0)
            done += len(batch.tiles) + batch.skipped
            skipped += batch.skipped
            callback.progress(done, total, "segment")
        callback.check_canceled()
        accumulator.finish()
        writer.finish()
        qml = _finish_outputs(plan, writer, callback, extra_tmp)
        seconds = time.perf_counter() - start
        timings = {"model": model_seconds, "input_wait": reader_thread.wait_seconds,
                   "output_wait": writer.wait_seconds, "read": reader_thread.read_seconds,
                   "write": writer.write_seconds}
        callback.info(f"Wrote '{cfg.output}' ({plan.width * plan.height / max(seconds, 1e-9):,.0f} px/s; model "
                      f"{model_seconds:.1f} s of {seconds:.1f} s, waiting on input {reader_thread.wait_seconds:.1f} s "
                      f"and on output {writer.wait_seconds:.1f} s; reading {reader_thread.read_seconds:.1f} s and "
                      f"writing {writer.write_seconds:.1f} s in background threads).")
        return SegmentResult(output=str(cfg.output), qml=str(qml), probabilities=cfg.probabilities,
                             polygons=cfg.polygons, class_names=plan.class_names, class_colors=plan.class_colors,
                             pixels=plan.width * plan.height, seconds=seconds, tiles=total, skipped_tiles=skipped,
                             device=device, width=plan.width, height=plan.height, warnings=plan.warnings,
                             working_gsd=[float(v) for v in plan.reader.gsd], timings=timings)
    except BaseException:
        _discard_partial_outputs(writer, extra_tmp)
        raise
    finally:
        if reader_thread is not None:
            reader_thread.close()
        plan.reader.close()
        gdal.SetCacheMax(previous_cache)


def _discard_partial_outputs(writer: _OutputWriter | None, extra_tmp: list[Path]) -> None:
    """A failed or canceled run: remove every temporary output, so nothing at a destination looks finished."""
    if writer is not None:
        writer.abort()
    for path in extra_tmp:
        _remove_quietly(path)


# ------------------------------------------------------------------------------------------------ resampling
GSD_RESAMPLE_TOLERANCE = 0.01  # relative pixel-size difference below which the image is used as it is


class _OnceCallback(Callback):
    """Forwards everything to ``inner`` but each distinct warning only once (a resampled run plans twice)."""

    def __init__(self, inner: Callback):
        self.inner = inner
        self.seen: set[str] = set()

    def progress(self, done: float, total: float, stage: str = "") -> None:
        self.inner.progress(done, total, stage)

    def info(self, message: str) -> None:
        self.inner.info(message)

    def warning(self, message: str) -> None:
        if message not in self.seen:
            self.seen.add(message)
            self.inner.warning(message)

    def metrics(self, epoch: int, values: dict[str, Any]) -> None:
        self.inner.metrics(epoch, values)

    def is_canceled(self) -> bool:
        return self.inner.is_canceled()

    def check_canceled(self) -> None:
        self.inner.check_canceled()


def _resample_target(plan: SegmentPlan, callback: Callback) -> tuple[float, float] | None:
    """The first bundle's training pixel size (x, y), or None when the image already has it (within 1 %).

    Raises:
        ConfigError: the bundle records no pixel size, or the image has no usable georeferencing.
    """
    first = plan.members[0]
    train = first.data.get("gsd")
    if not train:
        raise ConfigError(f"resample_to_training_gsd: the model '{first.path}' records no training pixel size "
                          f"(data.gsd); segment without resampling, or resample the image with gdalwarp first.")
    train = (float(train[0]), float(train[-1]))
    for member in plan.members[1:]:
        other = member.data.get("gsd")
        if other and not np.allclose([float(other[0]), float(other[-1])], train, rtol=GSD_RESAMPLE_TOLERANCE):
            message = (f"The ensemble members were trained at different pixel sizes ({list(train)} for "
                       f"'{first.path}', {other} for '{member.path}'); resampling to the first member's.")
            plan.warnings.append(message)
            callback.warning(message)
    reader = plan.reader
    if not reader.grid.georeferenced:
        raise ConfigError(f"resample_to_training_gsd: the image '{plan.cfg.image}' has no georeferencing, so its "
                          f"pixel size is unknown; georeference it or segment without resampling.")
    t = plan.transform
    if t.b != 0 or t.d != 0 or t.e >= 0:
        raise ConfigError(f"resample_to_training_gsd: the image '{plan.cfg.image}' is rotated or not north-up; "
                          f"warp it to a north-up grid (gdalwarp) first or segment without resampling.")
    train_crs = first.data.get("crs")
    if train_crs and reader.grid.crs is not None:
        from rasterio.crs import CRS

        try:
            geographic = CRS.from_user_input(train_crs).is_geographic
        except Exception:  # noqa: BLE001 - an unparsable training CRS: compare the numbers as they are
            geographic = reader.grid.crs.is_geographic
        if geographic != reader.grid.crs.is_geographic:
            raise ConfigError(f"resample_to_training_gsd: the model '{first.path}' was trained in "
                              f"{'degrees' if geographic else 'metres'} but the image '{plan.cfg.image}' is in "
                              f"{'degrees' if reader.grid.crs.is_geographic else 'map units'}; reproject the "
                              f"image to a CRS like the training one first.")
    gsd = [float(v) for v in reader.gsd]
    if all(abs(g / t_ - 1) <= GSD_RESAMPLE_TOLERANCE for g, t_ in zip(gsd, train)):
        return None
    return train


def _segment_resampled(cfg: SegmentConfig, callback: Callback) -> SegmentResult:
    """:func:`segment` at the training pixel size, with the outputs on the input grid.

    The region to segment is warped to the first bundle's training pixel size as a GDAL VRT (virtual: no copy
    of the pixels; ``average`` when shrinking, ``bilinear`` when enlarging) and segmented by the normal
    streaming pipeline into float32 probabilities in a hidden temp folder beside the output. The probabilities
    are warped back bilinearly onto exactly the grid a run without resampling writes (a windowed GDAL warp,
    read block row by block row), the classes are derived from them (threshold or argmax), so the class and
    probability rasters agree, and pixels that are nodata in the input (or outside the AOI) are nodata.
    Polygons are made from the final class raster; every output goes temp-then-rename as usual.
    """
    import shutil
    import tempfile

    from .data.align import tile_grid
    from .data.raster import open_raster, read_window
    from .outputs import BLOCK, _gdal_errors

    start = time.perf_counter()
    callback = _OnceCallback(callback)
    gdal = require("osgeo.gdal")
    plan = plan_segmentation(cfg, callback)
    tmp_dir: Path | None = None
    writer = image_ds = back = None
    extra_tmp: list[Path] = []
    previous_cache = gdal.GetCacheMax()
    try:
        target = _resample_target(plan, callback)
        if target is None:
            callback.info(f"The image '{cfg.image}' already has the training pixel size "
                          f"{plan.members[0].data.get('gsd')}; segmenting it without resampling.")
            plan.reader.close()
            return segment(cfg.replace(resample_to_training_gsd=False), callback)
        t, width, height = plan.transform, plan.width, plan.height
        bounds = (t.c, t.f + t.e * height, t.c + t.a * width, t.f)  # left, bottom, right, top of the region
        work_w = max(1, round((bounds[2] - bounds[0]) / target[0]))
        work_h = max(1, round((bounds[3] - bounds[1]) / target[1]))
        working_gsd = [(bounds[2] - bounds[0]) / work_w, (bounds[3] - bounds[1]) / work_h]
        gsd = [float(v) for v in plan.reader.gsd]
        factor = float(np.mean(gsd)) / float(np.mean(target))
        method = "average" if factor < 1 else "bilinear"  # shrinking averages, enlarging interpolates
        callback.info(f"Resampling '{cfg.image}' from a pixel size of {gsd[0]:.4g} x {gsd[1]:.4g} to the "
                      f"training pixel size {list(target)} of '{plan.members[0].path}' (factor {factor:.2f}, "
                      f"{method}): the model sees {work_w}x{work_h} px at {working_gsd[0]:.4g} x "
                      f"{working_gsd[1]:.4g}; the outputs stay on the input grid ({width}x{height} px).")
        out_dir = Path(cfg.output).parent
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{Path(cfg.output).stem}.resample-", dir=str(out_dir)))
        vrt = tmp_dir / "image.vrt"
        with _gdal_errors(gdal):
            gdal.Warp(str(vrt), str(cfg.image), options=gdal.WarpOptions(
                format="VRT", outputBounds=bounds, width=work_w, height=work_h, resampleAlg=method))
        inner = segment(cfg.replace(image=str(vrt), output=str(tmp_dir / "classes.tif"),
                                    probabilities=str(tmp_dir / "probabilities.tif"), probability_dtype="float32",
                                    polygons=None, extent=None, extent_crs=None, aoi=None,
                                    resample_to_training_gsd=False), callback)
        callback.check_canceled()

        # back onto the input grid: a warped VRT of the probabilities, read (and so warped) block row by block row
        gdal.SetCacheMax(min(previous_cache, GDAL_CACHE_BYTES))
        back_vrt = tmp_dir / "back.vrt"
        with _gdal_errors(gdal):
            gdal.Warp(str(back_vrt), str(inner.probabilities), options=gdal.WarpOptions(
                format="VRT", outputBounds=bounds, width=width, height=height, resampleAlg="bilinear",
                srcNodata="nan", dstNodata="nan"))
            back = gdal.Open(str(back_vrt))
        image_ds = open_raster(cfg.image, "image")
        writer = _OutputWriter(plan, cfg.threshold)
        col0, row0 = plan.region[0], plan.region[1]
        channels = plan.probability_channels
        callback.progress(0, height, "resampling to the input grid")
        for row in range(0, height, BLOCK):
            callback.check_canceled()
            rows = min(BLOCK, height - row)
            with _gdal_errors(gdal):
                probs = np.asarray(back.ReadAsArray(0, row, width, rows), np.float32).reshape(channels, rows, width)
            _, valid = read_window(image_ds, col0, row0 + row, width, rows)
            if plan.use_region_mask:
                valid &= plan.reader.region.mask(tile_grid(plan.reader.grid, col0, row0 + row, width, rows))
            valid &= np.isfinite(probs).all(axis=0)
            writer.sink(row, np.nan_to_num(probs, nan=0.0), valid)
            callback.progress(row + rows, height, "resampling to the input grid")
        writer.finish()
        qml = _finish_outputs(plan, writer, callback, extra_tmp, metadata={
            "DUALSTREAM_WORKING_GSD": " ".join(f"{v:.10g}" for v in working_gsd)})
        seconds = time.perf_counter() - start
        callback.info(f"Wrote '{cfg.output}' ({width * height / max(seconds, 1e-9):,.0f} px/s of the input grid, "
                      f"predicted at the training pixel size).")
        warnings = list(dict.fromkeys(plan.warnings + inner.warnings))
        return SegmentResult(output=str(cfg.output), qml=str(qml), probabilities=cfg.probabilities,
                             polygons=cfg.polygons, class_names=plan.class_names, class_colors=plan.class_colors,
                             pixels=width * height, seconds=seconds, tiles=inner.tiles,
                             skipped_tiles=inner.skipped_tiles, device=inner.device, width=width, height=height,
                             warnings=warnings, working_gsd=working_gsd,
                             timings=dict(inner.timings, output_wait=inner.timings.get("output_wait", 0.0)
                                          + writer.wait_seconds, write=inner.timings.get("write", 0.0)
                                          + writer.write_seconds))
    except BaseException:
        _discard_partial_outputs(writer, extra_tmp)
        raise
    finally:
        back = None  # noqa: F841 - closes the GDAL dataset before its folder goes
        if image_ds is not None:
            image_ds.close()
        plan.reader.close()
        gdal.SetCacheMax(previous_cache)
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def prepared_batches(plan: SegmentPlan, batch_size: int, max_tiles: int | None = None) -> list[_Batch]:
    """The plan's tiles read, normalised and batched in memory, as the reader thread hands them to the model.

    For model-only measurements (benchmarks): the same tiles, batches and arrays without any I/O in the loop.
    """
    reader = TileReader(plan, batch_size, 1)
    prepared = []
    with require("rasterio").Env():
        for tile in plan.grid:
            item = reader.prepare(tile)
            if item is not None:
                prepared.append((tile, *item))
            if max_tiles is not None and len(prepared) >= max_tiles:
                break
    return [TileReader._stack(prepared[i:i + batch_size], 0) for i in range(0, len(prepared), batch_size)]


def estimate_tiles(width: int, height: int, tile: int, overlap: int) -> int:
    """Tile count for a width x height region (progress estimates)."""
    stride = max(1, tile - overlap)
    per_axis = [1 if n <= tile else math.ceil((n - tile) / stride) + 1 for n in (width, height)]
    return per_axis[0] * per_axis[1]
