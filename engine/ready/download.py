"""Downloading a ready model's file over HTTP: streamed to a temporary file beside the destination, its SHA-256
checked before it is renamed into place, progress and cancellation through the engine callback.

A download that fails, is canceled or has another checksum leaves nothing at the destination (the temporary file
is removed), so a file there is always a complete, verified one: a later call finds it and downloads nothing.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from ..callbacks import Callback, Stage
from ..errors import DataError
from ..io.atomic import atomic_file
from ..io.digest import file_sha256

CHUNK = 2**18  # 256 KiB: a few hundred progress steps for a model of tens of MB
TIMEOUT_S = 30.0


def download(url: str, destination: str | Path, sha256: str, callback: Callback | None = None) -> Path:
    """``url`` saved at ``destination`` once its SHA-256 is ``sha256``; a verified file already there is kept.

    Raises:
        DataError: the server could not be reached or answered with an error, or the file's checksum differs
            (nothing is left at ``destination`` then).
        CanceledError: the callback asked to stop.
    """
    callback = callback or Callback()
    destination = Path(destination)
    expected = sha256.lower()
    if destination.is_file() and file_sha256(destination) == expected:
        callback.info(f"{destination.name} is already downloaded (checksum verified)")
        return destination
    callback.info(f"Downloading {url}")
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "dualstream"}),
                                          timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise DataError(f"Downloading {url} failed: the server answered {exc.code} {exc.reason}; check the address "
                        "in the catalogue, or try again later.") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"Downloading {url} failed: {reason}. Check the network (and a proxy in $https_proxy); "
                        f"without network, copy the file by hand to '{destination}'.") from exc
    with response:
        total = int(response.headers.get("Content-Length") or 0)
        digest = hashlib.sha256()
        done = 0
        with atomic_file(destination, size=total or None) as handle:
            callback.progress(0, total or 1, Stage.DOWNLOAD)
            while True:
                callback.check_canceled()
                try:
                    block = response.read(CHUNK)
                except OSError as exc:  # the connection broke mid-way
                    raise DataError(f"Downloading {url} broke off after {done} bytes ({exc}); run it again.") from exc
                if not block:
                    break
                handle.write(block)
                digest.update(block)
                done += len(block)
                callback.progress(done, max(total, done), Stage.DOWNLOAD)
            if total and done != total:
                raise DataError(f"Downloading {url} ended after {done} of {total} bytes; run it again.")
            got = digest.hexdigest()
            if got != expected:
                raise DataError(f"The file downloaded from {url} has SHA-256 {got}, but the catalogue expects "
                                f"{expected}: it is not the file the catalogue describes (changed on the server, or "
                                "damaged on the way), so it was not kept. Try again; if it persists, the catalogue "
                                "entry is out of date.")
    return destination
