"""Files and sources as the front ends meet them: the format table, the kinds of output a segmentation writes, the
checks that no input is overwritten and every destination can be written, model bundles read and described without
their weights, an image's bands as segment counts them; the GDAL descriptions of web map layers, STAC items, and
the name of any source."""

from __future__ import annotations

from ..bundle.describe import describe_bundle, format_metadata
from ..bundle.expects import aux_files_expected, dates_problem, input_mismatches
from ..bundle.store import looks_like_bundle, read_metadata
from ..config.output_kinds import EXTRA_KINDS, OUTPUT_KINDS, OutputKind
from ..data.raster import image_band_names
from ..data.shown import shown_layer, vector_layer_kind
from ..data.stac import read_item as read_stac_item
from ..data.vector_layer import check_layer_filter
from ..imagery.web import arcgis_description, wcs_description, wms_description, xyz_description
from ..io.atomic import path_kind
from ..io.formats import FORMAT_TABLE, MODEL_FILTER, MODEL_SUFFIXES, VECTOR_SUFFIXES, Format, is_vector_path
from ..io.locations import is_remote, join_layer, split_layer
from ..io.locations import stem as source_stem
from ..io.safety import FORMATS, RASTER_SUFFIXES, Files, check_outputs, check_writable, file_identity
from ..segment.scene_outputs import segment_files

__all__ = ["EXTRA_KINDS", "FORMATS", "FORMAT_TABLE", "MODEL_FILTER", "MODEL_SUFFIXES", "OUTPUT_KINDS",
           "RASTER_SUFFIXES", "VECTOR_SUFFIXES", "Files", "Format", "OutputKind", "arcgis_description",
           "aux_files_expected", "check_layer_filter", "check_outputs", "check_writable", "dates_problem",
           "describe_bundle",
           "file_identity", "format_metadata", "image_band_names", "input_mismatches", "is_remote", "is_vector_path",
           "join_layer", "looks_like_bundle", "path_kind", "read_metadata", "read_stac_item", "segment_files",
           "shown_layer", "source_stem", "split_layer", "vector_layer_kind", "wcs_description", "wms_description",
           "xyz_description"]
