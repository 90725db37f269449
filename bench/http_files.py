"""A static file server on 127.0.0.1 with HTTP range requests and an added delay per request.

Stands in for an object store or a tile server in the remote-reading benchmark (bench/sections/remote.py) and
tests: ``FileServer(folder, latency=0.02)`` serves ``folder`` at :attr:`FileServer.url`, answers ``Range:
bytes=a-b`` (also several ranges, as multipart/byteranges) with 206, adds ``latency`` seconds before every
answer (the round trip to a distant server), counts requests and the time spent, and can fail chosen paths
(``fail={"/x.tif": 503}``) or the first N requests of any path (``flaky=N``, 503) to exercise retries.

The server runs in a process of its own: a reader in the calling process may hold the GIL inside GDAL while it
waits for the answer (rasterio's open does), and a server thread of the same process would then never answer
(each request stalled until GDAL's HTTP timeout). Its counters are read back from :data:`STATS_PATH`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

_RANGE = re.compile(r"(\d*)-(\d*)")
#: the path that answers the counters as JSON (not counted itself)
STATS_PATH = "/.file-server-stats"


class ChildServer:
    """Context manager: a test server run as ``python SCRIPT OPTIONS_JSON`` in a child process, whose ``main``
    prints the port it listens on, then serves until terminated; ``url`` once entered, ``_stats()`` the JSON its
    ``STATS`` path answers. Subclasses set ``SCRIPT``, ``STATS`` and ``NAME``."""

    SCRIPT = ""
    STATS = ""
    NAME = "test server"

    def __init__(self, options: dict) -> None:
        self.options = options
        self.url = ""
        self.process: subprocess.Popen | None = None

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, self.SCRIPT, json.dumps(self.options)],
                                        stdout=subprocess.PIPE, text=True)
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.process.kill()
            raise RuntimeError(f"the {self.NAME} did not start (it printed {port!r})")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.process.stdout.close()

    def _stats(self) -> Any:
        with urllib.request.urlopen(self.url + self.STATS, timeout=30) as answer:  # noqa: S310 - our own server
            return json.loads(answer.read())


class FileServer(ChildServer):
    """Context manager: ``with FileServer(folder, latency=0.02) as server: server.url + "/scene.tif"``; the
    server runs in a child process (see the module's docstring)."""

    SCRIPT = __file__
    STATS = STATS_PATH
    NAME = "file server"

    def __init__(self, folder: str | Path, latency: float = 0.0, fail: dict[str, int] | None = None,
                 flaky: int = 0):
        super().__init__({"folder": str(Path(folder).resolve()), "latency": latency, "fail": dict(fail or {}),
                          "flaky": flaky})

    @property
    def requests(self) -> int:
        return self._stats()["requests"]

    @property
    def bytes(self) -> int:
        return self._stats()["bytes"]

    @property
    def log(self) -> list[tuple[str, str, str | None]]:
        """(method, path, Range header or None) of every request answered, in order."""
        return [tuple(entry) for entry in self._stats()["log"]]

    @property
    def statuses(self) -> dict[int, int]:
        return {int(k): v for k, v in self._stats()["statuses"].items()}


class _Server:
    """The server itself, run by :func:`main` in the child process."""

    def __init__(self, folder: str | Path, latency: float = 0.0, fail: dict[str, int] | None = None,
                 flaky: int = 0):
        self.folder = Path(folder).resolve()
        self.latency = latency
        self.fail = dict(fail or {})
        self.flaky = flaky
        self.requests = 0
        self.bytes = 0
        self.statuses: dict[int, int] = {}
        self.log: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                server._answer(self, body=False)

            def do_GET(self) -> None:  # noqa: N802
                server._answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def _count(self, handler: BaseHTTPRequestHandler, status: int, size: int) -> None:
        with self._lock:
            self.log.append((handler.command, unquote(urlparse(handler.path).path), handler.headers.get("Range")))
            self.requests += 1
            self.bytes += size
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        if handler.path == STATS_PATH:
            with self._lock:
                stats = json.dumps({"requests": self.requests, "bytes": self.bytes, "statuses": self.statuses,
                                    "log": self.log})
            self._send(handler, 200, stats.encode(), {"Content-Type": "application/json"}, body, count=False)
            return
        if self.latency:
            time.sleep(self.latency)
        path = unquote(urlparse(handler.path).path)
        status = self.fail.get(path)
        with self._lock:
            if status is None and self.flaky > 0:
                self.flaky -= 1
                status = 503
        target = (self.folder / path.lstrip("/")).resolve()
        if status is None and (self.folder not in target.parents or not target.is_file()):
            status = 404
        if status is not None:
            self._send(handler, status, b"", {}, body)
            return
        data = target.read_bytes()
        wanted = handler.headers.get("Range")
        if not wanted or not wanted.startswith("bytes="):
            self._send(handler, 200, data, {"Accept-Ranges": "bytes"}, body)
            return
        spans = []
        for part in wanted[6:].split(","):
            found = _RANGE.fullmatch(part.strip())
            if not found:
                continue
            start, end = found.groups()
            if start == "":
                first, last = max(0, len(data) - int(end)), len(data) - 1
            else:
                first, last = int(start), min(int(end) if end else len(data) - 1, len(data) - 1)
            if first <= last:
                spans.append((first, last))
        if not spans:
            self._send(handler, 416, b"", {"Content-Range": f"bytes */{len(data)}"}, body)
            return
        if len(spans) == 1:
            first, last = spans[0]
            self._send(handler, 206, data[first:last + 1], {"Content-Range": f"bytes {first}-{last}/{len(data)}",
                                                             "Accept-Ranges": "bytes"}, body)
            return
        boundary = "dualstreamboundary"
        parts = b"".join(
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {a}-{b}/{len(data)}"
            f"\r\n\r\n".encode() + data[a:b + 1] + b"\r\n" for a, b in spans) + f"--{boundary}--\r\n".encode()
        self._send(handler, 206, parts, {"Content-Type": f"multipart/byteranges; boundary={boundary}"}, body)

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str],
              body: bool, count: bool = True) -> None:
        if count:
            self._count(handler, status, len(payload) if body else 0)
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if body and payload:
            handler.wfile.write(payload)


def main(options: str) -> None:
    """Serve with the JSON ``options`` of :class:`FileServer`; print the port, then serve until terminated."""
    given = json.loads(options)
    server = _Server(given["folder"], given["latency"], {k: int(v) for k, v in given["fail"].items()}, given["flaky"])
    print(server.server.server_address[1], flush=True)
    server.server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
