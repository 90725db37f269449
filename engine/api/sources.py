"""Sources that are no local file, as the front ends hand them over: the GDAL descriptions of web map layers
(XYZ/WMS/WMTS/WCS/ArcGIS REST), read as images by :mod:`engine.imagery.door`, STAC items (their id and
named bands, for a front end to offer), and the name of any source."""

from __future__ import annotations

from ..data.shown import shown_layer, vector_layer_kind
from ..data.stac import read_item as read_stac_item
from ..data.vector_layer import check_layer_filter
from ..imagery.web import arcgis_description, wcs_description, wms_description, xyz_description
from ..io.locations import is_remote, join_layer, split_layer
from ..io.locations import stem as source_stem

__all__ = ["arcgis_description", "check_layer_filter", "is_remote", "join_layer", "read_stac_item", "shown_layer",
           "source_stem", "split_layer", "vector_layer_kind", "wcs_description", "wms_description", "xyz_description"]
