"""DualStream engine: multi-modal semantic segmentation of geospatial rasters.

Pure Python (torch, transformers, rasterio, numpy, GDAL). Never imports qgis, and never imports torch at package
import time, so that a QGIS plugin can load it to report what is missing. Modules import each other relatively, so
the same code works from a checkout, a ``pip install`` (the ``dualstream`` command, or ``python -m engine``) and
bundled inside the plugin folder (``dualstream_qgis.engine``).

Map (data flows sources -> ``imagery`` -> ``data`` readers -> ``models`` -> ``training`` / ``segment`` -> ``io`` /
``export``; the longer table with the reasons is docs/design.md; a test checks that this map names the tree):

- ``declarations.py``  each setting declared once: help, CLI flag, Processing parameter, choices, bounds; the base
                       of every settings dataclass (dict/JSON round trip, ``check``)
- ``errors.py``        one error hierarchy; every message says what to do and names the setting (``mention``)
- ``callbacks.py``     progress, cancellation, and the stage names and epoch line both front ends show
- ``text.py``          text from files made printable (no control characters reach a log or a terminal)
- ``time_axis.py``     how a scene's dates lie in an array: (T, C, h, w), stacked on channels, split, dates
- ``file_dates.py``    the products whose file names carry their date (Sentinel-2, HLS, Landsat, MODIS), read
- ``runtime/``         where the work runs: devices, CPU threads, torchrun, host <-> device copies, resource checks
- ``io/``              files written safely: atomic writes, locks, output safety, the one format table, the writers
- ``models/``          the family registry, one folder per family, encoders, fusion, pretrained weights by name
- ``config/``          the engine's settings: data, augmentation, loss, training, segment, bulk, evaluate, polygons
- ``data/``            raster I/O, aux alignment, labels, band statistics, scenes, sampling, augmentations, datasets
- ``bundle/``          a model file: bundle, typed metadata, description; models made elsewhere wrapped as bundles
- ``imagery/``         the one door from any source (file, URL, ``/vsi``, STAC item, web service) to pixels
- ``export/``          a bundle turned into other formats: ONNX export (cache, int8), the STAC MLM card
- ``ready/``           ready models by name: the catalogue, downloads checked by SHA-256, the cached bundles
- ``prompted/``        prompted labelling with Segment Anything models: prompts in map coordinates -> polygons
- ``training/``        fit loop, losses, metrics, optimiser and schedule, checkpoints, automatic settings, report
- ``segment/``         whole-scene inference: plan, readers, predictors, blending, outputs; ``segment/bulk/``
- ``evaluate.py``      class rasters against label rasters or polygons, streamed in row blocks
- ``suggest/``         where to label next: windows ranked by the model's uncertainty
- ``api/``             the one door both front ends use: declarations, job functions, files, sources
- ``cli/``             the ``dualstream`` command, one module per subcommand; ``__main__.py``: ``python -m engine``
"""

__version__ = "0.1.0"
