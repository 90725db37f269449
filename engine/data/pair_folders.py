"""Change-detection datasets as they are published: the two dates of each place in a folder each and the change
labels in a third, a pair's three files sharing a name (LEVIR-CD, CDD: ``A/``, ``B/``, ``label/`` or ``OUT/``;
S2Looking: ``Image1/``, ``Image2/``; SYSU-CD: ``time1/``, ``time2/``). Three ways to split them:

- ``train/`` and ``val/`` sub-folders, each of that layout (``test/`` is left for scoring);
- one folder of that layout with ``list/train.txt`` and ``list/val.txt`` naming each split's files (as
  ChangeFormer prepares LEVIR-CD);
- one folder of that layout: every pair trains, validation is held out of them.

The files may be GeoTIFFs or the PNG/JPEG tiles most of these datasets ship (read in pixel space). The reference
layout (``ts_sn/``, ``tl_sn/``) is :mod:`.sources`'.
"""

from __future__ import annotations

from pathlib import Path

from ..callbacks import Callback
from ..config import SceneSpec
from ..errors import DataError

#: The folders of the first and the later date, as the datasets name them.
DATE_FOLDERS = (("A", "B"), ("Image1", "Image2"), ("time1", "time2"), ("im1", "im2"), ("T1", "T2"),
                ("before", "after"))
#: The folder of the change labels.
LABEL_FOLDERS = ("label", "labels", "OUT", "mask", "gt")
#: What a pair's files may be: GeoTIFFs, or the image tiles of the datasets (no georeferencing).
PAIR_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")
TRAIN, VAL, TEST = "train", "val", "test"


def child_folder(root: Path, name: str) -> Path | None:
    """The sub-folder ``name`` of ``root`` (case-insensitive), or None."""
    exact = root / name
    return exact if exact.is_dir() else next(
        (child for child in root.iterdir() if child.is_dir() and child.name.lower() == name.lower()), None)


def pair_layout(root: Path) -> tuple[Path, Path, Path] | None:
    """The (first date, later date, labels) folders of ``root``, or None where it holds no such three."""
    labels = next((f for f in (child_folder(root, n) for n in LABEL_FOLDERS) if f is not None), None)
    if labels is None:
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
    for folder in (root, child_folder(root, TRAIN)):
        if folder is None:
            continue
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
            callback.info(f"'{root / TEST}' is left out of training: score a model on it with segment and evaluate.")
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
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
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
    first, later, labels = (files_by_stem(f, PAIR_SUFFIXES) for f in (first_dir, later_dir, label_dir))
    if not first:
        raise DataError(f"'{first_dir}' holds no image ({', '.join(PAIR_SUFFIXES)}): put the first date of each pair "
                        f"there, its later date in '{later_dir}' and its change label in '{label_dir}', named alike.")
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
