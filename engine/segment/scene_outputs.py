"""The files a segmentation reads and writes: one list of a scene's outputs (:class:`SceneOutputs`), of the kinds
:data:`~engine.config.output_kinds.OUTPUT_KINDS`, that the safety check (:func:`segment_files`), the locks, the
clean-up after an interrupted run, the publishing and a bulk run's completion markers all go through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.output_kinds import EXTRA_KINDS, OUTPUT_KINDS, OutputKind
from ..errors import mention
from ..io.safety import BUNDLE_GIVE, RASTER_GIVE, Files, Paths, raster_sidecars
from ..io.styles import qml_path_for


@dataclass(frozen=True)
class SceneOutputs:
    """Where one scene's outputs go. ``marker``: a bulk run's completion marker of the scene (not an output)."""

    classes: Path
    extras: dict[str, Path] = field(default_factory=dict)  # kind name -> path, of the other kinds asked for
    marker: Path | None = None

    @classmethod
    def of(cls, cfg: Any) -> SceneOutputs:
        """The outputs a SegmentConfig asks for."""
        return cls(Path(cfg.output), {kind.name: Path(getattr(cfg, kind.config_key)) for kind in EXTRA_KINDS
                                      if getattr(cfg, kind.config_key)})

    def path(self, name: str) -> Path | None:
        """Where the output of kind ``name`` goes; None when it is not asked for."""
        return self.classes if name == "classes" else self.extras.get(name)

    def settings(self) -> dict[str, str | None]:
        """The SegmentConfig settings that name these outputs (the inverse of :meth:`of`)."""
        return {kind.config_key: None if self.path(kind.name) is None else str(self.path(kind.name))
                for kind in OUTPUT_KINDS}

    @property
    def qml(self) -> Path:
        """The class raster's style, beside it (QGIS loads it with the raster)."""
        return qml_path_for(self.classes)

    def destinations(self) -> list[tuple[OutputKind, Path]]:
        """(kind, path) of every output asked for, the class raster first."""
        return [(kind, self.path(kind.name)) for kind in OUTPUT_KINDS if self.path(kind.name) is not None]

    @property
    def files(self) -> list[Path]:
        """Every file a finished scene leaves: the class raster, its style, the other outputs and their styles."""
        return [self.classes, self.qml, *(p for kind, path in self.destinations() if kind.name != "classes"
                                          for p in ([path, qml_path_for(path)] if kind.styled else [path]))]

    def written(self) -> dict[str, Files]:
        """What the scene writes, sidecars and style included, per output as the user knows it, each with its
        format (for :func:`~engine.io.safety.check_outputs`)."""
        return {kind.what: Files(raster_sidecars(path, qml=kind.styled) if kind.raster else [str(path)],
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
        (f"STAC item ({mention('segment.stac_item')})" if getattr(cfg, "stac_item", None)
         else f"image ({mention('segment.image')})"): Files(cfg.image, give=RASTER_GIVE),
        f"later date ({mention('segment.after')})": Files(list(getattr(cfg, "after", None) or []),
                                                          give=RASTER_GIVE),
        f"aux raster ({mention('segment.aux')})": Files(cfg.aux, give=RASTER_GIVE),
        f"model bundle ({mention('segment.models')})": Files(cfg.models, "bundle", give=BUNDLE_GIVE),
        f"AOI ({mention('segment.aoi')})": Files(cfg.aoi, give="a polygon layer file")}
    outputs = dict(SceneOutputs.of(cfg).written())
    if getattr(cfg, "change_table", None):
        outputs[f"change table ({mention('segment.change_table')})"] = Files(cfg.change_table)
    return inputs, outputs
