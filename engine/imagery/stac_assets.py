"""A STAC item's assets as rasters: checked before they are stacked into one (each there and readable, all in one
CRS, covering the same ground), stacked and scaled as its ``raster:bands`` say (:func:`stack_item`, the one way
every reader of an item takes it; a training's whole items: :func:`stac_raster`), and picked by name, by the one
asset-key rule (``StacItem.by_key``): for a model (:func:`pick_for_model`) or a picture (:func:`pick_item_bands`).
Each refusal names the asset's key and href, the cause and what to do, and lists the item's bands; GDAL's own
stacking would only say "got 2 of 3" bands, and would stack assets lying side by side into one wide raster.

Hrefs reaching outside the item's folder through ``..`` are read (a local catalogue may keep its assets in a sibling
folder), but said in the log and named so in every error.

QGIS 3.22 has no STAC layer: a front end shows an item with :func:`write_stac_layer`, a VRT of the chosen assets
written as a NEW file (never over a file the item reads). The prompts' windows are read from the item itself
(:func:`stack_pick`), as Segment reads it.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..callbacks import Callback, QuietCallback
from ..config import DataConfig, SceneSpec
from ..config.bands import parse_band_list
from ..data.acquisition import tag_stac_datetime
from ..data.band_match import BandPick, match_bands, pick_bands
from ..data.input_vrt import InputFiles, pick_vrt, stack_vrt
from ..data.shown import shown_layer
from ..data.stac import StacBand, StacItem, looks_like_stac, read_item
from ..data.units import Scaling, gdal_scaling, remedy
from ..errors import DataError, mention
from ..io import locations
from ..io.network import apply_defaults, remote_hint, watched
from ..io.safety import Files, check_outputs
from ..runtime.environment import require

PARTIAL = 0.99  # assets whose common ground is less than this share of the largest one's are said in a warning


@dataclass(frozen=True)
class _Footprint:
    crs: str
    crs_name: str
    bounds: tuple[float, float, float, float]  # west, south, east, north in the CRS


def _footprint(band: StacBand, item: str) -> _Footprint:
    gdal = require("osgeo.gdal")
    gdal.UseExceptions()
    apply_defaults()
    local = locations.local_file(band.href)
    if local is not None and not locations.exists(local):
        raise DataError(f"The STAC item '{item}' {band.where()}: the file '{local}' does not exist. Assets with "
                        f"relative hrefs are read beside the item: copy the asset there, or fix its href.")
    try:
        dataset = gdal.Open(band.href)
    except RuntimeError as exc:
        hint = remote_hint(band.href) if local is None else ""
        what = "cannot be read" if local is None else "is not a raster GDAL can read"
        raise DataError(f"The STAC item '{item}' {band.where()} {what} ({str(exc).strip()}){hint}. Fix the href, "
                        f"or give the bands as one raster with {mention('segment.image')}.") from exc
    try:
        if dataset.RasterCount < 1:
            raise DataError(f"The STAC item '{item}' {band.where()} holds no raster band; fix the href.")
        wkt = dataset.GetProjection()
        x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
        xs, ys = (x0, x0 + dx * dataset.RasterXSize), (y0, y0 + dy * dataset.RasterYSize)
        srs = dataset.GetSpatialRef()
        name = "no CRS"
        if srs is not None:
            code = srs.GetAuthorityCode(None)
            name = f"{srs.GetAuthorityName(None)}:{code}" if code else srs.GetName()
        return _Footprint(wkt, name, (min(xs), min(ys), max(xs), max(ys)))
    finally:
        dataset = None


def _box(bounds: tuple[float, float, float, float]) -> str:
    return "x {:.6g}..{:.6g}, y {:.6g}..{:.6g}".format(bounds[0], bounds[2], bounds[1], bounds[3])


def _area(bounds: tuple[float, float, float, float]) -> float:
    return max(0.0, bounds[2] - bounds[0]) * max(0.0, bounds[3] - bounds[1])


def check_stack(bands: Sequence[StacBand], item: str) -> tuple[list[str], list[str]]:
    """Refuse (DataError) assets that cannot be stacked: missing, unreadable, in different CRSs, or not overlapping;
    return (notes: hrefs outside the item's folder, warnings: assets covering only part of each other's ground)."""
    notes = [f"The STAC item '{item}' {b.where()}: read as given." for b in bands if b.outside]
    prints = [_footprint(b, item) for b in bands]
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(prints):
        groups.setdefault(p.crs, []).append(i)
    if len(groups) > 1:
        said = "; ".join(f"{prints[ix[0]].crs_name}: " + ", ".join(f"'{bands[i].key}'" for i in ix)
                         for ix in groups.values())
        raise DataError(f"The STAC item '{item}' has bands in {len(groups)} CRSs ({said}), which cannot be stacked "
                        f"into one raster; reproject the assets into one CRS (gdalwarp -t_srs), or pick bands of "
                        f"one CRS with {mention('segment.bands')}.")
    common = (max(p.bounds[0] for p in prints), max(p.bounds[1] for p in prints),
              min(p.bounds[2] for p in prints), min(p.bounds[3] for p in prints))
    extents = "; ".join(f"'{b.key}' {_box(p.bounds)}" for b, p in zip(bands, prints))
    if common[0] >= common[2] or common[1] >= common[3]:
        raise DataError(f"The STAC item '{item}': its assets do not cover common ground ({extents}, in "
                        f"{prints[0].crs_name}), so they are no bands of one scene. Fix the hrefs of the assets "
                        f"that lie apart.")
    largest = max(_area(p.bounds) for p in prints)
    warnings = []
    if largest > 0 and _area(common) < PARTIAL * largest:
        warnings.append(f"The STAC item '{item}': its assets cover different ground ({extents}); all of them cover "
                        f"only {100 * _area(common) / largest:.0f} % of the largest, and where a band misses the "
                        f"ground it reads as empty (its nodata, else 0). Check the item's hrefs.")
    return notes, warnings


def stack_item_bands(item: StacItem, chosen: Sequence[StacBand], destination: Path, callback: Callback,
                     said: list[str], warnings: list[str]) -> str:
    """The ``chosen`` assets of ``item`` checked (a remote asset's first read under the network rule) and stacked in
    that order into a VRT at ``destination``; what the check found is said and kept in ``said`` / ``warnings``."""
    notes, cautions = watched(lambda: check_stack(chosen, item.id), f"the assets of the STAC item '{item.id}'",
                              callback.info if any(locations.is_remote(b.href) for b in chosen) else None)
    for note in notes:
        said.append(note)
        callback.info(note)
    for caution in cautions:
        warnings.append(caution)
        callback.warning(caution)
    return stack_vrt([b.href for b in chosen], [b.label for b in chosen], destination)


#: What to do about an item's unusable ``raster:bands`` where a run takes no stated units instead (training).
FIX_RASTER_BANDS = "Correct the item's raster:bands (numbers, e.g. \"scale\": 0.0001, \"offset\": 0)."


def item_scaling(item: StacItem, chosen: Sequence[StacBand], source: str, fix: str | None = None) -> Scaling | None:
    """The scaling the item's ``raster:bands`` give the ``chosen`` assets (None: none, or all 1 and 0); ``fix``: what a
    refusal says to do (default: correct the item or state the values' units for segment)."""
    scaling = gdal_scaling([b.scale for b in chosen], [b.offset for b in chosen], f"The STAC item '{item.id}'",
                           [f"asset '{b.key}' ({b.label})" for b in chosen], "STAC raster:bands",
                           fix or remedy("STAC", source))
    if scaling is None:
        return None
    return dataclasses.replace(scaling, how=scaling.how.replace("the bands' STAC raster:bands scale/offset",
                                                                "the STAC item's raster:bands scale/offset"))


def stack_beside(path: Path) -> Path:
    """Where :func:`stack_item` puts the stack of an item read at ``path`` when its values are scaled."""
    return path.with_suffix(".stack.vrt")


def stack_item(item: StacItem, chosen: Sequence[StacBand], source: str, path: Path, callback: Callback,
               said: list[str], warnings: list[str], fix: str | None = None) -> tuple[str, Scaling | None]:
    """The ``chosen`` assets of ``item`` as one raster at ``path``, checked and stacked (:func:`stack_item_bands`) and,
    where its ``raster:bands`` scale them, as float32 in a VRT over the stack (which then lies beside it,
    :func:`stack_beside`). Returns (``path``, the scaling applied or None)."""
    scaling = item_scaling(item, chosen, source, fix)  # first: the stack is ``path`` itself where nothing scales
    stacked = stack_item_bands(item, chosen, path if scaling is None else stack_beside(path), callback, said,
                               warnings)
    if scaling is None:
        return stacked, None
    labels = [b.label for b in chosen]
    return pick_vrt(stacked, list(range(1, len(labels) + 1)), labels, path, scaling), scaling


_KEPT = InputFiles()  # the VRTs a training reads for its whole run (its workers reopen them): removed at exit
atexit.register(_KEPT.close)
# item -> its VRT in _KEPT, and what checking its assets said: planning names it, the data reads it, one read
_KEPT_FOR: dict[str, tuple[Path, list[str], list[str]]] = {}


def stac_raster(source: str, files: InputFiles | None = None, callback: Callback | None = None) -> str:
    """A STAC item as one raster: a VRT stacking its single-band data assets in the item's order, each described by its
    common name (else its name), values scaled by ``raster:bands`` (:func:`stack_item`). Training reads items this way
    (segment picks the model's bands instead). What the check found is said to ``callback`` each time the item is asked
    for, also when its VRT was made before."""
    callback = callback or QuietCallback()  # planning: said when the data reads the scene
    kept = _KEPT_FOR.get(source) if files is None else None
    if kept is not None and kept[0].exists():
        for note in kept[1]:
            callback.info(note)
        for caution in kept[2]:
            callback.warning(caution)
        return str(kept[0])
    item = read_item(source, callback.info)
    files = _KEPT if files is None else files
    # an item's files are NAME.vrt and, where its values are scaled, its stack beside it: a name is free where
    # neither is another item's (two catalogues' copies of one id, or an id ending in ".stack")
    taken = {p.name for path in files.written for p in (path, stack_beside(path))}
    name = next(name for name in (item.id if n == 1 else f"{item.id}-{n}" for n in itertools.count(1))
                if not {f"{name}.vrt", stack_beside(Path(f"{name}.vrt")).name} & taken)
    said: list[str] = []
    cautions: list[str] = []
    vrt, _ = stack_item(item, item.bands, source, files.path(f"{name}.vrt"), callback, said, cautions,
                        FIX_RASTER_BANDS)
    tag_stac_datetime(vrt, item.properties)  # the scene's date, for encoders that take it
    if files is _KEPT:
        _KEPT_FOR[source] = (Path(vrt), said, cautions)
    return vrt


def stac_scenes(data_cfg: DataConfig, callback: Callback | None = None, *, keep_items: bool = False) -> DataConfig:
    """The data with each date given as a STAC item read as one raster (:func:`stac_raster`), named in the scene's
    ``names`` as the item ("'S2B_...' (STAC item, .../item.json)"), never as the VRT. ``keep_items``: the scenes still
    give the items, only named (the planned settings: a checkpoint compares the items as the user gave them)."""
    callback = callback or QuietCallback()

    def read(scene: SceneSpec, what: str) -> SceneSpec:
        dates = [scene.image, *scene.after]
        rasters = {date: stac_raster(date, callback=callback) for date in dates if looks_like_stac(date)}
        if not rasters:
            return scene
        names = {**{vrt: shown_layer(Path(vrt).stem, f"STAC item, {item}") for item, vrt in rasters.items()},
                 **scene.names}
        if keep_items:
            return dataclasses.replace(scene, names=names)
        for date in rasters:
            callback.info(f"{what}: the STAC item '{date}' is read as its data assets, stacked")
        dates = [rasters.get(date, date) for date in dates]
        return dataclasses.replace(scene, image=dates[0], after=dates[1:], names=names)

    return dataclasses.replace(data_cfg, **{key: [read(scene, f"{key}[{i}]") for i, scene in
                                                  enumerate(getattr(data_cfg, key))]
                                            for key in ("train_scenes", "val_scenes")})


#: What the bands of an item are shown as: three bands (red, green, blue) or one (grey).
RGB = ("red", "green", "blue")
BANDS_HELP = ("Three bands shown as red, green, blue (or one, grey): asset keys, band names or common names "
              "(B04,B03,B02 or red,green,blue), or numbers as the item lists its bands. Empty: natural colour, "
              "picked by name.")


@dataclass(frozen=True)
class StacPick:
    """The item's assets shown, in the order red, green, blue (or one, grey), and how they were chosen."""

    item: StacItem
    bands: tuple[StacBand, ...]
    how: str

    @property
    def keys(self) -> list[str]:
        return [b.key for b in self.bands]


@dataclass
class StacLayer:
    """The VRT written for a front end to show (``path``, a new file; ``written``: every file written)."""

    path: str
    item_id: str
    bands: list[str]
    written: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)


def pick_for_model(item: StacItem, given: Sequence[str] | None, model_names: Sequence[str] | None,
                   count: int) -> BandPick:
    """The item's bands for the model: by name, or by ``--bands`` (numbers as :meth:`StacItem.listing` counts them,
    names, or asset keys)."""
    labels = [b.label for b in item.bands]
    where = f"STAC item '{item.id}'"
    flag = mention("segment.bands")
    listing = f" The item's bands, numbered as {flag} counts them: {item.listing()}."
    if given:
        try:
            return pick_bands(item.by_key(given), model_names, count, labels, where, flag)
        except DataError as exc:
            raise DataError(f"{exc}{listing}") from exc
    if not model_names:
        raise DataError(f"The model records no band names, so the bands of the {where} cannot be picked by name; "
                        f"give them in the model's order with {flag}.{listing}")
    try:
        found = match_bands(model_names, labels, where)
    except DataError as exc:
        shared = {}
        for band in item.bands:
            shared.setdefault(band.label.lower(), []).append(band)
        twice = [group for group in shared.values() if len(group) > 1]
        if not twice:
            raise DataError(f"{exc}{listing}") from exc
        said = "; ".join(f"{len(g)} assets are named '{g[0].label}': "
                         + " and ".join(f"{b.where()} ({b.name})" for b in g) for g in twice)
        raise DataError(f"The {where} is ambiguous: {said}. A name two assets share stops the run rather than "
                        f"taking one by its order. Choose the bands in the model's order ({', '.join(model_names)}) "
                        f"with {flag}, by asset key or number{_example(item, model_names, flag)}.{listing}") from exc
    assert found is not None  # every asset has a label
    return found


def _example(item: StacItem, model_names: Sequence[str], flag: str) -> str:
    """`` (e.g. --bands blue,green,red,nir: the first asset of each name)``, or '' when no such pick fits."""
    labels = [b.label.lower() for b in item.bands]
    firsts = [None if label in labels[:i] else b.label for i, (b, label) in enumerate(zip(item.bands, labels))]
    try:
        guess = match_bands(model_names, firsts, f"STAC item '{item.id}'")
    except DataError:
        guess = None
    if guess is None:
        return ""
    return f" (e.g. {flag} {','.join(item.bands[b - 1].key for b in guess.bands)}: the first asset of each name)"


def pick_item_bands(item: StacItem, bands: str | Sequence[str | int] | None = None) -> StacPick:
    """The assets of ``item`` that ``bands`` names (see :data:`BANDS_HELP`), else red, green and blue by name (fewer
    than three bands: the first, as grey). Raises ConfigError for a blank entry in ``bands``, DataError for a band the
    item lacks, a wrong count, or no bands named red, green and blue."""
    where = f"STAC item '{item.id}'"
    labels = [b.label for b in item.bands]
    listing = f" The item's bands: {item.listing()}."
    given = parse_band_list(bands, "label.bands") or []  # the one rule: "red,,blue" is refused, not read as 2
    if not item.bands:
        raise DataError(f"The {where} has no single-band raster data assets to show; give an item whose assets "
                        f"are single-band GeoTIFFs or COGs.")
    if given:
        if len(given) not in (1, 3):
            raise DataError(f"Bands {','.join(given)}: give three (red, green, blue) or one (grey).{listing}")
        try:
            found = pick_bands(item.by_key(given), RGB if len(given) == 3 else ("grey",), len(given),
                               labels, where, "Bands")
        except DataError as exc:
            raise DataError(f"{exc}{listing}") from exc
        chosen, how = tuple(item.bands[b - 1] for b in found.bands), f"as given ({','.join(given)})"
    elif len(item.bands) < 3:
        chosen, how = (item.bands[0],), "its first band as grey (fewer than three bands)"
    else:
        try:
            found = match_bands(RGB, labels, where)
        except DataError as exc:
            raise DataError(f"The {where} has no bands named red, green and blue to show ({exc}) Give three bands "
                            f"to show as red, green, blue, or one as grey.{listing}") from exc
        assert found is not None  # every asset has a label
        chosen, how = tuple(item.bands[b - 1] for b in found.bands), "red, green, blue by name"
    shown = ", ".join(f"{colour} <- {band.said()}" for colour, band in
                      zip(RGB if len(chosen) == 3 else ("grey",), chosen))
    return StacPick(item, chosen, f"STAC item '{item.id}', {how}: {shown}")


def stack_pick(pick: StacPick, source: str, path: Path, callback: Callback, said: list[str]) -> str:
    """The picked assets stacked (and scaled) at ``path`` (:func:`stack_item`): the path to read. What was found goes
    to ``said``."""
    item = pick.item
    if item.twins:
        said.append(f"STAC item '{item.id}': {item.twins_said()}.")
    said.append(pick.how)
    warnings: list[str] = []
    read, scaling = stack_item(item, list(pick.bands), source, path, callback, said, warnings)
    said.extend(f"Warning: {w}" for w in warnings)
    if scaling is not None:
        said.append(f"Values read as {scaling.how}.")
    return read


def write_stac_layer(source: str, bands: str | Sequence[str | int] | None, folder: str | Path,
                     callback: Callback | None = None) -> StacLayer:
    """A VRT of the item's picked assets written as new files in ``folder`` (``ITEM-KEYS.vrt``, then ``-2``, ``-3`` ...
    where a name is taken; beside it ``.stack.vrt`` when the values are scaled). Raises DataError (the item cannot be
    read, the bands do not fit, no such folder) or ConfigError (a blank entry in ``bands``, or a file to write is one
    the item reads)."""
    callback = callback or Callback()
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"The folder '{folder}' for the STAC item's layer does not exist; give an existing folder.")
    pick = pick_item_bands(read_item(source, callback.info), bands)
    scaled = item_scaling(pick.item, list(pick.bands), source) is not None
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{pick.item.id}-{'-'.join(pick.keys)}").strip("._-")[:120] or "stac-item"
    names = (f"{stem}.vrt" if n == 1 else f"{stem}-{n}.vrt" for n in itertools.count(1))
    layer = next(path for path in map(folder.joinpath, names) if not path.exists() and not stack_beside(path).exists())
    written = [str(stack_beside(layer)), str(layer)] if scaled else [str(layer)]
    check_outputs({"STAC item": Files(source)}, {"layer of the STAC item": Files(written)})
    said: list[str] = []
    stack_pick(pick, source, layer, callback, said)
    said.append(f"The layer of STAC item '{pick.item.id}' was written to '{layer}'; the prompts' windows are read "
                f"from the item.")
    return StacLayer(str(layer), pick.item.id, pick.keys, written, said)
