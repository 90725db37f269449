"""``suggest``: the model(s) over each scene, the windows scored and chosen (:mod:`.ranking`), the layer written.

Each view of a scene is a whole-scene segmentation (:func:`engine.segment.segment`: the tiling, blending, checks and
devices of ``segment``), its probabilities written to a temporary folder and read back: one view per ensemble member,
and with test-time augmentation one more per member, whose difference from the plain view is the flips' disagreement.

The windows layer carries its style (``windows.qml``: orange outlines labelled with the rank, the reasons as map tip) as
its default in the GeoPackage's ``layer_styles`` table, so QGIS shows it styled however it is opened.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..callbacks import Callback
from ..config.proposals import SuggestConfig
from ..data.raster import RasterGrid, open_raster
from ..errors import ConfigError, DataError, mention
from ..io.atomic import temporary_folder
from ..io.geopackage import add_default_style, write_layer
from ..io.locations import is_web_description
from ..io.safety import BUNDLE_GIVE, RASTER_GIVE, Files, check_outputs, check_writable
from .ranking import Candidates, choose, merge, pixel_maps, scene_candidates, why

STYLE = Path(__file__).with_name("windows.qml")
FIELDS = (("rank", "OFTInteger"), ("score", "OFTReal"), ("why", "OFTString"), ("scene", "OFTString"),
          ("col", "OFTInteger"), ("row", "OFTInteger"), ("size_px", "OFTInteger"), ("confidence", "OFTReal"),
          ("entropy", "OFTReal"), ("disagreement", "OFTReal"), ("labelled", "OFTReal"), ("focus_class", "OFTString"),
          ("top_class", "OFTString"), ("top_share", "OFTReal"))


@dataclass
class SuggestedWindow:
    """One window to label: where it is, its rank and score, and why."""

    rank: int
    score: float
    why: str
    scene: str
    col: int  # top-left pixel on the scene's grid
    row: int
    size: int
    corners: list[tuple[float, float]]  # map coordinates, clockwise from the top-left
    confidence: float
    entropy: float
    disagreement: float
    labelled: float
    focus_class: str
    top_class: str
    top_share: float

    def values(self) -> dict[str, Any]:
        """The layer's fields (:data:`FIELDS`) of this window: its row, and its entry in ``suggest --json``."""
        return {name: getattr(self, "size" if name == "size_px" else name) for name, _ in FIELDS}


def write_windows(destination: str, windows: list[SuggestedWindow], crs: Any) -> None:
    """Write ``windows`` as the one layer of a new GeoPackage at ``destination``, with its default style."""
    rows = ((_outline(w.corners), list(w.values().values())) for w in windows)
    write_layer(destination, crs, FIELDS, rows, geometry="Polygon", then=lambda data, name: add_default_style(
        data, name, STYLE.read_text(encoding="utf-8"), "DualStream: windows to label, by rank"))


def _outline(corners: list[tuple[float, float]]) -> str:
    """The window's polygon through its corners exactly (no vertex added), so that a window written in another CRS than
    its scene's comes back to its scene's own corners."""
    ring = ", ".join(f"{float(x)!r} {float(y)!r}" for x, y in [*corners, corners[0]])
    return f"POLYGON(({ring}))"


@dataclass
class SuggestResult:
    """What ``suggest`` wrote: the layer, its windows best first, and what it looked at."""

    output: str
    windows: list[SuggestedWindow]
    scenes: list[str]
    views: int  # predictions per scene (members x TTA)
    class_names: list[str]
    notes: list[str] = field(default_factory=list)
    next_step: str = ""  # what to do with the windows (setting markers: each front end names its own)


def check_request(cfg: SuggestConfig) -> None:
    """What can be said about the request before a model is loaded."""
    for given, what, key, kind in ((cfg.models, "a model", "suggest.models", " (a .dsmodel bundle)"),
                                   (cfg.images, "at least one scene", "suggest.images", ""),
                                   (cfg.output, "the layer to write", "suggest.output", " (a .gpkg file)")):
        if not given:
            raise ConfigError(f"suggest needs {what}: give {mention(key)}{kind}.")
    check_outputs({f"scene ({mention('suggest.images')})": Files(cfg.images, give=RASTER_GIVE),
                   f"model bundle ({mention('suggest.models')})": Files(cfg.models, "bundle", give=BUNDLE_GIVE),
                   f"aux raster ({mention('suggest.aux')})": Files(cfg.aux, give=RASTER_GIVE),
                   f"labelled area ({mention('suggest.labelled_area')})": Files(cfg.labelled_area,
                                                                              give="a polygon layer file")},
                  {f"windows layer ({mention('suggest.output')})": Files(cfg.output, "gpkg")})
    check_writable(cfg.output, f"windows layer ({mention('suggest.output')})")
    _check_window(cfg)
    from ..segment.relay import refuse_dated_models

    refuse_dated_models(cfg, list(cfg.models))


