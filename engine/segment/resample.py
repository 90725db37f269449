"""The resample mode: predict at the training pixel size, or the image enlarged (``segment.zoom``), or both; write
the outputs on the input grid.

Another plan and sink for the same tile pipeline: the region is warped to the first bundle's training pixel size
(over the zoom; an image without georeferencing is scaled in pixels: GDAL's translate in place of its warp)
as a GDAL VRT (no copy of the pixels; ``average`` when shrinking, ``bilinear`` when enlarging; a change model's
later dates onto the same grid), planned with :func:`plan_on_image` and run into a :class:`ProbabilityStore` in a
hidden folder beside the output. The probabilities are warped back bilinearly onto exactly the grid a run without
resampling writes (read block row by block row) and the classes derived from them, so the class and probability
rasters agree; nodata in the input (or outside the AOI) is nodata. Every output goes temp-then-rename as usual.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle.view import model_view
from ..callbacks import Callback, Stage, warn
from ..data.ground import ground_unit, map_units_per_metre
from ..data.raster import open_raster, read_window
from ..errors import ConfigError, mention
from ..io.atomic import temporary_folder
from ..io.writers import BLOCK, gdal_errors
from ..runtime.environment import require
from .pipeline import run_tiles, tile_options
from .plan import SegmentPlan, plan_on_image
from .predictor import Predictor
from .scene_outputs import SceneOutputs, SegmentResult, scene_result
from .sinks import RESAMPLE_WORK, ProbabilityStore, SceneWriter, discard_partial_outputs, finish_outputs

GSD_RESAMPLE_TOLERANCE = 0.01  # relative pixel-size difference below which the image is used as it is


def resample_target(plan: SegmentPlan, callback: Callback) -> tuple[float, float] | None:
    """The first bundle's training pixel size (x, y), or None when the image already has it (within 1 %).
    ConfigError: the bundle records no pixel size, or the image has no usable georeferencing."""
    first = plan.members[0]
    resolution = model_view(first.data).resolution
    if resolution is None:
        raise ConfigError(f"resample_to_training_gsd: the model '{first.path}' records no training pixel size "
                          f"(data.gsd, or the resolution a model made elsewhere was made for); segment without "
                          f"resampling, or resample the image with gdalwarp first.")
    train, in_metres = resolution.size, resolution.recorded
    for member in plan.members[1:]:
        other = model_view(member.data).resolution
        if other and not np.allclose(other.size, train, rtol=GSD_RESAMPLE_TOLERANCE):
            warn(callback, plan.warnings, f"The ensemble members were trained at different pixel sizes ({list(train)} "
                                          f"for '{first.path}', {list(other.size)} for '{member.path}'); resampling to "
                                          "the first member's.")
    reader = plan.reader
    if not reader.grid.georeferenced:
        raise ConfigError(f"resample_to_training_gsd: the image '{plan.cfg.image}' has no georeferencing, so its "
                          f"pixel size is unknown; georeference it or segment without resampling.")
    _refuse_rotated(plan, "resample_to_training_gsd", "segment without resampling")
    t = plan.transform
    if in_metres and reader.grid.crs is not None and reader.grid.crs.is_geographic:
        raise ConfigError(f"resample_to_training_gsd: the model '{first.path}' was made for {train[0]:g} m per "
                          f"pixel but the image '{plan.cfg.image}' is in degrees; reproject the image to a "
                          f"projected CRS (metres) first.")
    train_crs = first.data.crs
    if train_crs and reader.grid.crs is not None:
        from rasterio.crs import CRS

        try:
            geographic = CRS.from_user_input(train_crs).is_geographic
        except Exception:  # noqa: BLE001 - an unparsable training CRS: compare the numbers as they are
            geographic = reader.grid.crs.is_geographic
        if geographic != reader.grid.crs.is_geographic:
            raise ConfigError(f"resample_to_training_gsd: the model '{first.path}' was trained in "
                              f"{'degrees' if geographic else 'metres'} but the image '{plan.cfg.image}' is in "
                              f"{'degrees' if reader.grid.crs.is_geographic else 'map units'}; reproject the "
                              f"image to a CRS like the training one first.")
    train = _in_map_units(resolution, reader.grid.crs,
                          (t.c, t.f + t.e * plan.height, t.c + t.a * plan.width, t.f))
    gsd = [float(v) for v in reader.gsd]
    if all(abs(g / t_ - 1) <= GSD_RESAMPLE_TOLERANCE for g, t_ in zip(gsd, train)):
        callback.info(f"The image '{plan.cfg.image}' already has the training pixel size "
                      f"{list(train)}; segmenting it without resampling.")
        return None
    return train


def working_target(plan: SegmentPlan, callback: Callback) -> tuple[float, float] | None:
    """The pixel size the model reads the image at (in the image's units; an image without georeferencing: in
    pixels): the training pixel size with ``resample_to_training_gsd``, else the image's own, over ``segment.zoom``;
    None when that is the image's own (no resampling)."""
    cfg, zoom = plan.cfg, float(plan.cfg.zoom or 1.0)
    if plan.days is not None and (cfg.resample_to_training_gsd or zoom != 1.0):
        raise ConfigError(f"{mention('segment.zoom')} and {mention('segment.resample_to_training_gsd')} take one "
                          f"image or a pair, not a season's dates: resample the dates with gdalwarp first, or "
                          f"leave them out.")
    target = resample_target(plan, callback) if cfg.resample_to_training_gsd else None
    if zoom == 1.0:
        return target
    georeferenced = plan.reader.grid.georeferenced
    if georeferenced:
        _refuse_rotated(plan, mention("segment.zoom"), "segment it with zoom 1")
    base = target or (tuple(abs(float(v)) for v in plan.reader.gsd) if georeferenced else (1.0, 1.0))
    return base[0] / zoom, base[1] / zoom


