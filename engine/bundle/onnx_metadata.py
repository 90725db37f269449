"""The metadata of an exported ONNX model: what Deepness reads, and what DualStream's own backend reads (torch-free:
``segment --backend onnxruntime`` reads it on machines without torch). Two groups of keys go into ``metadata_props``:

- Deepness's (PUTvision/qgis-plugin-deepness, ``processing/models/model_base.py``; its keys and units:
  :mod:`.deepness`), every value JSON-encoded as Deepness ``json.loads`` it. A one-channel sigmoid model names both
  classes, background first, as Deepness's documentation asks; ``resolution`` is the training pixel size (degrees
  converted with the factor QGIS uses, so Deepness converts it back exactly); the tile size goes under both
  ``tile_size`` (what its code reads) and ``tiles_size`` (its documentation's spelling); ``seg_small_segment`` is 0
  (our own outputs have no small-segment filter). Deepness scales its input by 1/255 and then standardises, so our
  ``(x - low) / span`` becomes mean ``low / 255`` and std ``span / 255`` (mean/std statistics likewise); the
  exported graph clips percentile scaling to [0, 1] itself.
- ``dualstream``: the bundle's metadata (JSON) with an ``onnx`` section (inputs, batch, opset, tile size, the
  source bundle's weight digest), so the onnxruntime backend plans a scene exactly as the torch one does.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from ..data.ground import ground_unit
from ..data.normalize import BandStatistics
from ..errors import BundleError, mention
from ..runtime.environment import require
from .deepness import DEEPNESS_MODEL_TYPE, PIXEL_SCALE
from .schema import METADATA_KEY, BundleMetadata, OnnxMetadata

SINGLE_INPUT = "input"  # the one tensor of a --single-input export: vision channels, then the second stream's


def date_inputs(dates: int) -> list[str]:
    """The graph's image inputs in time order: ``vision`` (one date), before and after, or date1, date2, ..."""
    return ["vision"] if dates <= 1 else ["before", "after"] if dates == 2 else [f"date{i + 1}" for i in range(dates)]


NOT_DATES = ("coords", "days", "valid")  # graph inputs beside the images: date and place, a season's days and masks


def graph_dates(inputs: list[str] | tuple[str, ...]) -> list[str]:
    """A graph's image inputs among its ``inputs``, in time order (one date's is ``vision``; none for a
    --single-input graph, which stacks everything in one tensor)."""
    return [n for n in inputs if n not in ("aux", SINGLE_INPUT, *NOT_DATES)]


PARITY_TOLERANCE = 1e-4  # export: max abs difference onnxruntime vs torch (fp32)
# One ONNX file is one protobuf message, 2 GiB at most; the graph and metadata take a few MiB beside the weights.
ONNX_MAX_BYTES = 2**31 - 64 * 2**20


def too_large_for_onnx(bundle: str | os.PathLike, limit: int = ONNX_MAX_BYTES) -> str | None:
    """Why ``bundle`` cannot be exported to one ONNX file (its weights take more than ``limit`` bytes, e.g. the
    2.5 GB of Prithvi-EO-2.0 600M); None when they fit. The bundle file is its weights and a small header."""
    size = os.path.getsize(bundle)
    if size <= limit:
        return None
    return (f"'{Path(bundle).name}' holds {size / 2**30:.2f} GiB of weights, more than one ONNX file holds "
            f"({limit / 2**30:.2f} GiB)")


def deepness_metadata(meta: BundleMetadata, tile_size: int, overlap: float, stacked: bool = False) -> dict[str, Any]:
    """Deepness's keys (values not yet JSON-encoded) for a bundle exported at ``tile_size``; ``stacked``: one input
    tensor, the vision bands then the second stream's, whose statistics follow in that order."""
    data = meta.data
    out: dict[str, Any] = {"model_type": DEEPNESS_MODEL_TYPE,
                           "class_names": {str(i): name for i, name in enumerate(data.class_names)},
                           "tile_size": int(tile_size), "tiles_size": int(tile_size),
                           "tiles_overlap": int(round(100 * overlap))}
    mean, std = _standardization(data.vision_stats)
    if stacked:
        aux_mean, aux_std = _standardization(data.aux_stats)
        mean, std = mean + aux_mean, std + aux_std
    out["standardization_mean"], out["standardization_std"] = mean, std
    if (resolution := resolution_cm_per_px(data.gsd, data.crs)) is not None:
        out["resolution"] = resolution
    if meta.model.num_classes == 1:
        out["seg_thresh"] = 0.5
    out["seg_small_segment"] = 0  # our outputs are not median-filtered; Deepness's default would filter 9 px
    return out


