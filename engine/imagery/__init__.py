"""The one door from a source to pixels: a file, a URL or ``/vsi`` path, a STAC item or a web service's description
made into a raster a reader opens, bands picked by name and values brought to a model's units when one is given;
Segment Anything's RGB picture on top. Above ``bundle`` (it reads the model's view), below every command that
reads imagery.

- ``request.py``      ``ImageRequest``: a source, its extent and CRS, a pixel size, bands, units
- ``door.py``         ``open_image``, the one function every command calls; ``web_windows`` kept windows
- ``resolve.py``      the image as a model takes it: bands by name or number, STAC items stacked, values scaled
- ``web.py``          web map services (XYZ/WMS/WMTS/WCS/ArcGIS REST) as GDAL descriptions; one window of one
- ``stac_assets.py``  an item's assets checked, stacked, scaled and picked by name; a training's scenes with their
                      items read; a VRT of the shown assets for a front end's layer
- ``dates.py``        every date of a scene through the door, each judged with its own statistics; the dates
                      given checked against the model's
- ``season.py``       a season: dated rasters of one place (list, folder, glob, STAC items, a stack) in time
                      order, clouds masked, each date checked against the first
- ``places.py``       what is one place (footprints overlapping by half); a season model's places of folders,
                      subfolders or loose dated rasters, for bulk runs and unlabelled imagery
- ``picture.py``      one window of any source as the RGB picture Segment Anything takes, georeferenced
"""
