"""Output safety: no run ever writes onto one of its own inputs (docs/reliability.md).

Every command calls :func:`check_outputs` before any work, with every file it reads and will write, sidecars
included, each labelled by its setting (:func:`engine.errors.mention`: each front end shows its own control).
Files are compared by identity (``os.stat``'s device and inode, symlinks followed: a hard link, a symlink or ``..``
is caught); an output that does not exist yet by its resolved path. An overlap raises a
:class:`~engine.errors.ConfigError` naming both parameters and both paths. An input counts with every local file
it makes a run read (:func:`files_read`: a VRT's sources, recursively, the local assets of a STAC item or
ItemCollection, GDAL's sidecars); a folder with every raster or vector file inside. Only what lies on this machine
counts (a URL is read, never written); descriptions over :data:`MAX_DESCRIPTION` are not parsed (no VRT or item is
that large), nor are more than :data:`MAX_FILES` files followed from one input.

The same call refuses an output that exists but is not a regular file (``/dev/full``, a FIFO, a folder where a
file is written), an output misnamed for its format (:class:`Files` with a ``format``) and an input that is not a
regular file (a folder only where :class:`Files` says ``folder=True``). The front ends call the same functions.
"""

from __future__ import annotations

import errno
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from ..errors import ConfigError, DataError, mention
from . import locations
from .atomic import NAME_MAX, path_kind, temporary_path
from .formats import FORMAT_TABLE, RASTER, RASTER_SUFFIXES, VECTOR_SUFFIXES

PathLike = Union[str, "os.PathLike[str]"]
Paths = Union[PathLike, Iterable[PathLike], None]

SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg", ".qix")
# files of an input folder that a command may read (a stale metrics.json in a prediction folder is no input)
DATA_SUFFIXES = (*RASTER_SUFFIXES, *(s for s in VECTOR_SUFFIXES if s != ".json"), *SHAPEFILE_PARTS)
MAX_DESCRIPTION = 64 * 2**20  # bytes of a VRT or STAC JSON parsed for the files it names
MAX_FILES = 100_000
SIDECARS = (".aux.xml", ".ovr", ".msk")  # read, written or replaced by GDAL beside a raster
_VRT_TAGS = ("SourceFilename", "SourceDataset")  # a VRT's sources; a warped VRT's dataset
_STAC_SUFFIXES = (".json", ".geojson")


# format -> the file name endings of that format (the first is the one to suggest), from the one format table
FORMATS: dict[str, tuple[str, ...]] = {k: FORMAT_TABLE[k].suffixes
                                       for k in ("geotiff", "gpkg", "json", "csv", "html", "onnx", "bundle")}
RASTER_GIVE = RASTER.article
BUNDLE_GIVE = "the .dsmodel file written by train (or an .onnx file written by export)"
FORMAT_NAMES = {k: FORMAT_TABLE[k].article for k in FORMATS}


@dataclass(frozen=True)
class Files:
    """Paths of one input or output with what they must be: ``format`` a key of :data:`FORMATS` (outputs: the first
    path must end in one of its suffixes; inputs: a folder's files of it are listed); ``folder``: a folder is
    expected (outputs) or accepted (inputs); ``give``: (inputs) what to give instead of something that is no file.
    """

    paths: Paths
    format: str | None = None
    folder: bool = False
    give: str = ""

    def __iter__(self) -> Iterator[str]:
        return iter(as_paths(self.paths))


def check_input_file(path: PathLike, what: str, folder_ok: bool = False, give: str = "",
                     suffixes: tuple[str, ...] = ()) -> None:
    """Refuse an input that exists but is not a regular file (a FIFO, a device, a socket; a folder unless
    ``folder_ok``), before anything opens it: a FIFO would block the first read forever. ``give``: what to give
    instead (``"the .dsmodel file written by train"``); a folder's files ending in ``suffixes`` are listed."""
    kind = path_kind(path)
    if kind is None or (folder_ok and kind == "a folder"):
        return
    found: list[str] = []
    if kind == "a folder" and suffixes:
        with suppress(OSError):
            found = sorted(n for n in os.listdir(path) if n.lower().endswith(suffixes) and not n.startswith("."))
    inside = f" It holds {', '.join(found[:5])}{' ...' if len(found) > 5 else ''}." if found else ""
    raise ConfigError(f"The {what} '{path}' is {kind}, not a file; give {give or 'the file itself'}.{inside} "
                      f"Nothing was read or written.")


