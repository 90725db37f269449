"""Output safety: no run ever writes onto one of its own inputs.

Every command (train, segment, evaluate, and any new one) calls :func:`check_outputs` before any work, with
every file it reads and every file it will write, sidecars included::

    check_outputs(inputs={f"image ({setting('segment.image')})": image, f"aux ({setting('segment.aux')})": [a1, a2]},
                  outputs={f"class raster ({setting('segment.output')})": [out, *raster_sidecars(out, qml=True)]})

The labels name settings with :func:`engine.errors.setting`: each front end shows its own control.

Files are compared by identity, not by path string: ``os.stat`` (symlinks followed) gives the device and
inode, so a hard link, a symlink, ``..`` segments or another spelling of the same file are all caught. An
output that does not exist yet is compared by its resolved path with the other outputs. Any overlap raises a
:class:`~engine.errors.ConfigError` naming both parameters and both paths. Folders given as inputs count with
every raster or vector file inside them.

The helpers :func:`raster_sidecars`, :func:`train_files`, :func:`segment_files` and :func:`evaluate_files` list
what each command reads and writes, so the entry points stay one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

from ..errors import ConfigError, setting

PathLike = Union[str, "os.PathLike[str]"]
Paths = Union[PathLike, Iterable[PathLike], None]

RASTER_SIDECARS = (".aux.xml", ".ovr", ".msk")  # written or replaced by GDAL beside a GeoTIFF
SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg", ".qix")
# files of an input folder that a command may read (a stale metrics.json in a prediction folder is no input)
DATA_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".jp2", ".gpkg", ".geojson", ".shp", *SHAPEFILE_PARTS)


def file_identity(path: PathLike) -> tuple[Any, ...]:
    """``("file", st_dev, st_ino)`` for an existing file (symlinks followed), else ``("path", resolved path)``."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return ("path", os.path.normcase(os.path.realpath(path)))
    except OSError:  # unreadable (permissions, loops): the resolved path is the best we know
        return ("path", os.path.normcase(os.path.realpath(path)))
    return ("file", st.st_dev, st.st_ino)


def _as_list(value: Paths) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)] if os.fspath(value) else []
    return [os.fspath(v) for v in value if v is not None and os.fspath(v)]


def _expand_input(path: str) -> list[str]:
    """An input file plus the files that belong to it; a folder's raster and vector files (recursively)."""
    p = Path(path)
    if p.is_dir():
        return [os.path.join(root, n) for root, _dirs, names in os.walk(p) for n in names
                if n.lower().endswith(DATA_SUFFIXES)]
    if p.suffix.lower() == ".shp":
        return [path, *(str(p.with_suffix(s)) for s in SHAPEFILE_PARTS)]
    return [path]


def check_outputs(inputs: Mapping[str, Paths], outputs: Mapping[str, Paths]) -> None:
    """Refuse a run whose outputs (or their sidecars) are any of its inputs, or each other.

    Args:
        inputs: parameter name (as the user knows it, e.g. ``"image (--image)"``) -> path, list of paths or None.
            Folders count with every raster or vector file inside.
        outputs: parameter name -> path(s) the run writes, sidecars included (see :func:`raster_sidecars`).

    Raises:
        ConfigError: an output is the same file as an input (or as another output), naming both parameters.
    """
    written: dict[tuple[Any, ...], tuple[str, str]] = {}
    for name, value in outputs.items():
        for path in _as_list(value):
            if Path(path).is_dir():
                raise ConfigError(f"The {name} '{path}' is a folder; give a file name inside it.")
            key = file_identity(path)
            if key in written and written[key][0] != name:
                other, other_path = written[key]
                raise ConfigError(f"The {name} '{path}' and the {other} '{other_path}' are the same file; give "
                                  f"each output its own name.")
            written.setdefault(key, (name, path))
    if not written:
        return
    for name, value in inputs.items():
        for given in _as_list(value):
            for path in _expand_input(given):
                key = file_identity(path)
                if key in written:
                    out_name, out_path = written[key]
                    what = "" if path == given else f" (its file '{path}')"
                    raise ConfigError(
                        f"The {out_name} '{out_path}' would overwrite the {name} '{given}'{what}: they are the "
                        f"same file. Nothing was written; choose another output name.")


