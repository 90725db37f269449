"""The files a segmentation reads and writes: one list of a scene's outputs (:class:`SceneOutputs`).

A single run and every scene of a bulk run write the same kinds of file (:data:`OUTPUT_KINDS`): the class raster
with its QML style, and optionally the probability raster, the confidence raster (with its style) and the
polygons. The safety check
(:func:`segment_files`), the locks, the clean-up of what an interrupted run left, the publishing and a bulk run's
completion markers all go through this list, so a new kind of output is added here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import setting
from ..io.safety import BUNDLE_GIVE, RASTER_GIVE, Files, Paths, raster_sidecars
from ..io.styles import qml_path_for


@dataclass(frozen=True)
class OutputKind:
    """One kind of file a scene writes."""

    name: str  # its attribute of SceneOutputs
    config_key: str  # the SegmentConfig setting that names it
    noun: str  # what it is, in words
    format: str  # its file format (engine.io.safety.FORMATS): the name it must end in
    temporary_suffixes: tuple[str, ...]  # of the hidden temporaries written beside it (atomic.temporary_path)
    raster: bool  # GDAL writes sidecars beside it (raster_sidecars)

    @property
    def what(self) -> str:
        """How messages name it: the noun and its setting (each front end renders the setting as its control)."""
        return f"{self.noun} ({setting('segment.' + self.config_key)})"


OUTPUT_KINDS = (
    OutputKind("classes", "output", "class raster", "geotiff", (".tif", ".qml"), raster=True),
    OutputKind("probabilities", "probabilities", "probability raster", "geotiff", (".tif",), raster=True),
    OutputKind("confidence", "confidence", "confidence raster", "geotiff", (".tif", ".qml"), raster=True),
    OutputKind("polygons", "polygons", "polygons", "gpkg", (".gpkg",), raster=False),
)


@dataclass(frozen=True)
class SceneOutputs:
    """Where one scene's outputs go. ``marker``: a bulk run's completion marker of the scene (not an output)."""

    classes: Path
    probabilities: Path | None = None
    confidence: Path | None = None
    polygons: Path | None = None
    marker: Path | None = None

    @classmethod
    def of(cls, cfg: Any) -> SceneOutputs:
        """The outputs a SegmentConfig asks for."""
        paths = {kind.name: getattr(cfg, kind.config_key) for kind in OUTPUT_KINDS}
        return cls(**{name: Path(path) if path else None for name, path in paths.items()})

    def settings(self) -> dict[str, str | None]:
        """The SegmentConfig settings that name these outputs (the inverse of :meth:`of`)."""
        return {kind.config_key: None if getattr(self, kind.name) is None else str(getattr(self, kind.name))
                for kind in OUTPUT_KINDS}

    @property
    def qml(self) -> Path:
        """The class raster's style, beside it (QGIS loads it with the raster)."""
        return qml_path_for(self.classes)

    def destinations(self) -> list[tuple[OutputKind, Path]]:
        """(kind, path) of every output asked for, the class raster first."""
        return [(kind, getattr(self, kind.name)) for kind in OUTPUT_KINDS if getattr(self, kind.name) is not None]

    @property
    def files(self) -> list[Path]:
        """Every file a finished scene leaves: the class raster, its style, the probabilities, the confidence and
        its style, the polygons."""
        styles = [qml_path_for(self.confidence)] if self.confidence is not None else []
        return [self.classes, self.qml, *(path for kind, path in self.destinations() if kind.name != "classes"),
                *styles]

    def written(self) -> dict[str, Files]:
        """What the scene writes, sidecars and style included, per output as the user knows it, each with its
        format (for :func:`~engine.io.safety.check_outputs`)."""
        return {kind.what: Files(raster_sidecars(path, qml=kind.name in ("classes", "confidence")) if kind.raster
                                 else [str(path)],
                                 kind.format)
                for kind, path in self.destinations()}

    def locked(self) -> dict[str, Path]:
        """The outputs a run locks while it writes them (the style is written with the class raster)."""
        return {kind.what: path for kind, path in self.destinations()}

    def temporary_suffixes(self, destination: Path) -> tuple[str, ...]:
        """The suffixes of the hidden temporaries a run writes beside ``destination``, one of the outputs."""
        return next(kind.temporary_suffixes for kind, path in self.destinations() if path == destination)


def segment_files(cfg: Any) -> tuple[dict[str, Paths | Files], dict[str, Paths | Files]]:
    """What ``segment`` reads (image, aux, bundles, AOI) and writes (:class:`SceneOutputs`, sidecars included)."""
    inputs: dict[str, Paths | Files] = {
        f"image ({setting('segment.image')})": Files(cfg.image, give=RASTER_GIVE),
        f"aux raster ({setting('segment.aux')})": Files(cfg.aux, give=RASTER_GIVE),
        f"model bundle ({setting('segment.models')})": Files(cfg.models, "bundle", give=BUNDLE_GIVE),
        f"AOI ({setting('segment.aoi')})": Files(cfg.aoi, give="a polygon layer file")}
    return inputs, dict(SceneOutputs.of(cfg).written())
