"""A change model exported as two graphs for the onnxruntime backend: one date's encoder, and the head over the dates.

The encoder graph takes one date's normalised tile (``image``, (batch, bands, T, T); clipped to [0, 1] inside for
a percentile-scaled model, as the one-graph export does) and gives its maps at strides 4, 8, 16, 32; the head graph
takes every date's maps and gives ``probabilities`` (the fusion of the dates and the decoder). The backend then
encodes a first date shared by several pairs once (:mod:`engine.bundle.date_graphs` runs them; the names are its).
Both have any batch size (and any tile size with ``any_size``); after writing, the two graphs run as one, for a pair
and for a second pair whose first date's maps are reused, must agree with torch's whole model within
``PARITY_TOLERANCE``, or nothing is left. The user's ``export`` keeps the one graph of ``before`` and ``after``
(:mod:`.onnx_export`); these two are the export cache's (:mod:`.onnx_cache`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..bundle.date_graphs import ENCODER_INPUT, HEAD_OUTPUT, SCALES, DateGraphs, encoder_outputs, head_inputs
from ..bundle.onnx_metadata import PARITY_TOLERANCE, date_inputs, encode_metadata, session
from ..bundle.schema import METADATA_KEY, OnnxMetadata
from ..bundle.store import load_bundle
from ..callbacks import Callback
from ..config.export import DEFAULT_OPSET, DEFAULT_OVERLAP
from ..errors import ConfigError, ModelError, mention
from ..io.atomic import temporary_path
from ..io.digest import file_sha256
from ..models.change.first_dates import FirstDateFeatures, shares_first_dates
from ..runtime.environment import require
from .onnx_export import activation, dynamic_axes, probability_module, trace, write_graph_metadata


def _graphs(model: Any, binary: bool, clip: bool, dates: int) -> tuple[Any, Any]:
    """The torch modules traced: one date's tile -> its maps; every date's maps -> probabilities."""
    torch = require("torch")

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

    class Encoder(Graph):
        def forward(self, image: Any) -> tuple[Any, ...]:
            return tuple(self.model.encode(image.clamp(0.0, 1.0) if clip else image))

    class Head(Graph):
        def forward(self, *maps: Any) -> Any:
            per_date = [list(maps[d * SCALES:(d + 1) * SCALES]) for d in range(dates)]
            size = (maps[0].shape[-2] * 4, maps[0].shape[-1] * 4)  # the finest maps are at stride 4
            return activation(self.model.head(per_date, size), binary)

    return Encoder().eval(), Head().eval()


def export_date_graphs(bundle: str | os.PathLike, encoder_path: str | os.PathLike, head_path: str | os.PathLike, *,
                       tile_size: int | None = None, any_size: bool = False, opset: int = DEFAULT_OPSET, seed: int = 0,
                       callback: Callback | None = None) -> float:
    """Write ``bundle``'s change model as its encoder and head graphs; returns their parity with torch (max abs diff).

    Raises:
        ConfigError: the model cannot share a first date (one date, aux rasters, or each tile's date and place).
        ModelError: onnxruntime disagrees with torch, or the opset cannot express the model.
        DependencyError: onnx or onnxruntime is missing.
    """
    callback = callback or Callback()
    torch = require("torch")
    require("onnx")
    require("onnxruntime")
    loaded = load_bundle(bundle, "cpu")
    model, meta = loaded.model, loaded.metadata
    dates, bands = int(meta.model.input_dates), int(meta.data.vision_bands)
    if not hasattr(model, "encode") or not shares_first_dates(dates, meta.data.aux_channels, model.takes_coords):
        raise ConfigError(f"'{bundle}' is not a change model whose dates are encoded alone (aux rasters or each "
                          f"tile's date and place enter its encoder); export it as one graph.")
    tile, multiple = int(tile_size or meta.data.tile_size), int(model.size_multiple)
    binary, clip = meta.model.num_classes == 1, meta.data.vision_stats.method == "percentile"
    encoder, head = _graphs(model, binary, clip, dates)
    images = torch.rand(2 * dates, bands, tile, tile, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # each date's maps of two tiles, from different images (a fusion of equal maps is 0)
        maps = [m.chunk(dates) for m in encoder(images)]
    head_args = tuple(maps[s][d] for d in range(dates) for s in range(SCALES))
    callback.info(f"Exporting '{bundle}' ({meta.model.name}) to ONNX opset {opset} as two graphs: a date's encoder "
                  f"({ENCODER_INPUT} {(bands, tile, tile)}) and the head over the {dates} dates' maps, batch "
                  f"dynamic{', any tile size' if any_size else ''}.")
    paths = {"encoder": Path(encoder_path), "head": Path(head_path)}
    temps = {name: temporary_path(path, ".onnx") for name, path in paths.items()}
    try:
        trace(encoder, (images[:2],), temps["encoder"], [ENCODER_INPUT], opset,
              dynamic_axes([ENCODER_INPUT, *encoder_outputs()], True, any_size), outputs=tuple(encoder_outputs()))
        trace(head, head_args, temps["head"], head_inputs(dates), opset,
              dynamic_axes([*head_inputs(dates), HEAD_OUTPUT], True, any_size))
        source = file_sha256(bundle)
        for name, inputs, output in (("encoder", [ENCODER_INPUT], ",".join(encoder_outputs())),
                                     ("head", head_inputs(dates), HEAD_OUTPUT)):
            section = OnnxMetadata(inputs=inputs, output=output, opset=opset, tile_size=tile,
                                   clip_vision=clip and name == "encoder",
                                   activation="sigmoid" if binary else "softmax",
                                   source_weights_sha256=meta.weights_sha256, source_bundle_sha256=source,
                                   extra={"graph": name})
            props = encode_metadata(meta, section, tile, DEFAULT_OVERLAP)
            write_graph_metadata(temps[name], {METADATA_KEY: props[METADATA_KEY]})
        whole = probability_module(model, binary, clip, False, names=tuple(date_inputs(dates)))
        diff = date_parity(whole, temps["encoder"], temps["head"], dates, (bands, tile, tile), 3, seed + 1)
        if any_size:  # a size it was not traced at: a shape baked into either graph shows here
            diff = max(diff, date_parity(whole, temps["encoder"], temps["head"], dates,
                                         (bands, tile + multiple, tile + multiple), 1, seed + 2))
        if not diff <= PARITY_TOLERANCE:
            raise ModelError(f"The two exported graphs of '{bundle}' disagree with torch: max abs diff {diff:.3g} on "
                             f"random inputs (allowed {PARITY_TOLERANCE:g}); nothing was written. Try another "
                             f"{mention('export.opset')}, or run it with {mention('segment.backend')} torch.")
        for name, path in paths.items():
            os.replace(temps[name], path)
    except BaseException:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        raise
    return diff


def date_parity(whole: Any, encoder: str | os.PathLike, head: str | os.PathLike, dates: int,
                shape: tuple[int, ...], batch: int, seed: int) -> float:
    """Max absolute difference between the two graphs run as one (:class:`DateGraphs`) and torch's ``whole`` model
    on random dates of ``shape``: a pair, then a second pair of the same first date whose maps the store keeps."""
    torch = require("torch")
    generator = torch.Generator().manual_seed(seed)
    first = torch.rand(batch, *shape, generator=generator)
    graphs = DateGraphs(session(encoder), session(head), dates, FirstDateFeatures())
    worst = 0.0
    for _ in range(2):
        later = [torch.rand(batch, *shape, generator=generator) for _ in range(dates - 1)]
        got = graphs.run(torch.cat([first, *later], dim=1).numpy())
        with torch.no_grad():
            want = whole(first, *later).numpy()
        if got.shape != want.shape:
            raise ModelError(f"The exported graphs return shape {got.shape} but torch {want.shape}; export again.")
        worst = max(worst, float(abs(got - want).max()))
    return worst
