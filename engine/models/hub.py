"""Pretrained checkpoints by name: ``imagenet`` or a Hugging Face hub id, fetched once into the HF cache.

A hub id is looked up in the local Hugging Face cache first; only when it is not there, and downloads are allowed
(``HF_HUB_OFFLINE`` / ``DUALSTREAM_OFFLINE`` unset), is it downloaded, once, with a line before and after; later
runs, offline ones included, read the cache. ``HF_ENDPOINT`` (a mirror) and ``HF_HOME`` / ``HF_HUB_CACHE`` (where
the cache lives) are honoured as everywhere in the Hugging Face tools. Only the config and the weights are fetched.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from ..errors import ModelError
from ..runtime.environment import require

IMAGENET = "imagenet"
SAFETENSORS = ["config.json", "model.safetensors", "model.safetensors.index.json", "model-*.safetensors"]
PICKLED = ["config.json", "pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin"]


def offline() -> bool:
    """True when downloads are switched off (``HF_HUB_OFFLINE`` or ``DUALSTREAM_OFFLINE``)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("DUALSTREAM_OFFLINE", ""))
    return any(flag.strip().lower() in ("1", "true", "yes", "on") for flag in flags)


def is_hub_id(source: str) -> bool:
    """``owner/name`` with nothing path-like about it."""
    if source.startswith((".", "~", "/")) or "\\" in source or (len(source) > 1 and source[1] == ":"):
        return False
    parts = source.split("/")
    return len(parts) == 2 and all(parts)


def named_source(source: str, imagenet: str | None, encoder: str) -> str:
    """``source`` with ``imagenet`` replaced by the encoder's ImageNet checkpoint id (ModelError where none)."""
    if source.strip().lower() != IMAGENET:
        return source
    if not imagenet:
        from .encoders.catalog import ENCODERS

        with_one = [name for name, spec in ENCODERS.items() if spec.checkpoint]
        raise ModelError(f"There is no ImageNet checkpoint for encoder '{encoder}' (a size made for tests and CPU "
                         f"demos); choose an encoder that has one ({', '.join(with_one)}), pass a hub id or a local "
                         f"folder as pretrained, or leave pretrained empty for random init.")
    return imagenet


def _has_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))


def fetch(hub_id: str, log: Callable[[str], None]) -> Path:
    """The local snapshot folder of ``hub_id`` (config + weights), downloaded into the HF cache when missing."""
    hub = require("huggingface_hub")
    from huggingface_hub.errors import LocalEntryNotFoundError

    for patterns in (SAFETENSORS, PICKLED):
        try:
            folder = Path(hub.snapshot_download(hub_id, allow_patterns=patterns, local_files_only=True))
        except LocalEntryNotFoundError:
            continue
        if (folder / "config.json").is_file() and _has_weights(folder):
            return folder
    cache = hub.constants.HF_HUB_CACHE
    if offline():
        raise ModelError(f"Pretrained checkpoint '{hub_id}' is not in the Hugging Face cache ({cache}) and downloads "
                         f"are switched off (HF_HUB_OFFLINE / DUALSTREAM_OFFLINE). Run once with network access and "
                         f"those unset (it is then kept in the cache), or pass a local save_pretrained folder.")
    endpoint = os.environ.get("HF_ENDPOINT") or hub.constants.ENDPOINT
    log(f"Downloading pretrained checkpoint '{hub_id}' from {endpoint} into the Hugging Face cache ({cache}); "
        f"this happens once, later runs read the cache, offline too.")
    start = time.monotonic()
    try:
        folder = Path(_download(hub, hub_id, SAFETENSORS))
        if not _has_weights(folder):  # older checkpoints hold pickled weights only (loaded with weights_only)
            folder = Path(_download(hub, hub_id, PICKLED))
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises HTTP, network and repository errors
        raise ModelError(f"Pretrained checkpoint '{hub_id}' could not be downloaded from {endpoint} "
                         f"({str(exc).splitlines()[0][:200]}). Check the id (owner/name on the Hugging Face hub) and "
                         f"the network; offline, pass a local save_pretrained folder instead.") from exc
    if not (folder / "config.json").is_file() or not _has_weights(folder):
        raise ModelError(f"The hub repository '{hub_id}' has no config.json with model weights; pass a transformers "
                         f"checkpoint (saved with save_pretrained).")
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20
    log(f"Downloaded '{hub_id}' ({size:.1f} MiB in {time.monotonic() - start:.1f} s) to {folder}.")
    return folder


def encoder_checkpoint(model_cfg: object) -> str:
    """The hub id of the ImageNet checkpoint of the encoder ``model_cfg`` builds ("" when it has none: tiny sizes)."""
    from .encoders.catalog import imagenet_checkpoint

    return imagenet_checkpoint(getattr(model_cfg, "encoder_name", None) or str(getattr(model_cfg, "preset", "")))


def where_available(hub_id: str, timeout: float = 3.0) -> str | None:
    """Where ``hub_id`` can be had: "in the Hugging Face cache (PATH)", "from ENDPOINT", or None (offline, or the
    hub did not answer within ``timeout`` seconds). Asks the hub only for the repository's record (no download)."""
    import urllib.error
    import urllib.request

    hub = require("huggingface_hub")
    from huggingface_hub.errors import LocalEntryNotFoundError

    for patterns in (SAFETENSORS, PICKLED):
        try:
            folder = Path(hub.snapshot_download(hub_id, allow_patterns=patterns, local_files_only=True))
        except LocalEntryNotFoundError:
            continue
        if (folder / "config.json").is_file() and _has_weights(folder):
            return f"in the Hugging Face cache ({folder})"
    if offline():
        return None
    endpoint = (os.environ.get("HF_ENDPOINT") or hub.constants.ENDPOINT).rstrip("/")
    try:
        with urllib.request.urlopen(f"{endpoint}/api/models/{hub_id}/revision/main", timeout=timeout) as answer:
            return f"from {endpoint}" if answer.status == 200 else None
    except (OSError, ValueError, urllib.error.URLError):  # no network, refused, timed out, a bad endpoint
        return None


def _download(hub: object, hub_id: str, patterns: list[str]) -> str:
    """snapshot_download without its progress bars (our own line says what happens; bars garble QGIS's log)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        return hub.snapshot_download(hub_id, allow_patterns=patterns)
    finally:
        if not was_disabled:
            enable_progress_bars()
