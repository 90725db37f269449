"""GDAL's settings for reading over the network, and what a failed remote read says.

A remote raster (``/vsicurl/``, ``/vsis3/``, a GDAL WMS/TMS description) is read window by window with HTTP
range requests. What makes that fast and sure is GDAL's own machinery, set here once (a value the user set in
the environment is kept): consecutive ranges merged into one request, HTTP/2 multiplexing, one bounded in-memory
cache of fetched ranges (``CPL_VSIL_CURL_CACHE_SIZE``; GDAL's block cache on top), and retries of transient
errors (429, 5xx, timeouts) with a growing delay. Only settings that change network reads are set: the process
reads local files too (``GDAL_DISABLE_READDIR_ON_OPEN`` would hide their ``.aux.xml``, and with it a class
raster's class names). The tile reader's worker threads (``segment.readers``, more by default on a remote
source) each hold their own handle, so fetches run in parallel.
"""

from __future__ import annotations

import os

from . import locations

#: name -> value, applied when the environment does not set the name
DEFAULTS = {
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "GDAL_HTTP_MAX_RETRY": "4",  # 429, 502, 503, 504 and timeouts are retried
    "GDAL_HTTP_RETRY_DELAY": "0.5",  # seconds, doubled at each retry
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "20",
    "CPL_VSIL_CURL_CACHE_SIZE": str(128 * 2**20),  # bytes of fetched ranges kept, for every remote file together
    "CPL_VSIL_CURL_CHUNK_SIZE": str(256 * 1024),
    # GDAL's WMTS driver asks for a disk cache of tiles, which GDAL < 3.9 writes to ./gdalwmscache of whatever
    # folder the process runs in, without bound; fetched tiles stay in GDAL's bounded block cache instead
    "GDAL_ENABLE_WMS_CACHE": "NO",
}


def apply_defaults() -> None:
    """Put :data:`DEFAULTS` into the environment (GDAL reads its settings from there) where not set."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


def remote_hint(source: str) -> str:
    """What to add to a read error of ``source``: for a remote source, the URL and what its server answers now
    (the HTTP status, or why there is no answer) and what to check."""
    if not locations.is_remote(source):
        return ""
    url = http_url(source)
    answer = f"; {url} answered {status_of(url)}" if url else ""
    return (f"{answer}; it is read over the network: check that the URL is right and answers (private buckets "
            f"need their credentials in the environment, e.g. AWS_ACCESS_KEY_ID or GDAL_HTTP_HEADERS)")


def http_url(source: str) -> str | None:
    """The http(s) URL behind ``source`` (a plain URL or a ``/vsicurl/`` path), else None."""
    text = str(source).strip()
    if text.startswith("/vsicurl/"):
        text = text[len("/vsicurl/"):]
    return text if text.lower().startswith(("http://", "https://")) else None


def status_of(url: str, timeout: float = 10.0) -> str:
    """The server's answer to a one-byte GET of ``url``: ``HTTP 404 (Not Found)``, or the failure to connect."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the user's own URL
            return f"HTTP {answer.status} ({answer.reason})"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} ({exc.reason})"
    except (urllib.error.URLError, OSError) as exc:
        return f"nothing ({getattr(exc, 'reason', exc)})"
