"""Hub files brought into the Hugging Face cache so that a run interrupted part-way is continued by the next run.

**Why the cache's own layout is written here** (the one place that says so): huggingface_hub (2.4 when this was
written) has no public way to continue a download. ``hf_hub_download`` writes each file to a temporary file of a
name unique to the process and removes it when the transfer fails (``file_download._download_to_tmp_and_move``,
private), so a run that loses its connection at 90 % of a 2.5 GB file starts the next one from zero, and
``local_dir`` downloads do the same. What is public is the layout's description: ``scan_cache_dir`` reports
``<cache>/<repo folder>/blobs/<etag>.incomplete`` files as interrupted downloads (``CachedIncompleteFileInfo``) and
every cached file's ``blob_path`` as ``blobs/<etag>``; ``file_download.repo_folder_name`` names the repository's
folder; ``get_hf_file_metadata`` gives the etag. Within that described layout each file a download needs is
fetched before huggingface_hub is asked for it, under the policy of every download (``engine.io.network``:
``KEEP_PARTIAL``, the stall rule):

- into ``blobs/<etag>.incomplete`` in the repository's cache folder (where the cache keeps interrupted downloads;
  ``hf cache scan`` lists it): the etag the hub announces names the content, so a partial can only ever be
  continued with the bytes of that same file, and one of an older version of the file is removed;
- continued with an HTTP Range request from the byte on disk (several times within a run, at once by the next
  run) through the one download loop, ``engine.io.download``, whose policy says what each answer means (the whole
  file: said, started again from zero; other bytes than asked: the partial deleted, said, asked again from zero);
- checked, once complete, against the hash the hub announces (an LFS file's ``X-Linked-Etag`` is its sha256, a
  small file's ``ETag`` its git sha1) and only then moved to ``blobs/<etag>``, where huggingface_hub finds it and
  merely links it into the snapshot. A file whose hash differs is removed and the run fails, said.

Should a later huggingface_hub lay its cache out otherwise, :func:`check_taken` sees it (the file huggingface_hub
returns is not the blob fetched here): it says so, removes the blob no one uses and the download stands as
huggingface_hub made it (whole); ``tests/engine/test_hub_resume.py`` checks the installed version against the
public description above. Runs in the worker thread of :func:`engine.models.hub_transfer.run_watched`, through its
:class:`~engine.models.hub_transfer.Transfer`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import ModelError
from ..io.download import Answer, fetch_into, kept_bytes
from ..io.network import PARTIAL_SUFFIX as PARTIAL
from ..io.network import size_text
from ..runtime.environment import require
from .hub_transfer import Transfer

RETRIES = 5  # attempts in a row that bring no byte before a run gives up (as huggingface_hub's own)
RETRY_WAIT_S = 1.0


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = urlparse(url)
    return parsed.scheme, (parsed.hostname or "").lower(), parsed.port


def _digest(path: Path, etag: str) -> tuple[str, str] | None:
    """(the hash's name, its hex digest of ``path``) in the form ``etag`` has, None when it is no known hash."""
    if re.fullmatch(r"[0-9a-f]{64}", etag):
        algo, prefix, name = hashlib.sha256(), b"", "sha256"
    elif re.fullmatch(r"[0-9a-f]{40}", etag):  # a git blob's id: sha1 of "blob <size>\0" + content
        algo, prefix, name = hashlib.sha1(), f"blob {path.stat().st_size}\0".encode(), "git sha1"  # noqa: S324
    else:
        return None
    algo.update(prefix)
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            algo.update(block)
    return name, algo.hexdigest()


def _drop_stale(blobs: Path, etag: str, filename: str, watch: Transfer) -> None:
    """Remove partials of an older version of ``filename`` (recorded by name beside each partial)."""
    for note in blobs.glob(f"*{PARTIAL}.name"):
        if note.read_text(encoding="utf-8").strip() == filename and not note.name.startswith(etag):
            stale = note.with_name(note.name[: -len(".name")])
            if stale.exists():
                watch.say(f"Removed the partial download of an older version of {filename} "
                          f"({size_text(stale.stat().st_size)}, {stale}).")
                stale.unlink()
            note.unlink()


def storage_folder(hub_id: str, cache: str) -> Path:
    """The repository's folder in the cache, named by huggingface_hub's own (public) function."""
    from huggingface_hub.file_download import repo_folder_name

    return Path(cache) / repo_folder_name(repo_id=hub_id, repo_type="model")


def fetch_blob(hub_id: str, filename: str, endpoint: str, cache: str, watch: Transfer) -> Path | None:
    """The blob of ``filename`` of ``hub_id``, complete and checked in the cache's blob store (None: nothing to bind
    a partial to, or the download was given up). Raises huggingface_hub's and httpx2's errors (the caller explains
    them), and ModelError for a full disk, a hash other than the announced one, or a nonsense answer."""
    hub = require("huggingface_hub")
    import httpx2

    url = hub.hf_hub_url(hub_id, filename, endpoint=endpoint)
    meta = hub.get_hf_file_metadata(url, retry_on_errors=True)
    if not meta.etag or meta.size is None:
        return None  # nothing to bind a partial to: huggingface_hub downloads it whole
    storage = storage_folder(hub_id, cache)
    blobs = storage / "blobs"
    blob = blobs / meta.etag
    if blob.exists():
        return blob
    blobs.mkdir(parents=True, exist_ok=True)
    _drop_stale(blobs, meta.etag, filename, watch)
    part = blobs / f"{meta.etag}{PARTIAL}"
    (blobs / f"{meta.etag}{PARTIAL}.name").write_text(filename, encoding="utf-8")
    lock_path = Path(cache) / ".locks" / storage.name / f"{meta.etag}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path))
    while True:  # another run fetching the same file holds it: wait, and stay stoppable
        try:
            lock.acquire(timeout=1)
            break
        except Timeout:
            watch.waited.set()
            if watch.stop.is_set():
                return None
    try:
        if blob.exists():
            return blob
        _transfer(hub, httpx2, meta, part, filename, hub_id, endpoint, watch)
        if watch.stop.is_set():
            return None
        _check(part, meta.etag, meta.size, hub_id, filename, endpoint)
        os.replace(part, blob)
        (blobs / f"{meta.etag}{PARTIAL}.name").unlink(missing_ok=True)
        return blob
    finally:
        lock.release()


def check_taken(fetched: dict[str, Path], folder: Path, watch: Transfer) -> None:
    """Each file of ``fetched`` (file name -> the blob fetched here) as huggingface_hub laid it into ``folder``
    (its snapshot): a blob it did not take (it downloaded the file again, elsewhere) means its cache's layout is no
    longer the one described in this module's docstring; said, and the unused blob removed."""
    import huggingface_hub

    untaken = []
    for filename, blob in fetched.items():
        placed = folder / filename
        if not blob.exists() or (placed.exists() and placed.resolve() == blob.resolve()):
            continue  # taken: linked to the blob, or (without symlinks) the blob moved into the snapshot
        blob.unlink()
        untaken.append(filename)
    if untaken:
        watch.say(f"huggingface_hub {huggingface_hub.__version__} did not take {', '.join(untaken)} from its cache's "
                  f"blob store, where this version of DualStream continues interrupted downloads: its cache layout "
                  f"changed. The files were downloaded whole and work; an interrupted download will start again from "
                  f"zero until DualStream follows the new layout (please report it).")


def _transfer(hub: Any, httpx2: Any, meta: Any, part: Path, filename: str, hub_id: str, endpoint: str,
              watch: Transfer) -> None:
    """The bytes of ``part`` from where it ends to ``meta.size`` through the one download loop
    (``engine.io.download``: what an answer to a Range request means), retried from the last byte on broken links."""
    size = int(meta.size)
    if size == 0:  # nothing to ask for: the (empty) file is what was announced
        part.write_bytes(b"")
        return
    kept = min(kept_bytes(part), size)  # a longer partial is started over by the loop
    free = shutil.disk_usage(part.parent).free
    if free < size - kept:
        raise ModelError(f"Not enough disk space for {filename} of '{hub_id}': it needs {size_text(size - kept)} "
                         f"more in {part.parent} and {size_text(free)} are free. Free some space or set HF_HOME "
                         f"(or HF_HUB_CACHE) to a disk that has it, and run it again.")
    headers = hub.utils.build_hf_headers()
    if _origin(meta.location) != _origin(endpoint):  # a CDN's signed address: the token stays with the hub
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    session = hub.get_session()

    @contextmanager
    def open_from(start: int) -> Iterator[Answer]:
        asked = dict(headers, **({"Range": f"bytes={start}-"} if start else {}))
        with session.stream("GET", meta.location, headers=asked, follow_redirects=True,
                            timeout=hub.constants.HF_HUB_DOWNLOAD_TIMEOUT) as answer:
            if answer.status_code != 416:  # 416: the kept bytes reach past the file, the loop starts over
                hub.utils.hf_raise_for_status(answer)
            # as it comes: a sized chunk is lost whole on a break
            yield Answer(answer.status_code, answer.headers.get("Content-Range", ""), answer.iter_bytes())

    bar = watch.bar(total=size, initial=kept, unit="B", desc=filename)
    name = f"{filename} of '{hub_id}'"
    failures, first = 0, True
    try:
        while kept_bytes(part) < size and not watch.stop.is_set():
            before = kept_bytes(part)
            try:
                fetch_into(part, open_from, name, watch.say, size=size, moved=lambda done: bar.update(done - bar.n),
                           stopped=watch.stop.is_set, announce=first)
            except httpx2.TransportError:
                failures = 0 if kept_bytes(part) > before else failures + 1
                if failures >= RETRIES:
                    raise
                time.sleep(RETRY_WAIT_S)
                continue
            finally:
                first = False
            if kept_bytes(part) == before:  # a whole answer that brought nothing: no progress to be had
                failures += 1
                if failures >= RETRIES:
                    raise ModelError(f"{endpoint} answered {name} with no bytes after {size_text(before)} of "
                                     f"{size_text(size)}; run it again later (the bytes already fetched are kept and "
                                     f"continued).")
    finally:
        bar.close()


def _check(part: Path, etag: str, size: int, hub_id: str, filename: str, endpoint: str) -> None:
    """``part`` is the file the hub announced (size, then hash), else it is removed and the run fails."""
    got_size = part.stat().st_size
    if got_size != size:
        part.unlink()
        raise ModelError(f"{filename} of '{hub_id}' came with {got_size} bytes where {endpoint} announced {size}; "
                         f"the file was removed. Run it again.")
    digest = _digest(part, etag)
    if digest is not None and digest[1] != etag:
        part.unlink()
        raise ModelError(f"{filename} of '{hub_id}' does not match the {digest[0]} {endpoint} announces for it "
                         f"({etag[:16]}..., the downloaded bytes give {digest[1][:16]}...); the file was removed, "
                         f"nothing was loaded. Run it again; if it happens again, the server (or a proxy) serves "
                         f"other bytes than it announces.")
