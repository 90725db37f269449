"""Unlabelled imagery for learning from unlabelled pixels (``data.unlabelled``; the method: engine/training/
consistency.py): the paths resolved into scenes, each checked against the labelled training data, and the random
tiles drawn from them and from the labelled scenes' unlabelled pixels.

The rules (docs/unlabelled.md): a raster gives one scene of one date; for a model of several dates the rasters are
taken in turn, each place's dates in time order (before, after); a folder gives its rasters (for several dates, its
pairs in A/ and B/ or the other date folders ``--data`` reads, matched by name). For a season model a folder holds a
place in each subfolder, and rasters given loose are grouped into places by footprint, read as ``--dates`` reads them.
Each scene must give the model the bands of the labelled images (by number, or by name where the bands are named),
in their units (a far shift is refused, naming the file) and at their pixel size within 50 %; its CRS may be any.
An image with no valid pixel is refused by name. A path that is also a labelled scene's image is said once and used
once: a labelled scene's unlabelled pixels (outside its labelled area, beyond partial labels) are drawn anyway. Tiles
are read window by window (never a whole scene), so a scene of any size fits the memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..callbacks import Callback, QuietCallback
from ..errors import ConfigError, DataError, mention
from ..io.formats import PAIR_FILE
from .checks import check_image_domain, sample_values
from .sampling import Region
from .scene import SceneReader
from .sources import DATE_FOLDERS, child_folder, files_by_stem

FLAG = mention("data.unlabelled")


def _same(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def unlabelled_places(paths: list[str], dates: int) -> list[list[str]]:
    """Each place's images (``dates`` of them, in time order) named by ``data.unlabelled`` (module doc)."""
    places: list[list[str]] = []
    loose: list[str] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            loose.append(given)  # a raster or a GDAL source: opening it says what is wrong
            continue
        folders = [(child_folder(path, a), child_folder(path, b)) for a, b in DATE_FOLDERS]
        pair = next(((a, b) for a, b in folders if a is not None and b is not None), None)
        if dates > 1 and pair is not None:
            first, later = (files_by_stem(f, PAIR_FILE.suffixes) for f in pair)
            if missing := sorted(set(first) ^ set(later)):
                raise DataError(f"The unlabelled pairs of '{given}' ({FLAG}) are incomplete: {missing[:5]} lack a date "
                                f"in '{pair[0]}' or '{pair[1]}'; give each pair's two dates, named alike.")
            places += [[str(first[k]), str(later[k])] for k in sorted(first)]
        elif dates == 1:
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PAIR_FILE.suffixes)
            if not files:
                raise DataError(f"The folder '{given}' ({FLAG}) holds no raster ({', '.join(PAIR_FILE.suffixes)}).")
            places += [[str(p)] for p in files]
        else:
            raise DataError(f"The folder '{given}' ({FLAG}) holds no pairs: a change model's unlabelled pairs go in "
                            f"folders of their own (A/ and B/, named alike), or give each place's rasters in turn.")
    if len(loose) % dates:
        raise ConfigError(f"{FLAG} names {len(loose)} raster(s), but the model takes {dates} dates of each place: "
                          f"give each place's {dates} rasters in turn (before, after), e.g. '{loose[-1]}' lacks its "
                          f"partner.")
    return places + [loose[i:i + dates] for i in range(0, len(loose), dates)]


@dataclass
class UnlabelledScene:
    """One scene the unlabelled tiles are drawn from: its reader settings and the region (holes: held out)."""

    kwargs: dict[str, Any]
    region: Region
    labelled: bool  # a labelled training scene (its unlabelled pixels)


def unlabelled_scenes(paths: list[str], labelled_kw: list[dict[str, Any]], val_kw: list[dict[str, Any]],
                      first: SceneReader, held_out: dict[int, list[Region]], statistics: Any,
                      callback: Callback, places: list[list[str]] | None = None) -> list[UnlabelledScene]:
    """The scenes of the unlabelled tiles: the labelled training scenes (less their held-out validation), then
    ``paths`` (:func:`unlabelled_places`), or a season model's ``places`` as read (each place's dates,
    ``imagery.places.resolve_places``), each checked (module doc: DataError or ConfigError naming the file)."""
    scenes = []
    for i, kw in enumerate(labelled_kw):  # the whole image, not only its labelled area, less the validation
        plain = {**kw, "label": None, "aoi": None, "label_field": None, "label_after_field": None}
        with SceneReader(**plain, callback=QuietCallback()) as reader:
            scenes.append(UnlabelledScene(plain, Region(*reader.dates_window(), holes=tuple(held_out.get(i, ()))),
                                          True))
    labelled = [kw["image"] for kw in labelled_kw]
    places = unlabelled_places(paths, first.dates) if places is None else places
    if places and first.aux_channels and not first.selection.x:
        raise ConfigError(f"The labelled scenes have aux rasters, which unlabelled imagery ({FLAG}) does not give: "
                          f"leave {FLAG} out (the labelled scenes' own unlabelled pixels are still used).")
    taken, said = labelled + [kw["image"] for kw in val_kw], set()
    for place in places:
        if twice := next((t for t in taken if _same(t, place[0])), None):
            if twice in said:
                continue
            said.add(twice)
            role = "a labelled scene's image" if twice in labelled else "a validation scene's image"
            callback.info(f"'{place[0]}' ({FLAG}) is also {role}: used once, "
                          + ("its unlabelled pixels with the labelled scenes'." if twice in labelled
                             else "for validation only."))
            continue
        taken.append(place[0])
        kw = {**labelled_kw[0], "image": place[0], "after": place[1:], "label": None, "aoi": None, "extent": None,
              "extent_crs": None, "label_field": None, "label_after_field": None, "aux": []}
        with SceneReader(**kw, callback=QuietCallback()) as reader:
            _check(reader, first, statistics)
            scenes.append(UnlabelledScene(kw, Region(*reader.dates_window()), False))
    return scenes


