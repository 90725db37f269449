"""Cached ONNX exports of model bundles, for the onnxruntime backend (``backend`` auto or onnxruntime).

A bundle is exported once per content and tile size (or once for any tile size: a convolutional model, which a CPU
run gives a tile fitted to the region and runs through that one export at every size) and the export reused: its key
is the bundle file's SHA-256, so an edited, retrained or replaced bundle never meets a stale export. Each cached
model has a record beside it (``<key>.json``: the bundle's and the model's own SHA-256, the parity with torch
measured when it was made). A change model whose first date a monitoring series can share is cached as two graphs
with one record (``<key>-encoder-head.json``): one date's encoder and the head over the dates' maps
(:mod:`.onnx_dates`), so that the backend encodes a first date once for all its pairs. A model whose digest
differs from its record is refused (never run) and made again; the session that runs a cached model also checks
the source bundle digest recorded inside it.
Making one needs torch (the export and its parity check); reusing one does not.

Where: ``DUALSTREAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/dualstream`` or ``~/.cache/dualstream``, in ``onnx/``;
where that cannot be written, a ``.dualstream-cache`` folder beside the bundle.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle.schema import METADATA_KEY, BundleMetadata
from ..callbacks import Callback
from ..errors import BundleError, OutputError
from ..io.atomic import write_text_atomic
from ..io.digest import file_sha256
from .onnx_dates import export_date_graphs
from .onnx_export import export_onnx

CACHE_ENV = "DUALSTREAM_CACHE_DIR"
# part of every key: a change in how bundles are exported makes new entries (2: a TL encoder takes "coords")
CACHE_VERSION = 2
BESIDE_BUNDLE = ".dualstream-cache"


def user_cache_dir() -> Path:
    """The user's cache folder for DualStream (``DUALSTREAM_CACHE_DIR``, XDG, or ~/.cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dualstream"


def cache_folder(bundle: str | os.PathLike) -> Path:
    """The first writable of the user's cache (``onnx/``) and a folder beside the bundle."""
    candidates = [user_cache_dir() / "onnx", Path(bundle).resolve().parent / BESIDE_BUNDLE]
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    raise OutputError(f"No folder to cache the ONNX export of '{bundle}' in: neither {candidates[0]} nor "
                      f"{candidates[1]} can be written; set {CACHE_ENV} to a writable folder.")


@dataclass
class CachedExport:
    """A cached export ready to run: where it is and how it was checked."""

    path: Path
    bundle_sha256: str
    max_abs_diff: float  # onnxruntime vs torch on random inputs, when it was made
    made: bool  # exported by this call (False: an earlier export reused)


@dataclass
class CachedDateGraphs:
    """A change model's cached encoder and head graphs (:func:`cached_date_graphs`)."""

    encoder: Path
    head: Path
    bundle_sha256: str
    max_abs_diff: float  # the two graphs run as one, against torch's whole model, when they were made
    made: bool


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time makes or checks an entry (two bulk processes starting together export once)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic renames still keep every entry whole
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def embedded_source(session: Any) -> str | None:
    """The source bundle digest recorded inside an exported model's DualStream metadata (an open session's)."""
    props = session.get_modelmeta().custom_metadata_map
    try:
        onnx = BundleMetadata.from_dict(json.loads(props[METADATA_KEY])).onnx
    except (KeyError, json.JSONDecodeError, BundleError):
        return None
    return None if onnx is None else onnx.source_bundle_sha256


