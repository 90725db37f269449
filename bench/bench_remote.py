"""Remote reading: a COG over HTTP against the same file on disk, and an XYZ tile layer from a tile server.

1. COG: a 4-band 2048^2 scene (``bench_segment.write_scene``, 1024^2 with ``--quick``) written as a cloud-optimised
   GeoTIFF, segmented from disk and from a local HTTP server (bench/http_files.py: range requests as an object
   store answers them) that adds 20 ms to every request, the round trip to a distant bucket. Same model (UNet
   light, random weights: the speed is what is measured), same settings, defaults otherwise (the engine's remote
   reader threads). Figure: remote speed / local speed. Target >= 0.80.
2. XYZ: tiles of a real aerial image (realdata's Massachusetts 1 m RGB crop, else the synthetic scene) cut with
   ``gdal2tiles.py`` (zoom 14-18), served with the same 20 ms latency, read as a web layer at 1 m per pixel over
   the image's extent (``engine.imagery.web.web_window``) and segmented. Figures: tiles fetched per second, and the
   share of the run the model sat waiting for tiles to be read (``timings["input_wait"]``).

Run alone: ``python bench/bench_remote.py [--quick]``; inside ``make bench`` as section "remote".
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.http_files import FileServer  # noqa: E402 - needs the repository root on sys.path first

TITLE = "Remote reading: a COG over HTTP vs on disk; an XYZ tile layer"
TARGET_RATIO = 0.80
LATENCY = 0.020
REAL_IMAGE = Path("gdl_buildings_landcover/massachusetts_buildings_rgb/22978945_15_uint8_clipped2.tif")


def _bundle(path: Path, bands: int, high: float) -> str:
    """A UNet-light bundle with seeded random weights for ``bands`` bands (statistics 0..``high``)."""
    import torch

    from engine.bundle.store import save_bundle
    from engine.models import build_model

    torch.manual_seed(0)
    model = build_model("unet", preset="light", vision_channels=bands, aux_channels=0, num_classes=1)
    data = {"vision_bands": bands, "vision_stats": {"method": "percentile", "low": [0.0] * bands,
                                                    "high": [high] * bands},
            "aux_channels": 0, "aux_stats": None, "aux_bands_per_file": None, "aux_ratio": 8, "aux_prefixes": [],
            "class_names": ["background", "foreground"], "class_colors": ["#000000", "#ff0000"],
            "tile_size": 256, "gsd": [1.0, 1.0], "num_classes": 1}
    return save_bundle(path, model, {"model": model.config.to_dict(), "data": data})


def _segment(image: str, model: str, output: Path) -> Any:
    from engine.config import SegmentConfig
    from engine.segment import segment

    if output.exists():
        output.unlink()
    return segment(SegmentConfig(image=image, models=[model], output=str(output), device="cpu"))


def cog_ratio(work: Path, quick: bool) -> dict[str, Any]:
    from osgeo import gdal

    from bench.bench_segment import write_scene

    size = 1024 if quick else 2048
    scene = write_scene(work / "scene", size)
    served = work / "served"
    served.mkdir(exist_ok=True)
    cog = served / "scene.tif"
    if not cog.exists():
        subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", "BLOCKSIZE=512", "-co", "COMPRESS=DEFLATE",
                        scene["image"], str(cog)], check=True)
    model = _bundle(work / "unet.dsmodel", 4, 4000.0)
    _segment(str(cog), model, work / "warm.tif")  # the ONNX export and caches, once
    with FileServer(served, latency=LATENCY) as server:
        url = f"{server.url}/scene.tif"
        local_runs, remote_runs = [], []
        for _ in range(1 if quick else 2):  # alternated, so load changes hit both alike
            local_runs.append(_segment(str(cog), model, work / "local.tif").seconds)
            gdal.VSICurlClearCache()  # every remote run fetches its bytes again, as a new process would
            before = server.requests
            remote = _segment(url, model, work / "remote.tif")
            remote_runs.append(remote.seconds)
            requests = server.requests - before
            assert requests > 0, "the remote run fetched nothing: it read a cache, not the server"
    local, remote_s = min(local_runs), min(remote_runs)
    ratio = local / remote_s
    return {"pixels": size * size, "local_s": round(local, 2), "remote_s": round(remote_s, 2),
            "ratio": round(ratio, 3), "target": TARGET_RATIO, "met": ratio >= TARGET_RATIO,
            "requests": requests, "latency_ms": LATENCY * 1000}


def xyz_rate(work: Path, realdata: Path | None, quick: bool) -> dict[str, Any]:
    import rasterio
    from osgeo import gdal

    from engine.imagery.web import web_window, xyz_description

    source = realdata / REAL_IMAGE if realdata and (realdata / REAL_IMAGE).is_file() else None
    if source is None:
        from bench.bench_segment import write_scene

        rgb = work / "rgb.tif"
        subprocess.run(["gdal_translate", "-q", "-b", "1", "-b", "2", "-b", "3", "-ot", "Byte", "-scale",
                        write_scene(work / "scene", 1024)["image"], str(rgb)], check=True)
        source = rgb
    tiles = work / "tiles"
    if not tiles.exists():
        subprocess.run(["gdal2tiles.py", "--xyz", "-q", "-z", "14-18", "-r", "bilinear", "-w", "none",
                        "--processes", "2", str(source), str(tiles)], check=True, capture_output=True)
    with rasterio.open(source) as src:
        bounds, crs = list(src.bounds), src.crs.to_wkt()
    model = _bundle(work / "unet3.dsmodel", 3, 255.0)
    with FileServer(tiles, latency=LATENCY) as server:
        description = xyz_description(f"{server.url}/{{z}}/{{x}}/{{y}}.png", zmax=18)
        window = web_window(description, bounds, crs, 1.0, work / "window.web.vrt")
        _segment(window.path, model, work / "xyz_warm.tif")  # the ONNX export, once
        gdal.VSICurlClearCache()
        before = server.requests
        result = _segment(window.path, model, work / "xyz.tif")
        fetched = server.requests - before
    seconds = result.seconds
    wait = result.timings.get("input_wait", float("nan"))
    return {"source": str(source.name), "window_px": [window.width, window.height], "tiles_fetched": fetched,
            "seconds": round(seconds, 2), "tiles_per_s": round(fetched / seconds, 1),
            "waiting_share": round(wait / seconds, 3), "latency_ms": LATENCY * 1000}


def run(ctx: Any) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dualstream-bench-remote-"))
    try:
        cog = cog_ratio(work, ctx.quick)
        xyz = xyz_rate(work, ctx.realdata, ctx.quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    markdown = (
        f"| case | figure | target |\n|---|---|---|\n"
        f"| COG over HTTP (+{cog['latency_ms']:.0f} ms/request) vs disk, {cog['pixels']:,} px, UNet light | "
        f"{cog['remote_s']} s vs {cog['local_s']} s: ratio **{cog['ratio']}** ({cog['requests']} requests) | "
        f">= {TARGET_RATIO} {'met' if cog['met'] else 'NOT met'} |\n"
        f"| XYZ layer (+{xyz['latency_ms']:.0f} ms/tile) of {xyz['source']}, {xyz['window_px'][0]} x "
        f"{xyz['window_px'][1]} px at 1 m | {xyz['tiles_per_s']} tiles/s ({xyz['tiles_fetched']} tiles in "
        f"{xyz['seconds']} s); model waiting for tiles {100 * xyz['waiting_share']:.1f} % of the run | - |\n")
    return {"cog": cog, "xyz": xyz, "markdown": markdown}


if __name__ == "__main__":
    from bench.common import BenchContext

    realdata = Path("/work/shared/realdata")
    out = run(BenchContext(output_dir=Path("."), quick="--quick" in sys.argv,
                           realdata=realdata if realdata.is_dir() else None))
    print(json.dumps({k: v for k, v in out.items() if k != "markdown"}, indent=2))
    print(out["markdown"])
