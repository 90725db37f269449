"""The one download path for pretrained weights: a Hugging Face hub id or a local folder (what ``pretrained``
names is told apart in ``encoders.weights``).

A hub id is looked up in the local Hugging Face cache first; only when it is not there, and downloads are allowed
(``HF_HUB_OFFLINE`` / ``DUALSTREAM_OFFLINE`` unset), is it downloaded, once, its licence shown first, watched
(``hub_transfer.py``) and continued where it broke (``hub_resume.py``); later runs, offline ones included, read the
cache. ``HF_ENDPOINT`` (a mirror), ``HF_TOKEN`` and ``HF_HOME`` / ``HF_HUB_CACHE`` (where the cache lives) are
honoured as everywhere in the Hugging Face tools. A local folder is accepted wherever a hub id is.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from ..callbacks import Callback
from ..errors import ModelError
from ..io.network import KEEP_PARTIAL, size_text
from ..runtime.environment import require
from .encoders.weights import is_hub_id
from .hub_resume import check_taken, fetch_blob
from .hub_transfer import explain, licence_line, run_watched

SAFETENSORS = ["config.json", "model.safetensors", "model.safetensors.index.json", "model-*.safetensors"]
PICKLED = ["config.json", "pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin"]


def offline() -> bool:
    """True when downloads are switched off (``HF_HUB_OFFLINE`` or ``DUALSTREAM_OFFLINE``)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("DUALSTREAM_OFFLINE", ""))
    return any(flag.strip().lower() in ("1", "true", "yes", "on") for flag in flags)


def _has_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))


def endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` (a mirror, or the tests' local hub), else huggingface.co."""
    hub = require("huggingface_hub")
    return (os.environ.get("HF_ENDPOINT") or hub.constants.ENDPOINT).rstrip("/")


def _complete(folder: Path, patterns: list[str] | None) -> bool:
    """``folder`` holds what ``patterns`` ask for (config + weights when None: a transformers checkpoint)."""
    if patterns is None:
        return (folder / "config.json").is_file() and _has_weights(folder)
    return any(any(folder.glob(p)) for p in patterns)


def _cached(hub: object, hub_id: str, patterns: list[str] | None) -> Path | None:
    for allow in ((SAFETENSORS, PICKLED) if patterns is None else (patterns,)):
        folder = _in_cache(lambda: hub.snapshot_download(hub_id, allow_patterns=allow, local_files_only=True))
        if folder is not None and _complete(folder, patterns):
            return folder
    return None


def _cached_file(hub: object, hub_id: str, filename: str) -> Path | None:
    return _in_cache(lambda: hub.hf_hub_download(hub_id, filename, local_files_only=True))


def _in_cache(find: Callable[[], str]) -> Path | None:
    """What ``find`` (a huggingface_hub download with ``local_files_only``) finds in the cache, else None."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(find())
    except LocalEntryNotFoundError:
        return None


def _local_folder(source: str, patterns: list[str] | None) -> Path | None:
    """``source`` as a local folder holding the files (ModelError when it is a folder that lacks them)."""
    folder = Path(source).expanduser()
    if is_hub_id(source) and not folder.exists():
        return None
    if not folder.is_dir():
        raise ModelError(f"'{source}' is neither a hub id (owner/name) nor an existing folder; pass a Hugging Face "
                         f"id or the folder holding the checkpoint (written by save_pretrained).")
    if not _complete(folder, patterns):
        wanted = "config.json with model weights" if patterns is None else ", ".join(patterns)
        raise ModelError(f"Folder '{folder}' lacks {wanted}; copy the complete checkpoint folder there.")
    return folder


def _download(hub_id: str, what: str, log: Callable[[str], None], callback: Callback | None,
              work: Callable[[object, Any], str], vet: Callable[[object], None] | None = None) -> tuple[Path, float]:
    """(path, seconds) of what the cache lacks, downloaded: offline refused; the licence and where the files go said
    before any byte (a missing repo, or a record ``vet`` refuses, ends here); then ``work(record, watch)`` watched."""
    hub = require("huggingface_hub")
    where, cache = endpoint(), hub.constants.HF_HUB_CACHE
    if offline():
        raise ModelError(f"'{hub_id}' ({what}) is not in the Hugging Face cache ({cache}) and downloads are switched "
                         f"off (HF_HUB_OFFLINE / DUALSTREAM_OFFLINE). Run once with network access and those unset (it "
                         f"is then kept in the cache), download it elsewhere (`hf download {hub_id}`) and copy its "
                         f"cache folder models--{hub_id.replace('/', '--')} into {cache}, or pass a local "
                         f"save_pretrained folder holding it.")
    try:
        info = hub.HfApi(endpoint=where).model_info(hub_id)
    except Exception as exc:  # noqa: BLE001 - gated, missing, no network: each explained
        raise explain(hub_id, where, exc, what, cache) from exc
    if vet is not None:
        vet(info)
    log(licence_line(hub_id, where, info))
    log(f"Downloading pretrained checkpoint '{hub_id}' ({what}) from {where} into the Hugging Face cache ({cache}); "
        f"this happens once, later runs read the cache, offline too.")
    start = time.monotonic()
    path = run_watched(hub_id, where, lambda watch: work(info, watch), log, callback,
                       lambda exc: explain(hub_id, where, exc, what, cache))
    return path, time.monotonic() - start


def _prefetch(hub_id: str, names: list[str], watch: Any) -> dict[str, Path]:
    """File name -> blob of each of ``names`` fetched into the cache's blob store, continuing an earlier run's
    (``hub_resume``), where the download policy keeps partial files (``KEEP_PARTIAL``; else none: downloaded whole)."""
    cache, fetched = require("huggingface_hub").constants.HF_HUB_CACHE, {}
    for name in names if KEEP_PARTIAL else []:
        if watch.stop.is_set():
            break
        blob = fetch_blob(hub_id, name, endpoint(), cache, watch)
        if blob is not None:
            fetched[name] = blob
    return fetched


def _matching(info: object, patterns: list[str]) -> list[str]:
    from huggingface_hub.utils import filter_repo_objects

    names = [sibling.rfilename for sibling in (getattr(info, "siblings", None) or [])]
    return list(filter_repo_objects(names, allow_patterns=patterns))


def fetch(hub_id: str, log: Callable[[str], None], *, patterns: list[str] | None = None,
          callback: Callback | None = None, vet: Callable[[object], None] | None = None) -> Path:
    """The local folder of ``hub_id`` holding the files ``patterns`` match (default: config + weights).

    ``hub_id`` may be a local folder (returned once it holds the files); a hub id is read from the cache or
    downloaded as the module says, progress through ``callback`` (``log`` without one). ``vet`` is shown the hub's
    ``ModelInfo`` (its files, its config's ``model_type``) before any download, and raises to stop there. Raises
    ModelError (offline and not cached, gated, missing, no network, stalled), naming the id and the fix.
    """
    folder = _local_folder(hub_id, patterns)
    if folder is not None:
        return folder
    hub = require("huggingface_hub")
    cached = _cached(hub, hub_id, patterns)
    if cached is not None:
        return cached
    what = ("config and weights" if patterns is None else ", ".join(patterns) if len(patterns) <= 3
            else f"the checkpoint's files ({', '.join(patterns[:2])}, ...)")

    def work(info: object, watch: Any) -> str:
        chosen = patterns
        if patterns is None:  # older checkpoints hold pickled weights only (loaded with weights_only)
            pickled = _matching(info, ["*.bin"]) and not _matching(info, ["*.safetensors"])
            chosen = PICKLED if pickled else SAFETENSORS
        fetched = _prefetch(hub_id, _matching(info, chosen), watch)
        if watch.stop.is_set():
            return ""
        got = hub.snapshot_download(hub_id, allow_patterns=chosen, tqdm_class=watch.bar)
        check_taken(fetched, Path(got), watch)  # huggingface_hub's answer holds the blobs fetched here
        if patterns is None and chosen is SAFETENSORS and not _has_weights(Path(got)):
            # a record without file names: pickled weights, if any
            got = hub.snapshot_download(hub_id, allow_patterns=PICKLED, tqdm_class=watch.bar)
        return got

    folder, seconds = _download(hub_id, what, log, callback, work, vet)
    if not _complete(folder, patterns):
        raise ModelError(f"The hub repository '{hub_id}' has no {what} (e.g. no config.json with model weights); "
                         f"pass a transformers checkpoint (saved with save_pretrained).")
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    log(f"Downloaded '{hub_id}' ({size_text(size)} in {seconds:.1f} s) to {folder}.")
    return folder


def fetch_file(hub_id: str, filename: str, log: Callable[[str], None], *, callback: Callback | None = None) -> Path:
    """One file of a hub repository (an official release file such as ``Prithvi_EO_V2_300M.pt``), by the rules of
    :func:`fetch`; ``hub_id`` may be a local folder holding ``filename``. Raises ModelError as :func:`fetch` does,
    or for a repository without such a file."""
    if _local_folder(hub_id, [filename]) is not None:
        return Path(hub_id).expanduser() / filename
    hub = require("huggingface_hub")
    cached = _cached_file(hub, hub_id, filename)
    if cached is not None:
        return cached

    def work(info: object, watch: Any) -> str:
        fetched = _prefetch(hub_id, [filename], watch)
        if watch.stop.is_set():
            return ""
        path = Path(hub.hf_hub_download(hub_id, filename, tqdm_class=watch.bar))
        check_taken(fetched, path.parents[len(Path(filename).parts) - 1], watch)  # the snapshot's folder
        return str(path)

    path, seconds = _download(hub_id, filename, log, callback, work)
    log(f"Downloaded {filename} of '{hub_id}' ({size_text(path.stat().st_size)} in {seconds:.1f} s) to {path}.")
    return path


def where_available(hub_id: str, filename: str = "", timeout: float = 3.0, ask_hub: bool = True) -> str | None:
    """Where ``hub_id`` (a transformers checkpoint, or its release file ``filename``) can be had: "in the Hugging
    Face cache (PATH)", "from ENDPOINT" (its record only is asked for), or None (not cached, and offline, ``ask_hub``
    False, or no answer within ``timeout`` seconds)."""
    import urllib.error
    import urllib.request

    hub = require("huggingface_hub")
    cached = _cached_file(hub, hub_id, filename) if filename else _cached(hub, hub_id, None)
    if cached is not None:
        return f"in the Hugging Face cache ({cached})"
    if offline() or not ask_hub:
        return None
    where = endpoint()
    try:
        with urllib.request.urlopen(f"{where}/api/models/{hub_id}/revision/main", timeout=timeout) as answer:
            return f"from {where}" if answer.status == 200 else None
    except (OSError, ValueError, urllib.error.URLError):  # no network, refused, timed out, a bad endpoint
        return None
