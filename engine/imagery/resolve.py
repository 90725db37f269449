"""The image as the model takes it: bands picked by name (or ``--bands``), a STAC item's assets stacked, values brought
to the model's units where the product says how, before anything else reads it.

The model's band names (recorded in the bundle) are matched with the input's (GDAL band descriptions, a STAC item's
``eo:bands``), and the values of the picked bands sampled and compared with the range the model expects. Far outside it,
the product's own scaling (GDAL scale/offset, Sentinel-2 L2A's baseline offset, STAC ``raster:bands``) is applied when
it brings them inside; otherwise a model made elsewhere gets a warning naming the bands, their range and the expected
one (an error with strict inputs; a model trained here is judged by its training statistics in the plan's domain check).
A model recording no band names reads the file's bands in order. Every decision is said in the log. When nothing needs
changing, the reader opens the file itself; else a VRT over it (no pixel copied, a remote COG read window by window).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..bundle.imported import is_imported
from ..bundle.view import model_view
from ..callbacks import Callback
from ..data.band_match import match_bands, pick_bands, sensors_for
from ..data.checks import sample_values
from ..data.domain_shift import domain_shift, training_ranges
from ..data.input_vrt import InputFiles, pick_vrt
from ..data.metadata import DataMetadata
from ..data.raster import band_count, mistagged_alpha, open_raster, read_raw
from ..data.stac import is_url as stac_is_url
from ..data.stac import looks_like_stac, read_item
from ..data.units import (
    RANGE_SAMPLE,
    Scaling,
    describe_far,
    expected_range,
    far_outside,
    gdal_scaling,
    remedy,
    seen_range,
    sentinel2_nodata,
    sentinel2_offset,
)
from ..errors import DataError, mention
from ..io import locations
from ..io.network import Stall, watched
from .request import ImageRequest
from .stac_assets import item_scaling, pick_for_model, stack_item_bands

OVERVIEW_ABOVE, OVERVIEW_SIDE = 2048 * 2048, 512  # inputs larger than this are sampled whole at 512 px too
# ... and judged by FULL_WINDOWS full-resolution windows of FULL_SIDE px, when they hold FULL_ENOUGH valid pixels
FULL_WINDOWS, FULL_SIDE, FULL_ENOUGH = 5, 256, 1024


@dataclass
class ResolvedImage:
    """The image as the door resolved it."""

    path: str  # what the reader opens: the file itself or a VRT over it
    source: str  # what the user gave
    files: InputFiles = field(default_factory=InputFiles)
    said: list[str] = field(default_factory=list)
    out_of_range: str | None = None  # values left far outside the model's range, in words (for the one-class check)
    changed: bool = False  # bands picked or values scaled: the members read every band of ``path`` in order
    members: list[Any] | None = None  # with a model: the members as they read ``path``
    window: Any = None  # a web source's window (``engine.imagery.web.WebWindow``) when the source was one
    named: str | None = None  # how messages name a web source ("the WMS layer 'Ortho'"), not by its window's path
    assets: list[str] = field(default_factory=list)  # a STAC item's assets stacked into ``path``, by key
    aux: list[str] = field(default_factory=list)  # the aux rasters asked with it, a web layer's as its window
    seen: SeenValues | None = None  # the values judged, where the reader reads them as they were sampled
    dataset: Any = None  # ``path`` as the door opened it, for the reader to take over (one open a scene)

    def close(self) -> None:
        if self.dataset is not None:
            self.dataset.close()
            self.dataset = None
        self.files.close()


@dataclass(frozen=True)
class SeenValues:
    """The 2 and 98 % points per band of the values the model reads, as the door sampled them (the file itself, no
    scaling): the plan's domain check judges these rather than sampling the file again."""

    low: np.ndarray
    high: np.ndarray
    sampled: bool  # a sample of the pixels, not every one