def check_destination(path: PathLike, what: str, fmt: str | None = None, folder: bool = False) -> None:
    """Refuse a destination that exists but is not what is written there (a device, a FIFO, a socket; a folder
    where a file is written, a file where a folder is), and a file name whose ending is not its format's."""
    kind = path_kind(path)
    if folder:
        if kind is None and os.path.exists(path):
            kind = "a file"
        if kind not in (None, "a folder"):
            raise ConfigError(f"The {what} '{path}' is {kind}, not a folder; give a folder (it is created if "
                              f"missing). Nothing was written.")
        return
    if kind is not None:
        advice = ("give a file name inside it" if kind == "a folder"
                  else "give the path of a new or existing regular file")
        raise ConfigError(f"The {what} '{path}' is {kind}, which is not replaced by an output; {advice}. Nothing "
                          f"was written.")
    if fmt is not None:
        suffixes = FORMATS[fmt]
        if Path(path).suffix.lower() not in suffixes:
            raise ConfigError(f"The {what} '{path}' is written as {FORMAT_NAMES.get(fmt, fmt)}, but its name ends in "
                              f"'{Path(path).suffix or '(nothing)'}'; give a name ending in {' or '.join(suffixes)}, "
                              f"e.g. '{Path(path).with_suffix(suffixes[0]).name}'.")


def check_name_length(path: PathLike, what: str, given: PathLike | None = None) -> None:
    """ConfigError when the file name of ``path`` (``given`` or a file written beside it) is longer than its
    folder's file system allows, said before anything is written (the OS would only say "File name too long"
    about whichever file came first, a temporary one)."""
    path = Path(path)
    try:
        limit = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no such folder (said elsewhere), or no pathconf (Windows)
        limit = NAME_MAX
    size = len(path.name.encode("utf-8", "surrogateescape"))
    if size <= limit:
        return
    given = Path(given) if given is not None else path
    own = len(given.name.encode("utf-8", "surrogateescape"))
    beside = "" if given == path else f" (written beside it as '{path.name}')"
    raise ConfigError(f"The {what} '{given}' makes a file name of {size} bytes{beside}; the file system allows "
                      f"{limit}. Choose a name of at most {own - (size - limit)} bytes. Nothing was written.")


def check_writable(destination: str | os.PathLike, what: str) -> Path:
    """Raise DataError unless a file can be created beside ``destination`` (and it can be replaced): a probe file
    is made and removed, because permission bits do not tell the whole story (read-only mounts, ACLs, Windows)."""
    destination = Path(destination)
    folder = destination.parent
    if destination.is_dir():
        raise DataError(f"The {what} '{destination}' is a folder; give a file name such as "
                        f"'{destination / 'out.tif'}'.")
    check_destination(destination, what)  # a device, FIFO or socket is never replaced
    if not folder.is_dir():
        raise DataError(f"The folder of the {what} '{destination}' does not exist; create '{folder}' first "
                        f"or choose another destination.")
    check_name_length(destination, what)
    probe = temporary_path(destination, ".probe")
    try:
        probe.write_bytes(b"0")
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise DataError(f"The {what} '{destination}' cannot be written: the folder '{folder}' is not "
                            f"writable ({exc.strerror}). Choose a writable destination.") from exc
        raise DataError(f"The {what} '{destination}' cannot be written: creating a file in '{folder}' failed "
                        f"({exc.strerror}). Free the space or choose another destination.") from exc
    finally:
        with suppress(OSError):
            probe.unlink()
    if destination.exists() and not os.access(destination, os.W_OK):
        raise DataError(f"The {what} '{destination}' exists and is read-only; remove it or choose another name.")
    return destination


def check_creatable(destination: str | os.PathLike, what: str) -> Path:
    """:func:`check_writable`, where the destination's folder may not exist yet: then its nearest existing parent
    must take files (the run creates the missing folders, as qgis_process does)."""
    destination = Path(destination)
    folder = destination.parent
    nearest = folder
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if nearest == folder:
        return check_writable(destination, what)
    if not nearest.is_dir():
        raise DataError(f"The folder of the {what} '{destination}' cannot be made: '{nearest}' is a file, not a "
                        f"folder. Choose another destination.")
    try:
        check_writable(nearest / destination.name, what)
    except DataError as exc:
        raise DataError(f"The {what} '{destination}' cannot be written: its folder would be made in '{nearest}', "
                        f"which is not writable. Choose a writable destination.") from exc
    return destination


