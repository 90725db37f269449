"""What the ready-model tests share: a local HTTP server, a package laid out like ukis-csmask (a linear ONNX graph
built here beside its statistics file in ukis-csmask's format) and catalogue files naming them."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tests.engine.foreign_onnx import linear_model

BANDS = ["blue", "green", "red", "nir"]
MEAN, STD = [0.25, 0.24, 0.26, 0.33], [0.24, 0.22, 0.25, 0.23]
WEIGHTS = np.random.default_rng(3).normal(size=(3, 4))
BIAS = np.random.default_rng(4).normal(size=3)
CLASSES = [{"name": "background", "color": "#1b7837"}, {"name": "cloud", "color": "#00b4d8"},
           {"name": "cloud shadow", "color": "#542788"}]
TILE = 32


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Server:
    """Files served from memory on 127.0.0.1 (``files``: URL path -> bytes); ``requests`` lists the paths asked.

    ``trickle``: URL path -> (bytes, seconds): the file sent that many bytes at a time with a pause between (a slow
    server); ``silent``: paths whose headers are sent, then nothing; ``mute``: paths that get no answer at all;
    ``cut``: URL path -> bytes after which the connection drops (once). HTTP Range requests are answered (206)
    unless ``ranges`` is False (a server or proxy that ignores them: the whole file, 200); ``misranged``: paths whose
    Range requests get a 206 of the whole file, its ``Content-Range`` saying so (not the bytes asked for); ``asked``
    records (path, Range header, body bytes sent) per GET."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.trickle: dict[str, tuple[int, float]] = {}
        self.silent: set[str] = set()
        self.mute: set[str] = set()
        self.cut: dict[str, int] = {}
        self.ranges = True
        self.misranged: set[str] = set()
        self.asked: list[tuple[str, str, int]] = []
        self.requests: list[str] = []
        self.url = ""
        self.stop = threading.Event()  # set when the server stops: waiting handlers end


@contextmanager
def serve() -> Iterator[Server]:
    server = Server()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            server.requests.append(self.path)
            if self.path in server.mute:
                server.stop.wait(60)
                return
            body = server.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            wanted = self.headers.get("Range", "")
            first = int(wanted[6:].split("-")[0] or 0) if wanted.startswith("bytes=") and server.ranges else 0
            if first >= len(body) > 0:
                self.send_error(416, "Range Not Satisfiable")
                return
            if first and self.path in server.misranged:  # other bytes than asked: the file from its start
                self.send_response(206)
                self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
                first = 0
            else:
                self.send_response(206 if first else 200)
            if first:
                self.send_header("Content-Range", f"bytes {first}-{len(body) - 1}/{len(body)}")
            body = body[first:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path in server.cut:  # the link dies part-way, once
                sent = body[: server.cut.pop(self.path)]
                self.wfile.write(sent)
                self.wfile.flush()
                server.asked.append((self.path, wanted, len(sent)))
                self.close_connection = True
                return
            server.asked.append((self.path, wanted, len(body)))
            if self.path in server.silent:
                self.wfile.flush()
                server.stop.wait(60)
                return
            step, pause = server.trickle.get(self.path, (4096, 0.0))  # several chunks: progress has steps
            try:
                for start in range(0, len(body), step):
                    self.wfile.write(body[start:start + step])
                    self.wfile.flush()
                    if pause and server.stop.wait(pause):
                        return
            except OSError:  # the client gave up (a stalled download)
                return

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        httpd.shutdown()
        httpd.server_close()


def graph(path: Path) -> Path:
    """The test's cloud model: a per-pixel linear classifier giving logits, fixed 32-px tiles like csmask's 256."""
    return linear_model(path, WEIGHTS, BIAS, head="none", tile=TILE)


def fake_csmask(site: Path, module: str = "fake_csmask") -> Path:
    """A package ``module`` under ``site`` laid out like ukis-csmask: model_4b_l1c.onnx beside model_4b_l1c.json."""
    folder = site / module
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text('__version__ = "1.0.0"\n')
    graph(folder / "model_4b_l1c.onnx")
    statistics = {"data": {"in_channels": 4, "classes": 3, "dataset_statistics": {
        "img": [MEAN, STD], "band_names": BANDS}, "target_size": [TILE, TILE]}, "model": {"version": "test"}}
    (folder / "model_4b_l1c.json").write_text(json.dumps(statistics))
    return folder


def described(name: str, source: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A catalogue entry describing the test's model (bands, scaling, classes) with ``source``."""
    entry = {"name": name, "task": "cloud and cloud-shadow segmentation", "sensor": "test sensor, reflectance 0-1",
             "bands": BANDS, "scale": 1.0, "mean": MEAN, "std": STD, "classes": CLASSES, "output": "logits",
             "tile_size": TILE, "overlap": 0.2, "resolution": 30.0, "source": source, "licence": "Apache-2.0"}
    entry.update(changes)
    return entry


def package_entry(name: str, folder: Path, module: str = "fake_csmask", **changes: Any) -> dict[str, Any]:
    return described(name, {"kind": "pypi", "requirement": f"{module}==1.0.0", "module": module,
                            "model": "model_4b_l1c.onnx", "sha256": sha256(folder / "model_4b_l1c.onnx"),
                            "statistics": "model_4b_l1c.json",
                            "statistics_sha256": sha256(folder / "model_4b_l1c.json"),
                            "statistics_format": "ukis-csmask"}, **changes)


def write_catalogue(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"version": 1, "models": entries}), encoding="utf-8")
    return path


def reflectance_scene(path: Path, size: tuple[int, int] = (70, 90), seed: int = 0) -> np.ndarray:
    """A 4-band float32 reflectance GeoTIFF (bands in BANDS order); returns its (4, H, W) values."""
    import rasterio
    from rasterio.transform import from_origin

    raw = np.random.default_rng(seed).uniform(0.0, 0.8, size=(4, *size)).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=size[1], height=size[0], count=4, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000, 6000000, 30, 30)) as dst:
        dst.write(raw)
    return raw


def cloudy_scene(path: Path, size: tuple[int, int] = (300, 420), seed: int = 0) -> np.ndarray:
    """A 4-band float32 reflectance GeoTIFF (BANDS order) of vegetation under smooth clouds casting shadows, so a
    cloud model gives all three classes (uniform noise is all background to it); returns its (4, H, W) values."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)

    def field(width: float) -> np.ndarray:  # normal noise smoothed by a Gaussian of ``width`` px, standardised
        rows, cols = np.mgrid[:size[0], :size[1]]
        gauss = np.exp(-((rows - size[0] // 2) ** 2 + (cols - size[1] // 2) ** 2) / (2 * width ** 2))
        out = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=size)) * np.fft.fft2(np.fft.ifftshift(gauss))))
        return (out - out.mean()) / out.std()

    land = np.array([0.06, 0.09, 0.07, 0.30])[:, None, None] * (1 + 0.3 * field(6))
    cloud = np.clip(2 * field(30), 0, 1)
    shadow = np.roll(cloud, (25, 30), axis=(0, 1)) > 0.05
    raw = (land * np.where(shadow, 0.3, 1.0) * (1 - cloud) + 0.6 * cloud).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=size[1], height=size[0], count=4, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000, 6000000, 30, 30)) as dst:
        dst.write(raw)
    return raw
