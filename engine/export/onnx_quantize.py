"""int8 quantization of an exported ONNX model (``export --quantize int8``): optional, never a default.

onnxruntime's static quantization in QDQ form: weights int8 per output channel, activations uint8 calibrated on
random tiles in [0, 1) (the range of percentile-scaled inputs). Dynamic quantization is not offered: for
convolutions it becomes ConvInteger, several times slower than fp32 on the CPU. docs/benchmarks.md ("int8"): faster
for UNet light, not for UNet tiny or DualStream b0. The result keeps the fp32 model's metadata, with
``onnx.quantized = "int8"``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle.onnx_metadata import session
from ..bundle.schema import METADATA_KEY, BundleMetadata
from ..errors import ModelError
from ..io.atomic import temporary_path
from ..runtime.environment import require

CALIBRATION_TILES = 8


@dataclass
class QuantizeResult:
    """How the int8 model compares with the fp32 one on random tiles (no tolerance: reported, not enforced)."""

    output: str
    max_abs_diff: float
    same_class: float  # share of pixels whose class is the fp32 model's


def _random_feeds(shapes: dict[str, list[int]], count: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{name: rng.random(shape, dtype=np.float32) for name, shape in shapes.items()} for _ in range(count)]


def quantize_int8(fp32: str | os.PathLike, output: str | os.PathLike, seed: int = 0) -> QuantizeResult:
    """Write ``fp32``'s int8 (QDQ) version to ``output`` atomically; compare the two on random tiles."""
    onnx = require("onnx")
    quantization = require("onnxruntime.quantization")
    fp32, output = Path(fp32), Path(output)
    # the model's input shapes, a dynamic batch as 1
    shapes = {i.name: [d if isinstance(d, int) else 1 for d in i.shape] for i in session(fp32).get_inputs()}
    feeds = _random_feeds(shapes, CALIBRATION_TILES, seed)

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    tmp = temporary_path(output, ".onnx")
    try:
        quantization.quantize_static(str(fp32), str(tmp), Reader(), quant_format=quantization.QuantFormat.QDQ,
                                     activation_type=quantization.QuantType.QUInt8,
                                     weight_type=quantization.QuantType.QInt8, per_channel=True)
        model = onnx.load(str(tmp))
        for entry in model.metadata_props:
            if entry.key == METADATA_KEY:
                meta = BundleMetadata.from_dict(json.loads(entry.value), str(fp32))
                quantized = meta.replace(onnx=dataclasses.replace(meta.onnx, quantized="int8"))
                entry.value = json.dumps(quantized.to_dict())
        onnx.save(model, str(tmp))
        check = _random_feeds(shapes, 2, seed + 1)
        want = [session(fp32).run(["probabilities"], f)[0] for f in check]
        got = [session(tmp).run(["probabilities"], f)[0] for f in check]
        diff = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
        same = float(np.mean([np.mean(_classes(g) == _classes(w)) for g, w in zip(got, want)]))
        os.replace(tmp, output)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, (OSError, ModelError)) or not isinstance(exc, Exception):
            raise
        raise ModelError(f"onnxruntime could not quantize '{fp32}' to int8 ({str(exc)[:300]}); export it without "
                         f"--quantize.") from exc
    return QuantizeResult(output=str(output), max_abs_diff=diff, same_class=same)


def _classes(probs: Any) -> np.ndarray:
    return (probs[:, 0] >= 0.5) if probs.shape[1] == 1 else probs.argmax(axis=1)