def make_folders(destinations: list[Path]) -> list[Path]:
    """Make the missing folders of ``destinations``; returns them innermost first (for :func:`remove_empty_folders`)."""
    made: set[Path] = set()
    for destination in destinations:
        folder = Path(destination).parent
        made.update(f for f in (folder, *folder.parents) if not f.exists())
        folder.mkdir(parents=True, exist_ok=True)
    return sorted(made, key=lambda f: len(f.parts), reverse=True)


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove the folders of :func:`make_folders` that stayed empty."""
    for folder in folders:
        with suppress(OSError):
            folder.rmdir()


def file_identity(path: PathLike) -> tuple[Any, ...]:
    """``("file", st_dev, st_ino)`` for an existing file (symlinks followed), else ``("path", resolved path)``."""
    try:
        st = os.stat(path)
    except OSError:  # missing, or unreadable (permissions, loops): the resolved path is the best we know
        return ("path", os.path.normcase(os.path.realpath(path)))
    return ("file", st.st_dev, st.st_ino)


def as_paths(value: Paths | Files) -> list[str]:
    if isinstance(value, Files):
        value = value.paths
    items = [value] if isinstance(value, (str, os.PathLike)) else value or ()
    return [os.fspath(v) for v in items if v is not None and os.fspath(v)]


def files_read(path: str) -> list[tuple[str, str]]:
    """(file, how the run comes to read it) for every local file reading ``path`` reads, ``path`` first with
    ``""``: ``("/d/B04.tif", "asset 'red' of the STAC item '/d/item.json'")``. ``FILE#ID`` names an item of an
    ItemCollection."""
    local = locations.local_file(path)
    if local is None:
        return []
    if "#" in local and not os.path.exists(local) and os.path.isfile(local.split("#", 1)[0]):
        local = local.split("#", 1)[0]  # COLLECTION.json#ITEM_ID
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    pending = [(local, "")]
    while pending and len(found) < MAX_FILES:
        file, how = pending.pop(0)
        key = os.path.normcase(os.path.realpath(file))
        if key in seen:
            continue
        seen.add(key)
        found.append((file, how))
        pending.extend(_named_by(file))
    return found


def _named_by(file: str) -> list[tuple[str, str]]:
    """The local files ``file`` makes GDAL (or the STAC reader) read besides itself."""
    if not os.path.isfile(file):
        return []
    lower = file.lower()
    named = [(file + s, f"GDAL's sidecar of '{file}'") for s in SIDECARS if os.path.isfile(file + s)]
    if lower.endswith(".vrt"):
        named += [(source, f"a source of the VRT '{file}'") for source in vrt_sources(file)]
    elif lower.endswith(_STAC_SUFFIXES):
        named += [(href, f"asset '{key}' of the STAC item '{file}'") for key, href in stac_assets(file)]
    return named


def _parsed(file: str, parse: Callable[[str], Any]) -> Any:
    """``parse(file)``; None for a file over :data:`MAX_DESCRIPTION` or one that cannot be parsed (GDAL or the STAC
    reader says so when it reads it)."""
    try:
        return parse(file) if os.path.getsize(file) <= MAX_DESCRIPTION else None
    except (ET.ParseError, OSError, ValueError):
        return None


def vrt_sources(file: str) -> list[str]:
    """The local files a VRT names as sources; none when it cannot be parsed."""
    root = _parsed(file, lambda path: ET.parse(path).getroot())
    if root is None:
        return []
    out = []
    for element in root.iter():
        text = (element.text or "").strip()
        if element.tag not in _VRT_TAGS or not text or locations.is_remote(text):
            continue
        if element.get("relativeToVRT", element.get("relativetoVRT", "0")) == "1" and not os.path.isabs(text):
            text = os.path.join(os.path.dirname(file), text)
        out.append(locations.split_layer(text)[0])
    return out


def stac_assets(file: str) -> list[tuple[str, str]]:
    """(asset key, local path) of every asset of a STAC item, or of each item of an ItemCollection, held in
    ``file``; nothing for another JSON document."""
    document = _parsed(file, lambda path: json.loads(Path(path).read_text(encoding="utf-8")))
    items = [document] if isinstance(document, dict) and document.get("type") == "Feature" else (
        document.get("features") or [] if isinstance(document, dict) else [])
    assets = [item["assets"] for item in items if isinstance(item, dict) and isinstance(item.get("assets"), dict)]
    hrefs = [(str(key), asset["href"]) for each in assets for key, asset in each.items()
             if isinstance(asset, dict) and isinstance(asset.get("href"), str) and asset["href"].strip()]
    found = [(key, locations.local_file(locations.resolve_href(href, file))) for key, href in hrefs]
    return [(key, local) for key, local in found if local is not None]


def _expand_input(path: str) -> list[tuple[str, str]]:
    """(file, how it is read) for an input and every local file reading it reads (:func:`files_read`); a folder's
    raster and vector files (recursively)."""
    local = locations.local_file(path)
    if local is None:
        return []
    p = Path(local)
    if p.is_dir():
        return [read for root, _dirs, names in os.walk(p) for n in names if n.lower().endswith(DATA_SUFFIXES)
                for read in files_read(os.path.join(root, n))]
    if p.suffix.lower() == ".shp":
        return [(local, ""), *((str(p.with_suffix(s)), "") for s in SHAPEFILE_PARTS)]
    return files_read(path)


def check_outputs(inputs: Mapping[str, Paths | Files], outputs: Mapping[str, Paths | Files]) -> None:
    """Refuse a run as the module's docstring says (a ConfigError naming the parameters, the paths and what to give
    instead). Both map a parameter's name as the user knows it to its path(s) or None, or :class:`Files`."""
    written: dict[tuple[Any, ...], tuple[str, str]] = {}
    for name, value in outputs.items():
        for path in as_paths(value):
            key = file_identity(path)
            if key in written and written[key][0] != name:
                other, other_path = written[key]
                raise ConfigError(f"The {name} '{path}' and the {other} '{other_path}' are the same file; give "
                                  f"each output its own name.")
            written.setdefault(key, (name, path))
    for name, value in inputs.items():
        for given in as_paths(value):
            for path, how in _expand_input(given):
                key = file_identity(path)
                if key in written:
                    out_name, out_path = written[key]
                    what = "" if path == given else f" (it reads '{path}', {how})" if how else f" (its file '{path}')"
                    raise ConfigError(
                        f"The {out_name} '{out_path}' would overwrite {'a file read through ' if what else ''}the "
                        f"{name} '{given}'{what}: they are the same file. Nothing was written; choose another output "
                        f"name.")
    for name, value in outputs.items():
        spec = value if isinstance(value, Files) else Files(value)
        paths = as_paths(spec.paths)
        for index, path in enumerate(paths):
            check_destination(path, name, spec.format if index == 0 else None, spec.folder and index == 0)
            check_name_length(path, name, paths[0])
    for name, value in inputs.items():
        spec = value if isinstance(value, Files) else Files(value, folder=True)  # plain paths: folders count
        for path in as_paths(spec.paths):
            check_input_file(path, name, folder_ok=spec.folder, give=spec.give,
                             suffixes=FORMATS.get(spec.format or "", ()))


