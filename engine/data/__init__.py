"""Geospatial data: raster I/O, alignment, labels, bands, normalisation, scenes, sampling, augmentation.

- ``raster``: opening rasters with clear errors, :class:`~.raster.RasterGrid`, boundless windowed reads;
  ``edge_fill`` (an image's fill collar, read as nodata);
  ``ground`` (metres on the ground against a CRS's units), ``align`` (any raster warped onto a tile's grid;
  ``scene_aux``: a scene's aux rasters onto its tiles), ``reproject`` (polygons reprojected).
- ``vector_layer`` (the one vector-layer reader: a layer named, filtered, its fields and values read);
  ``labels``, ``label_scan``, ``scene_labels``: label values mapped, polygons rasterised, every label scanned.
- bands: ``band_names`` (the names' vocabulary, natural colour), ``band_match`` (an input's bands to a
  model's), ``units`` (the values' range and the product's scaling), ``normalize``, ``training_stats``.
- sources: ``stac`` (STAC items' assets as named bands; stacked by ``engine.imagery``), ``input_vrt`` (VRTs picking,
  scaling, stacking), ``acquisition`` (a scene's date and place), ``sources`` (where training scenes come from: the
  reference layout, change-detection datasets as published: A/, B/, label/, explicit scenes), ``shown`` (a scene's
  sources named in messages as the user gave them).
- ``scene`` and ``tile_parts``: aligned (vision, aux, label) tiles of one scene; ``dates`` (its later dates, read
  onto the first date's grid); ``season_batch`` (a season's (T, C, h, w) tiles and padded batches); ``sampling``
  (tiles, regions, the strips and parts that may validate), ``holdout_choice`` (which of them validate once the
  labels are counted, and how it is said), ``checks``, ``domain_shift``; ``augment`` (photometric options, a tile of
  several dates); ``dataset`` (and the training data's bands), ``loaders`` (a batch's collation: ``copy_paste``,
  objects between its tiles; ``change_paste``, changed objects enlarged onto both dates), ``unlabelled``
  (unlabelled imagery's scenes and tiles); ``metadata`` (the bundle's data section); ``synthetic`` and
  ``synthetic_pairs`` (demo and test scenes, pairs of dates).
"""
