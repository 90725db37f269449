"""The files the reliability suite feeds to the commands: one good scene, a tiny trained bundle, and every kind
of bad input (built once per session, or once for both processes of ``make test``: :func:`build_or_reuse`;
read-only for the cases, which write into their own folders).

Everything is small (64 x 64 px scenes, the tiny preset, 64-px tiles) so that a case costs about a second.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.data import synthetic

REPO = Path(__file__).resolve().parents[2]
TRAIN_ARGS = ("--preset", "tiny", "--tile-size", "64", "--epochs", "1", "--warmup-epochs", "0",
              "--tiles-per-epoch", "2", "--batch-size", "2", "--device", "cpu", "--preview-tiles", "0", "--quiet")
CODE_RAN_MARKER = "code_executed.txt"
SCRIPT_NAME = "<script>alert(1)</script>"


def cli_env() -> dict[str, str]:
    """The environment of every CLI subprocess: one thread each, the checkout importable, no GPU."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(REPO),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("DUALSTREAM_BLOCK_QGIS", None)
    return env


def run_cli(*args: str, timeout: float = 300, preexec: Any = None) -> subprocess.CompletedProcess:
    """``python -m engine ARGS`` in a subprocess (the real command line), output captured as text."""
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=timeout,
                          env=cli_env(), cwd=str(REPO), preexec_fn=preexec)