def raster_sidecars(path: PathLike | None, qml: bool = False) -> list[str]:
    """``path`` and the files written beside it: GDAL's ``.aux.xml``/``.ovr``/``.msk`` and the ``.qml`` style."""
    if not path:
        return []
    path = os.fspath(path)
    files = [path, *(path + s for s in RASTER_SIDECARS)]
    if qml:
        files.append(str(Path(path).with_suffix(".qml")))
    return files


def train_files(model_cfg: Any, data_cfg: Any, train_cfg: Any) -> tuple[dict[str, Paths], dict[str, Paths]]:
    """What ``train`` reads (scenes, data folder, pretrained folder) and writes (bundle, checkpoint, reports)."""
    from ..training.checkpoint import checkpoint_path
    from ..training.report import report_paths

    inputs: dict[str, Paths] = {f"data folder ({setting('data.data_dir')})": data_cfg.data_dir,
                                "pretrained weights (--pretrained / PRETRAINED)": _every_file(model_cfg.pretrained)}
    for kind, scenes in (("", data_cfg.train_scenes), ("validation ", data_cfg.val_scenes)):
        # the scene's image names its scenes setting (--image / --val-image, INPUT); its label and aux files are
        # named by what they are
        where = setting(f"data.{'val' if kind else 'train'}_scenes")
        for spec in scenes:
            for key in ("image", "label", "aux", "aoi"):
                label = f"{kind}{key} of a scene ({where})"
                inputs.setdefault(label, [])
                inputs[label].extend(_as_list(getattr(spec, key)))  # type: ignore[union-attr]
    output = Path(train_cfg.output)
    outputs: dict[str, Paths] = {
        f"model bundle ({setting('train.output')})": [str(output), f"{output}.partial"],
        # the checkpoint is rewritten by a resumed run on purpose; it is an output, never an input here
        f"training checkpoint ({setting('train.output')} + .ckpt)": str(checkpoint_path(output)),
        f"training report (beside {setting('train.output')})": list(report_paths(output).values()),
    }
    return inputs, outputs


def segment_files(cfg: Any) -> tuple[dict[str, Paths], dict[str, Paths]]:
    """What ``segment`` reads (image, aux, bundles, AOI) and writes (classes + style, probabilities, polygons)."""
    inputs: dict[str, Paths] = {f"image ({setting('segment.image')})": cfg.image,
                                f"aux raster ({setting('segment.aux')})": cfg.aux,
                                f"model bundle ({setting('segment.models')})": cfg.models,
                                f"AOI ({setting('segment.aoi')})": cfg.aoi}
    outputs: dict[str, Paths] = {
        f"class raster ({setting('segment.output')})": raster_sidecars(cfg.output, qml=True),
        f"probability raster ({setting('segment.probabilities')})": raster_sidecars(cfg.probabilities),
        f"polygons ({setting('segment.polygons')})": cfg.polygons,
    }
    return inputs, outputs


def evaluate_files(cfg: Any) -> tuple[dict[str, Paths], dict[str, Paths]]:
    """What ``evaluate`` reads (prediction(s), label(s)) and writes (metrics JSON + CSVs, run-length CSV)."""
    stem = Path(cfg.output)
    inputs: dict[str, Paths] = {f"prediction ({setting('evaluate.prediction')})": cfg.prediction,
                                f"label ({setting('evaluate.label')})": cfg.label}
    outputs: dict[str, Paths] = {
        f"metrics ({setting('evaluate.output')})": [str(stem), str(stem.with_suffix(".csv")),
                                                   str(stem.with_name(stem.stem + "_confusion.csv"))],
        f"run-length CSV ({setting('evaluate.rle_csv')})": cfg.rle_csv,
        f"HTML report ({setting('evaluate.html')})": cfg.html,
    }
    return inputs, outputs


def _every_file(path: str | None) -> list[str]:
    """Every file of a local file or folder (a pretrained checkpoint); nothing for a hub id."""
    if not path or not os.path.exists(path):
        return []
    if not os.path.isdir(path):
        return [path]
    return [os.path.join(root, n) for root, _dirs, names in os.walk(path) for n in names]
