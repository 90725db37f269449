"""ONNX segmentation models as other tools make them (built here with onnx.helper, not by our export): a
per-pixel linear classifier, so the expected classes of any raster are known exactly, whatever the tiling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def linear_model(path: Path, weights: np.ndarray, bias: np.ndarray, *, head: str = "softmax", layout: str = "NCHW",
                 tile: int | None = None, batch: int | None = None, metadata: dict[str, Any] | None = None,
                 squeeze: bool = False, traced_batch: bool = False) -> Path:
    """An ONNX model computing ``weights @ x + bias`` per pixel (a 1x1 convolution), then ``head`` (softmax,
    sigmoid or none). ``tile``/``batch``: fixed sizes (None: dynamic). ``metadata``: metadata_props, values
    JSON-encoded as Deepness reads them. ``squeeze``: a one-channel output as (N, H, W). ``traced_batch``: the
    output passes a Reshape to a batch of 1 (NCHW, fixed ``tile``) while the batch axis is declared dynamic, as
    an export traced with one tile gives: it runs on one tile and fails on several."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    classes, bands = weights.shape
    size: list[Any] = [batch or "batch", bands, tile or "height", tile or "width"]
    out_size: list[Any] = [batch or "batch", classes, tile or "height", tile or "width"]
    if layout == "NHWC":
        size = [size[0], size[2], size[3], size[1]]
        out_size = [out_size[0], out_size[2], out_size[3], out_size[1]]
    if squeeze:
        out_size = [out_size[0], tile or "height", tile or "width"]
    nodes, name = [], "x"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [name], ["x_nchw"], perm=[0, 3, 1, 2]))
        name = "x_nchw"
    nodes.append(helper.make_node("Conv", [name, "w", "b"], ["scores"]))
    name = "scores"
    if head != "none":
        nodes.append(helper.make_node("Softmax" if head == "softmax" else "Sigmoid", [name], ["activated"],
                                      **({"axis": 1} if head == "softmax" else {})))
        name = "activated"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [name], ["y_nhwc"], perm=[0, 2, 3, 1]))
        name = "y_nhwc"
    if squeeze:
        nodes.append(helper.make_node("Squeeze", [name, "axis1"], ["y_squeezed"]))
        name = "y_squeezed"
    if traced_batch:
        nodes.append(helper.make_node("Reshape", [name, "traced_shape"], ["y_traced"]))
        name = "y_traced"
    nodes.append(helper.make_node("Identity", [name], ["segmentation"]))
    inits = [numpy_helper.from_array(weights.reshape(classes, bands, 1, 1).astype(np.float32), "w"),
             numpy_helper.from_array(bias.astype(np.float32), "b"),
             numpy_helper.from_array(np.array([3 if layout == "NHWC" else 1], np.int64), "axis1")][:3 if squeeze else 2]
    if traced_batch:
        inits.append(numpy_helper.from_array(np.array([1, classes, tile, tile], np.int64), "traced_shape"))
    graph = helper.make_graph(nodes, "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, size)],
                              [helper.make_tensor_value_info("segmentation", TensorProto.FLOAT, out_size)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="another-tool")
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def expected_classes(raw: np.ndarray, weights: np.ndarray, bias: np.ndarray, mean: list[float], std: list[float],
                     scale: float, threshold: float = 0.5) -> np.ndarray:
    """The classes the linear model gives a (C, H, W) raster fed ``(raw * scale - mean) / std``."""
    x = (raw.astype(np.float64) * scale - np.asarray(mean)[:, None, None]) / np.asarray(std)[:, None, None]
    scores = np.tensordot(weights, x, axes=([1], [0])) + bias[:, None, None]
    if weights.shape[0] == 1:
        return (1 / (1 + np.exp(-scores[0])) >= threshold).astype(np.uint8)
    return scores.argmax(axis=0).astype(np.uint8 if weights.shape[0] <= 255 else np.uint16)


def deepness_metadata(class_names: list[str], mean: list[float] | None = None, std: list[float] | None = None,
                      tile: int | None = 256, **more: Any) -> dict[str, Any]:
    """Deepness's keys for a segmentation model (mean/std on the 0-1 scale Deepness divides into)."""
    meta: dict[str, Any] = {"model_type": "Segmentor", "class_names": {str(i): n for i, n in enumerate(class_names)},
                            "resolution": 100.0, "tiles_overlap": 10}
    if tile:
        meta["tile_size"] = tile
    if mean is not None:
        meta["standardization_mean"], meta["standardization_std"] = mean, std
    meta.update(more)
    return meta


def context_model(path: Path, kernel: np.ndarray) -> Path:
    """An ONNX model whose scores at a pixel depend on its neighbours: a ``kernel`` (classes, bands, k, k)
    convolution zero-padded at the tile's edges, then a softmax. Its output changes with where the tiles lie and
    what the reader puts past the image, so a reference tiling computed by hand tells them apart."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    classes, bands, k, _ = kernel.shape
    pad = k // 2
    nodes = [helper.make_node("Conv", ["x", "w"], ["scores"], pads=[pad] * 4),
             helper.make_node("Softmax", ["scores"], ["segmentation"], axis=1)]
    graph = helper.make_graph(
        nodes, "context", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", bands, "h", "w"])],
        [helper.make_tensor_value_info("segmentation", TensorProto.FLOAT, ["batch", classes, "h", "w"])],
        [numpy_helper.from_array(kernel.astype(np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="another-tool")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def poisoned_model(path: Path, weights: np.ndarray, bias: np.ndarray, poison: str, *,
                   metadata: dict[str, Any] | None = None) -> Path:
    """The softmax :func:`linear_model` whose output is spoiled where band 0 of its (normalised) input is below 0
    (``poison`` "nan": NaN there; "inf": +inf there, and at exactly 0): a model that fails on part of a scene, as
    a division by zero or a log of 0 inside a real one does. Elsewhere its output is the softmax's."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    classes, bands = weights.shape
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["scores"]),
             helper.make_node("Softmax", ["scores"], ["probs"], axis=1),
             helper.make_node("Slice", ["x", "start", "end", "axis"], ["band0"]),
             helper.make_node("Sign", ["band0"], ["sign"])]
    if poison == "nan":  # sqrt(-1) = NaN, times 0 stays NaN; sqrt(0 or 1) * 0 = 0
        nodes += [helper.make_node("Sqrt", ["sign"], ["root"]), helper.make_node("Mul", ["root", "zero"], ["spoil"])]
    else:  # -log(relu(sign)): +inf where sign <= 0, -0 elsewhere
        nodes += [helper.make_node("Relu", ["sign"], ["positive"]), helper.make_node("Log", ["positive"], ["log"]),
                  helper.make_node("Neg", ["log"], ["spoil"])]
    nodes.append(helper.make_node("Add", ["probs", "spoil"], ["segmentation"]))
    inits = [numpy_helper.from_array(weights.reshape(classes, bands, 1, 1).astype(np.float32), "w"),
             numpy_helper.from_array(bias.astype(np.float32), "b"),
             numpy_helper.from_array(np.array([0], np.int64), "start"),
             numpy_helper.from_array(np.array([1], np.int64), "end"),
             numpy_helper.from_array(np.array([1], np.int64), "axis"),
             numpy_helper.from_array(np.array(0, np.float32), "zero")]
    graph = helper.make_graph(
        nodes, "poisoned", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", bands, "h", "w"])],
        [helper.make_tensor_value_info("segmentation", TensorProto.FLOAT, ["batch", classes, "h", "w"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="another-tool")
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_scene(path: Path, raw: np.ndarray, alpha: np.ndarray | None = None) -> Path:
    """A GeoTIFF of ``raw`` (C, H, W) at 1 m in UTM 33N; with ``alpha``, one more band marked ColorInterp=Alpha
    (an RGBA photo as image editors and GDAL write it)."""
    import rasterio
    from rasterio.transform import from_origin

    bands = raw if alpha is None else np.concatenate([raw, alpha[None]])
    profile: dict[str, Any] = dict(driver="GTiff", width=raw.shape[2], height=raw.shape[1], count=bands.shape[0],
                                   dtype=raw.dtype.name, crs="EPSG:32633", transform=from_origin(500000, 6000000, 1, 1))
    if alpha is not None:
        profile.update(photometric="RGB", alpha="YES")  # ExtraSamples: the last band is alpha
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(bands)
    return path


def read_band(path: Path, band: int = 1) -> np.ndarray:
    """One band of a raster (a class raster's classes)."""
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read(band)
