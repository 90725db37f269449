"""The kinds of file a segmentation writes, each declared once (:data:`OUTPUT_KINDS`).

Every place that names an output reads this list (file names, output checks, locks, clean-up, reports, the
Processing destinations, the model card). The settings that name an output are declared in
:mod:`engine.config.inference`; what a raster output holds is computed in :mod:`engine.segment.sinks`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import mention


@dataclass(frozen=True)
class OutputKind:
    """One kind of file a scene writes."""

    name: str  # one name for it everywhere: SceneOutputs' key, SegmentResult's key, the layer's suffix in QGIS
    config_key: str  # the SegmentConfig setting that names its path (its flag, its Processing destination)
    noun: str  # what it is, in words
    format: str  # its file format (engine.io.safety.FORMATS): the name it must end in
    temporary_suffixes: tuple[str, ...]  # of the hidden temporaries written beside it (atomic.temporary_path)
    raster: bool  # a raster (GDAL writes sidecars beside it); otherwise a polygon layer
    bulk_key: str | None = None  # the BulkConfig switch that writes it for every scene (None: always written)
    bulk_name: str = "{name}.tif"  # its file name in a bulk run's output folder ({name}: the scene's name)
    styled: bool = False  # a .qml style is written beside it (QGIS opens it styled)
    report: str | None = None  # a SegmentConfig setting: the share of valid pixels below it is reported (band 1)
    card: str = ""  # what the model card says about it

    @property
    def what(self) -> str:
        """How messages name it: the noun and its setting (each front end renders the setting as its control)."""
        return f"{self.noun} ({mention('segment.' + self.config_key)})"


OUTPUT_KINDS = (
    OutputKind("classes", "output", "class raster", "geotiff", (".tif", ".qml"), raster=True, styled=True,
               card="the class raster: the class of highest probability, paletted with the class names"),
    OutputKind("probabilities", "probabilities", "probability raster", "geotiff", (".tif",), raster=True,
               bulk_key="probabilities", bulk_name="{name}_probabilities.tif",
               card="a probability raster: one band per class (the foreground's for a binary model)"),
    OutputKind("confidence", "confidence", "confidence raster", "geotiff", (".tif", ".qml"), raster=True,
               bulk_key="confidence", bulk_name="{name}_confidence.tif", styled=True, report="low_confidence",
               card="a confidence raster: the probability of each pixel's class (max(p, 1 - p) for a binary model), "
                    "0-1, red where the model is unsure"),
    # its temporaries: the GeoPackage, the traced outlines (.gpkg) and the confidence the polygons are scored on
    OutputKind("polygons", "polygons", "polygons", "gpkg", (".gpkg", ".tif"), raster=False, bulk_key="polygons",
               bulk_name="{name}.gpkg", card="polygons of the predicted classes (GeoPackage): class, area, perimeter, "
                                             "mean and minimum confidence, model, scene; buildings squared, natural "
                                             "classes smoothed"),
)
"""The class raster first: it is published last, and a run is done when it is in place."""

EXTRA_KINDS = OUTPUT_KINDS[1:]
"""The outputs a user asks for besides the class raster."""


def output_kind(name: str) -> OutputKind:
    return next(kind for kind in OUTPUT_KINDS if kind.name == name)