def raster_sidecars(path: PathLike | None, qml: bool = False) -> list[str]:
    """``path`` and the files written beside it: GDAL's ``.aux.xml``/``.ovr``/``.msk`` and the ``.qml`` style."""
    if not path:
        return []
    path = os.fspath(path)
    return [path, *(path + s for s in SIDECARS), *([str(Path(path).with_suffix(".qml"))] if qml else [])]


def metrics_files(stem: PathLike | None) -> list[str]:
    """The files ``evaluate`` writes for the metrics ``stem`` (JSON, per-class CSV, confusion CSV); none for none."""
    if not stem:
        return []
    stem = Path(stem)
    return [str(stem), str(stem.with_suffix(".csv")), str(stem.with_name(stem.stem + "_confusion.csv"))]


def evaluate_files(cfg: Any) -> tuple[dict[str, Paths | Files], dict[str, Paths | Files]]:
    """What ``evaluate`` reads (prediction(s), label(s)) and writes (metrics JSON + CSVs, run-length CSV)."""
    stem = Path(cfg.output) if cfg.output else None
    inputs: dict[str, Paths | Files] = {
        f"prediction ({mention('evaluate.prediction')})": Files(cfg.prediction, folder=True),
        f"label ({mention('evaluate.label')})": Files(cfg.label, folder=True)}
    outputs: dict[str, Paths | Files] = {
        f"metrics ({mention('evaluate.output')})": Files(metrics_files(stem), "json"),
        f"run-length CSV ({mention('evaluate.rle_csv')})": Files(cfg.rle_csv, "csv"),
        f"HTML report ({mention('evaluate.html')})": Files(cfg.html, "html"),
    }
    return inputs, outputs


def every_file(path: str | None) -> list[str]:
    """Every file of a local file or folder (a pretrained checkpoint); nothing for a hub id."""
    if not path or not os.path.exists(path):
        return []
    if not os.path.isdir(path):
        return [path]
    return [os.path.join(root, n) for root, _dirs, names in os.walk(path) for n in names]
