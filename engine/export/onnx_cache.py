"""Cached ONNX exports of model bundles, for the onnxruntime backend (``backend`` auto or onnxruntime).

A bundle is exported once per content and tile size (or once for any tile size: a convolutional model, which a CPU
run gives a tile fitted to the region) and reused: the key is the bundle's SHA-256, so an edited or replaced bundle
never meets a stale export. Each entry has a record beside it (``<key>.json``: the bundle's and the model's SHA-256,
the parity with torch measured when it was made); a model whose digest differs from its record is refused (never
run) and made again, and the session that runs it also checks the source bundle digest recorded inside it. Making
one needs torch; reusing one does not.

A change model whose first date a monitoring series can share is cached as two graphs with one record
(``<key>-encoder-head.json``), so that the backend encodes a first date once for all its pairs
(:mod:`engine.bundle.date_graphs` runs them; the names are its): the encoder takes one date's normalised tile
(``image``, (batch, bands, T, T), clipped to [0, 1] inside for a percentile-scaled model) and gives its maps at
strides 4, 8, 16, 32; the head takes every date's maps and gives ``probabilities``. Run as one, for a pair and for a
second pair whose first date's maps are reused, they must agree with torch's whole model within
``PARITY_TOLERANCE``, or nothing is left. The user's ``export`` keeps one graph (:mod:`.onnx_export`).

Where: ``DUALSTREAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/dualstream`` or ``~/.cache/dualstream``, in ``onnx/``;
where that cannot be written, a ``.dualstream-cache`` folder beside the bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle.date_graphs import ENCODER_INPUT, ENCODER_OUTPUTS, HEAD_OUTPUT, SCALES, DateGraphs, head_inputs
from ..bundle.onnx_metadata import PARITY_TOLERANCE, date_inputs, encode_metadata, session
from ..bundle.schema import METADATA_KEY, BundleMetadata, OnnxMetadata
from ..bundle.store import load_bundle
from ..callbacks import Callback, Stage
from ..config.inference import DEFAULT_OPSET, DEFAULT_OVERLAP
from ..errors import BundleError, ConfigError, ModelError, OutputError, mention
from ..io.atomic import temporary_path, write_text_atomic
from ..io.digest import file_sha256
from ..models.change.first_dates import FirstDateFeatures, shares_first_dates
from ..runtime.environment import require
from ..time_axis import date_channels, date_rows, join_dates
from .onnx_export import (
    EXPORT_STEPS,
    activation,
    dynamic_axes,
    export_onnx,
    probability_module,
    trace,
    write_graph_metadata,
)

CACHE_ENV = "DUALSTREAM_CACHE_DIR"
# part of every key: a change in how bundles are exported makes new entries (2: a TL encoder takes "coords"; 3:
# Galileo's graphs mask their tokens for every input, not as their trace did; 4: Presto's and Galileo's masks are
# additive, with no NaN guard over every attention weight)
CACHE_VERSION = 4
BESIDE_BUNDLE = ".dualstream-cache"


def user_cache_dir() -> Path:
    """``DUALSTREAM_CACHE_DIR``, XDG's or ~/.cache's ``dualstream``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dualstream"


def cache_folder(bundle: str | os.PathLike) -> Path:
    """The first writable of the user's cache (``onnx/``) and a folder beside the bundle."""
    candidates = [user_cache_dir() / "onnx", Path(bundle).resolve().parent / BESIDE_BUNDLE]
    for folder in candidates:
        with suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    raise OutputError(f"No folder to cache the ONNX export of '{bundle}' in: neither {candidates[0]} nor "
                      f"{candidates[1]} can be written; set {CACHE_ENV} to a writable folder.")


@dataclass
class CachedExport:
    """A cached export ready to run: where it is and how it was checked."""

    path: Path
    max_abs_diff: float  # onnxruntime vs torch on random inputs, when it was made
    made: bool  # exported by this call (False: an earlier export reused)


