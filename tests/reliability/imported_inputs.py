"""The reliability suite's models made elsewhere (issue 40): ONNX graphs whose description is wrong in type or
range (in Deepness's metadata, in a sidecar JSON file), whose output is no probability (logits, NaN, inf), with a
fixed batch of a million tiles or a thousand classes, and imported bundles recording what an older import let in.

Built once per session beside the other inputs (read-only for the cases); the graphs are the per-pixel linear
models of tests/engine/foreign_onnx.py, on a 3-band 64 x 64 px scene.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = ["background", "field", "forest"]
ESCAPE = "\x1b[2Jcleared\x1b]0;owned\x07"  # clears the screen and retitles the terminal when printed raw


def build_imported(w: dict[str, Any], folder: Path, run_cli: Any) -> None:
    """Write the scene, graphs, sidecars and bundles under ``folder``; their paths go into ``w`` (``imp_*``)."""
    import rasterio
    from rasterio.transform import from_origin

    from tests.engine.foreign_onnx import deepness_metadata, linear_model, poisoned_model

    folder.mkdir(parents=True, exist_ok=True)
    raw = np.random.default_rng(1).integers(0, 256, size=(3, 64, 64)).astype(np.uint8)
    scene = folder / "rgb.tif"
    with rasterio.open(scene, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(500000, 6000000, 2, 2)) as ds:
        ds.write(raw)
    w["imp_scene"], w["imp_raw"] = str(scene), raw
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(3, 3)), rng.normal(size=3)
    w["imp_linear"] = (weights, bias)

    def deepness(name: str, head: str = "softmax", **more: Any) -> None:
        meta = deepness_metadata(CLASSES, [0.5] * 3, [0.2] * 3, tile=64)
        meta.update(more)
        meta = {k: v for k, v in meta.items() if v is not None}
        w[f"imp_{name}"] = str(linear_model(folder / f"{name}.onnx", weights, bias, head=head, metadata=meta))

    deepness("tiles_size_text", tile_size=None, tiles_size="big")
    deepness("mean_text", standardization_mean=["a", 0.5, 0.5])
    deepness("threshold_text", seg_thresh="high")
    deepness("overlap_text", tiles_overlap="lots")
    deepness("resolution_negative", resolution=-100)
    deepness("tile_negative", tile_size=-64)
    deepness("logits", head="none")
    one_w, one_b = rng.normal(size=(1, 3)) * 3, rng.normal(size=1)
    w["imp_logit1"] = str(linear_model(folder / "logit1.onnx", one_w, one_b, head="none", metadata=deepness_metadata(
        ["background", "cloud"], [0.5] * 3, [0.2] * 3, tile=64)))
    for poison in ("nan", "inf"):
        w[f"imp_{poison}"] = str(poisoned_model(folder / f"{poison}.onnx", weights, bias, poison,
                                                metadata=deepness_metadata(CLASSES, [0.5] * 3, [0.2] * 3, tile=64)))
    many_w, many_b = rng.normal(size=(1000, 3)), rng.normal(size=1000)
    w["imp_k1000_linear"] = (many_w, many_b)
    w["imp_k1000"] = str(linear_model(folder / "k1000.onnx", many_w, many_b, metadata=deepness_metadata(
        [f"c{i}" for i in range(1000)], [0.5] * 3, [0.2] * 3, tile=64)))
    w["imp_plain"] = str(linear_model(folder / "plain.onnx", weights, bias))
    w["imp_batch"] = str(linear_model(folder / "batch.onnx", weights, bias, batch=1_000_000))
    (folder / "batch.json").write_text(json.dumps({"class_names": CLASSES, "scale": 1 / 255}))

    def sidecar(name: str, **values: Any) -> None:
        w[f"imp_{name}"] = str(linear_model(folder / f"{name}.onnx", weights, bias))
        description = {"class_names": CLASSES, "mean": [0.5] * 3, "std": [0.2] * 3, "scale": 1 / 255, **values}
        (folder / f"{name}.json").write_text(json.dumps(description))

    sidecar("sc_bands_text", bands="three")
    sidecar("sc_scale_text", scale="x")
    sidecar("sc_threshold", threshold=7)
    sidecar("sc_classes_string", class_names="abc")
    sidecar("sc_colour_names", class_colors=["red", "green", "blue"])
    sidecar("sc_resolution_zero", resolution=0)
    sidecar("sc_std_nan", std=[float("nan"), 0.2, 0.2])
    sidecar("sc_duplicate_classes", class_names=["a", "a", "b"])
    sidecar("sc_blank_class", class_names=["a", " ", "b"])
    sidecar("sc_resolution", resolution=4.0)  # the scene is at 2 m: resampled to 4 m

    # imported bundles: one whose task holds terminal controls, one recording a border an older import let in
    models = folder / "bundles"
    models.mkdir(exist_ok=True)
    w["imp_escape_bundle"] = str(models / "escape.dsmodel")
    done = run_cli("import", w["imp_plain"], "-o", w["imp_escape_bundle"], "--classes", ",".join(CLASSES),
                   "--task", ESCAPE, "--name", f"evil{ESCAPE}")
    if done.returncode != 0:
        raise RuntimeError(f"importing the suite's escape bundle failed:\n{done.stdout}\n{done.stderr}")
    w["imp_border_bundle"] = str(models / "border.dsmodel")
    done = run_cli("import", w["imp_plain"], "-o", w["imp_border_bundle"], "--classes", ",".join(CLASSES),
                   "--tile", "64")
    if done.returncode != 0:
        raise RuntimeError(f"importing the suite's border bundle failed:\n{done.stdout}\n{done.stderr}")
    _record(Path(w["imp_border_bundle"]), border=100000)


def _record(bundle: Path, **changes: Any) -> None:
    """Set keys of an imported bundle's record (its description digest made anew, as an older import wrote it)."""
    from engine.bundle.schema import description_digest

    data = bundle.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8: 8 + size])
    meta = json.loads(header["__metadata__"]["dualstream"])
    meta["data"]["imported"].update(changes)  # the data section holds the import record flat
    meta["metadata_sha256"] = description_digest(meta)
    header["__metadata__"]["dualstream"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    bundle.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + size:])