def _refuse_rotated(plan: SegmentPlan, setting: str, instead: str) -> None:
    """ConfigError naming ``setting`` where the image is rotated or not north-up: its region has no bounds to warp
    over; ``instead``: what else to do."""
    t = plan.transform
    if t.b != 0 or t.d != 0 or t.e >= 0:
        raise ConfigError(f"{setting}: the image '{plan.cfg.image}' is rotated or not north-up; warp it to a "
                          f"north-up grid (gdalwarp) first, or {instead}.")


def _scaled_inside(plan: SegmentPlan, work_w: int, work_h: int) -> tuple[int, int, int, int] | None:
    """The image's part inside its fill collar (:mod:`engine.data.edge_fill`) on the working grid of ``work_w`` x
    ``work_h`` px over the plan's region, less the working pixels the warp blends the collar into (one input pixel
    beside it is left out too); None: no collar."""
    if plan.reader.inside is None:
        return None
    col0, row0 = plan.region[0], plan.region[1]
    sx, sy = work_w / plan.width, work_h / plan.height
    mx, my = max(1, math.ceil(sx)), max(1, math.ceil(sy))  # the bilinear kernel's reach: one input pixel
    c0, r0, c1, r1 = (v - o for v, o in zip(plan.reader.inside, (col0, row0, col0, row0)))
    # a side of the region the collar does not reach is kept whole
    return (0 if c0 <= 0 else math.ceil(c0 * sx) + mx, 0 if r0 <= 0 else math.ceil(r0 * sy) + my,
            work_w if c1 >= plan.width else math.floor(c1 * sx) - mx,
            work_h if r1 >= plan.height else math.floor(r1 * sy) - my)


