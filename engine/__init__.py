"""DualStream engine: multi-modal semantic segmentation of geospatial rasters.

Pure Python (torch, transformers, rasterio, numpy, GDAL). Never imports qgis, and never imports
torch at package import time, so that a QGIS plugin can load it to report what is missing.
Modules inside the engine import each other relatively, so the same code works from a repository
checkout or a ``pip install`` (the ``dualstream`` command, or ``python -m engine``) and bundled inside the
plugin folder (``dualstream_qgis.engine``).

Map (data flows sources -> ``imagery``, the one door to pixels -> ``data`` readers -> ``models`` -> ``training`` /
``segment`` -> ``io`` / ``export``; the longer table with the reasons is docs/design.md, and a test checks that
this map names every package and top-level module of the tree):

- ``settings.py``      the base of every settings dataclass (dict/JSON round trip, ``check``)
- ``declarations.py``  each setting declared once: help, CLI flag, Processing parameter, choices, bounds
- ``errors.py``        one error hierarchy; every message says what to do and names the setting (``mention``)
- ``callbacks.py``     progress, cancellation, and the stage names and epoch line both front ends show
- ``text.py``          text from files made printable (no control characters reach a log or a terminal)
- ``runtime/``         where the work runs: stack and devices, CPU threads, torchrun, host <-> device copies,
  prefetch, resource checks
- ``io/``              files written safely: atomic writes, locks, output safety, the one format table, digests,
  CSV tables, the GeoTIFF / QML / polygon writers, locations of local and remote sources
- ``models/``          the family registry (``registry.py``), one folder per family with its card,
  ``encoders/``, shared blocks, fusion, pretrained weights by name; ``AutoModelConfig`` the one lookup
- ``config/``          the engine's settings: data, augmentation, loss, training, segment, bulk, evaluate, polygons
- ``data/``            raster I/O, alignment of aux rasters, labels, band statistics, scenes, sampling, bands by
  name, STAC items, a scene's acquisition date and place, augmentations, datasets, synthetic demo data
- ``bundle/``          a model file: the bundle and its typed metadata schema, read and written, described in
  words; models made elsewhere (ONNX graphs, Deepness metadata) wrapped as bundles; one view of what any
  model expects
- ``imagery/``         the one door from any source (file, URL, ``/vsi``, STAC item, web service) to a raster a
  reader opens: bands by name, values in a model's units; Segment Anything's RGB picture on top
- ``export/``          a bundle turned into other formats: ONNX export (cache, int8), the STAC MLM card
- ``ready/``           ready models by name: the catalogue, downloads checked by SHA-256, the cached bundles
- ``prompted/``        prompted labelling with Segment Anything models: prompts in map coordinates -> polygons
- ``training/``        the fit loop, forward pass and validation, losses, metrics, optimiser and schedule,
  checkpoints, settings chosen from the data, time budget, report
- ``segment/``         whole-scene inference: plan, tile readers, torch / onnxruntime predictors with ensemble x
  TTA, blending pipeline, one scene's run; ``segment/bulk/`` many scenes, resumable, with a summary
- ``evaluate.py``      class rasters against label rasters or polygons, streamed in row blocks
- ``suggest/``         where to label next: windows ranked by the model's uncertainty
- ``api/``             the one door both front ends use: declarations, job functions, files, sources
- ``cli/``             the ``dualstream`` command, one module per subcommand, options from the declarations;
  ``__main__.py`` makes ``python -m engine`` the same command
"""

__version__ = "0.1.0"
