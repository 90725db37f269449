"""A STAC item's assets picked by name and stacked: for a model (:func:`pick_for_model`, its bands in its order), for a
picture (:func:`pick_item_bands`, red, green and blue), and as a layer for a front end. Every pick goes by the one
asset-key rule (``StacItem.by_key``); every refusal lists the item's bands.

QGIS 3.22 has no STAC layer: a front end shows an item with :func:`write_stac_layer`, a VRT of the chosen assets written
as a NEW file (never over a file the item reads). The prompts' windows are read from the item itself
(:func:`stac_window_raster`), as Segment reads it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..callbacks import Callback
from ..config.bands import parse_band_list
from ..data.band_match import BandPick, match_bands, pick_bands
from ..data.input_vrt import InputFiles
from ..data.stac import StacBand, StacItem, read_item
from ..errors import DataError, mention
from ..io.safety import Files, check_outputs
from .stac_assets import item_scaling, stack_beside, stack_item

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
    seen: set[str] = set()
    firsts: list[str | None] = []
    for band in item.bands:
        firsts.append(None if band.label.lower() in seen else band.label)
        seen.add(band.label.lower())
    try:
        guess = match_bands(model_names, firsts, f"STAC item '{item.id}'")
    except DataError:
        return ""
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


def _stacked(pick: StacPick, source: str, path: Path, callback: Callback, said: list[str]) -> str:
    """The picked assets stacked (and scaled) at ``path`` (:func:`~engine.imagery.stac_assets.stack_item`): the path to
    read."""
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


def stac_window_raster(source: str, bands: str | Sequence[str | int] | None, files: InputFiles,
                       callback: Callback) -> tuple[str, StacPick, list[str]]:
    """The item at ``source`` as one raster of the picked bands in ``files``: (its path, the pick, what was said)."""
    said: list[str] = []
    pick = pick_item_bands(read_item(source, callback.info), bands)
    path = _stacked(pick, source, files.path("item.vrt"), callback, said)
    return path, pick, said


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
    stack = stack_beside(layer)
    written = [str(stack), str(layer)] if scaled else [str(layer)]
    check_outputs({"STAC item": Files(source)}, {"layer of the STAC item": Files(written)})
    said: list[str] = []
    _stacked(pick, source, layer, callback, said)
    said.append(f"The layer of STAC item '{pick.item.id}' was written to '{layer}'; the prompts' windows are read "
                f"from the item.")
    return StacLayer(str(layer), pick.item.id, pick.keys, written, said)
