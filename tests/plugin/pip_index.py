"""A package index on 127.0.0.1 for the installer's tests: real wheels, served slowly, so that pip's download
takes seconds (progress, Cancel) without any network. Also used by the desktop session (tests/gui)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import threading
import time
import zipfile
from pathlib import Path


def make_wheel(folder: Path, name: str = "dstinypkg", version: str = "0.1", payload: int = 0) -> Path:
    """A pure-Python wheel (PEP 427): one module, ``payload`` bytes of random data beside it, a correct RECORD."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        f"{name}/__init__.py": f"VALUE = 42\nVERSION = {version!r}\n".encode(),
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                             b"Tag: py3-none-any\n",
    }
    if payload:
        files[f"{name}/data.bin"] = os.urandom(payload)  # incompressible: the wheel is as large as asked
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


class SlowIndex:
    """A PEP 503 "simple" index of the wheels in ``folder``, sending files at ``rate`` bytes per second.
    ``aborted`` lists the files whose download the client broke off (pip stopped mid-download)."""

    def __init__(self, folder: Path, rate: int = 1_000_000):
        self.folder, self.rate = folder, rate
        self.aborted: list[str] = []
        self.served: list[str] = []
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):  # noqa: N802 - http.server API
                self._answer(body=False)

            def do_GET(self):  # noqa: N802 - http.server API
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                parts = [p for p in self.path.split("?")[0].split("/") if p]
                if parts[:1] == ["files"] and len(parts) == 2 and (index.folder / parts[1]).is_file():
                    return self._file(index.folder / parts[1], body)
                if parts[:1] == ["simple"]:
                    wheels = sorted(index.folder.glob("*.whl"))
                    if len(parts) == 1:
                        names = sorted({w.name.split("-")[0] for w in wheels})
                        links = [f'<a href="/simple/{n}/">{n}</a>' for n in names]
                    else:
                        project = parts[1].replace("-", "_").lower()
                        links = [f'<a href="/files/{w.name}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">'
                                 f"{w.name}</a>" for w in wheels if w.name.split("-")[0].lower() == project]
                        if not links:
                            self.send_error(404)
                            return None
                    page = ("<!DOCTYPE html><html><body>" + "".join(links) + "</body></html>").encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    if body:
                        self.wfile.write(page)
                    return None
                self.send_error(404)
                return None

            def _file(self, path: Path, body: bool) -> None:
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not body:
                    return
                chunk = max(1, index.rate // 20)
                try:
                    for start in range(0, len(data), chunk):
                        self.wfile.write(data[start:start + chunk])
                        self.wfile.flush()
                        time.sleep(0.05)
                    index.served.append(path.name)
                except (BrokenPipeError, ConnectionResetError):
                    index.aborted.append(path.name)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
