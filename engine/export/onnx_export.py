"""Export a model bundle to ONNX: normalised tiles in, class probabilities out, with Deepness's metadata.

The graph takes ``vision`` (batch, bands, T, T) normalised as the bundle's statistics say (and ``aux``
(batch, aux channels, T/r, T/r) when the model has aux) and returns ``probabilities`` (batch, 1 or classes, T, T:
sigmoid or softmax). Percentile-scaled models clip ``vision`` to [0, 1] inside the graph, so a program that only
standardises (Deepness) gets what training saw. After writing, onnxruntime and torch on the same random inputs
must agree within ``PARITY_TOLERANCE`` (fp32), or nothing is left. The TorchScript-based exporter
(``dynamo=False``) needs only ``onnx`` + ``onnxruntime`` (the torch.export-based one would need onnxscript).

Its int8 version (``export --quantize int8``, :func:`quantize_int8`; never a default) is onnxruntime's static
quantization in QDQ form: weights int8 per output channel, activations uint8 calibrated on random tiles in [0, 1)
(the range of percentile-scaled inputs); the fp32 model's metadata kept, with ``onnx.quantized = "int8"``. Dynamic
quantization is not offered: for convolutions it becomes ConvInteger, several times slower than fp32 on the CPU.
docs/benchmarks.md ("int8"): faster for UNet light, not for UNet tiny or DualStream b0.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle.onnx_metadata import (
    ONNX_MAX_BYTES,
    PARITY_TOLERANCE,
    SINGLE_INPUT,
    date_inputs,
    encode_metadata,
    graph_dates,
    session,
    too_large_for_onnx,
)
from ..bundle.schema import METADATA_KEY, BundleMetadata, OnnxMetadata
from ..bundle.store import load_bundle, read_metadata
from ..bundle.view import model_view
from ..callbacks import Callback, Stage
from ..config.inference import DEFAULT_OPSET, DEFAULT_OVERLAP
from ..errors import ConfigError, ModelError, command, mention
from ..io.atomic import temporary_path
from ..io.digest import file_sha256
from ..io.safety import BUNDLE_GIVE, Files, check_outputs, check_writable
from ..runtime.environment import require
from ..time_axis import join_dates

PER_TILE = ("coords", "days")  # inputs of one row per tile, whatever its size
MIN_OPSET = 7  # the oldest the TorchScript exporter writes
MAX_OPSET = 20  # the newest the TorchScript exporter writes
CALIBRATION_TILES = 8
EXPORT_STEPS = 3  # an export's progress (Stage.EXPORT): traced, its parity with torch checked, written


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and how well onnxruntime matched torch."""

    output: str
    tile_size: int
    opset: int
    batch: int | None  # None = dynamic
    inputs: list[str]
    max_abs_diff: float
    deepness_compatible: bool  # one input (vision only, or stacked): Deepness feeds exactly one tensor

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probability_module(model: Any, binary: bool, clip: bool, uses_aux: bool, *, clip_aux: bool = False,
                        split: int | None = None, names: tuple[str, ...] = ("vision", "aux")) -> Any:
    """model -> probabilities, the input clipped as the percentile scaling does. ``split``: the graph takes one
    stacked tensor, cut after ``split`` vision channels; ``names``: its inputs in order (``coords``: each tile's date
    and place, for a TL encoder)."""
    torch = require("torch")

    class Probabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            given = dict(zip(names, tensors))
            vision, aux = given[names[0]], given.get("aux")
            dates = [given[n] for n in graph_dates(names)]
            if len(dates) > 1:  # one input per date: stacked on the channels in time order, as the model takes them
                vision = join_dates(dates)
            if split is not None:  # one tensor: vision channels, then the second stream's on the same grid
                vision, aux = vision[:, :split], vision[:, split:]
            if clip:
                vision = vision.clamp(0.0, 1.0)
            if clip_aux and aux is not None:
                aux = aux.clamp(0.0, 1.0)
            season = {"days": given["days"], "valid": given["valid"] > 0.5} if "days" in given else {}
            return activation(self.model(vision, aux if uses_aux else None, given.get("coords"), **season)["logits"],
                              binary)

    return Probabilities().eval()