def _in_map_units(resolution: Any, crs: Any, bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    """The training pixel size in the image CRS's map units, the same metres on the ground (a model trained in UTM
    on an image in Web Mercator or in feet: :mod:`engine.data.ground`); as recorded where either side has no
    ground unit."""
    x, y = (float(v) for v in resolution.size)
    metres = resolution.metres()
    if metres is None or crs is None or ground_unit(crs.to_wkt()) == resolution.ground:
        return x, y  # the same unit (UTM on UTM, degrees on degrees): the numbers compare as they are
    per_metre = map_units_per_metre(crs.to_wkt(), bounds)
    return metres * per_metre, metres * (y / x) * per_metre


def segment_resampled(plan: SegmentPlan, outputs: SceneOutputs, target: tuple[float, float], predictor: Predictor,
                      callback: Callback, start: float) -> SegmentResult:
    """The plan's region predicted at pixel size ``target`` (see the module docstring); ``outputs`` on its grid."""
    from ..data.align import tile_grid

    gdal = require("osgeo.gdal")
    cfg = plan.cfg
    tmp_dir: Path | None = None
    store = writer = image_ds = back = working = None
    extra_tmp: list[Path] = []
    try:
        t, width, height = plan.transform, plan.width, plan.height
        bounds = (t.c, t.f + t.e * height, t.c + t.a * width, t.f)  # left, bottom, right, top of the region
        in_pixels = not plan.reader.grid.georeferenced  # scaled in pixels (segment.zoom alone): no bounds to warp
        gsd = [abs(float(t.a)), abs(float(t.e))] if in_pixels else [float(v) for v in plan.reader.gsd]
        work_w, work_h = max(1, round(width * gsd[0] / target[0])), max(1, round(height * gsd[1] / target[1]))
        working_gsd = [gsd[0] * width / work_w, gsd[1] * height / work_h]
        factor = float(np.mean(gsd)) / float(np.mean(target))
        method = "average" if factor < 1 else "bilinear"  # shrinking averages, enlarging interpolates
        zoom = float(cfg.zoom or 1.0)
        to = (f"the training pixel size {list(target)} of '{plan.members[0].path}'" if zoom == 1.0 else
              f"{'the training pixel size over ' if cfg.resample_to_training_gsd else ''}zoom {zoom:g} "
              f"({mention('segment.zoom')})")
        callback.info(f"Resampling '{cfg.image}' from a pixel size of {gsd[0]:.4g} x {gsd[1]:.4g}"
                      f"{' (pixels)' if in_pixels else ''} to {to} (factor {factor:.2f}, {method}): the model sees "
                      f"{work_w}x{work_h} px at {working_gsd[0]:.4g} x {working_gsd[1]:.4g}; the outputs stay on "
                      f"the input grid ({width}x{height} px).")
        tmp_dir = temporary_folder(outputs.classes, RESAMPLE_WORK)  # a killed run's is removed by the next one

        def warp(name: str, path: Any, window: tuple[int, int, int, int] = (*plan.region[:2], width, height),
                 **options: Any) -> Path:  # over the region (``window`` in pixels), into the work folder
            with gdal_errors(gdal):
                if in_pixels:
                    options.pop("dstSRS", None)  # the dates are paired pixel for pixel
                    nodata = options.pop("dstNodata", None)
                    options.pop("srcNodata", None)
                    gdal.Translate(str(tmp_dir / name), str(path), options=gdal.TranslateOptions(
                        format="VRT", srcWin=list(window), noData=nodata, **options))
                else:
                    gdal.Warp(str(tmp_dir / name), str(path), options=gdal.WarpOptions(
                        format="VRT", outputBounds=bounds, **options))
            return tmp_dir / name

        # what the plan reads (the model's bands picked, values in its units), not the file as given
        vrt = warp("image.vrt", plan.inputs.path, width=work_w, height=work_h, resampleAlg=method)
        # a change model's later dates, warped onto the same working grid (from their own CRS)
        later = [warp(f"later_{index + 1}.vrt", date.path, width=work_w, height=work_h, resampleAlg=method,
                      dstSRS=plan.crs.to_wkt() if plan.crs is not None else None)
                 for index, date in enumerate(getattr(plan.inputs, "later", []))]

        # the working grid: the warped image through the normal tile pipeline into float32 probabilities
        working = plan_on_image(plan, str(vrt), [str(v) for v in later], _scaled_inside(plan, work_w, work_h))
        tiles = len(working.grid)
        callback.info(f"Segmenting the warped image ({work_w}x{work_h} px) with {len(plan.members)} model(s) on "
                      f"{predictor.device}: {tiles} tile{'' if tiles == 1 else 's'} of {working.tile} px, overlap "
                      f"{working.overlap} px, TTA {cfg.tta}.")
        store = ProbabilityStore(working, tmp_dir / "probabilities.tif")
        # the working plan's batch: its tile may be fitted to the warped image
        stats = run_tiles(working, predictor, store, callback, **tile_options(working.cfg, predictor.device))
        callback.check_canceled()

        # back onto the input grid: a warped VRT of the probabilities, read (and so warped) block row by block row
        back_vrt = warp("back.vrt", store.path, (0, 0, work_w, work_h), width=width, height=height,
                        resampleAlg="bilinear", srcNodata="nan", dstNodata="nan")
        with gdal_errors(gdal):
            back = gdal.Open(str(back_vrt))
        image_ds = open_raster(cfg.image, "image")
        writer = SceneWriter(plan)
        col0, row0 = plan.region[0], plan.region[1]
        channels = plan.probability_channels
        callback.progress(0, height, Stage.RESAMPLE)
        for row in range(0, height, BLOCK):
            callback.check_canceled()
            rows = min(BLOCK, height - row)
            with gdal_errors(gdal):
                probs = np.asarray(back.ReadAsArray(0, row, width, rows), np.float32).reshape(channels, rows, width)
            _, valid = read_window(image_ds, col0, row0 + row, width, rows, inside=plan.reader.inside)
            if plan.use_region_mask:
                valid &= plan.reader.region.mask(tile_grid(plan.reader.grid, col0, row0 + row, width, rows))
            valid &= np.isfinite(probs).all(axis=0)
            writer.sink(row, np.nan_to_num(probs, nan=0.0), valid)
            callback.progress(row + rows, height, Stage.RESAMPLE)
        writer.finish()
        qml = finish_outputs(plan, outputs, writer, callback, extra_tmp, metadata={
            "DUALSTREAM_WORKING_GSD": " ".join(f"{v:.10g}" for v in working_gsd)})
    except BaseException:
        discard_partial_outputs([store, writer], extra_tmp)
        raise
    finally:
        back = None  # noqa: F841 - closes the GDAL dataset before its folder goes
        if image_ds is not None:
            image_ds.close()
        if working is not None:
            working.reader.close()
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    seconds = time.perf_counter() - start
    callback.info(f"Wrote '{cfg.output}': {width * height:,} pixels of the image's grid in {seconds:.1f} s, "
                  f"{width * height / max(seconds, 1e-9):,.0f} pixels a second (predicted at "
                  f"{'the training pixel size' if zoom == 1.0 else f'zoom {zoom:g}'}).")
    # the working grid's store and the final writer both waited on and spent time writing
    timings = {"model": stats.model_seconds, "input_wait": stats.input_wait,
               "output_wait": store.wait_seconds + writer.wait_seconds, "read": stats.read_seconds,
               "write": store.write_seconds + writer.write_seconds}
    return scene_result(plan, outputs, qml, writer, stats, predictor, seconds, warnings=list(plan.warnings),
                        working_gsd=working_gsd, timings=timings)
