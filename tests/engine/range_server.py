"""A local HTTP server on 127.0.0.1 that answers range requests, as object stores and STAC hubs do: GDAL's
/vsicurl/ reads a COG from it window by window. ``requests`` records each (method, path, Range header)."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class RangeServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = ""
        self.requests: list[tuple[str, str, str | None]] = []

    def bytes_sent(self, name: str) -> int:
        """Bytes asked of ``name`` by range requests (a whole-file GET counts the file's size)."""
        size = (self.root / name).stat().st_size
        total = 0
        for method, path, rng in self.requests:
            if method != "GET" or not path.endswith("/" + name):
                continue
            match = _RANGE.match(rng or "")
            if not match:
                total += size
            else:
                end = int(match[2]) if match[2] else size - 1
                total += min(end, size - 1) - int(match[1]) + 1
        return total


@contextmanager
def serve_folder(root: Path) -> Iterator[RangeServer]:
    server = RangeServer(root)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _file(self) -> Path | None:
            path = (root / self.path.split("?", 1)[0].lstrip("/")).resolve()
            return path if path.is_file() and root.resolve() in path.parents else None

        def do_HEAD(self) -> None:  # noqa: N802 - http.server API
            server.requests.append(("HEAD", self.path, None))
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            rng = self.headers.get("Range")
            server.requests.append(("GET", self.path, rng))
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            body = path.read_bytes()
            match = _RANGE.match(rng or "")
            if match:
                start = int(match[1])
                end = min(int(match[2]) if match[2] else len(body) - 1, len(body) - 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
                body = body[start:end + 1]
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