def activation(logits: Any, binary: bool) -> Any:
    """Sigmoid of one channel, else softmax over the classes."""
    torch = require("torch")
    return torch.sigmoid(logits) if binary else torch.softmax(logits, dim=1)


def export_onnx(bundle: str | os.PathLike, output: str | os.PathLike, *, tile_size: int | None = None,
                opset: int = DEFAULT_OPSET, dynamic_batch: bool = False, batch_size: int = 1,
                overlap: float = DEFAULT_OVERLAP, seed: int = 0, single_input: bool = False, any_size: bool = False,
                callback: Callback | None = None, max_bytes: int = ONNX_MAX_BYTES,
                dates: int | None = None) -> ExportResult:
    """Export ``bundle`` to ``output`` (.onnx) and check onnxruntime against torch on random inputs.

    ``any_size``: the graph takes tiles of any multiple of the model's size multiple, checked at ``tile_size`` and
    the next larger size, for a model whose output depends on a neighbourhood only (a CPU run fits its tile to the
    region: :mod:`engine.segment.tile_choice`). ``single_input``: one tensor, the vision bands then the second
    stream's channels, for programs that feed one (Deepness); only for a second stream on the image's own grid,
    never for a model that takes each tile's date and place (no band can carry it). ``dates``: a season model's graph
    for that many dates (None: the count it was trained on; it takes fewer, padded and masked).

    Raises BundleError (no readable bundle), ConfigError (a bad output name, tile size or opset), ModelError (the
    opset cannot express the model, onnxruntime disagrees with torch, or the weights exceed ``max_bytes``, one ONNX
    file's limit) and DependencyError (onnx or onnxruntime missing, with the install command).
    """
    callback = callback or Callback()
    torch = require("torch")
    require("onnx")
    require("onnxruntime")
    output = Path(output)
    # first: an output onto the bundle is refused as such, whatever its name (then a name not ending in .onnx)
    check_outputs(inputs={"model bundle (MODEL)": Files(str(bundle), "bundle", give=BUNDLE_GIVE)},
                  outputs={"ONNX model (--onnx)": Files(str(output), "onnx")})
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(f"opset {opset} is outside {MIN_OPSET}..{MAX_OPSET}, what this exporter writes; use "
                          f"--opset {DEFAULT_OPSET} (the default).")
    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size} must be >= 1.")
    check_writable(output, "ONNX model")
    refusal = too_large_for_onnx(bundle, max_bytes)
    if refusal:
        raise ModelError(f"'{bundle}' cannot be exported to ONNX: {refusal}. Run it with torch ({command('segment')} "
                         f"with {mention('segment.backend')} torch, or auto, which does so by itself).")
    if single_input:
        _check_single_input(bundle, callback)
    loaded = load_bundle(bundle, "cpu")
    model, meta = loaded.model, loaded.metadata
    tile, multiple = int(tile_size or meta.data.tile_size), int(model.size_multiple)
    takes_days = bool(getattr(model, "takes_days", False))
    if dates is not None and not takes_days and dates != meta.model.input_dates:
        raise ConfigError(f"'{bundle}' takes {meta.model.input_dates} date(s); only a season model's graph is made "
                          f"for another count of dates (asked: {dates}).")
    dates = int(dates or meta.model.input_dates)
    if tile < multiple or tile % multiple:
        low, high = (tile // multiple) * multiple, (tile // multiple + 1) * multiple
        raise ConfigError(f"tile size {tile} is not a multiple of {multiple}, the size multiple of the model in "
                          f"'{bundle}'; use --tile-size {high}" + (f" or {low}." if low else "."))
    aux_channels, ratio = meta.data.aux_channels, meta.data.aux_ratio
    uses_aux, binary = aux_channels > 0, meta.model.num_classes == 1
    clip = meta.data.vision_stats.method == "percentile"
    stacked = single_input and uses_aux
    if stacked and ratio != 1:
        raise ConfigError(f"single_input needs the second stream on the image's own grid, but '{bundle}' takes its "
                          f"aux on a grid {ratio} times coarser; export it without single_input and run it with "
                          f"DualStream's onnxruntime backend (models with X bands or early-fused aux on the image "
                          f"grid can be exported as one input).")
    clip_aux = stacked and meta.data.aux_stats is not None and meta.data.aux_stats.method == "percentile"
    batch = 2 if dynamic_batch else batch_size  # a dynamic batch is traced with 2, so 1 is never baked in
    generator = torch.Generator().manual_seed(seed)
    if stacked:
        inputs = {SINGLE_INPUT: torch.rand(batch, meta.model.input_channels + aux_channels, tile, tile,
                                           generator=generator)}
    else:  # one input per date (before, after) for a change model
        inputs = {name: torch.rand(batch, meta.data.vision_bands, tile, tile, generator=generator)
                  for name in date_inputs(dates)}
        if uses_aux:
            inputs["aux"] = torch.rand(batch, aux_channels, tile // ratio, tile // ratio, generator=generator)
    if getattr(model, "takes_coords", False):  # a TL encoder: each tile's year, day of year, latitude, longitude
        inputs["coords"] = plausible_coords(batch, generator)
    if takes_days:  # a season: each date's day number and validity (1 valid, 0 masked)
        inputs.update(plausible_season(batch, dates, (tile, tile), generator))
    names = list(inputs)
    wrapper = probability_module(model, binary, clip, uses_aux, clip_aux=clip_aux,
                                  split=meta.model.input_channels if stacked else None, names=tuple(names))
    dynamic = dynamic_axes([*names, "probabilities"], dynamic_batch, any_size)
    tmp = temporary_path(output, ".onnx")
    try:
        callback.info(f"Exporting '{bundle}' ({meta.model.name}) to ONNX opset {opset}: inputs "
                      f"{', '.join(f'{n} {tuple(t.shape[1:])}' for n, t in inputs.items())}, batch "
                      f"{'dynamic' if dynamic_batch else batch}{', any tile size' if any_size else ''}.")
        trace(wrapper, tuple(inputs.values()), tmp, names, opset, dynamic)
        callback.progress(1, EXPORT_STEPS, Stage.EXPORT)
        onnx_section = OnnxMetadata(inputs=names, output="probabilities", batch=None if dynamic_batch else batch,
                                    opset=opset, tile_size=tile, clip_vision=clip, clip_aux=clip_aux,
                                    activation="sigmoid" if binary else "softmax",
                                    source_weights_sha256=meta.weights_sha256,
                                    source_bundle_sha256=file_sha256(bundle))
        write_graph_metadata(tmp, encode_metadata(meta, onnx_section, tile, overlap))
        shapes = {n: tuple(t.shape[1:]) for n, t in inputs.items()}
        diff = parity(wrapper, tmp, batch + 1 if dynamic_batch else batch, shapes, seed + 1)
        if any_size:  # a size it was not traced at: a shape baked into the graph shows here
            other = {n: (t.shape[1], *(int(d) * (tile + multiple) // tile for d in t.shape[2:]))
                     for n, t in inputs.items()}
            diff = max(diff, parity(wrapper, tmp, 1, other, seed + 2))
        callback.progress(2, EXPORT_STEPS, Stage.EXPORT)
        if not diff <= PARITY_TOLERANCE:
            raise ModelError(f"The exported model disagrees with torch: max abs diff {diff:.3g} on random inputs "
                             f"(allowed {PARITY_TOLERANCE:g}); nothing was written. Try another "
                             f"{mention('export.opset')}, or report the model family '{meta.model.name}'.")
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ExportResult(output=str(output), tile_size=tile, opset=opset, batch=None if dynamic_batch else batch,
                        inputs=names, max_abs_diff=diff,
                        deepness_compatible=(stacked or names[:1] == ["vision"] and not uses_aux)
                        and "coords" not in names)


def _check_single_input(bundle: str | os.PathLike, callback: Callback) -> None:
    """ConfigError for a model taking each tile's date and place; a note where it changes nothing."""
    meta = read_metadata(bundle)
    if model_view(meta.data, meta.model).takes_date_and_place:
        raise ConfigError(f"{mention('export.single_input')} stacks the image and the aux channels into one tensor, "
                          f"but '{bundle}' takes each tile's date and place (year, day of year, latitude, longitude: "
                          f"the time and location encoders of its {meta.model.encoder_name} encoder) as a second "
                          f"input, which no band can carry. Export it without {mention('export.single_input')} and "
                          f"run it with DualStream's onnxruntime backend (Deepness cannot feed that input).")
    if meta.model.input_dates > 1:  # each date is an input of its own; only the aux channels are ever stacked
        callback.warning(f"'{bundle}' is a change model: its graph takes each of its {meta.model.input_dates} dates as "
                         f"an input of its own ({', '.join(date_inputs(meta.model.input_dates))}), and "
                         f"{mention('export.single_input')} stacks only an image's aux channels onto it, so it changes "
                         f"nothing here (Deepness, which feeds one input, cannot run a change model).")
    elif not meta.data.aux_channels:
        callback.info(f"'{bundle}' takes the image alone: its graph has one input anyway, "
                      f"{mention('export.single_input')} changes nothing.")


def dynamic_axes(names: list[str], batch: bool, size: bool) -> dict[str, dict[int, str]] | None:
    """torch.onnx's dynamic axes: the batch, and height and width (each input's own: aux is coarser)."""
    if not batch and not size:
        return None
    return {name: {**({0: "batch"} if batch else {}),
                   **({2: f"{name}_height", 3: f"{name}_width"} if size and name not in PER_TILE else {})}
            for name in names}  # coords (batch, 4), days (batch, dates): whatever the tile


def trace(wrapper: Any, args: tuple, path: Path, names: list[str], opset: int, dynamic: dict | None,
          outputs: tuple[str, ...] = ("probabilities",)) -> None:
    """torch.onnx.export (TorchScript-based), its chatter silenced; an unsupported operator -> ModelError."""
    torch = require("torch")
    try:
        with warnings.catch_warnings(), _native_stdout_silenced(), _exportable_adaptive_pooling(torch):
            warnings.simplefilter("ignore")  # deprecation notes and tracer notes about constant shapes
            with torch.no_grad():
                torch.onnx.export(wrapper, args, str(path), input_names=names, output_names=list(outputs),
                                  opset_version=opset, dynamo=False, dynamic_axes=dynamic, do_constant_folding=True)
    except torch.onnx.errors.UnsupportedOperatorError as exc:
        first = str(exc).split(". ")[0]
        raise ModelError(f"ONNX opset {opset} cannot express this model ({first}); use a newer "
                         f"{mention('export.opset')}, e.g. {DEFAULT_OPSET} (the default).") from exc
    except torch.onnx.errors.OnnxExporterError as exc:
        raise ModelError(f"The model cannot be exported to ONNX opset {opset} ({str(exc)[:300]}); try "
                         f"{mention('export.opset')} {DEFAULT_OPSET}.") from exc


@contextmanager
def _exportable_adaptive_pooling(torch: Any) -> Iterator[None]:
    """Adaptive average pooling as two constant matrix products while tracing: the TorchScript exporter only
    writes it where the output size divides the input size, which PSPNet's bins (1, 2, 3, 6) rarely do. Each
    pooled axis is a fixed (out x in) matrix, exactly PyTorch's bins (start floor(i*L/n), end ceil((i+1)*L/n))."""
    functional = torch.nn.functional
    original = functional.adaptive_avg_pool2d

    def matrix(size: int, out: int, like: Any) -> Any:
        row, cell = torch.arange(out).unsqueeze(1), torch.arange(size)
        inside = (cell >= row * size // out) & (cell < -((-(row + 1) * size) // out))
        return (inside / inside.sum(dim=1, keepdim=True)).to(like.dtype)

    def pooled(x: Any, output_size: Any) -> Any:
        out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
        height, width = int(x.shape[-2]), int(x.shape[-1])
        out_h, out_w = out_h or height, out_w or width
        if height % out_h == 0 and width % out_w == 0:
            return original(x, output_size)  # exported as (global) average pooling
        return torch.matmul(torch.matmul(matrix(height, out_h, x), x), matrix(width, out_w, x).t())

    functional.adaptive_avg_pool2d = pooled
    try:
        yield
    finally:
        functional.adaptive_avg_pool2d = original


@contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """Silence file descriptor 1: the TorchScript exporter dumps its whole IR graph there (C++) when it fails."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def write_graph_metadata(path: Path, props: dict[str, str]) -> None:
    onnx = require("onnx")
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def plausible_coords(batch: int, generator: Any) -> Any:
    """(batch, 4) year, day of year, latitude, longitude in their ranges, the last tile's unknown (NaN)."""
    torch = require("torch")
    low, span = torch.tensor([2000.0, 1.0, -60.0, -180.0]), torch.tensor([30.0, 365.0, 130.0, 360.0])
    coords = low + span * torch.rand(batch, 4, generator=generator)
    coords[-1] = float("nan")
    return coords


def plausible_season(batch: int, dates: int, size: tuple[int, int], generator: Any) -> dict[str, Any]:
    """A season's ``days`` (batch, dates) increasing day numbers and ``valid`` (batch, dates, h, w) 1/0: the first
    tile's last date masked (padding), the last tile's first date cloudy in its top-left quarter."""
    torch = require("torch")
    days = torch.cumsum(1.0 + 60.0 * torch.rand(batch, dates, generator=generator), dim=1)
    valid = torch.ones(batch, dates, *size)
    if dates > 1:
        valid[0, -1] = 0.0
        valid[-1, 0, :size[0] // 2, :size[1] // 2] = 0.0
    return {"days": days, "valid": valid}


def parity(wrapper: Any, path: str | os.PathLike, batch: int, shapes: dict[str, tuple[int, ...]],
           seed: int) -> float:
    """Max absolute difference between onnxruntime and torch on random inputs in [0, 1) of these shapes."""
    torch = require("torch")
    generator = torch.Generator().manual_seed(seed)
    tensors = {name: plausible_coords(batch, generator) if name == "coords" else
               torch.rand(batch, *shape, generator=generator) for name, shape in shapes.items()}
    if "days" in tensors:
        tensors.update(plausible_season(batch, int(shapes["days"][0]), tuple(shapes["valid"][1:]), generator))
    got = session(path).run(["probabilities"], {name: t.numpy() for name, t in tensors.items()})[0]
    with torch.no_grad():
        want = wrapper(*tensors.values()).numpy()
    if got.shape != want.shape:
        raise ModelError(f"The exported model returns shape {got.shape} but torch {want.shape}; export again.")
    return float(abs(got - want).max())


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
    items = iter(_random_feeds(shapes, CALIBRATION_TILES, seed))

    class Reader(quantization.CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(items, None)

    tmp = temporary_path(output, ".onnx")
    try:
        quantization.quantize_static(str(fp32), str(tmp), Reader(), quant_format=quantization.QuantFormat.QDQ,
                                     activation_type=quantization.QuantType.QUInt8,
                                     weight_type=quantization.QuantType.QInt8, per_channel=True)
        model = onnx.load(str(tmp))
        for entry in model.metadata_props:
            if entry.key == METADATA_KEY:
                meta = BundleMetadata.from_dict(json.loads(entry.value), str(fp32))
                quantized = meta.replace(onnx=replace(meta.onnx, quantized="int8"))
                entry.value = json.dumps(quantized.to_dict())
        onnx.save(model, str(tmp))
        check = _random_feeds(shapes, 2, seed + 1)
        # one session of each model for both feeds (a session reads and optimises its whole graph)
        want, got = ([s.run(["probabilities"], f)[0] for f in check] for s in (session(fp32), session(tmp)))
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