def check_entry(models: Path | list[Path], record: Path,
                bundle_sha256: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the entry's record, None) when ``models`` (one graph, or a change model's encoder and head) are the export of
    the bundle with ``bundle_sha256``; else (None, why not). A missing entry is (None, None)."""
    graphs = models if isinstance(models, list) else [models]
    if not all(m.is_file() for m in graphs) or not record.is_file():
        return None, None
    try:
        kept = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return None, f"its record '{record.name}' is unreadable ({exc})"
    if kept.get("bundle_sha256") != bundle_sha256:
        return None, "its record names another bundle"
    digests = [file_sha256(m) for m in graphs]
    if (digests if isinstance(models, list) else digests[0]) != kept.get("onnx_sha256"):
        return None, "its SHA-256 does not match its record (altered or damaged)"
    return kept, None  # the model's embedded source digest is checked on the session that runs it


def _cached(bundle: str | os.PathLike, tile: int | None, callback: Callback, digest: str, what: str,
            graphs: dict[str, str], make: Callable[[dict[str, Path]], float]) -> tuple[dict[str, Path], float, bool]:
    """The entry of ``graphs`` (name -> file suffix) for ``bundle`` at ``tile``: reused when its record vouches for
    it, else made by ``make`` (the paths to write -> its parity with torch) and recorded. (paths, parity, made)."""
    folder = cache_folder(bundle)
    stem = f"{digest}-t{'any' if tile is None else int(tile)}-v{CACHE_VERSION}"
    paths = {name: folder / f"{stem}{suffix}.onnx" for name, suffix in graphs.items()}
    record = folder / f"{stem}{''.join(graphs.values())}.json"
    models: Path | list[Path] = list(paths.values()) if len(paths) > 1 else next(iter(paths.values()))
    named = "', '".join(str(p) for p in paths.values())
    with _locked(record.with_suffix(".lock")):
        kept, refused = check_entry(models, record, digest)
        if kept is not None:
            diff = float(kept.get("max_abs_diff", float("nan")))
            callback.info(f"Using the cached {what} of '{bundle}' ('{named}'; its parity with torch was "
                          f"checked when it was made: max abs diff {diff:.2g}).")
            return paths, diff, False
        if refused:
            callback.warning(f"The cached {what} '{named}' was refused: {refused}. Exporting '{bundle}' again.")
        callback.info(f"Exporting '{bundle}' to ONNX for onnxruntime, once (cached in '{folder}').")
        diff = make(paths)
        digests = [file_sha256(p) for p in paths.values()]
        write_text_atomic(record, json.dumps({"bundle": str(Path(bundle).resolve()), "bundle_sha256": digest,
                                              "onnx_sha256": digests if len(digests) > 1 else digests[0],
                                              "tile_size": "any" if tile is None else int(tile),
                                              "max_abs_diff": diff, "cache_version": CACHE_VERSION}, indent=2))
        callback.info(f"{what[0].upper()}{what[1:]} cached as '{named}'; parity with torch: max abs diff {diff:.2g}.")
        return paths, diff, True


def cached_export(bundle: str | os.PathLike, tile: int | None, callback: Callback | None = None,
                  bundle_sha256: str | None = None) -> CachedExport:
    """The ONNX export of ``bundle`` at ``tile`` px (any batch), made once (with its parity check) and cached;
    ``tile`` None: one export that takes any tile size (traced at the trained tile), for a model whose output
    depends on a neighbourhood only, which a CPU run gives a tile fitted to each region.

    Raises:
        OutputError: no writable cache folder.
        ModelError, ConfigError, DependencyError: the bundle cannot be exported (see
            :func:`~engine.export.onnx_export.export_onnx`).
    """
    digest = bundle_sha256 or file_sha256(bundle)

    def make(paths: dict[str, Path]) -> float:
        return export_onnx(bundle, paths["model"], tile_size=tile, dynamic_batch=True, any_size=tile is None,
                           callback=callback).max_abs_diff

    paths, diff, made = _cached(bundle, tile, callback or Callback(), digest, "ONNX export", {"model": ""}, make)
    return CachedExport(paths["model"], digest, diff, made)


def cached_date_graphs(bundle: str | os.PathLike, tile: int | None, callback: Callback | None = None,
                       bundle_sha256: str | None = None) -> CachedDateGraphs:
    """A change model's export as its two graphs (:mod:`engine.export.onnx_dates`: one date's encoder, the head over
    the dates' maps), made once with their parity check against torch and cached as :func:`cached_export` caches
    one graph.

    Raises:
        OutputError, ModelError, ConfigError, DependencyError: as :func:`cached_export`.
    """
    digest = bundle_sha256 or file_sha256(bundle)

    def make(paths: dict[str, Path]) -> float:
        return export_date_graphs(bundle, paths["encoder"], paths["head"], tile_size=tile, any_size=tile is None,
                                  callback=callback)

    paths, diff, made = _cached(bundle, tile, callback or Callback(), digest, "ONNX export in two graphs",
                                {"encoder": "-encoder", "head": "-head"}, make)
    return CachedDateGraphs(paths["encoder"], paths["head"], digest, diff, made)
