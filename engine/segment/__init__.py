"""Whole-scene segmentation: streaming sliding-window inference with blended tiles, TTA and ensembles.

The image comes through the one door, ``engine.imagery``. One concern per module:

- :mod:`.scene_outputs` the files a scene reads and writes, what it produced (one class from values in other
  units refused)
- :mod:`.plan`       inputs checked against the bundle(s), region, tile grid (metadata only); :mod:`.members`
  the bundles as ensemble members; :mod:`.tile_choice` the CPU tile fitted to the region (whether an image
  fits a bundle: ``bundle.expects``; a model's dates, each through the image door: ``imagery.dates``)
- :mod:`.tiling`     the tile grid and the blending of overlapping tiles (on the GPU too)
- :mod:`.predictor`  bundles loaded once, ensemble x TTA on tile batches (the transforms and weighted mean both
  backends use); :mod:`.onnx_predictor` the same for ONNX models, :mod:`.backend` which of them runs
- :mod:`.prepare`    one tile read, normalised and padded; :mod:`.reader` (threads) and :mod:`.reader_pool`
  (processes) read, normalise and batch the tiles ahead of the model
- :mod:`.pipeline`   reader -> predictor -> blending -> sink, with bounded queues
- :mod:`.sinks`      sinks (class/probability rasters in a writer thread), publishing, clean-up
- :mod:`.resample`   the resample mode: another plan and sink for the same pipeline
- :mod:`.run`        one scene end to end (:func:`segment`); :mod:`.relay` a run for suggest or propose
- :mod:`.vectorize`  any class raster into attributed polygons (the ``polygons`` job)
- :mod:`.compare`    two dates compared class by class; :mod:`.change_table` the hectares of each kind of change
- :mod:`.bulk`       many scenes: discovery, resume markers, the runner, the summary

Every check that can fail on the inputs runs before any model is loaded or any tile is read, and every
output is written to a temp file beside its destination and renamed only when the whole run succeeded.
"""

from .members import Member
from .pipeline import GDAL_CACHE_BYTES, PipelineStats, run_tiles
from .plan import GSD_WARNING_FACTOR, SegmentPlan, plan_on_image, plan_segmentation
from .predictor import Predictor, tta_transforms
from .reader import Batch, TileReader, prepared_batches
from .resample import GSD_RESAMPLE_TOLERANCE
from .run import segment
from .scene_outputs import SegmentResult

__all__ = [
    "GDAL_CACHE_BYTES", "GSD_RESAMPLE_TOLERANCE", "GSD_WARNING_FACTOR", "Batch", "Member", "PipelineStats",
    "Predictor", "SegmentPlan", "SegmentResult", "TileReader", "plan_on_image", "plan_segmentation",
    "prepared_batches", "run_tiles", "segment", "tta_transforms",
]
