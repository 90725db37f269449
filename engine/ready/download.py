"""Downloading a ready model's file over HTTP under the policy every download follows (``engine.io.network``): its
SHA-256 checked before it is renamed into place, progress and cancellation through the engine callback.

Progress goes to ``progress`` under ``Stage.DOWNLOAD`` as each block arrives (``read1``: what the connection has, never
waiting for a full block), and a line at each tenth of the file or every ``Stall.report_s`` with the bytes and the rate.
A stall ends the download with a clear error (:class:`engine.io.network.Stall`).

Where :data:`engine.io.network.KEEP_PARTIAL` says so, the bytes of a download given up stay in ``<file>.<sha256
start>.incomplete`` and the next run asks for the rest only (an HTTP Range request; a server that ignores it sends the
whole file, said). Bytes of another checksum are removed, never kept or continued, as is an older entry's partial. The
destination only ever holds a complete, verified file.
"""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..callbacks import Callback, Stage
from ..errors import DataError
from ..io.atomic import refuse_special
from ..io.digest import file_sha256
from ..io.network import KEEP_PARTIAL, PARTIAL_SUFFIX, Stall, Watch, size_text

CHUNK = 2**18  # 256 KiB at most per read: a few hundred progress steps for a model of tens of MB


def partial_path(destination: Path, sha256: str) -> Path:
    """Where the bytes of ``destination`` (of checksum ``sha256``) wait for the rest."""
    return destination.with_name(f"{destination.name}.{sha256[:16]}{PARTIAL_SUFFIX}")


def download(url: str, destination: str | Path, sha256: str, callback: Callback | None = None,
             stall: Stall | None = None) -> Path:
    """``url`` saved at ``destination`` once its SHA-256 is ``sha256``; a verified file already there is kept, a partial
    one left by an earlier run continued. Raises DataError (the server unreachable, an error answer, a stall, or another
    checksum: nothing is left at ``destination`` then) or CanceledError."""
    callback = callback or Callback()
    stall = stall or Stall.rule()
    destination = Path(destination)
    expected = sha256.lower()
    if destination.is_file() and file_sha256(destination) == expected:
        callback.info(f"{destination.name} is already downloaded (checksum verified)")
        return destination
    refuse_special(destination)
    created = [p for p in (destination.parent, *destination.parent.parents) if not p.exists()]
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(destination, expected)
    for stale in destination.parent.glob(f"{destination.name}.*{PARTIAL_SUFFIX}"):
        if stale != part:  # an earlier catalogue entry's file: never continued with these bytes
            stale.unlink()
    callback.info(f"Downloading {url}")
    try:
        _fetch(url, part, destination, expected, callback, stall)
        os.replace(part, destination)
    except BaseException:
        if not KEEP_PARTIAL or (part.exists() and part.stat().st_size == 0):
            part.unlink(missing_ok=True)
        for folder in created:  # innermost first: the folders this download made, when they stayed empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return destination


def _open(url: str, start: int, stall: Stall, again: str) -> Any:
    """The server's answer to a GET of ``url`` from byte ``start``."""
    headers = {"User-Agent": "dualstream", **({"Range": f"bytes={start}-"} if start else {})}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=stall.no_byte_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # the kept bytes reach past the file: start again
            raise _Restart from exc
        raise DataError(f"Downloading {url} failed: the server answered {exc.code} {exc.reason}; check the address "
                        "in the catalogue, or try again later.") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError):
            raise DataError(f"Downloading {url} stalled: the server did not answer within {stall.no_byte_s:g} s. "
                            f"{again}") from exc
        raise DataError(f"Downloading {url} failed: {reason}. Check the network (and a proxy in $https_proxy). "
                        f"{again}") from exc


class _Restart(Exception):
    """The kept bytes cannot be continued: the file starts again from zero."""


def _fetch(url: str, part: Path, destination: Path, expected: str, callback: Callback, stall: Stall) -> None:
    """``part`` completed from the byte it ends at, then checked against ``expected`` (removed when it differs)."""
    start = part.stat().st_size if part.exists() else 0
    kept = (f"The bytes fetched so far are kept in '{part}': run it again to continue from there, or copy the file "
            f"by hand to '{destination}'." if KEEP_PARTIAL else
            f"Nothing was kept; run it again later, or copy the file by hand to '{destination}'.")
    try:
        response = _open(url, start, stall, kept)
    except _Restart:
        part.unlink()
        start, response = 0, _open(url, 0, stall, kept)
    with response:
        if start and response.status != 206:
            callback.info(f"The server ignored the Range request for {url} (it answered the whole file): the "
                          f"{size_text(start)} kept are dropped and the file is downloaded from its start.")
            start = 0
        elif start:
            found = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            if not found or int(found.group(1)) != start:
                part.unlink()
                raise DataError(f"Downloading {url}: the server answered the Range request from byte {start} with "
                                f"'{response.headers.get('Content-Range', '')}'; the partial file was removed. Run it "
                                f"again.")
            callback.info(f"Continuing {url} from {size_text(start)} kept by an earlier run ({part}).")
        length = int(response.headers.get("Content-Length") or 0)
        total = start + length if length else 0
        _receive(url, response, part, start, total, callback, stall, kept)
    got = file_sha256(part)
    if got != expected:
        part.unlink()
        raise DataError(f"The file downloaded from {url} has SHA-256 {got}, but the catalogue expects {expected}: it "
                        "is not the file the catalogue describes (changed on the server, or damaged on the way), so it "
                        "was not kept. Try again; if it persists, the catalogue entry is out of date.")


def _receive(url: str, response: Any, part: Path, start: int, total: int, callback: Callback, stall: Stall,
             kept: str) -> None:
    """The answer's body appended to ``part`` (cut to ``start`` first), watched under ``stall``."""
    of_total = f" of {size_text(total)}" if total else ""
    watch = Watch(stall)
    with part.open("r+b" if part.exists() else "wb") as handle:
        handle.seek(start)
        handle.truncate()
        done = start
        callback.progress(done, total or 1, Stage.DOWNLOAD)
        while True:
            callback.check_canceled()
            try:
                block = response.read1(CHUNK)
            except TimeoutError as exc:
                raise DataError(f"Downloading {url} stalled: no byte for {stall.no_byte_s:g} s after "
                                f"{size_text(done)}{of_total}. {kept}") from exc
            except (OSError, http.client.HTTPException) as exc:  # the connection broke mid-way
                raise DataError(f"Downloading {url} broke off after {size_text(done)}{of_total} ({exc}). "
                                f"{kept}") from exc
            if not block:
                break
            handle.write(block)
            done += len(block)
            callback.progress(done, max(total, done), Stage.DOWNLOAD)
            why = watch.arrived(len(block))
            if why:
                raise DataError(f"Downloading {url} stalled: {why}, {size_text(done)}{of_total} in all. {kept}")
            if watch.report_due(done / total if total else None):
                callback.progress_line(f"Downloaded {size_text(done)}{of_total} "
                                       f"({size_text(watch.done / max(watch.seconds, 1e-9))}/s)")
        handle.flush()
        os.fsync(handle.fileno())
    if total and done != total:
        raise DataError(f"Downloading {url} ended after {done} of {total} bytes. {kept}")

