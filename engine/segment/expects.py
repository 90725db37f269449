"""Whether chosen inputs fit a model bundle, from the bundle's metadata and band counts alone (no raster is read,
no weight loaded): what a front end shows before a run. The run itself checks again on the files
(``plan._check_member_bands`` and the aux channel check), with the same rules."""

from __future__ import annotations

from ..config.bands import BandSelection
from ..data.metadata import DataMetadata
from ..errors import DataError


def aux_files_expected(data: DataMetadata) -> int:
    """How many aux files the model stacks (0: none, or X bands of the image itself)."""
    if not data.aux_channels or data.x_bands:
        return 0
    return data.aux_files_per_scene or len(data.aux_file_bands) or len(data.aux_prefixes) or 1


def input_mismatches(data: DataMetadata, image_bands: int | None, aux_bands: list[int] | None) -> list[str]:
    """What does not fit the bundle whose ``data`` metadata is given: the image's band count (None: no image
    chosen yet) and the band counts of the aux layers in their order (None: not known). Empty when all fit."""
    problems: list[str] = []
    trained = data.vision_bands
    if image_bands is not None and trained:
        selection = BandSelection.of(data.bands, data.x_bands)
        if not selection.active:
            if image_bands != trained:
                problems.append(f"the image has {image_bands} band(s); the model was trained on {trained}")
        else:
            try:
                selection.check(image_bands, "the image")
            except DataError as exc:
                problems.append(str(exc).rstrip("."))
    expected = aux_files_expected(data)
    if aux_bands is None:
        return problems
    if not expected:
        if aux_bands and not data.x_bands:
            problems.append(f"{len(aux_bands)} aux layer(s) chosen; the model uses none (they are not read)")
        return problems
    if len(aux_bands) != expected:
        problems.append(f"{len(aux_bands)} aux layer(s) chosen; the model was trained with {expected}, in a fixed "
                        "order")
        return problems
    per_file = data.aux_bands_per_file
    used = [min(b, per_file) if per_file else b for b in aux_bands]
    trained_files = list(data.aux_file_bands)
    if trained_files and used != trained_files:
        problems.append(f"the aux layers give {', '.join(map(str, used))} band(s); the model was trained with "
                        f"{', '.join(map(str, trained_files))}, in this order")
    elif sum(used) != data.aux_channels:
        problems.append(f"the aux layers give {sum(used)} channel(s); the model needs {data.aux_channels}")
    return problems
