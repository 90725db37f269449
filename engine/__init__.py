"""DualStream engine: multi-modal semantic segmentation of geospatial rasters.

Pure Python (torch, transformers, rasterio, numpy, GDAL). Never imports qgis, and never imports
torch at package import time, so that a QGIS plugin can load it to report what is missing.
Modules inside the engine import each other relatively, so the same code works from a repository
checkout or a ``pip install`` (the ``dualstream`` command, or ``python -m engine``) and bundled inside the
plugin folder (``dualstream_qgis.engine``).

Map (data flows files -> ``data`` -> ``models`` -> ``training`` / ``segment`` -> ``io`` / ``export``; the
longer table with the reasons is docs/design.md):

- ``settings.py``      the base of every settings dataclass (dict/JSON round trip, ``check``)
- ``declarations.py``  each setting declared once: help, CLI flag, Processing parameter, choices, bounds
- ``config/``          the engine's settings: data, augmentation, loss, training, segment, bulk, evaluate
- ``errors.py``        one error hierarchy; every message says what to do and names the setting
- ``callbacks.py``     progress, cancellation, and the stage names and epoch line both front ends show
- ``data/``            raster I/O, alignment of aux rasters, labels, band statistics, scenes, sampling,
  augmentations, datasets, synthetic demo data
- ``models/``          the family registry (``registry.py``), one folder per family with its card,
  ``encoders/``, shared blocks, fusion, pretrained weights by name
- ``training/``        the fit loop, forward pass and validation, losses, metrics, optimiser and schedule,
  checkpoints, settings chosen from the data, time budget, report
- ``segment/``         whole-scene inference: plan, tile readers, torch / onnxruntime predictors with ensemble
  x TTA, blending pipeline, one scene's run; ``segment/bulk/`` many scenes, resumable, with a summary
- ``evaluate.py``      class rasters against label rasters or polygons, streamed in row blocks
- ``bundle/``          a model file: the bundle and its typed metadata schema, read and written, described
  in words; models made elsewhere (ONNX graphs, Deepness metadata) wrapped as bundles
- ``export/``          a bundle turned into other formats: ONNX export (cache, int8), the STAC MLM card
- ``io/``              files written safely: atomic writes, locks, output safety, digests, CSV tables, the
  GeoTIFF / QML / polygon writers
- ``runtime/``         where the work runs: stack and devices, CPU threads, torchrun, host <-> device copies,
  prefetch, resource checks
- ``cli/``             the ``dualstream`` command, one module per subcommand, options from the declarations;
  ``__main__.py`` makes ``python -m engine`` the same command
"""

__version__ = "0.1.0"
