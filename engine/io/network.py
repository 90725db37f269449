"""Reading over the network: one rule for when a source is given up, GDAL's settings for remote rasters, and
what a failed remote read says.

**The rule** (:class:`Stall`), for every network read (GDAL's ``/vsicurl/`` reads and web services, STAC item
fetches, ready-model and hub downloads): a source that sends under 1 KB/s for ``DUALSTREAM_NETWORK_STALL_S``
seconds (60; tests use one or two) -- a server that never answers, or sends a byte a second -- is given up with an
error naming it. A transient error (429, 5xx) is retried twice; a stalled transfer is not, so a silent server holds
a run about a minute. Downloads also share :data:`KEEP_PARTIAL`, :class:`Watch` and :func:`size_text`.

**GDAL** (:func:`apply_defaults`; a value the user set is kept): a remote raster is read window by window with
merged HTTP range requests over HTTP/2, through one bounded cache of fetched ranges; the rule is curl's low-speed
limit. Sidecar probing (``.aux.xml``, ``.msk``, ...: each a request a hostile server can hold or answer with
terabytes) is off for the network file systems only: local files keep their ``.aux.xml`` (a class raster's names).
"""

from __future__ import annotations

import collections
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent import futures
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from ..errors import DataError
from . import locations

STALL_S = 60.0  # seconds under MIN_RATE before a source is given up (DUALSTREAM_NETWORK_STALL_S)
REPORT_STEP = 0.10  # a download's progress line at least at each tenth of the whole (and every report_s)
#: The one choice for every download (a ready model's file, a hub's weights): a transfer given up (stalled, broken,
#: canceled) keeps the bytes it had in a partial file (``PARTIAL_SUFFIX``) and the next run continues from them with
#: an HTTP Range request; bytes found not to be the announced file (another checksum) are removed. False: a given-up
#: transfer leaves nothing and the next starts from zero.
KEEP_PARTIAL = True
PARTIAL_SUFFIX = ".incomplete"
STALL_ENV = "DUALSTREAM_NETWORK_STALL_S"
MIN_RATE = 1024.0  # bytes per second: slower than this is no progress
#: GDAL's network file systems: sidecar probing is off for paths under them
NETWORK_FILE_SYSTEMS = ("/vsicurl/", "/vsicurl?", "/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsioss/",
                        "/vsiswift/", "/vsiwebhdfs/")
#: The metadata item of a web window that names its service's URL (read back by :func:`read_failure`).
SERVICE_TAG = "DUALSTREAM_WEB_SERVICE"


def stall_seconds() -> float:
    """How long a source may send under :data:`MIN_RATE` before it is given up: ``DUALSTREAM_NETWORK_STALL_S``
    (``DUALSTREAM_DOWNLOAD_STALL_S`` too, its older name for downloads), else 60."""
    for name in (STALL_ENV, "DUALSTREAM_DOWNLOAD_STALL_S"):
        try:
            value = float(os.environ.get(name, "") or "nan")
        except ValueError:
            continue
        if value == value and value > 0:
            return max(0.1, value)
    return STALL_S


@dataclass(frozen=True)
class Stall:
    """When a transfer is given up: no byte for ``no_byte_s`` (also the wait for the server's answer), or under
    ``min_rate`` bytes per second over ``window_s``; a progress line every ``report_s``."""

    no_byte_s: float = STALL_S
    min_rate: float = MIN_RATE
    window_s: float = STALL_S
    report_s: float = 15.0

    @classmethod
    def rule(cls) -> Stall:
        """The rule of :func:`stall_seconds`: under 1 KB/s for that long, a word every quarter of it."""
        seconds = stall_seconds()
        return cls(no_byte_s=seconds, window_s=seconds, report_s=max(0.5, seconds / 4))

    def said(self) -> str:
        """The rule in words, for messages."""
        return (f"a source sending under {MIN_RATE / 1024:g} KiB/s for {self.window_s:g} s is given up; "
                f"{STALL_ENV} sets those seconds")


def settings() -> dict[str, str]:
    """GDAL's network settings under the run's rule."""
    seconds = stall_seconds()
    return {
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIPLEX": "YES",
        "GDAL_HTTP_VERSION": "2",
        "GDAL_HTTP_MAX_RETRY": "2",  # 429, 502, 503, 504 are retried; a stalled transfer is not
        "GDAL_HTTP_RETRY_DELAY": "0.5",  # seconds, doubled at each retry
        "GDAL_HTTP_LOW_SPEED_LIMIT": str(int(MIN_RATE)),
        # an open makes two requests at most (HEAD, then the header's range): half the rule's time each
        "GDAL_HTTP_LOW_SPEED_TIME": str(max(1, round(seconds / 2))),
        "GDAL_HTTP_CONNECTTIMEOUT": str(max(1, round(seconds / 3))),  # a connection is retried: 3 x this at most
        "GDAL_HTTP_TIMEOUT": str(max(10, round(10 * seconds))),  # one request, however fast it streams
        "CPL_VSIL_CURL_CACHE_SIZE": str(128 * 2**20),  # bytes of fetched ranges kept, for every remote file together
        "CPL_VSIL_CURL_CHUNK_SIZE": str(256 * 1024),
        # GDAL's WMTS driver asks for a disk cache of tiles, which GDAL < 3.9 writes to ./gdalwmscache of whatever
        # folder the process runs in, without bound; fetched tiles stay in GDAL's bounded block cache instead
        "GDAL_ENABLE_WMS_CACHE": "NO",
    }


