"""Geospatial data: raster I/O, alignment, labels, normalisation, scenes, sampling, augmentation, datasets.

- ``raster``: opening rasters with clear errors, :class:`~.raster.RasterGrid`, boundless windowed reads.
- ``align``: warping any raster onto a tile's grid in map coordinates (bilinear for continuous data,
  nearest for categories); the aux grid of a tile is its transform scaled by the aux ratio.
- ``labels``: raster label value mapping, vector polygons reprojected and rasterised, extent/AOI masks.
- ``normalize``: robust per-band statistics (:class:`~.normalize.BandStatistics`) for any dtype.
- ``scene``: :class:`~.scene.SceneReader`, aligned (vision, aux, label) tiles of one scene.
- ``synthetic``: deterministic synthetic scenes and the reference folder layout for tests and demos.
- ``sampling``, ``augment``, ``sources``, ``dataset``: tiles, augmentations and torch datasets on top.
"""
