"""The segmentation plan: inputs checked against the bundle(s), the region, the tile grid, the members.

Everything that can fail on the inputs is decided here, from bundle metadata only, before any weights are loaded
or tiles read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..bundle.expects import aux_problem, image_problem, season_dates_note
from ..bundle.imported import is_imported
from ..bundle.view import model_view
from ..callbacks import Callback, CondensedCallback, RenamedCallback, warn
from ..config import SegmentConfig, check_tile_size, repaired_class_colors
from ..config.polygons import chosen_polygon_classes
from ..data.ground import DEGREES, PIXELS, ground_unit, middle_latitude
from ..data.metadata import DataMetadata
from ..data.raster import grid_of, open_raster
from ..data.reproject import layer_crs_label
from ..data.shown import renamer
from ..errors import AlignmentError, ConfigError, DataError, mention
from ..io.safety import check_creatable, check_outputs
from ..models.configuration_utils import takes_a_season
from ..runtime.resources import check_graph_memory, check_memory, check_segment_tile, heaviest_preset, tile_step
from .members import Member, aux_inputs, aux_layout, check_members, model_defaults, requested_tile, say_assumptions
from .scene_outputs import SceneOutputs, segment_files
from .tile_choice import fitted_tile, run_device
from .tiling import TileGrid, overlap_pixels

GSD_WARNING_FACTOR = 1.5  # warn when the image resolution differs from the training one by more than this


@dataclass
class SegmentPlan:
    """Everything checked and decided before any heavy work (exposed for tests and benchmarks)."""

    cfg: SegmentConfig
    members: list[Member]
    reader: Any  # SceneReader
    grid: TileGrid
    region: tuple[int, int, int, int]  # col_off, row_off, width, height in image pixels
    tile: int
    overlap: int
    aux_ratio: int
    class_names: list[str]
    class_colors: list[str]
    binary: bool
    use_aux: bool
    use_region_mask: bool
    crs: Any
    transform: Any  # of the output (the region's window of the image grid)
    warnings: list[str]
    inputs: Any  # imagery.resolve.ResolvedImage: the file or VRT the reader opens, and how it was had
    refit: tuple[int, int] | None = None  # (trained tile, batch asked): plan_on_image fits the CPU tile again
    named: str | None = None  # how messages name the image where ``cfg.image`` is a web layer's temporary window
    days: Any = None  # a season model's: each date's day number (T,) int64, days since its first date's New Year

    @property
    def shown(self) -> str:
        """The image as messages name it: a web layer by its name, any other by its path."""
        return self.named or f"'{self.cfg.image}'"

    @property
    def width(self) -> int:
        return self.region[2]

    @property
    def height(self) -> int:
        return self.region[3]

    @property
    def probability_channels(self) -> int:
        return 1 if self.binary else len(self.class_names)


def _check_member_bands(member: Member, image_bands: int, image: str, named: str | None = None) -> None:
    """DataError when the image lacks the bands ``member`` was trained on; ``named``: the image's name where it is
    not its path (a web layer's temporary window)."""
    if not (problem := image_problem(member.data, image_bands, image, named)):
        return
    if not member.selection.active:  # another band count: the bands may be picked by number or by name
        names = model_view(member.data).band_names
        needs = f" ({', '.join(names)}, in this order)" if names else ""
        subject = named or f"the image '{image}'"
        raise DataError(f"{subject[0].upper()}{subject[1:]} has {image_bands} band(s) but the model '{member.path}' "
                        f"takes {member.data.vision_bands}{needs}; give the bands in the model's order with "
                        f"{mention('segment.bands')} (numbers or names), name the image's bands (band descriptions) "
                        f"so they are picked by name, or give an image with the same bands in the same order.")
    problem = problem.replace("the model", f"the model '{member.path}'", 1)
    raise DataError(f"{problem[0].upper()}{problem[1:]}; give an image with the same bands in the same order.")


def _snap_region(reader: Any, cfg: SegmentConfig) -> tuple[int, int, int, int]:
    """The image window to segment: the extent/AOI snapped outward to the image's pixel grid."""
    if cfg.extent is None and cfg.aoi is None:
        return (0, 0, reader.grid.width, reader.grid.height)
    try:
        return tuple(int(v) for v in reader.region_window())  # type: ignore[return-value]
    except AlignmentError as exc:
        given = [f"extent {cfg.extent} (CRS {cfg.extent_crs or 'of the image'})"] if cfg.extent is not None else []
        given += [f"AOI '{cfg.aoi}' (CRS {layer_crs_label(cfg.aoi)})"] if cfg.aoi else []
        raise AlignmentError(
            f"The {' and the '.join(given)} do{'es' if len(given) == 1 else ''} not overlap the image "
            f"'{cfg.image}' (CRS {reader.grid.crs}, bounds {tuple(round(v, 3) for v in reader.grid.bounds)}); "
            f"give an {'AOI' if cfg.aoi else 'extent'} over the image. Nothing was written."
        ) from exc


def _check_resources(cfg: SegmentConfig, members: list[Member], tile: int, region: tuple[int, int, int, int],
                     aux_ratio: int | None, reader: Any, callback: Callback, warnings: list[str]) -> int:
    """The tile cut to what covers the region, then the memory of a batch against the device's; returns the tile."""
    step = tile_step(aux_ratio)
    trained = max(m.data.tile_size for m in members)
    tile = check_segment_tile(tile, region[2], region[3], trained, step, callback, warnings)
    preset = heaviest_preset("segment", [m.metadata.model.preset for m in members])
    device = run_device(cfg)
    check_memory("segment", preset, cfg.batch_size, tile, reader.vision_bands + reader.aux_channels, device, step)
    for member in members:  # a graph made elsewhere may fix a batch far beyond the one asked for
        model = member.metadata.model
        if is_imported(member.metadata):
            batch = int(model.batch or cfg.batch_size)
            fix = (f"its graph fixes a batch of {batch:,} tiles: export it again with a dynamic or small batch axis"
                   if model.batch else f"give a smaller {mention('segment.batch_size')} or "
                                       f"{mention('segment.tile_size')}")
            check_graph_memory(batch, model.vision_channels, model.num_classes, tile, member.path, fix)
    return tile


def _check_gsd(reader: Any, data: DataMetadata, path: str, callback: Callback, warnings: list[str],
               resample: bool = False, image: str | None = None) -> None:
    """Warn when the image's pixels are far larger or smaller on the ground than the training ones, both in metres
    (a Web Mercator window against a model trained in UTM compares metres, not map units)."""
    resolution = model_view(data).resolution
    if resample or resolution is None or not reader.grid.georeferenced or reader.grid.crs is None:
        return  # when resampling, _resample_target checks the pixel sizes and reports the factor
    crs = reader.grid.crs.to_wkt()
    unit, model_unit = ground_unit(crs), resolution.ground
    by_latitude = unit.mercator or unit.kind == DEGREES or (  # a PROJ transformation only where it is needed
        resolution.latitude is None and (model_unit.mercator or model_unit.kind == DEGREES))
    latitude = middle_latitude(crs, tuple(reader.grid.bounds)) if by_latitude else None
    metres = unit.metres(float(np.mean(reader.gsd)), latitude)
    trained = (resolution.metres(latitude) if model_unit.kind != PIXELS  # no latitude recorded: this image's
               else unit.metres(resolution.size[0], latitude))  # no CRS recorded: taken in the image's units
    if not metres or not trained:
        return
    factor = metres / trained
    if factor > GSD_WARNING_FACTOR or factor < 1 / GSD_WARNING_FACTOR:
        warn(callback, warnings, f"The image '{image or reader.image}' has a pixel size of {reader.gsd[0]:.4g} x "
                                 f"{reader.gsd[1]:.4g} ({metres:.3g} m on the ground), {factor:.2f} times the training "
                                 f"pixel size ({trained:.3g} m) of '{path}'; results may be poor. Set "
                                 f"{mention('segment.resample_to_training_gsd')} to predict at the training pixel "
                                 f"size, or resample the image first, e.g. `gdalwarp -tr {reader.gsd[0] / factor:.6g} "
                                 f"{reader.gsd[1] / factor:.6g} -r average IN.tif OUT.tif`.")


def _asked_tile(cfg: SegmentConfig, members: list[Member], aux_ratio: int | None, callback: Callback,
                warnings: list[str]) -> int:
    """The tile size asked for, checked against the aux ratio and the graphs that take one size only."""
    tile = requested_tile(cfg, members)
    check_tile_size(tile, "segment.tile_size", aux_ratio, f"; try {members[0].data.tile_size}")
    for member in members:  # an exported graph, and some made elsewhere, take tiles of one size only
        meta = member.metadata
        imported = is_imported(meta)
        fixed = meta.model.fixed_tile if imported else meta.onnx.tile_size if meta.onnx is not None else None
        if fixed and int(fixed) != tile:
            fix = " (its graph takes no other size)" if imported else f" or export again with that tile size ({tile})"
            raise ConfigError(f"The ONNX model '{member.path}' takes tiles of {fixed} px (fixed "
                              f"{'by its graph' if imported else 'at export'}), not {tile}; leave out "
                              f"{mention('segment.tile_size')}{fix}.")
    if not cfg.tile_size and any(member.data.tile_size != tile for member in members[1:]):
        warn(callback, warnings, f"The ensemble members were trained on different tile sizes; using {tile} px (set "
                                 f"{mention('segment.tile_size')} to choose).")
    return tile


def plan_segmentation(cfg: SegmentConfig, callback: Callback | None = None,
                      members: list[Member] | None = None) -> SegmentPlan:
    """Check the inputs against the bundle(s) and plan the tiles; reads metadata only, no weights, no tiles.
    ``members``: ``check_members(cfg)`` as a bulk run has it (it reads the bundles once). Raises ConfigError,
    DataError, AlignmentError, BundleError, with the file or parameter and the fix."""
    from ..data.scene import SceneReader

    callback = callback or Callback()
    warnings: list[str] = []
    if not cfg.image and not cfg.dates:
        raise ConfigError(f"No image given; give {mention('segment.image')} (a GeoTIFF or other GDAL raster).")
    if not cfg.output:
        raise ConfigError(f"No output given; give {mention('segment.output')} (a .tif) for the class raster.")
    check_outputs(*segment_files(cfg))  # no output (or sidecar) is one of the inputs, by file identity
    if members is None:  # a bulk run reads the bundles once and says their assumptions once
        members = check_members(cfg)
        say_assumptions(members, callback, warnings)
    first = members[0]
    data = first.data
    border_given = cfg.border is not None
    cfg = model_defaults(cfg, first, callback)
    # destinations first: cheap, and a read-only folder should not cost a model load
    for kind, path in SceneOutputs.of(cfg).destinations():
        check_creatable(path, kind.what)  # a missing folder is made when the run starts writing

    aux_members, aux_paths = aux_inputs(cfg, members, callback, warnings)
    use_aux = bool(aux_members)
    aux_data = aux_members[0].data if use_aux else data
    aux_ratio = aux_data.aux_ratio
    tile = _asked_tile(cfg, members, aux_ratio if use_aux else None, callback, warnings)

    class_colors, message = repaired_class_colors(list(data.class_colors), list(data.class_names), first.path)
    if message:  # before any tile is read: the writers would fail on the colour only after the last tile
        warn(callback, warnings, message)
    from ..imagery.dates import check_dates, plan_dates
    from ..imagery.door import open_image
    from ..imagery.request import ImageRequest

    season = takes_a_season(first.metadata.model.name)
    files, season_named, date_callback = None, None, callback
    if cfg.dates:  # a season as given: sorted by date, clouds masked, dropped dates said (imagery.season)
        from ..imagery.season import resolve_season

        given = resolve_season(list(cfg.dates), callback, stack_dates=list(cfg.stack_dates) or None)
        cfg, files = replace(cfg, image=given.paths[0], after=given.paths[1:], dates=[], stack_dates=[]), given.files
        season_named = f"'{given.dates[0].source}'"  # its first date as given, not the VRT of its clouds
        # every date's lines name the date as given, and a season's dozens of alike lines come as the first few
        date_callback = RenamedCallback(callback, renamer({d.path: f"'{d.source}'" for d in given.dates}))
    try:
        bands, after_bands, dates = None, None, check_dates(cfg, members)
    except BaseException:
        if files is not None:
            files.close()
        raise
    if dates > 1 or season:  # every date through the door, each judged by its own statistics; the reader stacks them
        condensed = CondensedCallback(date_callback, each="date")
        resolved, members, bands, after_bands = plan_dates(cfg, members, condensed, warnings, files)
        condensed.finish()
    else:
        resolved = open_image(ImageRequest.of_segment(cfg), callback, members=members, warnings=warnings,
                              aux=aux_paths)  # a web layer among the aux: its window over the same extent
        members, aux_paths = resolved.members or members, resolved.aux
    named = resolved.named or season_named  # how messages name the image where its path is not what the user gave
    if resolved.window is not None:  # a web service: the run reads its window, a temporary file
        cfg = replace(cfg, image=resolved.path, stac_item=None)
    first = members[0]
    doors = resolved.dates if dates > 1 or season else (resolved,)
    # what the door opened, by path (the first of a path): the reader takes each over (one open a file)
    opened = {door.path: door.dataset for door in reversed(doors) if door.dataset is not None}
    try:
        per_file = aux_data.aux_bands_per_file if use_aux else None
        reader = SceneReader(resolved.path, aux_paths, aux_bands_per_file=per_file, aux_ratio=aux_ratio,
                             callback=callback, extent=cfg.extent, extent_crs=cfg.extent_crs, aoi=cfg.aoi,
                             bands=bands, after=[d.path for d in doors[1:]], after_bands=after_bands,
                             # the door's sample of every date found valid pixels: the reader need not sample again
                             opened=opened, dates_hold_data=dates > 1 and all(d.seen is not None for d in doors),
                             each_date=season)
    except BaseException:
        resolved.close()
        raise
    for door in doors:
        if door.dataset is not None and opened.get(door.path) is door.dataset:
            door.dataset = None  # the reader's now
    try:
        for member in members if dates == 1 and not season else ():  # several dates were checked one by one
            _check_member_bands(member, reader.image_bands, cfg.image, named)
        if use_aux and (problem := aux_problem(aux_data, reader.aux_file_bands)):
            raise DataError(f"The aux files {aux_paths} do not fit the model '{aux_members[0].path}': {problem} "
                            f"({aux_layout(aux_data)}); give the same aux layout as in training.")
        region = _snap_region(reader, cfg)
        from ..data.align import check_overlap, tile_grid
        from ..data.checks import check_image_domain, check_scene_aux, check_scene_image, warn_dates_cover

        region_grid = tile_grid(reader.grid, *region)
        if use_aux:
            for path in aux_paths:  # AlignmentError naming the aux file that does not cover the region
                with open_raster(path, "aux raster") as ds:
                    aux_grid = grid_of(ds)
                if aux_grid.georeferenced and reader.grid.georeferenced:
                    check_overlap(region_grid, aux_grid, f"{cfg.image} (segmented extent)", path, "aux raster")
            check_scene_aux(reader, callback, warnings, region_grid, "the segmented region of",
                            f"limit the region with {mention('segment.extent')}", aux_data.aux_stats)
        check_scene_image(reader, callback, warnings, cfg.image)
        warn_dates_cover(reader, callback, warnings, region_grid, "the segmented region of",
                         f"the change raster is nodata there (give dates that cover the same area, or limit the "
                         f"region with {mention('segment.extent')})")
        days = season_days(reader, resolved, cfg, first, callback, warnings) if season else None
        if not is_imported(first.metadata) and dates == 1 and not season:  # its maker's scaling: no training data
            # the image's values against the training statistics (a warning, or an error when strict); the door's
            # sample where the reader reads the values it judged (None: sampled here)
            check_image_domain(reader.image_dataset(), cfg.image, first.selection.vision_bands(reader.image_bands),
                               first.data.vision_stats, first.path, callback, warnings, cfg.strict_inputs,
                               mention("segment.strict_inputs"), resolved.seen, named)
        _check_gsd(reader, data, first.path, callback, warnings, cfg.resample_to_training_gsd, cfg.image)
        overlap = overlap_pixels(tile, cfg.overlap)
        refit = None if cfg.tile_size else (tile, cfg.batch_size)
        # resampled, the model sees another grid: plan_on_image fits the tile to it and says so
        larger = None if cfg.tile_size else fitted_tile(cfg, members, tile, overlap, region, aux_ratio if use_aux
                                                        else None, callback, say=not cfg.resample_to_training_gsd)
        if larger and larger.batch != cfg.batch_size:  # a batch holds the pixels it held with doubled tiles
            cfg = replace(cfg, batch_size=larger.batch)
        tile = _check_resources(cfg, members, larger.tile if larger else tile, region,
                                aux_ratio if use_aux else None, reader, callback, warnings)
        if not larger or tile != larger.tile:  # the trained overlap in pixels with a larger tile; else the share
            overlap = overlap_pixels(tile, cfg.overlap)
        if cfg.border >= tile:
            said = (mention('segment.border') if border_given else
                    f"The border recorded in the model '{first.path}' (the scene mirrored by its maker)")
            raise ConfigError(f"{said} ({cfg.border} px) must be less than the tile size ({tile} px); give a "
                              f"smaller {mention('segment.border')}.")
        grid = TileGrid.plan(region, (reader.grid.width, reader.grid.height), tile, overlap, cfg.border)
        if cfg.polygons:  # a class the model has not would give no polygon, said only after the whole run
            chosen_polygon_classes(cfg, list(data.class_names), first.output_channels == 1)
    except BaseException:
        reader.close()
        resolved.close()
        raise
    return SegmentPlan(cfg=cfg, members=members, reader=reader, grid=grid, region=region, tile=tile,
                       overlap=overlap, aux_ratio=aux_ratio, class_names=list(data.class_names),
                       class_colors=class_colors, binary=first.output_channels == 1, use_aux=use_aux,
                       use_region_mask=cfg.aoi is not None, crs=reader.grid.crs, transform=region_grid.transform,
                       warnings=warnings, inputs=resolved, refit=refit, named=named, days=days)


def plan_on_image(plan: SegmentPlan, image: str, after: list[str] | tuple[str, ...] = (),
                  inside: tuple[int, int, int, int] | None = None) -> SegmentPlan:
    """The same members, overlap and aux over the whole of another image on the same footprint (and a change
    model's later dates ``after``); a CPU tile fitted to the plan's region is fitted to this image instead (and
    said). The resample mode's working grid (the image warped to the training pixel size as a VRT): every input
    check already ran on the real image, so nothing is checked or reported twice; ``inside``: the real image's
    part inside its fill collar on this grid (the warp blends the collar into its edge: no longer one value).
    """
    from ..data.align import tile_grid
    from ..data.scene import SceneReader

    source = plan.reader
    dated = {"bands": source.selection.vision_bands(source.image_bands), "after": after,
             "after_bands": [date.bands for date in source.later_dates]} if after else {}
    reader = SceneReader(image, source.aux_paths, aux_bands_per_file=source.aux_bands_per_file,
                         aux_ratio=plan.aux_ratio, callback=source.callback, say_checks=False, inside=inside, **dated)
    try:
        region = (0, 0, reader.grid.width, reader.grid.height)
        cfg, tile, overlap = plan.cfg, plan.tile, plan.overlap
        if plan.refit is not None:
            tile, batch = plan.refit
            cfg, aux_ratio = replace(cfg, batch_size=batch), plan.aux_ratio if plan.use_aux else None
            if larger := fitted_tile(cfg, plan.members, tile, overlap, region, aux_ratio, source.callback):
                cfg, tile = replace(cfg, batch_size=larger.batch), larger.tile
            if tile != plan.tile:  # memory for this tile and batch
                tile = _check_resources(cfg, plan.members, tile, region, aux_ratio, reader, source.callback, [])
        grid = TileGrid.plan(region, (reader.grid.width, reader.grid.height), tile, overlap, plan.grid.border)
        transform = tile_grid(reader.grid, *region).transform
    except BaseException:
        reader.close()
        raise
    return replace(plan, cfg=cfg, reader=reader, grid=grid, region=region, tile=tile, use_region_mask=False,
                   crs=reader.grid.crs, transform=transform, warnings=[])


def season_days(reader: Any, resolved: Any, cfg: SegmentConfig, member: Member, callback: Callback,
                warnings: list[str]) -> Any:
    """Each date's day number for a season model (``time_axis.days_since``), each date's acquisition date read from
    the file the user gave where the door read another (a VRT of its bands); DataError naming a date without one
    and the ways to give one. A count of dates other than ``member`` was trained on is said (fewer: a warning)."""
    from ..data.acquisition import Acquisition, of_source
    from ..imagery.season import GIVE_A_DATE
    from ..time_axis import days_since

    paths = [cfg.image, *cfg.after]
    taken = [of_source(door.source, Acquisition(when, "", None, None, "")).date
             for door, when in zip(resolved.dates, reader.taken)]
    if None in taken:
        missing = paths[taken.index(None)]
        raise DataError(f"The raster '{missing}' has no acquisition date, and a season model reads each date's day "
                        f"of the year: {GIVE_A_DATE}; or give the dates with {mention('segment.dates')}.")
    if note := season_dates_note(member.data, taken, member.path):
        if len(taken) < member.data.dates:
            warn(callback, warnings, note)
        else:
            callback.info(note)
    return days_since(taken)
