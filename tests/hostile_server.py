"""A hostile HTTP server on 127.0.0.1 for the network-deadline tests (issue 53): it serves a folder as
:class:`bench.http_files.FileServer` does (range requests answered), but chosen paths misbehave.

``HostileServer(folder, behave={"/item.json": "trickle", "*": "silent"}, interval=0.5)``: each path (or ``"*"``
for every other path) gets one behaviour:

- ``"normal"``: the file, ranges honoured; a missing file 404;
- ``"silent"``: the connection is accepted and the request read, and nothing is ever answered;
- ``"trickle"``: the answer's headers at once, then its body one byte every ``interval`` seconds;
- ``"huge"``: a missing file is answered as one of 10 TB (``Content-Length``, or a ``Content-Range`` total for a
  range request), whose zeros are sent as fast as the client takes them; an existing file is answered normally.

The server runs in a process of its own (see :class:`bench.http_files.ChildServer`); ``requests`` is the
(method, path, Range header) of every request seen, ``bytes`` the body bytes sent.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script in the child process too
    sys.path.insert(0, str(REPO))

from bench.http_files import _RANGE, ChildServer  # noqa: E402 - needs the repository root on sys.path first

STATS_PATH = "/.hostile-server-stats"
HUGE = 10 * 2**40  # bytes a "huge" answer claims


class HostileServer(ChildServer):
    """Context manager serving ``folder`` with the ``behave`` of each path (see the module's docstring)."""

    SCRIPT = __file__
    STATS = STATS_PATH
    NAME = "hostile server"

    def __init__(self, folder: str | Path, behave: dict[str, str] | None = None, interval: float = 1.0):
        super().__init__({"folder": str(Path(folder).resolve()), "behave": dict(behave or {}), "interval": interval})

    @property
    def requests(self) -> list[tuple[str, str, str | None]]:
        return [tuple(entry) for entry in self._stats()["log"]]

    @property
    def bytes(self) -> int:
        return int(self._stats()["bytes"])


class _Server:
    def __init__(self, folder: str, behave: dict[str, str], interval: float):
        self.folder = Path(folder)
        self.behave = behave
        self.interval = interval
        self.log: list[tuple[str, str, str | None]] = []
        self.sent = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                server.answer(self, body=False)

            def do_GET(self) -> None:  # noqa: N802
                server.answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlparse(handler.path).path)
        if path == STATS_PATH:
            with self.lock:
                payload = json.dumps({"log": self.log, "bytes": self.sent}).encode()
            self.head(handler, 200, {"Content-Length": str(len(payload))})
            handler.wfile.write(payload)
            return
        with self.lock:
            self.log.append((handler.command, path, handler.headers.get("Range")))
        how = self.behave.get(path, self.behave.get("*", "normal"))
        if how == "silent":
            time.sleep(3600)  # the client gives up first; the thread is a daemon
            return
        target = (self.folder / path.lstrip("/")).resolve()
        exists = self.folder in target.parents and target.is_file()
        if how == "huge" and not exists:
            self.huge(handler, body)
            return
        if not exists:
            self.head(handler, 404, {"Content-Length": "0"})
            return
        data = target.read_bytes()
        status, headers = 200, {"Accept-Ranges": "bytes"}
        found = _RANGE.fullmatch((handler.headers.get("Range") or "")[6:].split(",")[0].strip())
        if found and handler.headers.get("Range", "").startswith("bytes="):
            start, end = found.groups()
            first = int(start) if start else max(0, len(data) - int(end))
            last = min(int(end), len(data) - 1) if start and end else len(data) - 1
            status, headers["Content-Range"] = 206, f"bytes {first}-{last}/{len(data)}"
            data = data[first:last + 1]
        headers["Content-Length"] = str(len(data))
        self.head(handler, status, headers)
        if not body:
            return
        try:
            if how == "trickle":
                for i in range(len(data)):
                    handler.wfile.write(data[i:i + 1])
                    handler.wfile.flush()
                    self.count(1)
                    time.sleep(self.interval)
            else:
                handler.wfile.write(data)
                self.count(len(data))
        except OSError:  # the client gave up
            handler.close_connection = True

    def huge(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        found = _RANGE.fullmatch((handler.headers.get("Range") or "")[6:].split(",")[0].strip())
        if found and found.group(1):
            first = int(found.group(1))
            last = min(int(found.group(2)) if found.group(2) else HUGE - 1, HUGE - 1)
            self.head(handler, 206, {"Content-Range": f"bytes {first}-{last}/{HUGE}",
                                     "Content-Length": str(last - first + 1), "Accept-Ranges": "bytes"})
            size = last - first + 1
        else:
            self.head(handler, 200, {"Content-Length": str(HUGE), "Accept-Ranges": "bytes"})
            size = HUGE
        if not body:
            return
        block = b"\0" * 65536
        try:
            while size > 0:
                part = block[:min(size, len(block))]
                handler.wfile.write(part)
                size -= len(part)
                self.count(len(part))
        except OSError:  # the client hung up
            return

    def head(self, handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()

    def count(self, n: int) -> None:
        with self.lock:
            self.sent += n


def main(options: str) -> None:
    """Serve with the JSON ``options`` of :class:`HostileServer`; print the port, then serve until terminated."""
    given = json.loads(options)
    server = _Server(given["folder"], given["behave"], float(given["interval"]))
    print(server.server.server_address[1], flush=True)
    server.server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