_APPLIED: dict[str, str] = {}  # what apply_defaults put into the environment (not the user's own settings)
_PATH_OPTIONS_SET = False


def apply_defaults() -> None:
    """Put :func:`settings` into the environment (GDAL reads its settings from there) where the user set no value
    (a value set here earlier follows the current rule), and turn GDAL's sidecar probing off for the network file
    systems. Cheap: every open of a raster calls it, in the main process and in reader processes alike."""
    global _PATH_OPTIONS_SET
    for name, value in settings().items():
        current = os.environ.get(name)
        if current is None or current == _APPLIED.get(name):
            os.environ[name] = _APPLIED[name] = value
    if not _PATH_OPTIONS_SET:
        _PATH_OPTIONS_SET = True
        try:
            from osgeo import gdal
        except ImportError:  # rasterio alone: GDAL probes sidecars as before
            return
        setter = getattr(gdal, "SetPathSpecificOption", None) or getattr(gdal, "SetCredential", None)
        if setter is not None and "GDAL_DISABLE_READDIR_ON_OPEN" not in os.environ:
            for prefix in NETWORK_FILE_SYSTEMS:
                setter(prefix, "GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")


def remote_hint(source: str) -> str:
    """What to add to a read error of ``source``: for a remote source, the URL and what its server answers now
    (the HTTP status and how fast it sends, or why there is no answer) and what to check."""
    if not locations.is_remote(source):
        return ""
    url = str(source).strip().removeprefix("/vsicurl/")  # the http(s) URL behind a URL or a /vsicurl/ path
    url = url if url.lower().startswith(("http://", "https://")) else None
    status = status_of(url) if url else ""
    answer = f"; {url} answered {status}" if url else ""
    slow = "too slow" in status or "timed out" in status
    check = (f"{Stall.rule().said()}: try again later, or copy the file here" if slow else
             "check that the URL is right and answers (private buckets need their credentials in the environment, "
             "e.g. AWS_ACCESS_KEY_ID or GDAL_HTTP_HEADERS)")
    return f"{answer}; it is read over the network: {check}"


def stalled(text: str) -> bool:
    """Whether an error (GDAL's, curl's, :func:`status_of`'s) says a server stalled."""
    lower = text.lower()
    return any(words in lower for words in ("operation too slow", "timed out", ": too slow"))