def start_cli(*argv: str, preexec: Callable[[], None] | None = None) -> subprocess.Popen:
    """The command line started in the background (stdout and stderr piped), as :func:`run_cli` runs it."""
    return subprocess.Popen([sys.executable, "-m", "engine", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=str(REPO), preexec_fn=preexec)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    """Until ``condition`` holds; AssertionError naming ``what`` when the run ends or the time is up first."""
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def file_limit(limit: int) -> Callable[[], None]:
    """preexec_fn: writes beyond ``limit`` bytes fail with EFBIG (SIGXFSZ ignored), as on a full disk."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _write(path: Path, data: np.ndarray, crs: Any = "EPSG:32652", transform: Any = None,
           nodata: float | None = None) -> str:
    import rasterio
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=str(data.dtype), crs=crs, transform=transform or from_origin(500000, 4000000, 1, 1))
    if crs is None:
        profile.pop("crs")
        profile.pop("transform")
    if nodata is not None:
        profile["nodata"] = nodata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # the no-CRS input, on purpose
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
    return str(path)


def _geojson(path: Path, ring: list[tuple[float, float]]) -> str:
    """A GeoJSON of one polygon in longitude/latitude (CRS84), written as text: no check of the coordinates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": crs, "features": [feature]}))
    return str(path)


def _polygons(path: Path, rings: list[list[tuple[float, float]]], crs: int | str = 32652, value: int = 90) -> str:
    from osgeo import ogr, osr

    path.parent.mkdir(parents=True, exist_ok=True)
    srs = osr.SpatialReference()
    srs.SetFromUserInput(f"EPSG:{crs}" if isinstance(crs, int) else crs)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("labels", srs=srs, geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("class", ogr.OFTInteger))
    for ring in rings:
        feature = ogr.Feature(layer.GetLayerDefn())
        wkt = "POLYGON ((" + ", ".join(f"{x} {y}" for x, y in ring) + "))"
        feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        feature.SetField("class", value)
        layer.CreateFeature(feature)
    ds = None
    return str(path)


class _RunsCode:
    """Unpickling this writes a marker file: a bundle loader that unpickles would leave it behind."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"echo pwned > '{self.marker}'",))


def build(root: Path) -> dict[str, Any]:
    """Write the good scene, the bad inputs and the trained bundle under ``root``; return their paths."""
    import rasterio

    inputs = root / "inputs"
    scene = synthetic.make_scene(inputs / "scene", "s", size=(64, 64), seed=1, aux_channels=12, label_from="both")
    w: dict[str, Any] = {"root": str(root), "image": scene["image"], "label": scene["label"],
                         "label_vector": scene["label_vector"], "aux": scene["aux"][0]}
    with rasterio.open(scene["image"]) as src:
        image = src.read()
        crs, transform = src.crs, src.transform
    bad = inputs / "bad"
    w["truncated_image"] = str(bad / "truncated.tif")
    data = Path(scene["image"]).read_bytes()
    Path(w["truncated_image"]).parent.mkdir(parents=True, exist_ok=True)
    Path(w["truncated_image"]).write_bytes(data[: len(data) // 3])
    w["text_image"] = str(bad / "notes.tif")
    Path(w["text_image"]).write_text("this is not a raster\n")
    w["one_pixel"] = _write(bad / "one_pixel.tif", image[:, :1, :1], crs, transform)
    w["all_nodata"] = _write(bad / "all_nodata.tif", np.zeros_like(image), crs, transform, nodata=0)
    w["float64"] = _write(bad / "float64.tif", image.astype(np.float64), crs, transform)
    w["int8"] = _write(bad / "int8.tif", (image // 256).astype(np.int8), crs, transform)
    w["complex"] = _write(bad / "complex.tif", image.astype(np.complex64), crs, transform)
    w["three_bands"] = _write(bad / "three_bands.tif", image[:3], crs, transform)
    w["no_crs"] = _write(bad / "no_crs.tif", image, None)
    from rasterio.transform import from_origin

    far = from_origin(transform.c + 1e6, transform.f, transform.a, -transform.e)
    w["far_label"] = _write(bad / "far_label.tif", np.full((1, 64, 64), 90, np.uint8), crs, far)
    coarse = from_origin(transform.c, transform.f, 2.0, 2.0)  # another grid over the same ground
    w["coarse_label"] = _write(bad / "coarse_label.tif", np.where(np.arange(32)[None, :, None] > 16, 90, 0)
                               .repeat(32, axis=2).astype(np.uint8), crs, coarse)
    x0, y0 = transform.c, transform.f
    w["empty_vector"] = _polygons(bad / "empty.gpkg", [])
    w["far_vector"] = _polygons(bad / "far.gpkg", [[(x0 + 1e6, y0), (x0 + 1e6 + 10, y0), (x0 + 1e6 + 10, y0 - 10),
                                                    (x0 + 1e6, y0)]])
    bowtie = [(x0 + 5, y0 - 5), (x0 + 40, y0 - 40), (x0 + 40, y0 - 5), (x0 + 5, y0 - 40), (x0 + 5, y0 - 5)]
    w["invalid_vector"] = _polygons(bad / "bowtie.gpkg", [bowtie])
    # aux: one far away (no overlap) and one covering only the left part of the image
    with rasterio.open(scene["aux"][0]) as src:
        aux, aux_crs, aux_t = src.read(), src.crs, src.transform
    w["far_aux"] = _write(bad / "far_aux.tif", aux, aux_crs, from_origin(aux_t.c + 50, aux_t.f, aux_t.a, -aux_t.e))
    w["half_aux"] = _write(bad / "half_aux.tif", aux[:, :, : max(1, aux.shape[2] // 3)], aux_crs, aux_t)
    # aux with no valid pixel, mostly nodata, and cut to 8 bits; an image with NaN and inf pixels
    w["nodata_aux"] = _write(bad / "nodata_aux.tif", np.zeros_like(aux), aux_crs, aux_t, nodata=0)
    w["nan_aux"] = _write(bad / "nan_aux.tif", np.full(aux.shape, np.nan, np.float32), aux_crs, aux_t)
    mostly = aux.astype(np.float32)
    mostly[:, : aux.shape[1] * 3 // 4] = -9999
    w["mostly_nodata_aux"] = _write(bad / "mostly_nodata_aux.tif", mostly, aux_crs, aux_t, nodata=-9999)
    w["int8_aux"] = _write(bad / "int8_aux.tif", np.clip(aux, -128, 127).astype(np.int8), aux_crs, aux_t)
    holes = image.astype(np.float32)
    holes[:, 10:20, 5:40], holes[:, 30:33, :] = np.nan, np.inf
    w["nan_image"] = _write(bad / "nan_image.tif", holes, crs, transform)
    # a label raster of 0/1/3/4 (real data: only 4 is the class of interest)
    stripes = np.zeros((1, 64, 64), np.uint8)
    stripes[:, :16], stripes[:, 16:32], stripes[:, 32:48] = 1, 3, 4
    w["label_0134"] = _write(bad / "label_0134.tif", stripes, crs, transform)
    w["unicode_dir"] = str(inputs / "dossier d'entrée ünï")
    os.makedirs(w["unicode_dir"], exist_ok=True)
    w["unicode_image"] = str(Path(w["unicode_dir"]) / "scène 1.tif")
    shutil.copyfile(scene["image"], w["unicode_image"])
    w["big_vrt"] = _big_vrt(bad / "big.vrt", scene["image"], 65536)
    w["image_prediction"] = _write(inputs / "prediction.tif", (image[:1] > np.median(image[0])).astype(np.uint8),
                                   crs, transform)
    # the good scene as an 8-bit export and as 0-1 reflectance (issue 33, item 5: unlike the training data)
    w["eight_bit"] = _write(bad / "eight_bit.tif", (image / image.max() * 255).astype(np.uint8), crs, transform)
    w["reflectance01"] = _write(bad / "reflectance01.tif", (image / 10000).astype(np.float32), crs, transform)
    # a Sentinel-2 scene whose bands are named and not in R,G,B order (issue 33, item 7: the preview's colours)
    w["named_bands"] = _write(bad / "named_bands.tif", image, crs, transform)
    with rasterio.open(w["named_bands"], "r+") as dst:
        for band, name in enumerate(("B08", "B04", "B03", "B02"), start=1):
            dst.set_band_description(band, name)
    # AOIs that cannot be used (issue 33, item 1): latitude 95, another planet's CRS, far from the image
    w["lat95_aoi"] = _geojson(bad / "lat95_aoi.geojson", [(129, 95), (130, 95), (130, 96), (129, 95)])
    w["far_aoi"] = _geojson(bad / "far_aoi.geojson", [(10, 45), (11, 45), (11, 46), (10, 45)])
    w["mars_aoi"] = _polygons(bad / "mars_aoi.gpkg", [[(129, 37), (130, 37), (130, 38), (129, 37)]], "IAU_2015:49900")
    # segment's probabilities output given as the prediction (issue 33, item 3)
    w["probabilities"] = _write(bad / "probabilities.tif", (image[:1] / image[:1].max()).astype(np.float32), crs,
                                transform)
    config = bad / "segment.json"
    config.write_text(json.dumps({"segment": {"tta": "none"}}))
    w["config"] = str(config)

    # the trained tiny bundle (and its finished checkpoint) every segment case uses
    bundle = root / "model" / "tiny.dsmodel"
    # class names that would run as script in a page that does not escape them (checked in every report)
    done = run_cli("train", "--image", w["image"], "--label", w["label"], "--aux", w["aux"], *TRAIN_ARGS,
                   "--class-names", "background", SCRIPT_NAME, "--out", str(bundle))
    if done.returncode != 0:
        raise RuntimeError(f"training the suite's bundle failed:\n{done.stdout}\n{done.stderr}")
    w["bundle"] = str(bundle)
    plain = root / "model" / "plain.dsmodel"  # a bundle of a model without aux input
    done = run_cli("train", "--image", w["image"], "--label", w["label"], *TRAIN_ARGS, "--out", str(plain))
    if done.returncode != 0:
        raise RuntimeError(f"training the suite's bundle without aux failed:\n{done.stdout}\n{done.stderr}")
    w["plain_bundle"] = str(plain)
    w["report"] = str(bundle.with_name("tiny_report.html"))
    w["checkpoint"] = str(bundle) + ".ckpt"
    _bad_bundles(w, bad, Path(bundle).read_bytes())
    from .imported_inputs import build_imported

    build_imported(w, inputs / "imported", run_cli)  # models made elsewhere (issue 40)
    from .labelling_inputs import build_labelling

    build_labelling(w, inputs / "labelling")  # the labelling wing's layers (issue 61, item 10)
    from .change_inputs import build_change

    build_change(w, inputs / "change", run_cli, TRAIN_ARGS)  # pairs of dates and a change model (issue 63)
    from .conftest import snapshot

    w["digests"] = snapshot([inputs, root / "model"])  # compared after the cases (no case may change them)
    return w


def build_or_reuse(folder: Path) -> dict[str, Any]:
    """The workspace recorded in ``folder`` by an earlier process when its inputs and bundles are unchanged (and no
    pickle's code ran), else one built anew in a fresh subfolder and recorded (the record written last, whole).
    Processes that ask at once (pytest-xdist workers) take turns: the first builds, the others reuse."""
    from .conftest import snapshot

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = folder / "workspace.pickle"
        if record.is_file():
            w = pickle.loads(record.read_bytes())  # written by build_or_reuse below, in this run's own folder
            root = Path(w["root"])
            if snapshot([root / "inputs", root / "model"]) == w["digests"] and not os.path.exists(w["code_marker"]):
                return w
        w = build(Path(tempfile.mkdtemp(prefix="reliability-", dir=folder)))
        partial = folder / f".workspace.pickle.{os.getpid()}"
        partial.write_bytes(pickle.dumps(w))
        os.replace(partial, record)
        return w


def _big_vrt(path: Path, source: str, size: int) -> str:
    """A VRT of ``size`` x ``size`` px (the source stretched): a huge scene that costs nothing until read."""
    from osgeo import gdal

    gdal.Translate(str(path), source, format="VRT", width=size, height=size)
    return str(path)


def _bad_bundles(w: dict[str, Any], bad: Path, data: bytes) -> None:
    header_len = int.from_bytes(data[:8], "little")
    w["truncated_bundle"] = str(bad / "truncated.dsmodel")
    Path(w["truncated_bundle"]).write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[8 + header_len + (len(data) - 8 - header_len) // 2] ^= 0xFF  # one bit pattern in the weights
    w["flipped_bundle"] = str(bad / "flipped.dsmodel")
    Path(w["flipped_bundle"]).write_bytes(bytes(flipped))
    header = json.loads(data[8: 8 + header_len])
    meta = json.loads(header["__metadata__"]["dualstream"])
    meta["format_version"] = 99
    header["__metadata__"]["dualstream"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    w["edited_bundle"] = str(bad / "edited.dsmodel")
    Path(w["edited_bundle"]).write_bytes(len(text).to_bytes(8, "little") + text + data[8 + header_len:])
    w["empty_bundle"] = str(bad / "empty.dsmodel")
    Path(w["empty_bundle"]).write_bytes(b"")
    w["code_marker"] = str(bad / CODE_RAN_MARKER)
    w["pickle_bundle"] = str(bad / "pickle.dsmodel")
    Path(w["pickle_bundle"]).write_bytes(pickle.dumps({"state_dict": _RunsCode(w["code_marker"])}))
    w["pickle_checkpoint_dir"] = str(bad / "pickled")
    w["corrupt_checkpoint_dir"] = str(bad / "corrupt")
