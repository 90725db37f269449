"""Cached ONNX exports of model bundles, for the onnxruntime backend (``backend`` auto or onnxruntime).

A bundle is exported once per content and tile size (or once for any tile size: a convolutional model, which a CPU
run gives a tile fitted to the region and runs through that one export at every size) and the export reused: its key
is the bundle file's SHA-256, so an edited, retrained or replaced bundle never meets a stale export. Each cached
model has a record beside it (``<key>.json``: the bundle's and the model's own SHA-256, the parity with torch
measured when it was made). A model whose digest differs from its record is refused (never run) and made again; the
session that runs a cached model also checks the source bundle digest recorded inside it.
Making one needs torch (the export and its parity check); reusing one does not.

Where: ``DUALSTREAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/dualstream`` or ``~/.cache/dualstream``, in ``onnx/``;
where that cannot be written, a ``.dualstream-cache`` folder beside the bundle.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle.schema import METADATA_KEY, BundleMetadata
from ..callbacks import Callback
from ..errors import BundleError, OutputError
from ..io.atomic import write_text_atomic
from ..io.digest import file_sha256
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


def check_entry(model: Path, record: Path, bundle_sha256: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the entry's record, None) when ``model`` is the export of the bundle with ``bundle_sha256``; else (None,
    why not). A missing entry is (None, None)."""
    if not model.is_file() or not record.is_file():
        return None, None
    try:
        kept = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return None, f"its record '{record.name}' is unreadable ({exc})"
    if kept.get("bundle_sha256") != bundle_sha256:
        return None, "its record names another bundle"
    if file_sha256(model) != kept.get("onnx_sha256"):
        return None, "its SHA-256 does not match its record (altered or damaged)"
    return kept, None  # the model's embedded source digest is checked on the session that runs it


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
    callback = callback or Callback()
    digest = bundle_sha256 or file_sha256(bundle)
    folder = cache_folder(bundle)
    stem = f"{digest}-t{'any' if tile is None else int(tile)}-v{CACHE_VERSION}"
    model, record = folder / f"{stem}.onnx", folder / f"{stem}.json"
    with _locked(folder / f"{stem}.lock"):
        kept, refused = check_entry(model, record, digest)
        if kept is not None:
            diff = float(kept.get("max_abs_diff", float("nan")))
            callback.info(f"Using the cached ONNX export of '{bundle}' ('{model}'; its parity with torch was "
                          f"checked when it was made: max abs diff {diff:.2g}).")
            return CachedExport(model, digest, diff, made=False)
        if refused:
            callback.warning(f"The cached ONNX export '{model}' was refused: {refused}. Exporting '{bundle}' again.")
        callback.info(f"Exporting '{bundle}' to ONNX for onnxruntime, once (cached in '{folder}').")
        result = export_onnx(bundle, model, tile_size=tile, dynamic_batch=True, any_size=tile is None,
                             callback=callback)
        write_text_atomic(record, json.dumps({"bundle": str(Path(bundle).resolve()), "bundle_sha256": digest,
                                              "onnx_sha256": file_sha256(model),
                                              "tile_size": "any" if tile is None else int(tile),
                                              "max_abs_diff": result.max_abs_diff,
                                              "cache_version": CACHE_VERSION}, indent=2))
        callback.info(f"ONNX export cached as '{model}'; parity with torch: max abs diff "
                      f"{result.max_abs_diff:.2g}.")
        return CachedExport(model, digest, result.max_abs_diff, made=True)