def status_of(url: str) -> str:
    """The server's answer to a GET of the first 4 KB of ``url`` within a quarter of the rule's seconds (5 at
    most): ``HTTP 404 (Not Found)``; ``HTTP 206 (Partial Content), then 3 bytes in 5 s: too slow``; or the failure
    to connect (``nothing (timed out)``)."""
    import urllib.error
    import urllib.request

    timeout = min(5.0, max(0.5, stall_seconds() / 4))
    request = urllib.request.Request(url, headers={"Range": "bytes=0-4095"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the user's own URL
            said = f"HTTP {answer.status} ({answer.reason})"
            start, got = time.monotonic(), 0
            with suppress(OSError):  # a timeout too
                while got < 4096 and time.monotonic() - start < timeout:
                    block = answer.read1(4096 - got)
                    if not block:
                        return said
                    got += len(block)
            took = time.monotonic() - start
            slow = got < 4096 and took >= timeout * 0.9
            return f"{said}, then {got} bytes in {took:.0f} s: too slow" if slow else said
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} ({exc.reason})"
    except (urllib.error.URLError, OSError) as exc:
        return f"nothing ({getattr(exc, 'reason', exc)})"


class Watch:
    """One transfer under a :class:`Stall` rule: :meth:`arrived` (the bytes since the last call) answers why it is
    to be given up ('' while it is not), :meth:`report_due` whether a progress line is due."""

    def __init__(self, stall: Stall) -> None:
        self.stall = stall
        self.start = self.last_report = time.monotonic()
        self.done = 0
        self.reported_share = 0.0
        self.recent: collections.deque[tuple[float, int]] = collections.deque([(self.start, 0)])

    def arrived(self, n: int) -> str:
        self.done += n
        now = time.monotonic()
        self.recent.append((now, self.done))
        while len(self.recent) > 1 and self.recent[1][0] <= now - self.stall.window_s:
            self.recent.popleft()  # keep one sample at or before the window's start
        since, then = self.recent[0]
        if now - since >= self.stall.window_s and (self.done - then) / (now - since) < self.stall.min_rate:
            if self.done == then:
                return f"no byte for {self.stall.window_s:g} s"
            return (f"{size_text(self.done - then)} in the last {now - since:.0f} s (under "
                    f"{size_text(self.stall.min_rate)}/s)")
        return ""

    def waiting(self) -> None:
        """Waiting on something that is no stall (another run fetching the same file): the window starts again."""
        self.recent.clear()
        self.recent.append((time.monotonic(), self.done))

    def report_due(self, share: float | None = None) -> bool:
        """``report_s`` since the last line, or (``share`` of the whole done) a further :data:`REPORT_STEP`."""
        now = time.monotonic()
        step = share is not None and share - self.reported_share >= REPORT_STEP
        if now - self.last_report < self.stall.report_s and not step:
            return False
        self.last_report, self.reported_share = now, share if share is not None else self.reported_share
        return True

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start


def size_text(n: float) -> str:
    """Bytes as ``12.3 KiB`` (the one way every message writes a size: downloads, disk space)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def read_url(url: str, what: str, info: Callable[[str], None] | None = None, limit: int = 64 * 2**20) -> bytes:
    """The body of the http(s) ``url`` (a STAC item, a list of items), read under the run's :class:`Stall` rule,
    saying through ``info`` what it waits for. Raises the server's HTTPError as it is (the caller names the
    document), DataError for no answer or progress under the rule, more than ``limit`` bytes or no connection."""
    import urllib.error
    import urllib.request

    stall = Stall.rule()
    request = urllib.request.Request(url, headers={"User-Agent": "dualstream"})
    try:
        response = urllib.request.urlopen(request, timeout=stall.no_byte_s)  # noqa: S310 - http(s) only
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise DataError(f"The {what} {url} did not answer within {stall.no_byte_s:g} s ({stall.said()}). Try "
                            f"again later, or download it and give the file.") from exc
        raise DataError(f"The {what} {url} cannot be reached ({reason}); check the URL and the network.") from exc
    watch = Watch(stall)
    parts: list[bytes] = []
    with response:
        while True:
            try:
                block = response.read1(65536)
            except (TimeoutError, OSError) as exc:
                raise DataError(f"The {what} {url} sent nothing for {stall.no_byte_s:g} s after "
                                f"{size_text(watch.done)} ({stall.said()}). Try again later, or download it and give "
                                f"the file.") from exc
            if not block:
                break
            parts.append(block)
            if why := watch.arrived(len(block)):
                raise DataError(f"The {what} {url} comes too slowly: {why}, {size_text(watch.done)} in all "
                                f"({stall.said()}). Try again later, or download it and give the file.")
            if watch.done > limit:
                raise DataError(f"The {what} {url} is larger than {size_text(limit)}; it is no {what}.")
            if info is not None and watch.report_due():
                info(f"Waiting for the {what} {url}: {size_text(watch.done)} in {watch.seconds:.0f} s so far")
    return b"".join(parts)


def watched(call: Callable[[], Any], what: str, info: Callable[[str], None] | None) -> Any:
    """``call()`` (a first read of a remote source, which GDAL may keep waiting) run in a worker thread while
    this thread says, every ``report_s`` of the rule, that it still waits for ``what``; its result or its error.
    Only this thread talks to ``info`` (a QGIS feedback object is used from its own thread)."""
    if info is None:
        return call()
    outcome: futures.Future = futures.Future()

    def run() -> None:
        try:
            outcome.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread as it is
            outcome.set_exception(exc)

    threading.Thread(target=run, name="dualstream-network-wait", daemon=True).start()
    stall, start = Stall.rule(), time.monotonic()
    while not futures.wait([outcome], stall.report_s).done:
        info(f"Still waiting for {what} after {time.monotonic() - start:.0f} s ({stall.said()})")
    return outcome.result()


def read_failure(tag: str, window: str, error: str) -> str:
    """The message for a failed read of the web window ``window`` whose :data:`SERVICE_TAG` is ``tag``: the
    layer, the service's URL, the HTTP status GDAL got (GDAL's own message names no URL) and what to do."""
    name, _, url = tag.partition("|")
    status = re.search(r"HTTP status code: *(\d{3})(?:, error: (.*?)(?:\. Add the HTTP status code|$))?", error)
    if status:  # GDAL's advice to ignore the code (ZeroBlockHttpCodes) is left out: here it would hide a failure
        answer = f"answered HTTP {status.group(1)}" + (f" ({status.group(2).strip()})" if status.group(2) else "")
        detail = f"while '{window}' was read"
    else:
        answer, detail = "failed", f"(GDAL, reading '{window}': {error})"
    return (f"The {name} could not be read: its service {url} {answer} {detail}; check that the service is up "
            f"and the layer's URL is right, then run again")
