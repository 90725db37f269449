"""The model bundles of a segmentation as ensemble members: their metadata read (never their weights), checked to
fit together, the assumptions of a model without a description said, the settings left unset taken from the model,
and the aux files put in their training order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..bundle.deepness import assumptions_said
from ..bundle.model_files import read_model_metadata
from ..bundle.schema import BundleMetadata
from ..bundle.view import model_view
from ..callbacks import Callback, warn
from ..config import SegmentConfig
from ..config.bands import BandSelection
from ..config.inference import DEFAULT_OVERLAP, DEFAULT_THRESHOLD
from ..config.reading import DEFAULT_BORDER
from ..data.metadata import DataMetadata
from ..errors import BundleError, ConfigError, DataError, mention


@dataclass
class Member:
    """One ensemble member as the plan sees it: its bundle path, metadata and ensemble weight."""

    path: str
    metadata: BundleMetadata
    weight: float

    @property
    def data(self) -> DataMetadata:
        return self.metadata.data

    @property
    def aux_channels(self) -> int:
        return self.data.aux_channels

    @property
    def selection(self) -> BandSelection:
        """The bands of the image this member reads (vision, and X for CMX-style aux from the image)."""
        return BandSelection.of(self.data.bands, self.data.x_bands)

    @property
    def needs_aux_rasters(self) -> bool:
        """Aux from aux rasters (not from X bands of the image)."""
        return self.aux_channels > 0 and not self.selection.x

    @property
    def output_channels(self) -> int:
        return self.metadata.model.num_classes

    @property
    def stats_key(self) -> str:
        """Members with the same bands and normalisation share one normalised copy of each tile."""
        aux_stats = None if self.data.aux_stats is None else self.data.aux_stats.to_dict()
        return json.dumps([self.data.vision_stats.to_dict(), aux_stats, self.selection.to_metadata()], sort_keys=True)


def order_aux(paths: Sequence[str], prefixes: Sequence[str] | None, callback: Callback) -> list[str]:
    """Put aux files in the bundle's prefix order when every file name matches exactly one prefix."""
    paths = [str(p) for p in paths]
    if not prefixes or len(paths) < 2:
        return paths
    hits = [[i for i, prefix in enumerate(prefixes) if Path(p).name.startswith(prefix)] for p in paths]
    if any(len(h) != 1 for h in hits):
        return paths  # user-given order
    ordered = [p for _, p in sorted(zip(hits, paths), key=lambda kv: kv[0])]
    if ordered != paths:
        callback.info(f"Aux files ordered as in training (prefixes {list(prefixes)}): {ordered}")
    return ordered


def aux_layout(data: DataMetadata) -> str:
    """How the bundle's aux stack was made, in words (for error messages)."""
    per_file = data.aux_bands_per_file
    prefixes = data.aux_prefixes
    text = f"the first {per_file} band(s) of each aux file" if per_file else "all bands of each aux file"
    return text + (f", files named {', '.join(p + '*' for p in prefixes)} in that order" if prefixes else "")


def check_members(cfg: SegmentConfig) -> list[Member]:
    """The bundles' metadata as ensemble members, checked to fit together (no weights are loaded)."""
    if not cfg.models:
        raise ConfigError(f"No model bundle given; give {mention('segment.models')} (a .dsmodel file written by "
                          f"training).")
    weights = cfg.model_weights or [1.0] * len(cfg.models)
    members = [Member(str(p), read_model_metadata(p, cfg.backend), float(w)) for p, w in zip(cfg.models, weights)]
    first = members[0]
    for other in members[1:]:
        if other.data.class_names != first.data.class_names:
            raise BundleError(
                f"The ensemble members '{first.path}' and '{other.path}' have different classes "
                f"({first.data.class_names} vs {other.data.class_names}); an ensemble averages "
                f"probabilities, so every member must be trained for the same classes in the same order."
            )
        if other.output_channels != first.output_channels:
            raise BundleError(f"The ensemble members '{first.path}' and '{other.path}' have different outputs "
                              f"({first.output_channels} vs {other.output_channels} channels).")
    # Each member reads its own bands of the image (checked against the image in plan_segmentation); members
    # with aux rasters share one aux stack, so they must need the same aux layout.
    aux_members = [m for m in members if m.needs_aux_rasters]
    for other in aux_members[1:]:
        for key in ("aux_channels", "aux_ratio", "aux_bands_per_file"):
            mine, theirs = getattr(aux_members[0].data, key), getattr(other.data, key)
            if theirs != mine:
                raise BundleError(f"The ensemble members '{aux_members[0].path}' and '{other.path}' need different "
                                  f"aux layouts ({key}: {mine} vs {theirs}).")
    return members


def say_assumptions(members: list[Member], callback: Callback, warnings: list[str] | None = None) -> None:
    """Warn once per run of each model that carries no description and runs with Deepness's defaults, listing
    every assumption (also into ``warnings``: the result's and the bulk summary's)."""
    for member in members:
        if assumed := model_view(member.data).assumed:
            warn(callback, warnings, assumptions_said(member.path, list(assumed)))


def model_defaults(cfg: SegmentConfig, member: Member, callback: Callback | None = None) -> SegmentConfig:
    """``cfg`` with the overlap, border, threshold and test-time augmentation the user left unset taken from the
    model: those its maker recorded for an imported model (Deepness's tiles_overlap and seg_thresh, ukis-csmask's
    mirrored border), those its training picked (a change model's threshold and flips), else the engine's
    defaults; ``callback`` hears which of them its training picked (an imported model's are said with its
    description)."""
    view = model_view(member.data, member.metadata.model)
    made = {"overlap": DEFAULT_OVERLAP if view.overlap is None else view.overlap,
            "border": DEFAULT_BORDER if view.border is None else view.border,
            "threshold": view.threshold or DEFAULT_THRESHOLD, "tta": view.tta or "none"}
    unset = {name for name in made if getattr(cfg, name) is None}
    picked = []
    if "threshold" in unset and view.threshold:
        picked.append(f"threshold {view.threshold:g} (picked on its validation tiles)")
    if "tta" in unset and view.tta and view.tta != "none":
        picked.append(f"TTA {view.tta}")
    if callback is not None and picked and not view.imported:
        callback.info(f"Running the model with its training's {' and '.join(picked)}; give "
                      f"{mention('segment.threshold')} or {mention('segment.tta')} to run it otherwise.")
    return cfg.replace(**{name: made[name] for name in unset})


def requested_tile(cfg: SegmentConfig, members: list[Member]) -> int:
    """The tile size asked for: the setting, else the first member's trained one (a plan then cuts it to what
    covers its region; a bulk run's progress and shared predictor take it as asked)."""
    return int(cfg.tile_size or members[0].data.tile_size)


def aux_inputs(cfg: SegmentConfig, members: list[Member], callback: Callback,
                warnings: list[str]) -> tuple[list[Member], list[str]]:
    """(the members that read aux rasters, the aux files in their training order); aux files no member reads are
    ignored, with a warning."""
    aux_members = [m for m in members if m.needs_aux_rasters]
    if aux_members:
        aux_data = aux_members[0].data
        if not cfg.aux:
            raise DataError(f"The model '{aux_members[0].path}' needs {aux_members[0].aux_channels} aux channel(s) "
                            f"({aux_layout(aux_data)}); give them as {mention('segment.aux')}.")
        return aux_members, order_aux(cfg.aux, aux_data.aux_prefixes, callback)
    if cfg.aux:
        warn(callback, warnings, f"The model(s) use no aux data; the {len(cfg.aux)} aux file(s) given are ignored.")
    return aux_members, []