def _check(reader: SceneReader, first: SceneReader, statistics: Any) -> None:
    """The unlabelled scene against the labelled data (module doc)."""
    image = reader.image
    if reader.vision_bands != first.vision_bands:
        raise DataError(f"The unlabelled image '{image}' ({FLAG}) gives {reader.vision_bands} band(s) but the labelled "
                        f"'{first.image}' {first.vision_bands}; give imagery of the same bands (or name them with "
                        f"{mention('data.bands')}), or leave it out.")
    gsd, want = abs(reader.gsd[0]), abs(first.gsd[0])
    if not want / 1.5 <= gsd <= 1.5 * want:
        raise DataError(f"The unlabelled image '{image}' ({FLAG}) has pixels of {gsd:g}, the labelled "
                        f"'{first.image}' of {want:g} (in their CRS units): the model learns one scale, so resample "
                        f"it to the labelled pixel size (gdalwarp -tr), or leave it out.")
    dataset = reader.image_dataset()
    bands = reader.selection.vision_bands(reader.image_bands)
    _, valid, _ = sample_values(dataset, bands)
    if not valid.any():
        raise DataError(f"The unlabelled image '{image}' ({FLAG}) holds no valid pixel (all nodata): leave it out.")
    check_image_domain(dataset, image, bands, statistics, "being trained", QuietCallback(), strict=True,
                       strict_hint=f"Being unlabelled imagery ({FLAG}), which would teach the model noise,",
                       named=f"the unlabelled image '{image}' ({FLAG})")


class UnlabelledTileDataset(torch.utils.data.Dataset):
    """Random tiles of the unlabelled scenes (normalised as the labelled, no augmentation: the consistency makes
    its views on the device), drawn by area, reproducible from (seed, epoch, rank, index). A sample: ``vision``
    (Cv, T, T) float32, ``valid`` (T, T) bool (False outside the image, its region or a held-out band), ``aux``."""

    def __init__(self, scenes: list[UnlabelledScene], vision_stats: Any, aux_stats: Any, tile_size: int,
                 length: int, seed: int, rank: int = 0):
        self.scenes, self.vision_stats, self.aux_stats = scenes, vision_stats, aux_stats
        self.tile_size, self.length, self.seed, self.rank = tile_size, int(length), seed, rank
        areas = np.array([max(s.region.area, 1) for s in scenes], np.float64)
        self.cumulative = np.cumsum(areas / areas.sum())
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._readers: dict[int, SceneReader] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_readers": {}}  # each process opens its own

    def set_epoch(self, epoch: int) -> None:
        self._epoch[0] = int(epoch)

    def __len__(self) -> int:
        return self.length

    def window(self, index: int) -> tuple[int, int, int]:
        """(scene, col, row) of sample ``index`` of this epoch."""
        rng = np.random.default_rng([self.seed, int(self._epoch[0]), self.rank, int(index), 104729])
        u = rng.random(3)
        scene = min(int(np.searchsorted(self.cumulative, u[0], side="right")), len(self.scenes) - 1)
        region, size = self.scenes[scene].region, self.tile_size
        col = region.col + int(u[1] * max(1, region.width - size + 1))
        row = region.row + int(u[2] * max(1, region.height - size + 1))
        return scene, col, row

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from .sampling import region_mask

        scene, col, row = self.window(index)
        if scene not in self._readers:
            self._readers[scene] = SceneReader(**self.scenes[scene].kwargs, callback=QuietCallback())
        reader, size = self._readers[scene], self.tile_size
        tile = reader.read(col, row, size, size)  # a window: never the whole scene
        valid = tile.valid
        if (inside := region_mask(self.scenes[scene].region, col, row, size)) is not None:
            valid = valid & inside
        if reader.each_date:  # a season's tile: each date normalised over its own valid pixels, its days
            return self._season(reader, tile, valid)
        sample = {"vision": torch.from_numpy(self.vision_stats.apply(tile.vision, valid)),
                  "valid": torch.from_numpy(np.ascontiguousarray(valid))}
        if self.aux_stats is not None and tile.aux is not None:
            sample["aux"] = torch.from_numpy(self.aux_stats.apply(tile.aux, tile.aux_valid))
        return sample

    def _season(self, reader: SceneReader, tile: Any, valid: np.ndarray) -> dict[str, torch.Tensor]:
        """A season sample as the labelled season tiles are (``season_batch``): ``vision`` (T, C, h, w), ``valid``
        (T, h, w) each date's, ``doy`` / ``month`` / ``days`` / ``present`` (T,)."""
        from ..time_axis import day_of_year, days_since, join_dates, month, per_date
        from .season_batch import season_tile

        dates = tile.date_valid & valid
        vision = join_dates([self.vision_stats.apply(v, ok) for v, ok in
                             zip(per_date(tile.vision, len(dates), axis=0), dates)], axis=0)
        taken = reader.taken
        return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in season_tile(
            vision, dates, {"doy": day_of_year(taken), "month": month(taken), "days": days_since(taken)}).items()}

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