@dataclass
class CachedDateGraphs:
    """A change model's cached encoder and head graphs."""

    encoder: Path
    head: Path
    max_abs_diff: float  # the two graphs run as one, against torch's whole model, when they were made
    made: bool


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time makes or checks an entry (two bulk processes starting together export once)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic renames still keep every entry whole
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def embedded_source(session: Any) -> str | None:
    """The source bundle digest recorded in an open session's DualStream metadata."""
    props = session.get_modelmeta().custom_metadata_map
    try:
        onnx = BundleMetadata.from_dict(json.loads(props[METADATA_KEY])).onnx
    except (KeyError, json.JSONDecodeError, BundleError):
        return None
    return None if onnx is None else onnx.source_bundle_sha256


def check_entry(models: list[Path], record: Path, bundle_sha256: str) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) when ``models`` are the export of the bundle with ``bundle_sha256``, else (None, why not);
    (None, None) for a missing entry."""
    if not all(m.is_file() for m in models) or not record.is_file():
        return None, None
    try:
        kept = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return None, f"its record '{record.name}' is unreadable ({exc})"
    if kept.get("bundle_sha256") != bundle_sha256:
        return None, "its record names another bundle"
    digests = [file_sha256(m) for m in models]
    if (digests if len(digests) > 1 else digests[0]) != kept.get("onnx_sha256"):
        return None, "its SHA-256 does not match its record (altered or damaged)"
    return kept, None  # the model's embedded source digest is checked on the session that runs it


def _cached(bundle: str | os.PathLike, tile: int | None, callback: Callback | None, digest: str | None, what: str,
            graphs: dict[str, str], make: Callable[[dict[str, Path]], float], dates: int | None = None
            ) -> tuple[Any, ...]:
    """The entry of ``graphs`` (name -> file suffix) for ``bundle`` (SHA-256 ``digest``, read when None) at
    ``tile`` (``dates``: a season graph of that many dates, None: the trained count): reused when its record vouches
    for it, else made by ``make`` (the paths to write -> its parity with torch) and recorded. (each graph's path,
    parity, made)."""
    digest, callback = digest or file_sha256(bundle), callback or Callback()
    folder = cache_folder(bundle)
    stem = (f"{digest}-t{'any' if tile is None else int(tile)}{'' if dates is None else f'-d{int(dates)}'}"
            f"-v{CACHE_VERSION}")
    paths = {name: folder / f"{stem}{suffix}.onnx" for name, suffix in graphs.items()}
    record = folder / f"{stem}{''.join(graphs.values())}.json"
    named = "', '".join(str(p) for p in paths.values())
    with _locked(record.with_suffix(".lock")):
        kept, refused = check_entry(list(paths.values()), record, digest)
        if kept is not None:
            diff = float(kept.get("max_abs_diff", float("nan")))
            callback.info(f"Using the cached {what} of '{bundle}' ('{named}'; its parity with torch was "
                          f"checked when it was made: max abs diff {diff:.2g}).")
            return (*paths.values(), diff, False)
        if refused:
            callback.warning(f"The cached {what} '{named}' was refused: {refused}. Exporting '{bundle}' again.")
        callback.info(f"Exporting '{bundle}' to ONNX for onnxruntime, once (cached in '{folder}').")
        callback.progress(0, EXPORT_STEPS, Stage.EXPORT)  # said before the first step: tracing takes seconds
        diff = make(paths)
        digests = [file_sha256(p) for p in paths.values()]
        write_text_atomic(record, json.dumps({"bundle": str(Path(bundle).resolve()), "bundle_sha256": digest,
                                              "onnx_sha256": digests if len(digests) > 1 else digests[0],
                                              "tile_size": "any" if tile is None else int(tile),
                                              "max_abs_diff": diff, "cache_version": CACHE_VERSION}, indent=2))
        callback.progress(EXPORT_STEPS, EXPORT_STEPS, Stage.EXPORT)
        callback.info(f"{what[0].upper()}{what[1:]} cached as '{named}'; parity with torch: max abs diff {diff:.2g}.")
        return (*paths.values(), diff, True)


def cached_export(bundle: str | os.PathLike, tile: int | None, callback: Callback | None = None,
                  bundle_sha256: str | None = None, dates: int | None = None) -> CachedExport:
    """The ONNX export of ``bundle`` at ``tile`` px (any batch; ``tile`` None: any tile size, traced at the trained
    tile; ``dates``: a season model's graph of that many dates, None: its trained count), made once with its parity
    check and cached. Raises OutputError for no writable cache folder, else as
    :func:`~engine.export.onnx_export.export_onnx`."""
    return CachedExport(*_cached(bundle, tile, callback, bundle_sha256, "ONNX export", {"model": ""},
                                 lambda paths: export_onnx(bundle, paths["model"], tile_size=tile, dynamic_batch=True,
                                                           any_size=tile is None, callback=callback,
                                                           dates=dates).max_abs_diff, dates))


def cached_date_graphs(bundle: str | os.PathLike, tile: int | None, callback: Callback | None = None,
                       bundle_sha256: str | None = None) -> CachedDateGraphs:
    """A change model's export as its two graphs (:func:`export_date_graphs`), cached as :func:`cached_export`
    caches one graph; raises as it does."""
    return CachedDateGraphs(*_cached(bundle, tile, callback, bundle_sha256, "ONNX export in two graphs",
                                     {"encoder": "-encoder", "head": "-head"},
                                     lambda paths: export_date_graphs(bundle, paths, tile, callback)))


def _graphs(model: Any, binary: bool, clip: bool, dates: int) -> tuple[Any, Any]:
    """The torch modules traced: one date's tile -> its maps; every date's maps -> probabilities."""
    torch = require("torch")

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

    class Encoder(Graph):
        def forward(self, image: Any) -> tuple[Any, ...]:
            return tuple(self.model.encode(image.clamp(0.0, 1.0) if clip else image))

    class Head(Graph):
        def forward(self, *maps: Any) -> Any:
            per_date = [list(maps[date_channels(SCALES, d)]) for d in range(dates)]  # each date's maps
            size = (maps[0].shape[-2] * 4, maps[0].shape[-1] * 4)  # the finest maps are at stride 4
            return activation(self.model.head(per_date, size), binary)

    return Encoder().eval(), Head().eval()


def export_date_graphs(bundle: str | os.PathLike, paths: dict[str, Path], tile_size: int | None,
                       callback: Callback | None = None) -> float:
    """Write ``bundle``'s change model as its encoder and head graphs (``paths``: "encoder", "head"), at
    ``tile_size`` px or, None, any tile size traced at the trained tile; returns their parity with torch (max abs
    diff). Raises ConfigError for a model that cannot share a first date (one date, aux rasters, each tile's date and
    place), ModelError where onnxruntime disagrees or the opset cannot express it, DependencyError without onnx."""
    callback, opset, any_size = callback or Callback(), DEFAULT_OPSET, tile_size is None
    torch = require("torch")
    require("onnx")
    require("onnxruntime")
    loaded = load_bundle(bundle, "cpu")
    model, meta = loaded.model, loaded.metadata
    dates, bands = int(meta.model.input_dates), int(meta.data.vision_bands)
    if not hasattr(model, "encode") or not shares_first_dates(dates, meta.data.aux_channels, model.takes_coords):
        raise ConfigError(f"'{bundle}' is not a change model whose dates are encoded alone (aux rasters or each "
                          f"tile's date and place enter its encoder); export it as one graph.")
    tile, multiple = int(tile_size or meta.data.tile_size), int(model.size_multiple)
    binary, clip = meta.model.num_classes == 1, meta.data.vision_stats.method == "percentile"
    encoder, head = _graphs(model, binary, clip, dates)
    images = torch.rand(2 * dates, bands, tile, tile, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # each date's maps of two tiles, from different images (a fusion of equal maps is 0)
        maps = [date_rows(m, dates) for m in encoder(images)]
    head_args = tuple(maps[s][d] for d in range(dates) for s in range(SCALES))
    callback.info(f"Exporting '{bundle}' ({meta.model.name}) to ONNX opset {opset} as two graphs: a date's encoder "
                  f"({ENCODER_INPUT} {(bands, tile, tile)}) and the head over the {dates} dates' maps, batch "
                  f"dynamic{', any tile size' if any_size else ''}.")
    temps = {name: temporary_path(path, ".onnx") for name, path in paths.items()}
    try:
        trace(encoder, (images[:2],), temps["encoder"], [ENCODER_INPUT], opset,
              dynamic_axes([ENCODER_INPUT, *ENCODER_OUTPUTS], True, any_size), outputs=tuple(ENCODER_OUTPUTS))
        trace(head, head_args, temps["head"], head_inputs(dates), opset,
              dynamic_axes([*head_inputs(dates), HEAD_OUTPUT], True, any_size))
        callback.progress(1, EXPORT_STEPS, Stage.EXPORT)
        source = file_sha256(bundle)
        for name, inputs, output in (("encoder", [ENCODER_INPUT], ",".join(ENCODER_OUTPUTS)),
                                     ("head", head_inputs(dates), HEAD_OUTPUT)):
            section = OnnxMetadata(inputs=inputs, output=output, opset=opset, tile_size=tile,
                                   clip_vision=clip and name == "encoder",
                                   activation="sigmoid" if binary else "softmax",
                                   source_weights_sha256=meta.weights_sha256, source_bundle_sha256=source,
                                   extra={"graph": name})
            props = encode_metadata(meta, section, tile, DEFAULT_OVERLAP)
            write_graph_metadata(temps[name], {METADATA_KEY: props[METADATA_KEY]})
        whole = probability_module(model, binary, clip, False, names=tuple(date_inputs(dates)))
        diff = date_parity(whole, temps, dates, (bands, tile, tile), 3, 1)
        if any_size:  # a size it was not traced at: a shape baked into either graph shows here
            diff = max(diff, date_parity(whole, temps, dates, (bands, tile + multiple, tile + multiple), 1, 2))
        callback.progress(2, EXPORT_STEPS, Stage.EXPORT)
        if not diff <= PARITY_TOLERANCE:
            raise ModelError(f"The two exported graphs of '{bundle}' disagree with torch: max abs diff {diff:.3g} on "
                             f"random inputs (allowed {PARITY_TOLERANCE:g}); nothing was written. Try another "
                             f"{mention('export.opset')}, or run it with {mention('segment.backend')} torch.")
        for name, path in paths.items():
            os.replace(temps[name], path)
    except BaseException:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        raise
    return diff


def date_parity(whole: Any, graphs: dict[str, Path], dates: int, shape: tuple[int, ...], batch: int,
                seed: int) -> float:
    """Max absolute difference between the ``graphs`` ("encoder", "head") run as one (:class:`DateGraphs`) and torch's
    ``whole`` model on random dates of ``shape``: a pair, then a second pair of the same first date whose maps the
    store keeps."""
    torch = require("torch")
    generator = torch.Generator().manual_seed(seed)
    first = torch.rand(batch, *shape, generator=generator)
    run = DateGraphs(session(graphs["encoder"]), session(graphs["head"]), dates, FirstDateFeatures()).run
    worst = 0.0
    for _ in range(2):
        later = [torch.rand(batch, *shape, generator=generator) for _ in range(dates - 1)]
        got = run(join_dates([first, *later]).numpy())
        with torch.no_grad():
            want = whole(first, *later).numpy()
        if got.shape != want.shape:
            raise ModelError(f"The exported graphs return shape {got.shape} but torch {want.shape}; export again.")
        worst = max(worst, float(abs(got - want).max()))
    return worst
