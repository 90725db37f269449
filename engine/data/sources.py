"""Where the training scenes come from: the reference folder layout, a change-detection dataset's folder or
explicit scenes.

Reference layout (``DataConfig.data_dir``)::

    ts_sn/   training images        <name>.tif
    tl_sn/   training labels        <name>.tif
    t_ap/    air pollution rasters  AIR_Pollution_CO_<name>.tif, AIR_Pollution_NO2_<name>.tif, ...
    t_gems/  GEMS rasters           GEMS_<name>.tif
    vs_sn/ vl_sn/ v_ap/ v_gems/     the same for validation (optional)

Files are matched by base name: the stem, compared case-insensitively, with a ``.tif`` or ``.tiff`` suffix in
any case. The aux files of a scene are ``<prefix><name>`` for each of ``DataConfig.aux_prefixes`` in that order,
looked up in both aux folders of the split. A scene whose label or aux partner is missing is reported by name,
with the file and the folders searched; the run fails unless ``DataConfig.skip_incomplete`` is set (then the
scene is skipped with a warning). Without ``vs_sn/`` (and without explicit validation scenes) validation is held
out from the training scenes by the dataset (see :mod:`.sampling`). Without any aux folder (``t_ap/``, ``t_gems/``)
and with the default aux prefixes, the data is vision-only: the model gets no aux stream (said once in the log).

A change-detection dataset as published (docs/change-detection.md: a folder per date and one of labels, a pair's
files named alike; DATE_FOLDERS, LABEL_FOLDERS) is split by ``train/`` and ``val/`` (``test/`` left for scoring), by
``list/train.txt`` and ``list/val.txt`` (as ChangeFormer prepares LEVIR-CD), or not at all (validation held out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..callbacks import Callback
from ..config import REFERENCE_AUX_PREFIXES, DataConfig, SceneSpec
from ..errors import ConfigError, DataError, command, mention
from ..io import locations
from ..io.formats import GEOTIFF, PAIR_FILE
from .raster import open_raster

GEOTIFF_SUFFIXES = GEOTIFF.suffixes  # the reference layout's files are GeoTIFFs
TRAIN_FOLDERS = {"images": "ts_sn", "labels": "tl_sn", "aux": ("t_ap", "t_gems")}
VAL_FOLDERS = {"images": "vs_sn", "labels": "vl_sn", "aux": ("v_ap", "v_gems")}
#: The folders of the first and the later date, as the datasets name them.
DATE_FOLDERS = (("A", "B"), ("Image1", "Image2"), ("time1", "time2"), ("im1", "im2"), ("T1", "T2"),
                ("before", "after"))
#: The folder of the change labels.
LABEL_FOLDERS = ("label", "labels", "OUT", "mask", "gt")
TRAIN, VAL, TEST = "train", "val", "test"


def resolve_scenes(data_cfg: DataConfig, callback: Callback | None = None) -> tuple[list[SceneSpec], list[SceneSpec]]:
    """Turn the data settings (``data_dir``, the reference layout, or explicit ``train_scenes``; ``val_scenes``)
    into ``(train, val)``; ``val`` is empty when validation is to be held out of the training scenes. ``callback``
    hears about skipped scenes and stray files. ConfigError: neither or both of ``data_dir`` and ``train_scenes``
    are set; DataError: a folder is missing or empty, or scenes are incomplete (listing every one of them)."""
    callback = callback or Callback()
    if data_cfg.data_dir and data_cfg.train_scenes:
        raise ConfigError("Both data_dir and train_scenes are set; give either a reference-layout folder "
                          "(data_dir) or explicit scenes (train_scenes), not both.")
    if data_cfg.data_dir:
        root = Path(data_cfg.data_dir)
        if not root.is_dir():
            raise DataError(f"Data folder '{root}' does not exist; pass the folder that holds ts_sn/ and tl_sn/, or a "
                            f"change-detection dataset's A/, B/ and label/.")
        if is_pair_folder(root):
            return _pair_split(root, data_cfg, callback)
        if (missing := missing_part(root)) is not None:
            raise DataError(missing)
        prefixes = _reference_aux_prefixes(root, data_cfg, callback)
        train = _discover(root, TRAIN_FOLDERS, data_cfg, prefixes, callback)
        if (val_dir := child_folder(root, VAL_FOLDERS["images"])) is not None:
            if data_cfg.val_scenes:
                raise ConfigError(f"Validation scenes are given both as the folder '{val_dir}' and as val_scenes; "
                                  "remove one of them.")
            return train, _discover(root, VAL_FOLDERS, data_cfg, prefixes, callback)
        if child_folder(root, VAL_FOLDERS["labels"]) is not None:
            callback.warning(f"'{root / VAL_FOLDERS['labels']}' exists but '{root / VAL_FOLDERS['images']}' "
                             "does not; validation labels are ignored and validation is held out of training.")
        return train, _check_explicit(data_cfg.val_scenes, data_cfg, callback, "val_scenes")
    if not data_cfg.train_scenes:
        raise ConfigError("No training data: set data_dir (reference folder layout) or train_scenes "
                          "(image + label [+ aux] per scene).")
    return (_check_explicit(data_cfg.train_scenes, data_cfg, callback, "train_scenes"),
            _check_explicit(data_cfg.val_scenes, data_cfg, callback, "val_scenes"))


def _pair_split(root: Path, data_cfg: DataConfig, callback: Callback) -> tuple[list[SceneSpec], list[SceneSpec]]:
    """The pairs of a change-detection dataset folder, checked as explicit scenes are."""
    if list(data_cfg.aux_prefixes) != list(REFERENCE_AUX_PREFIXES) and data_cfg.aux_prefixes:
        raise ConfigError(f"'{root}' is a change-detection dataset (two dates and a label per pair), which has no aux "
                          f"rasters; leave out {mention('data.aux_prefixes')}.")
    train, val, problems = pair_scenes(root, callback)
    if val and data_cfg.val_scenes:
        raise ConfigError(f"Validation pairs are given both by the dataset folder '{root}' and as val_scenes; remove "
                          f"one of them.")
    _report_incomplete(problems, data_cfg, callback, f"'{root}'")
    if not train:
        raise DataError(f"No complete pair in '{root}': every pair was skipped as incomplete.")
    callback.info(f"Change-detection dataset '{root}': {len(train)} training pair(s)"
                  + (f", {len(val)} validation pair(s)." if val else "."))
    return train, val or _check_explicit(data_cfg.val_scenes, data_cfg, callback, "val_scenes")


def _reference_aux_prefixes(root: Path, data_cfg: DataConfig, callback: Callback) -> list[str]:
    """The aux prefixes to look for: none when the training split has no aux folder and no prefix was chosen."""
    if not data_cfg.aux_prefixes:
        return []
    if (any(child_folder(root, name) is not None for name in TRAIN_FOLDERS["aux"])
            or list(data_cfg.aux_prefixes) != list(REFERENCE_AUX_PREFIXES)):  # chosen: _discover says what is missing
        return list(data_cfg.aux_prefixes)
    callback.info(f"No aux folder ({' or '.join(n + '/' for n in TRAIN_FOLDERS['aux'])}) in '{root}': training a "
                  "vision-only model (no aux stream).")
    return []


def _discover(root: Path, folders: dict, data_cfg: DataConfig, prefixes: list[str],
              callback: Callback) -> list[SceneSpec]:
    """Scenes of one split of the reference layout; ``prefixes`` name the aux files of a scene (none: no aux)."""
    images_dir = child_folder(root, folders["images"])
    labels_dir = child_folder(root, folders["labels"])
    for name, folder in ((folders["images"], images_dir), (folders["labels"], labels_dir)):
        if folder is None:
            raise DataError(f"Folder '{root / name}' is missing; the reference layout needs {folders['images']}/ "
                            f"(images) and {folders['labels']}/ (labels) in '{root}'.")
    aux_dirs = [d for d in (child_folder(root, n) for n in folders["aux"]) if d is not None] if prefixes else []
    if prefixes and not aux_dirs:
        raise DataError(f"No aux folder in '{root}': expected {' or '.join(n + '/' for n in folders['aux'])} "
                        f"holding files named {', '.join(p + '<name>.tif' for p in prefixes)}. For a vision-only "
                        f"model leave out the aux prefixes ({mention('data.aux_prefixes')}) and the aux folders.")
    if not (images := files_by_stem(images_dir, GEOTIFF_SUFFIXES)):
        raise DataError(f"Folder '{images_dir}' holds no .tif/.tiff images; put the {folders['images']} "
                        "rasters there or point data_dir at the right folder.")
    if not (labels := files_by_stem(labels_dir, GEOTIFF_SUFFIXES)):
        raise DataError(f"Folder '{labels_dir}' holds no .tif/.tiff labels; every image in '{images_dir}' needs a "
                        "label raster with the same base name.")
    aux_files: dict[str, Path] = {}
    for folder in aux_dirs:
        for key, path in files_by_stem(folder, GEOTIFF_SUFFIXES).items():
            if key in aux_files:
                raise DataError(f"Aux file '{path.stem}' is in both '{aux_files[key].parent}' and '{folder}'; "
                                "keep only one copy.")
            aux_files[key] = path
    searched = " or ".join(f"'{d}'" for d in aux_dirs)
    scenes: list[SceneSpec] = []
    problems: list[str] = []
    for key, image in images.items():
        name, label = image.stem, labels.get(key)
        aux = [aux_files.get((prefix + name).lower()) for prefix in prefixes]
        missing = [f"label '{name}.tif' not found in '{labels_dir}'"] if label is None else []
        missing += [f"aux '{p}{name}.tif' not found in {searched}" for p, path in zip(prefixes, aux) if path is None]
        if missing:
            problems.append(f"scene '{name}' ({image}): " + "; ".join(missing))
            continue
        scenes.append(SceneSpec(image=str(image), label=str(label), aux=[str(path) for path in aux]))
    if orphans := sorted(labels[k].name for k in set(labels) - set(images)):
        callback.warning(f"{len(orphans)} label(s) in '{labels_dir}' have no image in '{images_dir}' and are "
                         f"ignored: {', '.join(orphans[:10])}{' ...' if len(orphans) > 10 else ''}")
    _report_incomplete(problems, data_cfg, callback, str(images_dir))
    if not scenes:
        raise DataError(f"No complete scene in '{images_dir}': every scene was skipped as incomplete.")
    return scenes


def _report_incomplete(problems: list[str], data_cfg: DataConfig, callback: Callback, where: str) -> None:
    if not problems:
        return
    listing = ";\n  ".join(problems) + "."  # read on one line where a front end folds the lines
    if data_cfg.skip_incomplete:
        callback.warning(f"Skipping {len(problems)} incomplete scene(s) of {where}:\n  {listing}")
        return
    raise DataError(f"{len(problems)} incomplete scene(s) in {where}:\n  {listing}\nAdd the missing files, or "
                    f"set {mention('data.skip_incomplete')} to train without these scenes.")


def _check_explicit(scenes: list[SceneSpec], data_cfg: DataConfig, callback: Callback,
                    what: str) -> list[SceneSpec]:
    """Explicit scenes: every file must exist; a training/validation scene needs a label."""
    kept: list[SceneSpec] = []
    problems: list[str] = []
    for i, scene in enumerate(scenes):
        missing = [] if locations.is_file(scene.image) else [f"image '{scene.image}' does not exist"]
        if not scene.label:
            missing.append("no label given (training and validation scenes need a label raster or vector layer)")
        elif not locations.exists(scene.label):
            missing.append(f"label '{scene.label}' does not exist")
        missing += [f"later date '{after}' does not exist" for after in scene.after if not locations.is_file(after)]
        missing += [f"aux '{aux}' does not exist" for aux in scene.aux if not locations.is_file(aux)]
        if scene.aoi and not locations.exists(scene.aoi):
            missing.append(f"area of interest '{scene.aoi}' does not exist")
        if missing:
            named = scene.names.get(scene.image) or f"'{locations.stem(scene.image)}'"  # a web layer: its name
            problems.append(f"{what}[{i}] {named}: " + "; ".join(missing))
        else:
            kept.append(scene)
    _report_incomplete(problems, data_cfg, callback, what)
    if scenes and not kept:
        raise DataError(f"No usable scene in {what}: every scene was skipped as incomplete.")
    return kept


def scene_sizes(specs: list[Any]) -> list[tuple[str, int, int]]:
    """(image, width, height) of each scene spec, from the raster headers only."""
    sizes = []
    for spec in specs:
        with open_raster(spec.image, "image") as ds:
            sizes.append((spec.image, int(ds.width), int(ds.height)))
    return sizes


def child_folder(root: Path, name: str) -> Path | None:
    """The sub-folder ``name`` of ``root`` (case-insensitive), or None."""
    exact = root / name
    return exact if exact.is_dir() else next(
        (child for child in root.iterdir() if child.is_dir() and child.name.lower() == name.lower()), None)


def pair_layout(root: Path) -> tuple[Path, Path, Path] | None:
    """The (first date, later date, labels) folders of ``root``, or None where it holds no such three."""
    if (labels := next((f for f in (child_folder(root, n) for n in LABEL_FOLDERS) if f is not None), None)) is None:
        return None
    for first, later in DATE_FOLDERS:
        a, b = child_folder(root, first), child_folder(root, later)
        if a is not None and b is not None:
            return a, b, labels
    return None


def is_pair_folder(root: Path) -> bool:
    """Whether ``root`` is a change-detection dataset: of the pair layout itself, or its ``train/`` is."""
    train = child_folder(root, TRAIN)
    return pair_layout(root) is not None or (train is not None and pair_layout(train) is not None)


def missing_part(root: Path) -> str | None:
    """What keeps ``root`` (or its ``train/``) from being a change-detection dataset where it holds part of one (a
    date's folder, or the labels' beside one date), or None."""
    for folder in filter(None, (root, child_folder(root, TRAIN))):
        dates = [name for pair in DATE_FOLDERS for name in pair if child_folder(folder, name) is not None]
        labels = [name for name in LABEL_FOLDERS if child_folder(folder, name) is not None]
        if dates and (labels or len(dates) > 1):
            wanted = [f"{name}/" for pair in DATE_FOLDERS if pair[0] in dates or pair[1] in dates for name in pair
                      if name not in dates] + ([] if labels else ["label/"])
            return (f"'{folder}' holds {', '.join(d + '/' for d in dates + labels)} of a change-detection dataset "
                    f"but not {' and '.join(wanted)}: each pair's first date, later date and change label go in "
                    f"folders of their own ({', '.join(a + '/ and ' + b + '/' for a, b in DATE_FOLDERS[:3])}, with "
                    f"label/), named alike.")
    return None


def pair_scenes(root: Path, callback: Callback) -> tuple[list[SceneSpec], list[SceneSpec], list[str]]:
    """The training and validation pairs of the dataset folder ``root`` (:func:`is_pair_folder`), and one line per
    incomplete pair (a date or the label missing)."""
    train_dir = child_folder(root, TRAIN)
    if train_dir is not None and pair_layout(train_dir) is not None:
        train, problems = _pairs(train_dir, None)
        val_dir = child_folder(root, VAL)
        val, more = _pairs(val_dir, None) if val_dir is not None and pair_layout(val_dir) is not None else ([], [])
        if child_folder(root, TEST) is not None:
            callback.info(f"'{root / TEST}' is left out of training: score a model on it with "
                          f"{command('detect_change')} and {command('evaluate')}.")
        return train, val, problems + more
    lists = child_folder(root, "list")
    listed = {split: _listed(lists, split) for split in (TRAIN, VAL)} if lists is not None else {}
    if listed.get(TRAIN) is None:
        train, problems = _pairs(root, None)
        return train, [], problems
    train, problems = _pairs(root, listed[TRAIN])
    val, more = _pairs(root, listed[VAL]) if listed.get(VAL) else ([], [])
    callback.info(f"The pairs of '{root}' split by '{lists / 'train.txt'}'"
                  + (f" and '{lists / 'val.txt'}'." if listed.get(VAL) else "; validation held out of them."))
    return train, val, problems + more


def _listed(lists: Path, split: str) -> list[str] | None:
    """The file names ``list/<split>.txt`` names, one a line; None where there is no such file."""
    path = lists / f"{split}.txt"
    if not path.is_file():
        return None
    if not (names := [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]):
        raise DataError(f"'{path}' names no file; list the pairs of the {split} split, one file name a line.")
    return names


def files_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """Lower-cased stem -> path of the files of ``folder`` with one of ``suffixes`` (two of one stem: an error)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        key = path.stem.lower()
        if key in found:
            raise DataError(f"Two files share the base name '{path.stem}' in '{folder}': '{found[key].name}' and "
                            f"'{path.name}'; keep only one of them.")
        found[key] = path
    return found


def _pairs(root: Path, names: list[str] | None) -> tuple[list[SceneSpec], list[str]]:
    """The pairs of the layout in ``root`` (only those ``names`` names, where given), and the incomplete ones."""
    first_dir, later_dir, label_dir = pair_layout(root)  # type: ignore[misc]  # checked by the callers
    first, later, labels = (files_by_stem(f, PAIR_FILE.suffixes) for f in (first_dir, later_dir, label_dir))
    if not first:
        raise DataError(f"'{first_dir}' holds no image ({', '.join(PAIR_FILE.suffixes)}): put the first date of "
                        f"each pair there, its later date in '{later_dir}' and its change label in '{label_dir}', "
                        f"named alike.")
    keys = list(first) if names is None else [Path(n).stem.lower() for n in names]
    scenes, problems = [], []
    for key in keys:
        missing = [f"{what} not found in '{folder}'" for what, folder, files in (
            ("first date", first_dir, first), ("later date", later_dir, later), ("label", label_dir, labels))
            if key not in files]
        if missing:
            problems.append(f"pair '{key}': " + "; ".join(missing))
            continue
        scenes.append(SceneSpec(image=str(first[key]), after=[str(later[key])], label=str(labels[key])))
    return scenes, problems
