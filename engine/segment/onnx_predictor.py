"""The onnxruntime predictor: exported ONNX models run as a weighted ensemble with TTA, without torch.

The contract of :class:`~engine.segment.predictor.Predictor` (``predictor(vision, aux)`` -> averaged
probabilities, a ``device``). The graphs return probabilities already; TTA runs in numpy. A graph of a fixed batch
gets the batches in chunks of that size, the last one padded. A bundle runs through its cached export
(:class:`ExportedBundle`), a model made elsewhere as it came (:class:`ImportedMember`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..bundle.date_graphs import DateGraphs
from ..bundle.graph_output import graph_probabilities
from ..bundle.imported import imported_graph, is_imported
from ..bundle.onnx_metadata import SINGLE_INPUT, date_inputs, graph_dates, onnx_cuda, session
from ..bundle.view import model_view
from ..callbacks import Callback
from ..errors import BundleError, GraphRunError, ModelError
from ..io.digest import file_sha256
from ..io.formats import ONNX
from ..models.change.first_dates import FirstDateFeatures, shares_first_dates
from ..time_axis import per_date
from .members import Member
from .predictor import Season, TtaEnsemble


@dataclass
class OnnxMember:
    """One exported model ready to run."""

    session: Any  # onnxruntime.InferenceSession
    weight: float
    inputs: list[str]  # "vision" [, "aux"] [, "coords": each tile's date and place, for a TL encoder]
    batch: int | None  # fixed batch of the graph; None = dynamic
    stats_key: str

    @property
    def takes_aux(self) -> bool:
        return "aux" in self.inputs or SINGLE_INPUT in self.inputs

    @property
    def takes_coords(self) -> bool:
        return "coords" in self.inputs

    @property
    def takes_days(self) -> bool:
        return "days" in self.inputs

    def run(self, vision: np.ndarray, aux: np.ndarray | None, coords: np.ndarray | None = None,
            season: Season | None = None) -> np.ndarray:
        """Probabilities (B, K, T, T) for any batch size B; ``coords`` (B, 4): None is unknown (NaN); ``season``: a
        season graph's days and validity (its dates padded to the graph's count)."""
        feeds = {"vision": vision, "aux": aux,
                 "coords": np.full((vision.shape[0], 4), np.nan, np.float32) if coords is None else coords}
        dates = graph_dates(self.inputs)
        if self.takes_days:
            vision, feeds["days"], feeds["valid"] = padded_season(vision, season, len(dates))
        feeds.update(zip(dates, per_date(vision, len(dates)) if dates else ()))  # one input per date
        if SINGLE_INPUT in self.inputs:  # a --single-input export: the streams stacked on the image grid
            feeds[SINGLE_INPUT] = vision if aux is None else np.concatenate([vision, aux], axis=1)
        return in_batches(lambda chunk: self.session.run(["probabilities"], {
            n: np.ascontiguousarray(a, dtype=np.float32) for n, a in chunk.items()})[0],
            {n: feeds[n] for n in self.inputs}, self.batch)


def padded_season(vision: np.ndarray, season: Season | None, dates: int) -> tuple[np.ndarray, ...]:
    """A season's (vision (B, dates*C, h, w), days (B, dates), valid (B, dates, h, w) as 1/0) for a graph of
    ``dates`` dates: fewer dates padded after the real ones (masked); more refused (ModelError saying what to do)."""
    if season is None:
        raise ModelError("A season model's graph needs each date's day number and validity; none were given.")
    days, valid = np.asarray(season.days, np.float32), np.asarray(season.valid, bool)
    have = days.shape[1]
    if have > dates:
        raise ModelError(f"This season model's ONNX graph takes at most {dates} dates (the count it was trained "
                         f"with), but the scene has {have}: run it with the torch backend (--backend torch), which "
                         f"takes any count, or give at most {dates} dates.")
    missing = dates - have
    if missing:
        bands = vision.shape[1] // have
        vision = np.concatenate([vision, np.zeros((vision.shape[0], missing * bands, *vision.shape[2:]),
                                                  vision.dtype)], axis=1)
        days = np.concatenate([days, np.zeros((days.shape[0], missing), np.float32)], axis=1)
        valid = np.concatenate([valid, np.zeros((valid.shape[0], missing, *valid.shape[2:]), bool)], axis=1)
    return vision, days, valid.astype(np.float32)


CHECKED_BATCHES = 3  # a model made elsewhere: its first batches' output is checked to be probabilities


@dataclass
class ImportedMember:
    """A model made elsewhere ready to run, its graph fed in its own layout and batch
    (:func:`~engine.bundle.graph_output.graph_probabilities`); ``model``: its ImportedConfig."""

    session: Any  # onnxruntime.InferenceSession
    weight: float
    model: Any
    stats_key: str
    source: str
    callback: Callback
    threshold: float | None = None  # the run's (scores read as Deepness reads them); None: its maker's
    checked: int = 0  # batches whose output was checked to be probabilities
    one_by_one: bool = False  # the graph failed on a batch of several tiles and ran on one: one at a time since
    takes_aux: ClassVar[bool] = False
    takes_coords: ClassVar[bool] = False

    def run(self, vision: np.ndarray, aux: np.ndarray | None, coords: np.ndarray | None = None) -> np.ndarray:
        """Probabilities (B, K, T, T) for any batch size B, the first CHECKED_BATCHES checked. A graph of a dynamic
        batch that fails on several tiles and runs on one (an export traced at batch 1, whose Reshape fixed it) is
        run one tile at a time from then on, said once."""
        check = self.checked < CHECKED_BATCHES
        self.checked += 1

        def run(batch: int | None) -> np.ndarray:
            return in_batches(lambda chunk: graph_probabilities(self.session, self.model, chunk["vision"],
                                                                self.source, check, self.threshold),
                              {"vision": vision}, batch)

        if self.model.batch or self.one_by_one or vision.shape[0] < 2:
            return run(self.model.batch or (1 if self.one_by_one else None))
        try:
            return run(None)
        except GraphRunError as failed:
            try:
                out = run(1)
            except GraphRunError:
                raise failed from None  # not the batch: the first failure says what the graph wanted
            self.one_by_one = True
            traced = "shape" in failed.detail.lower()  # a Reshape or an op of fixed shape: an export traced at 1
            why = ("its graph fixes a batch of 1 inside (an export traced with one tile)" if traced else
                   "onnxruntime's words say why it fails on several")
            self.callback.warning(
                f"The model '{self.source}' declares any batch size but failed on a batch of {vision.shape[0]} tiles "
                f"({failed.detail}) and runs on one: {why}. It is run one tile at a time, which is slower"
                + ("; export it again with a dynamic batch to run it in batches." if traced else "."))
            return out


def in_batches(run: Callable[[dict[str, np.ndarray]], np.ndarray], feeds: dict[str, np.ndarray],
               size: int | None) -> np.ndarray:
    """``run(feeds)`` for a graph of any batch (``size`` None), else over chunks of its fixed batch, the last one
    padded with zeros (dropped from the result)."""
    if size is None:
        return run(feeds)
    total = next(iter(feeds.values())).shape[0]
    short = -total % size  # the padding of the last chunk to the graph's batch
    feeds = {n: np.concatenate([a, np.zeros((short, *a.shape[1:]), a.dtype)]) if short else a for n, a in feeds.items()}
    return np.concatenate([run({n: a[start:start + size] for n, a in feeds.items()})
                           for start in range(0, total, size)])[:total]


class ExportedBundle:
    """A bundle run through its cached ONNX export (:mod:`engine.export.onnx_cache`), one per tile size, made (or
    found) when a tile of that size first comes. A model whose output depends on a neighbourhood only runs every
    tile but its trained one, and on the CPU that too (a bulk run then opens no second export for fitted tiles),
    through one export of any size. A change model whose dates are encoded alone runs, where its first dates may
    serve later pairs (``first_dates``), as its encoder and head graphs (:class:`DateGraphs`), each first date's
    maps kept in one store for every tile size: a monitoring series encodes its first date once."""

    def __init__(self, member: Member, device: str, threads: int | None, callback: Callback, first_dates: bool = True):
        self.path, self.weight, self.stats_key = member.path, member.weight, member.stats_key
        dates, place = member.metadata.model.input_dates, model_view(member.data, member.metadata.model)
        self.takes_aux, self.takes_coords = bool(member.aux_channels), bool(place.takes_date_and_place)
        self.takes_days = bool(member.metadata.model.TAKES_DAYS)
        self.inputs = (date_inputs(dates) + ["aux"] * self.takes_aux + ["coords"] * self.takes_coords
                       + ["days", "valid"] * self.takes_days)
        self.device, self.threads, self.callback = device, threads, callback
        self.bundle_sha256 = file_sha256(member.path)
        self.trained = int(member.data.tile_size)
        self.any_size = bool(member.metadata.model.local_receptive_field())
        self.dates = int(dates)
        # two graphs where a first date's maps can serve later pairs; a lone pair runs the one graph, whose encoder
        # and decoder share one memory arena (two sessions touch about twice the fresh memory on a first tile)
        self.split = first_dates and not self.takes_days and shares_first_dates(self.dates, member.aux_channels,
                                                                                  place.takes_date_and_place)
        self.first_dates = FirstDateFeatures(say=callback.info) if self.split else None
        self.by_tile: dict[tuple[int | None, int | None], OnnxMember | DateGraphs] = {}

    def load(self, tile: int, dates: int | None = None) -> OnnxMember | DateGraphs:
        """The export for ``tile``-px tiles, opened (exported first where the cache has none); ``dates``: a season's
        count, more than the model was trained on: its graph for that count (fewer run padded in the trained one)."""
        key = None if self.any_size and (tile != self.trained or self.device == "cpu") else tile
        more = dates if self.takes_days and dates and dates > self.dates else None
        if (key, more) not in self.by_tile:
            from ..export.onnx_cache import cached_date_graphs, cached_export

            if self.split:
                graphs = cached_date_graphs(self.path, key, self.callback, self.bundle_sha256)
                encoder, head = (self._open(p) for p in (graphs.encoder, graphs.head))
                self.by_tile[key, more] = DateGraphs(encoder, head, self.dates, self.first_dates)
            else:
                runner = self._open(cached_export(self.path, key, self.callback, self.bundle_sha256, more).path)
                inputs = self.inputs if more is None else [*date_inputs(more), *self.inputs[len(
                    date_inputs(self.dates)):]]
                self.by_tile[key, more] = OnnxMember(runner, self.weight, inputs, None, self.stats_key)
        return self.by_tile[key, more]

    def _open(self, path: Any) -> Any:
        """A session of a cached graph, refused unless it says it was made from this bundle."""
        from ..export.onnx_cache import embedded_source

        runner = session(path, self.device, threads=self.threads)
        if embedded_source(runner) != self.bundle_sha256:
            raise BundleError(f"The cached ONNX export '{path}' was not made from '{self.path}'; delete it and run "
                              f"again.")
        return runner

    def run(self, vision: np.ndarray, aux: np.ndarray | None, coords: np.ndarray | None = None,
            *season: Season) -> np.ndarray:
        dates = int(season[0].days.shape[1]) if season and season[0] is not None else None
        return self.load(int(vision.shape[-1]), dates).run(vision, aux, coords, *season)


class OnnxPredictor(TtaEnsemble):
    """Runs the loaded ONNX ``members`` with TTA on batches of normalised tiles; ``device``: "cpu", "cuda" or
    "cuda:N" (onnxruntime-gpu)."""

    backend = "onnxruntime"

    @classmethod
    def from_files(cls, members: Sequence[Member], tta: str, device: str, threads: int | None = None,
                   tile: int | None = None, callback: Callback | None = None,
                   threshold: float | None = None, first_dates: bool = True) -> OnnxPredictor:
        """Open every member on ``device`` ("auto": cuda where onnxruntime has it): an .onnx file and a model made
        elsewhere as they are, a bundle through its cached export (made now for ``tile`` when given).
        ``threads``: intra-op threads (None: onnxruntime's default); ``threshold``: the run's, for a model made
        elsewhere whose output is read as scores; ``first_dates``: see :class:`ExportedBundle`."""
        if device == "auto":
            device = "cuda" if onnx_cuda() else "cpu"
        callback = callback or Callback()
        loaded: list[OnnxMember | ExportedBundle | ImportedMember] = []
        for m in members:
            if is_imported(m.metadata):  # a model made elsewhere: its graph as it came
                graph = m.path if ONNX.matches(m.path) else imported_graph(m.path, m.metadata)
                loaded.append(ImportedMember(session(graph, device, threads=threads, name=m.path), m.weight,
                                             m.metadata.model, m.stats_key, m.path, callback, threshold))
            elif ONNX.matches(m.path):
                loaded.append(OnnxMember(session(m.path, device, threads=threads), m.weight,
                                         list(m.metadata.onnx.inputs), m.metadata.onnx.batch, m.stats_key))
            else:
                loaded.append(ExportedBundle(m, device, threads, callback, first_dates=first_dates))
                if tile:
                    loaded[-1].load(int(tile))
        return cls(loaded, tta, device)

    def __call__(self, vision: dict[str, np.ndarray], aux: dict[str, np.ndarray | None],
                 coords: np.ndarray | None = None, season: Season | None = None) -> np.ndarray:
        """As :meth:`Predictor.__call__ <engine.segment.predictor.Predictor.__call__>`."""
        # the same date and place for any flip or turn; a season's validity turned with the images
        total = self.average(lambda m: (vision[m.stats_key], aux.get(m.stats_key) if m.takes_aux else None),
                             lambda m, v, a, *s: m.run(v, a, coords if m.takes_coords else None,
                                                       *(s if getattr(m, "takes_days", False) else ())), season)
        return np.ascontiguousarray(total, dtype=np.float32)
