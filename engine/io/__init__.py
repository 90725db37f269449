"""Files written safely: ``atomic`` (and one writer per output, a write in the background), ``safety`` (no output
is an input), ``formats`` (the one format table; CSV and JSON text), ``digest``, ``writers`` (and a class raster's
styles and palette), ``polygons``, ``outlines``, ``prediction_tags``, ``geopackage`` (the one GeoPackage writer);
where a source lives (``locations``), how it is read over the network (``network``) and the one loop that continues
a download from its kept bytes (``download``)."""
