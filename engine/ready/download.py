"""Downloading a ready model's file over HTTP: streamed to a temporary file beside the destination, its SHA-256
checked before it is renamed into place, progress and cancellation through the engine callback.

Progress: the callback's ``progress`` under ``Stage.DOWNLOAD`` (a bar on a terminal, QGIS's progress bar) as each
block arrives (``read1``: what the connection has, never waiting for a full block), and a line every
``Stall.report_s`` with the bytes and the rate (a log file, QGIS's log). A stall ends the download with a clear
error under the rule every network read follows (:class:`engine.io.network.Stall`): no byte for ``no_byte_s``, or
under ``min_rate`` (1 KB/s) over ``window_s``, 60 s each unless ``DUALSTREAM_NETWORK_STALL_S`` says otherwise;
tests pass short ones.

A download that fails, stalls, is canceled or has another checksum leaves nothing behind (the temporary file is
removed, and the folders it created are too), so a file there is always a complete, verified one: a later call
finds it and downloads nothing.
"""

from __future__ import annotations

import collections
import hashlib
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..callbacks import Callback, Stage
from ..errors import DataError
from ..io.atomic import atomic_file
from ..io.digest import file_sha256
from ..io.network import Stall

CHUNK = 2**18  # 256 KiB at most per read: a few hundred progress steps for a model of tens of MB


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def download(url: str, destination: str | Path, sha256: str, callback: Callback | None = None,
             stall: Stall | None = None) -> Path:
    """``url`` saved at ``destination`` once its SHA-256 is ``sha256``; a verified file already there is kept.

    Raises:
        DataError: the server could not be reached, answered with an error, stalled (see :class:`Stall`), or the
            file's checksum differs (nothing is left at ``destination`` then).
        CanceledError: the callback asked to stop.
    """
    callback = callback or Callback()
    stall = stall or Stall.rule()
    destination = Path(destination)
    expected = sha256.lower()
    if destination.is_file() and file_sha256(destination) == expected:
        callback.info(f"{destination.name} is already downloaded (checksum verified)")
        return destination
    created = [p for p in (destination.parent, *destination.parent.parents) if not p.exists()]
    callback.info(f"Downloading {url}")
    try:
        _fetch(url, destination, expected, callback, stall)
    except BaseException:
        for folder in created:  # innermost first: the folders this download made, when they stayed empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return destination


def _fetch(url: str, destination: Path, expected: str, callback: Callback, stall: Stall) -> None:
    again = f"Nothing was kept; run it again later, or copy the file by hand to '{destination}'."
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "dualstream"}),
                                          timeout=stall.no_byte_s)
    except urllib.error.HTTPError as exc:
        raise DataError(f"Downloading {url} failed: the server answered {exc.code} {exc.reason}; check the address "
                        "in the catalogue, or try again later.") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError):
            raise DataError(f"Downloading {url} stalled: the server did not answer within {stall.no_byte_s:g} s. "
                            f"{again}") from exc
        raise DataError(f"Downloading {url} failed: {reason}. Check the network (and a proxy in $https_proxy); "
                        f"without network, copy the file by hand to '{destination}'.") from exc
    with response:
        total = int(response.headers.get("Content-Length") or 0)
        of_total = f" of {_size(total)}" if total else ""
        digest = hashlib.sha256()
        done = 0
        start = last_report = time.monotonic()
        recent: collections.deque[tuple[float, int]] = collections.deque([(start, 0)])  # (time, bytes) samples
        with atomic_file(destination, size=total or None) as handle:
            callback.progress(0, total or 1, Stage.DOWNLOAD)
            while True:
                callback.check_canceled()
                try:
                    block = response.read1(CHUNK)
                except TimeoutError as exc:
                    raise DataError(f"Downloading {url} stalled: no byte for {stall.no_byte_s:g} s after "
                                    f"{_size(done)}{of_total}. {again}") from exc
                except OSError as exc:  # the connection broke mid-way
                    raise DataError(f"Downloading {url} broke off after {done} bytes ({exc}); run it again.") from exc
                if not block:
                    break
                handle.write(block)
                digest.update(block)
                done += len(block)
                now = time.monotonic()
                callback.progress(done, max(total, done), Stage.DOWNLOAD)
                recent.append((now, done))
                while len(recent) > 1 and recent[1][0] <= now - stall.window_s:
                    recent.popleft()  # keep one sample at or before the window's start
                since, then = recent[0]
                if now - since >= stall.window_s and (done - then) / (now - since) < stall.min_rate:
                    raise DataError(f"Downloading {url} stalled: {_size(done - then)} in the last {now - since:.0f} s "
                                    f"(under {_size(stall.min_rate)}/s), {_size(done)}{of_total} in all. {again}")
                if now - last_report >= stall.report_s:
                    last_report = now
                    callback.progress_line(f"Downloaded {_size(done)}{of_total} "
                                           f"({_size(done / max(now - start, 1e-9))}/s)")
            if total and done != total:
                raise DataError(f"Downloading {url} ended after {done} of {total} bytes; run it again.")
            got = digest.hexdigest()
            if got != expected:
                raise DataError(f"The file downloaded from {url} has SHA-256 {got}, but the catalogue expects "
                                f"{expected}: it is not the file the catalogue describes (changed on the server, or "
                                "damaged on the way), so it was not kept. Try again; if it persists, the catalogue "
                                "entry is out of date.")