def _info(dataset: Any) -> tuple[int, list[str | None], dict[str, str], list[dict[str, str]], tuple, tuple, int,
                                 int | None]:
    """(band count, descriptions, dataset tags, band tags, scales, offsets, alpha bands, a last band tagged alpha that
    holds data and so stays a band) of the open ``dataset``'s data bands."""
    count = band_count(dataset)
    names = [d or None for d in dataset.descriptions][:count]
    tags = dict(dataset.tags())
    band_tags = [dict(dataset.tags(b)) for b in range(1, count + 1)]
    return (count, names, tags, band_tags, tuple(dataset.scales)[:count], tuple(dataset.offsets)[:count],
            dataset.count - count, mistagged_alpha(dataset, count))


def _valid(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The finite valid ones of (C, N) ``values``, every k-th pixel where more than RANGE_SAMPLE are valid: the values
    :func:`~engine.data.units.seen_range` would judge anyway, without converting a whole scene first (4 ms a scene)."""
    step = -(-int(np.count_nonzero(valid)) // RANGE_SAMPLE)
    if step > 1:
        values, valid = values[:, ::step], valid[::step]
    if values.dtype.kind in "ui":  # integers are all finite, and rank faster in their own type (0.6 ms a scene)
        return values[:, valid]
    values = values.astype(np.float64)
    return values[:, valid & np.isfinite(values).all(axis=0)]


def _full_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """FULL_SIDE px windows at full resolution: the centre and the four quarter points."""
    w, h = min(FULL_SIDE, width), min(FULL_SIDE, height)
    spots = [(0.5, 0.5), (0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)][:FULL_WINDOWS]
    return sorted({(int(min(max(0, fx * width - w / 2), width - w)), int(min(max(0, fy * height - h / 2), height - h)),
                    w, h) for fx, fy in spots})


def _sample(path: str, bands: Sequence[int], opened: Any = None) -> tuple[np.ndarray, str | None, bool]:
    """(C, N) finite valid values of ``bands`` at full resolution, as the model reads them, a note when the file's
    overviews say otherwise, and whether they are a sample.

    A small input is sampled as the data checks sample it. A large (often remote) one is read twice, cheaply: a few
    full-resolution windows, which decide, and the whole scene at a coarser level (a COG's overviews: a few blocks),
    which stands in only when those windows hold too few valid pixels. Overviews can mislead: built before the values
    were rescaled, or a stale ``.ovr`` beside a rewritten file."""
    dataset = opened or open_raster(path, "image")  # ``opened``: the caller's dataset of ``path``, left open
    try:
        if dataset.width * dataset.height <= OVERVIEW_ABOVE:
            values, valid, part = sample_values(dataset, list(bands))
            return _valid(values, valid), None, part or int(np.count_nonzero(valid)) > RANGE_SAMPLE
        parts = [read_raw(dataset, c, r, w, h, list(bands)) for c, r, w, h in _full_windows(dataset.width,
                                                                                           dataset.height)]
        full = _valid(np.concatenate([d.reshape(len(bands), -1) for d, _ in parts], axis=1),
                      np.concatenate([ok.reshape(-1) for _, ok in parts]))
        if full.shape[1] >= FULL_ENOUGH and not dataset.overviews(bands[0]):
            # no overviews to mislead, and without them the coarse read decodes every block of the scene (1.5 s
            # of a 15 s run on a 4096² GeoTIFF) only to repeat what the windows decided
            return full, None, True
        step = max(dataset.width, dataset.height) / OVERVIEW_SIDE
        shape = (max(1, int(dataset.height / step)), max(1, int(dataset.width / step)))
        # the same validity rule as the tiles' (an integer nodata, an alpha band), never a NaN in integers
        data, ok = read_raw(dataset, 0, 0, dataset.width, dataset.height, list(bands), out_shape=shape)
        coarse = _valid(data.reshape(len(bands), -1), ok.reshape(-1))
    finally:
        if opened is None:
            dataset.close()
    if full.shape[1] < FULL_ENOUGH:
        return coarse, None, True
    note = None
    if coarse.shape[1] >= 16:
        seen_full, seen_coarse = seen_range(full), seen_range(coarse)
        if far_outside(*seen_coarse, *seen_full):
            note = (f"The overviews of '{path}' hold other values ({seen_coarse[0].min():.4g}.."
                    f"{seen_coarse[1].max():.4g}) than its full-resolution bands ({seen_full[0].min():.4g}.."
                    f"{seen_full[1].max():.4g}), which the model reads: the values were judged at full resolution. "
                    f"Rebuild the overviews (gdaladdo) so that previews and other tools show the data as it is.")
    return full, note, True


def _say(resolved: ResolvedImage, callback: Callback, message: str) -> None:
    resolved.said.append(message)
    callback.info(message)


def _given(request: ImageRequest, count: int) -> Scaling | None:
    """The scaling the user stated (value scale and offset, for every band), else None."""
    if request.value_scale is None and request.value_offset is None:
        return None
    scale = 1.0 if request.value_scale is None else float(request.value_scale)
    offset = float(request.value_offset or 0.0)
    said = [f"{mention('segment.value_scale')} {scale:g}"] + (
        [f"{mention('segment.value_offset')} {offset:g}"] if request.value_offset is not None else [])
    return Scaling((scale,) * count, (offset,) * count, "the units you gave (" + ", ".join(said) + ")")


def _judge(resolved: ResolvedImage, data: DataMetadata, path: str, bands: Sequence[int], labels: Sequence[str],
           scalings: Sequence[Scaling | None], imported: bool, request: ImageRequest, callback: Callback,
           warnings: list[str], given: Scaling | None = None, opened: Any = None) -> Scaling | None:
    """The scaling to apply (None: none), after comparing the sampled values with the expected range; ``given``: the
    user's, applied whatever the values; ``opened``: ``path`` open already."""
    values, note, sampled = _sample(path, bands, opened)
    if note:  # said, not warned: the run reads the full resolution, so the result is as it should be
        _say(resolved, callback, note)
    if values.shape[1] < 16:
        return given  # nothing to judge by (an all-nodata image is reported by the data checks)
    value_range = model_view(data).value_range
    expected = expected_range(value_range, data.vision_stats)
    before = None if given is None else seen_range(values)
    values = values if given is None else given.apply(values)
    seen = seen_range(values)  # once: the message below and the judgement read the same range
    if before is not None:
        _say(resolved, callback, f"Values brought to the model's units by {given.how}: {before[0].min():.4g}.."
                                 f"{before[1].max():.4g} as read, {seen[0].min():.4g}..{seen[1].max():.4g} after it.")
    else:  # as the reader reads the file, unless a scaling found below changes it
        resolved.seen = SeenValues(seen[0], seen[1], sampled)
    far = far_outside(*seen, *expected)
    if not imported:  # trained here: also the training data's own rule (0-1 given to a 0-255 model lies inside)
        far = sorted(set(far) | set(domain_shift(*seen, *training_ranges(data.vision_stats)).far))
    if not far:
        return given
    for scaling in filter(None, scalings):
        scaled = seen_range(scaling.apply(values))
        if not far_outside(*scaled, *expected):
            _say(resolved, callback, f"Values rescaled to the model's units by {scaling.how}: "
                                     f"{describe_far(far, labels, seen, expected)}; after it "
                                     f"{scaled[0].min():.4g}..{scaled[1].max():.4g}.")
            return scaling
    what = (f"the range the model records ({value_range[0]:g}..{value_range[1]:g})" if value_range
            else "where the model's band statistics put its inputs")
    resolved.out_of_range = (f"the input's values lie far outside {what} ({describe_far(far, labels, seen, expected)}"
                             f"){'' if len(far) == len(labels) else f' in {len(far)} of {len(labels)} bands'}"
                             + (f" even after {given.how}" if given is not None else ""))
    if not imported:
        return given  # the plan's domain check judges a model trained here by its training statistics
    strict = mention("segment.strict_inputs")
    how = (f"; check {mention('segment.value_scale')} and {mention('segment.value_offset')}" if given is not None
           else f", and the product does not say how to convert them (no GDAL scale/offset, no Sentinel-2 baseline "
                f"metadata, no STAC raster:bands); state the values' units with {mention('segment.value_scale')} "
                f"(e.g. 0.0001 for digital numbers of reflectance x 10000) and {mention('segment.value_offset')}, "
                f"or set the bands' scale and offset in the file (gdal_edit -scale 0.0001 -offset 0)")
    message = (f"The image '{resolved.source}' does not look like what the model expects: {resolved.out_of_range}"
               f"{how}. The prediction will likely be one class everywhere.")
    if request.strict_inputs:
        raise DataError(message + f" ({strict} made this an error.)")
    warnings.append(message + f" {strict} makes this an error.")
    callback.warning(warnings[-1])
    return given


def fit_to_model(request: ImageRequest, members: list[Any], resolved: ResolvedImage, callback: Callback,
                 warnings: list[str]) -> list[Any]:
    """``resolved`` made into what the plan's ``members`` read; the members as they read it (unchanged when it fits)."""
    stac = request.stac or looks_like_stac(resolved.path)
    if locations.is_remote(resolved.path) or stac_is_url(resolved.path):
        callback.info(f"'{resolved.path}' is read over the network; {Stall.rule().said()}.")
    if any(m.data.x_bands for m in members):
        if not (stac or request.bands or _given(request, 1)):
            return members  # a CMX model reads its file as it is (the plan's domain check judges it)
        raise DataError(f"The model '{members[0].path}' reads X bands of its image (CMX); {mention('segment.bands')}, "
                        f"{mention('segment.value_scale')}, {mention('segment.value_offset')} and STAC items feed "
                        f"the vision bands only: give the image with the bands and values as in training.")
    handles: list[Any] = []  # the input opened once for its bands and its values, closed here whatever happens
    try:
        return _resolve(request, members, resolved, stac, callback, warnings, handles)
    finally:
        for handle in handles:
            handle.close()


def _resolve(request: ImageRequest, members: list[Any], resolved: ResolvedImage, stac: bool, callback: Callback,
             warnings: list[str], handles: list[Any]) -> list[Any]:
    first = members[0]
    data: DataMetadata = first.data
    names = model_view(data).band_names
    for other in members[1:]:
        if (request.bands or stac) and model_view(other.data).band_names != names:
            raise DataError(f"The ensemble members '{first.path}' and '{other.path}' take different bands "
                            f"({names} vs {model_view(other.data).band_names}); segment with one of them at a time.")
    imported = is_imported(first.metadata)
    opened = None
    if stac:
        item = read_item(resolved.source, callback.info)
        if item.twins:
            _say(resolved, callback, f"STAC item '{item.id}': {item.twins_said()}.")
        pick = pick_for_model(item, request.bands, names, data.vision_bands)
        chosen = [item.bands[b - 1] for b in pick.bands]
        labels = [b.label for b in chosen]
        wanted = names or [f"input {i}" for i in range(1, len(chosen) + 1)]
        how = "picked by name" if not request.bands else f"from {mention('segment.bands')} {','.join(request.bands)}"
        resolved.said.append(f"STAC item '{item.id}', bands {how}: "
                             + ", ".join(f"{m} <- {b.said()}" for m, b in zip(wanted, chosen)))
        callback.info(resolved.said[-1] + " (" + ", ".join(f"{b.label}: {b.href}" for b in chosen) + ")")
        base = stack_item_bands(item, chosen, resolved.files.path("stack.vrt"), callback, resolved.said, warnings)
        bands = list(range(1, len(chosen) + 1))
        given = _given(request, len(bands))
        scalings: list[Scaling | None] = [None if given else item_scaling(item, chosen, resolved.source)]
        changed, product_nodata = True, None
    else:
        log = callback.info if locations.is_remote(resolved.source) else None
        opened = watched(lambda: open_raster(resolved.source, "image"), f"'{resolved.source}'", log)
        handles.append(opened)
        count, file_names, tags, band_tags, scales, offsets, masks, mistagged = watched(
            lambda: _info(opened), f"'{resolved.source}'", log)
        if mistagged:
            _say(resolved, callback, f"'{resolved.source}': band {count} is tagged alpha (GDAL tags the last band "
                                     f"of an 8-bit RGB + 1 GeoTIFF so unless told otherwise) but holds data, not a "
                                     f"mask's clear and opaque values, so it is read as a band; GDAL still masks the "
                                     f"pixels where it is 0: retag it (gdal_edit.py -colorinterp_{count} undefined "
                                     f"FILE) to stop that.")
        if masks:  # said once: the alpha band is where the image is valid, never one of its bands
            _say(resolved, callback, f"'{resolved.source}': band {count + 1} is its alpha band, read as its mask "
                                     f"(where it is valid), not as a band: {count} band(s)."
                                     if masks == 1 else f"'{resolved.source}': bands {count + 1}-{count + masks} "
                                     f"are alpha bands, read as its mask, not as bands: {count} band(s).")
        if request.bands:
            pick = pick_bands(request.bands, names, data.vision_bands, file_names, resolved.source,
                              mention("segment.bands"), masks)
        else:
            pick = match_bands(names, file_names, resolved.source) if names and count >= len(names) else None
        if pick is not None:
            resolved.said.append(pick.said)
            callback.info(f"'{resolved.source}': {pick.said}")
            bands = list(pick.bands)
        else:
            bands = first.selection.vision_bands(count)
            if len(bands) != data.vision_bands or max(bands, default=0) > count:
                return members  # the plan's band check says what is wrong
        base = resolved.source
        labels = [(names[i] if names else None) or f"band {b}" for i, b in enumerate(bands)]
        labels = [f"{lab} (band {b})" if not lab.startswith("band ") else lab for lab, b in zip(labels, bands)]
        given = _given(request, len(bands))
        where = f"The image '{resolved.source}'"
        s2 = None if given else sentinel2_offset(tags, [band_tags[b - 1] for b in bands], sensors_for(file_names),
                                                 where, labels, remedy("Sentinel-2", resolved.source))
        scalings = [] if given else [gdal_scaling([scales[b - 1] for b in bands], [offsets[b - 1] for b in bands],
                                                  where, labels, "GDAL", remedy("GDAL", resolved.source)), s2]
        changed = pick is not None and not (pick.identity and count == len(bands))
        product_nodata = sentinel2_nodata(tags) if s2 is not None or given else None
    scaling = _judge(resolved, data, base, bands, labels, scalings, imported, request, callback, warnings, given,
                     opened)
    if not changed and scaling is None:
        if opened is not None:  # the reader reads this very file: it takes the dataset over
            handles.remove(opened)
            resolved.dataset = opened
        return members
    resolved.seen = None  # a VRT picks or scales: the plan's check samples what the reader reads
    if scaling is None or not (scaling.how.startswith("Sentinel-2") or scaling is given):
        product_nodata = None
    elif product_nodata is not None:  # the product's nodata, which its bands do not declare, stays nodata
        _say(resolved, callback, f"Digital number {product_nodata:g} is nodata where a band declares none, as the "
                                 f"product's SPECIAL_VALUE_NODATA says.")
    resolved.path = pick_vrt(base, bands, names or labels, resolved.files.path("input.vrt"), scaling, product_nodata)
    resolved.changed = True
    # each member reads every band of the VRT made for it, in order
    return [dataclasses.replace(m, metadata=m.metadata.replace(data=dataclasses.replace(
        m.data, bands=None, x_bands=None, image_bands=len(bands)))) for m in members]