def _standardization(stats: BandStatistics) -> tuple[list[float], list[float]]:
    """Our per-band scaling as Deepness's (x / 255 - mean) / std."""
    low = [float(v) for v in stats.low]
    high = [float(v) for v in stats.high]
    if stats.method == "percentile":  # (x - low) / (high - low), clipped in the graph
        spans = [h - lo if h - lo > 0 else 1.0 for lo, h in zip(low, high)]
    else:  # meanstd: low = mean, high = std
        spans = [h if h > 0 else 1.0 for h in high]
    return [lo / PIXEL_SCALE for lo in low], [s / PIXEL_SCALE for s in spans]


def resolution_cm_per_px(gsd: list[float] | None, crs_wkt: str | None) -> float | None:
    """The training pixel size in cm (Deepness's ``resolution``); None when the units are unknown. Degrees are
    taken at the equator, as Deepness turns the centimetres back into degrees (QGIS's factor, the ground rule's)."""
    if not gsd or not crs_wkt:
        return None
    metres = ground_unit(crs_wkt).metres((abs(float(gsd[0])) + abs(float(gsd[-1]))) / 2)
    return None if metres is None else metres * 100


def encode_metadata(meta: BundleMetadata, onnx_section: OnnxMetadata, tile_size: int,
                    overlap: float) -> dict[str, str]:
    """Every ``metadata_props`` entry of an exported model, JSON-encoded."""
    ours = meta.replace(data=dataclasses.replace(meta.data, tile_size=int(tile_size)), onnx=onnx_section)
    stacked = list(onnx_section.inputs)[:1] == [SINGLE_INPUT]  # (then "coords" for a TL encoder)
    props = {key: json.dumps(value) for key, value in deepness_metadata(meta, tile_size, overlap, stacked).items()}
    props[METADATA_KEY] = json.dumps(ours.to_dict())
    return props


def onnx_cuda() -> bool:
    """Whether the installed onnxruntime has its CUDA provider (onnxruntime-gpu); False without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def session(path: str | os.PathLike | bytes, device: str = "cpu", optimize: bool = True,
            threads: int | None = None, name: str | None = None) -> Any:
    """An onnxruntime InferenceSession for ``path`` (or a graph's bytes, ``name`` saying whose) on ``device``
    (cpu, cuda or cuda:N). ``threads``: intra-op threads, which then sleep rather than spin between operators (a
    spinning thread takes a core another process is waiting for); None = onnxruntime's defaults."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 4  # fatal only: each failure reaches the user once, as our error, not as its log too
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers: list[Any] = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if not onnx_cuda():
            raise BundleError(f"device '{device}' was asked for, but this onnxruntime has no CUDA provider; "
                              f"install onnxruntime-gpu or set {mention('segment.device')} to cpu.")
        index = int(device.split(":")[1]) if ":" in device else 0
        providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    try:
        return ort.InferenceSession(path if isinstance(path, bytes) else str(path), sess_options=options,
                                    providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for unreadable models
        raise BundleError(f"'{name or path}' is not a readable ONNX model ({str(exc)[:300]}); export or import it "
                          f"again.") from exc


def onnx_metadata(props: dict[str, str], source: str) -> BundleMetadata:
    """The DualStream metadata ``metadata_props`` hold; BundleError naming ``source`` when it is damaged."""
    try:
        meta = json.loads(props[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise BundleError(f"The DualStream metadata of '{source}' is corrupt ({exc}); export the bundle "
                          f"again.") from exc
    if not isinstance(meta, dict) or "onnx" not in meta or "data" not in meta or "model" not in meta:
        raise BundleError(f"The DualStream metadata of '{source}' lacks its 'onnx', 'data' or 'model' section; export "
                          f"the bundle again with this version.")
    return BundleMetadata.from_dict(meta, source)
