"""DualStream engine: multi-modal semantic segmentation of geospatial rasters.

Pure Python (torch, transformers, rasterio, numpy, GDAL). Never imports qgis, and never imports
torch at package import time, so that a QGIS plugin can load it to report what is missing.
Modules inside the engine import each other relatively, so the same code works from a repository
checkout or a ``pip install`` (the ``dualstream`` command, or ``python -m engine``) and bundled inside the
plugin folder (``dualstream_qgis.engine``).
"""

__version__ = "0.1.0"