def _check_window(cfg: SuggestConfig) -> None:
    """Refuse a window larger than every scene (more padding than scene, window² memory) before any model runs."""
    sizes = []
    for image in cfg.images:
        if is_web_description(image):
            return
        try:
            with open_raster(image, "scene") as dataset:
                sizes.append((max(dataset.width, dataset.height), dataset.width, dataset.height, image))
        except DataError:
            return  # the run says what is wrong with the scene, with its fix
    side, width, height, image = max(sizes)
    if cfg.window > side:
        raise ConfigError(f"{mention('suggest.window')} {cfg.window} px is larger than every scene (the largest, "
                          f"'{image}', is {width} x {height} px); give a window of at most {side} px (a window is "
                          f"the square to label next, usually 64-512 px).")


def suggest(cfg: SuggestConfig, callback: Callback | None = None) -> SuggestResult:
    """Write ``cfg.count`` windows of ``cfg.window`` pixels, ranked, to ``cfg.output``."""
    callback = callback or Callback()
    check_request(cfg)
    cfg = web_scenes(cfg, callback)
    work = temporary_folder(cfg.output, "suggest")
    try:
        parts: list[Candidates] = []
        grids: list[Any] = []
        class_names: list[str] = []
        views = 0
        predicted = np.zeros(0, np.int64)  # pixels per predicted class, over every scene
        for scene, image in enumerate(cfg.images):
            callback.check_canceled()
            probabilities, valid, class_names, grid = _views(cfg, image, work / str(scene), callback)
            views = len(probabilities)
            labelled = _labelled(cfg.labelled_area, grid, image, callback)
            maps = pixel_maps(probabilities, valid, labelled)
            callback.info(f"Scene '{Path(image).name}': {100 * maps.labelled.sum() / max(valid.sum(), 1):.1f} % "
                          f"labelled so far; mean entropy {maps.entropy[valid].mean():.2f} over {views} view(s).")
            counts = np.bincount(maps.predicted[maps.valid].ravel(), minlength=len(class_names))
            predicted = counts if not predicted.size else predicted + counts
            parts.append(scene_candidates(maps, cfg.window, len(class_names), scene))
            grids.append(grid)
        candidates = merge(parts)
        picked = choose(candidates, cfg.count)
        if not picked:
            raise DataError(f"No window of {cfg.window} px can be suggested: every one is at least half labelled "
                            f"already or mostly outside the scenes. Give a smaller {mention('suggest.window')} or "
                            f"more scenes.")
        windows = [_window(candidates, index, score, rank, grids, cfg, class_names, views)
                   for rank, (index, score) in enumerate(picked, start=1)]
        few = (f"Only {len(windows)} of the {cfg.count} windows asked for fit without overlapping each other or the "
               f"labelled area." if len(windows) < cfg.count else None)
        notes = [note for note in (few, one_class_note(predicted, class_names)) if note]
        write_windows(cfg.output, windows, grids[0].crs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    step = (f"Next: label everything inside these windows (the layer '{cfg.output}'; or have candidates drawn "
            f"there by Segment Anything to accept or correct: propose, in QGIS Propose labels with Segment "
            f"Anything), add their outlines to your labelled area, train again from this model (train: "
            f"{mention('train.init_from')} '{cfg.models[0]}', {mention('data.train_scenes#aoi')} the grown labelled "
            f"area), then ask again (suggest: {mention('suggest.labelled_area')} the same layer).")
    return SuggestResult(cfg.output, windows, list(cfg.images), views, class_names, notes, step)


def web_scenes(cfg: SuggestConfig, callback: Callback) -> SuggestConfig:
    """``cfg`` with each web scene and aux layer read through the image door, its window kept in ``<output>_web/``: the
    windows layer names it and propose reads it again."""
    if not any(is_web_description(source) for source in [*cfg.images, *cfg.aux]):
        return cfg
    from ..bundle.model_files import read_model_metadata
    from ..bundle.view import model_view
    from ..imagery.door import web_windows

    read = partial(web_windows, extent=cfg.extent, extent_crs=cfg.extent_crs, pixel_size=cfg.pixel_size,
                   folder=Path(cfg.output).with_name(f"{Path(cfg.output).stem}_web"), callback=callback,
                   view=model_view(read_model_metadata(cfg.models[0]).data), extent_key="suggest.extent",
                   size_key="suggest.pixel_size")
    return dataclasses.replace(cfg, images=read(cfg.images), aux=read(cfg.aux))


def one_class_note(predicted: np.ndarray, class_names: list[str]) -> str | None:
    """The warning for a model that sees one class everywhere (``predicted``: pixels per class; the one rule,
    ``bundle.describe.nearly_one_class``, the learned-nothing rule's share): its uncertainty then ranks windows of
    that one class, and the ranking means little."""
    from ..bundle.describe import nearly_one_class

    if (found := nearly_one_class(predicted)) is None:
        return None
    top, share = found
    return (f"The model predicts '{class_names[top]}' at {100 * share:.1f} % of the pixels of the scene(s): it sees "
            f"one class everywhere, so the ranking (its uncertainty about that one class) says little about where "
            f"labels help. Label a few windows by eye where the other classes are, train again from this model, "
            f"then ask again; if the scenes do show other classes, check that they are what the model was trained "
            f"on (bands, units, pixel size).")


def _views(cfg: SuggestConfig, image: str, folder: Path, callback: Callback) -> tuple[
        list[np.ndarray], np.ndarray, list[str], Any]:
    """Each view's class probabilities (C, H, W) of one scene, where all are valid, the classes and the grid."""
    from ..segment.relay import read_probabilities, segment_for

    folder.mkdir(parents=True, exist_ok=True)
    runs = [(m, "none") for m in cfg.models] + ([(m, cfg.tta) for m in cfg.models] if cfg.tta != "none" else [])
    views, valid, names, grid = [], None, [], None
    for i, (model, tta) in enumerate(runs):
        result = segment_for(cfg, callback, image=image, aux=list(cfg.aux), models=[model],
                             output=str(folder / f"classes_{i}.tif"), probabilities=str(folder / f"p_{i}.tif"),
                             tta=tta, device=cfg.device, backend=cfg.backend)
        names = list(result.class_names)
        p, ok, grid = read_probabilities(result.extras["probabilities"])
        views.append(p)
        valid = ok if valid is None else (valid & ok)
    if len({v.shape for v in views}) > 1:
        raise DataError(f"The models of the ensemble predict different classes for '{image}' "
                        f"({[v.shape[0] for v in views]}); give models of the same classes.")
    return views, valid, names, grid


def _labelled(layer: str | None, grid: RasterGrid, image: str, callback: Callback) -> np.ndarray:
    """True where the labelled area so far covers the scene's pixels."""
    if not layer:
        return np.zeros((grid.height, grid.width), bool)
    from ..data.labels import RegionMask

    if grid.crs is None:
        raise DataError(f"A labelled area was given but the scene '{image}' has no CRS; georeference the scene.")
    # the loop's first round: nothing labelled yet, an empty layer (the one the windows will be drawn in)
    return RegionMask(grid.crs, aoi=layer, callback=callback, near=grid.bounds, role="labelled area",
                      if_empty=None).mask(grid)


def _window(candidates: Candidates, index: int, score: float, rank: int, grids: list[RasterGrid], cfg: SuggestConfig,
            class_names: list[str], views: int) -> SuggestedWindow:
    scene = int(candidates.scene[index])
    col, row, size = int(candidates.col[index]), int(candidates.row[index]), candidates.size
    t = grids[scene].transform
    corners = [t * (col, row), t * (col + size, row), t * (col + size, row + size), t * (col, row + size)]
    corners = _corners_in(corners, grids[scene].crs, grids[0].crs, cfg.images[scene])
    shares = candidates.shares[index]
    top = int(np.argmax(shares))
    means = {k: round(float(getattr(candidates, k)[index]), 4) for k in ("confidence", "entropy", "disagreement",
                                                                          "labelled")}
    return SuggestedWindow(
        rank=rank, score=round(score, 4), why=why(candidates, index, class_names, views),
        scene=str(cfg.images[scene]), col=col, row=row, size=size, corners=corners, **means,
        focus_class=class_names[int(candidates.focus[index])], top_class=class_names[top],
        top_share=round(float(shares[top]), 4))


def _corners_in(corners: list[tuple[float, float]], crs: Any, layer_crs: Any, image: str) -> list[tuple[float, float]]:
    """A window's corners carried from its scene's CRS into the layer's (the first scene's) vertex by vertex; propose
    carries them back to the scene's exact corners."""
    if crs is None or layer_crs is None or crs == layer_crs:
        return corners
    from rasterio.warp import transform

    xs, ys = transform(crs, layer_crs, [c[0] for c in corners], [c[1] for c in corners])
    if not np.isfinite(np.asarray([xs, ys], float)).all():
        raise DataError(f"The windows of the scene '{image}' cannot be given in the CRS of the first scene "
                        f"({layer_crs}); suggest scenes that lie in one region (one run per region).")
    return list(zip(xs, ys))
