"""A ready model's ONNX graph on disk, verified: downloaded, or read where the installed Python package of a ``pypi``
source (e.g. ukis-csmask) keeps it, pip-installed first when missing and allowed. The package is found without
importing it (``importlib.util.find_spec``), so its own dependencies need not be importable. In QGIS the plugin
installs the package into its dependency folder itself and calls the engine with ``install=False``.

ukis-csmask's statistics files (``model_4b_l1c.json`` beside ``model_4b_l1c.onnx``) give the band order its graphs take,
the per-band mean and std of reflectance, its tile size and class count; a catalogue entry of ukis-csmask is checked
against them, so a bundle never carries statistics the graph was not trained with (what ``CSmask`` computes with
them: docs/ready-models.md).

Where ready models are kept (``$DUALSTREAM_MODELS_DIR``, else the user's cache folder) and how a download follows the
policy of every download (``engine.io.network``: stalls, ``KEEP_PARTIAL``, HTTP Range requests): docs/ready-models.md.
The destination only ever holds a complete file whose SHA-256 was checked.
"""

from __future__ import annotations

import http.client
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..bundle.imported import imported_graph, is_imported
from ..bundle.store import read_metadata
from ..bundle.view import model_view
from ..callbacks import Callback, Stage
from ..errors import ConfigError, DataError, DependencyError, DualStreamError
from ..io.atomic import refuse_special
from ..io.digest import file_sha256
from ..io.download import Answer, fetch_into
from ..io.network import KEEP_PARTIAL, PARTIAL_SUFFIX, Stall, Watch, size_text
from ..runtime.environment import pip_install_command
from .catalogue import Entry, Source, requirement_problem

MODELS_ENV = "DUALSTREAM_MODELS_DIR"


def default_folder() -> Path:
    """The folder ready models go to when none is given."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dualstream" / "models"


def bundle_path(folder: str | os.PathLike, name: str) -> Path:
    """The bundle of the ready model ``name`` in ``folder``."""
    return Path(folder) / f"{name}.dsmodel"


def cached_problem(path: str | os.PathLike, entry: Entry) -> str | None:
    """Why the bundle ``path`` in the models folder is not the verified model of ``entry`` (None: it is): it must
    load, hold a model made elsewhere whose graph is the entry's (same SHA-256) and whose bytes still match the
    bundle's own digest. A garbage file or another model under the entry's name is "damaged"."""
    path = Path(path)
    try:
        meta = read_metadata(path)
    except DualStreamError:
        return "it does not load as a model bundle (truncated, edited or no bundle at all)"
    except OSError as exc:
        return f"it cannot be read ({exc})"
    if not is_imported(meta):
        return "it holds a model trained with DualStream, not the catalogue's graph"
    recorded = str(model_view(meta.data).record.get("graph_sha256") or "")
    if recorded != entry.source.sha256:
        return (f"its graph has SHA-256 {recorded[:12] or 'none'}..., the catalogue's is "
                f"{entry.source.sha256[:12]}...: another model")
    try:
        imported_graph(path, meta)
    except DualStreamError:
        return "its graph does not match the bundle's checksum (altered or damaged)"
    return None


def package_folder(module: str) -> Path | None:
    """The folder of the installed package ``module`` (None when it is not installed)."""
    importlib.invalidate_caches()  # a package pip installed a moment ago
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    return Path(spec.origin).parent


def missing_requirements(source: Source) -> list[str]:
    """The pip requirement to install for ``source`` when its package is missing, else nothing."""
    if source.kind != "pypi" or package_folder(str(source.module)) is not None:
        return []
    return [str(source.requirement)]


def install_package(requirement: str, callback: Callback) -> None:
    """``pip install requirement`` into the Python that runs DualStream, its output passed to ``callback``."""
    problem = requirement_problem(requirement)
    if problem:  # the catalogue's check, again where pip is called: never an option for pip
        raise ConfigError(f"The requirement {requirement!r} cannot be installed: {problem}.")
    command = pip_install_command([requirement])
    callback.info(f"Installing {requirement}: {' '.join(command)}")
    lines: list[str] = []
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise DependencyError(requirement, f"pip could not be started ({exc}); run `{' '.join(command)}`") from exc
    with process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.startswith(("Collecting ", "Downloading ", "Installing ", "Successfully ")):
                callback.info(line.rstrip())
            if callback.is_canceled():
                process.terminate()
                process.wait(timeout=60)
                callback.check_canceled()
        code = process.wait()
    if code != 0:
        raise DependencyError(requirement, f"pip failed with exit code {code} ({' | '.join(lines[-3:])}); run "
                                           f"`{' '.join(command)}` and read its messages")


def package_file(source: Source, name: str, sha256: str) -> Path:
    """The file ``name`` of the installed package of ``source``, its checksum verified. Raises DependencyError (the
    package is not installed) or DataError (the file is missing or differs: another version is installed)."""
    folder = package_folder(str(source.module))
    command = " ".join(pip_install_command([str(source.requirement)]))
    if folder is None:
        raise DependencyError(str(source.requirement), f"install it with `{command}`")
    path = folder / name
    if folder.resolve() not in path.resolve().parents:  # "..", an absolute name or a link out of the package
        raise DataError(f"The catalogue names {name!r} in the package {source.module} ({folder}), which is outside "
                        f"the package's folder; only files inside it are read. Correct the catalogue entry.")
    reinstall = f"install the version the catalogue describes: `{command}`"
    if not path.is_file():
        raise DataError(f"The installed package {source.module} ({folder}) has no {name}; {reinstall}.")
    got = file_sha256(path)
    if got != sha256:
        raise DataError(f"{path} has SHA-256 {got}, not the catalogue's {sha256}: another version of "
                        f"{source.module} is installed; {reinstall}.")
    return path


#: How close the catalogue's statistics must be to the file's (both are float32 values written as text).
TOLERANCE = 1e-6


def check_statistics(entry: Entry, path: Path) -> None:
    """DataError when ``path`` is no ukis-csmask statistics file, or naming what differs from the catalogue entry."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
        stats = data["dataset_statistics"]
        bands, mean, std = ([str(b).lower() for b in stats["band_names"]], [float(v) for v in stats["img"][0]],
                            [float(v) for v in stats["img"][1]])
        tile_size, classes = int(data["target_size"][0]), int(data["classes"])
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise DataError(f"'{path}' is not a ukis-csmask statistics file ({type(exc).__name__}: {exc}).") from exc
    problems = []
    if [b.lower() for b in entry.bands] != bands:
        problems.append(f"bands {entry.bands} vs {bands}")
    problems += [name for name, ours, theirs in (("mean", entry.mean, mean), ("std", entry.std, std))
                 if len(ours) != len(theirs) or any(abs(a - b) > TOLERANCE for a, b in zip(ours, theirs))]
    if entry.tile_size != tile_size:
        problems.append(f"tile size {entry.tile_size} vs {tile_size}")
    if len(entry.classes) != classes:
        problems.append(f"{len(entry.classes)} classes vs {classes}")
    if problems:
        raise DataError(f"The catalogue entry '{entry.name}' ({entry.origin}) does not match the model's statistics "
                        f"file {path}: {'; '.join(problems)}. Correct the entry.")


CHUNK = 2**18  # 256 KiB at most per read: a few hundred progress steps for a model of tens of MB


def partial_path(destination: Path, sha256: str) -> Path:
    """Where the bytes of ``destination`` (of checksum ``sha256``) wait for the rest."""
    return destination.with_name(f"{destination.name}.{sha256[:16]}{PARTIAL_SUFFIX}")


def download(url: str, destination: str | Path, sha256: str, callback: Callback | None = None,
             stall: Stall | None = None) -> Path:
    """``url`` saved at ``destination`` once its SHA-256 is ``sha256``; a verified file already there is kept, a partial
    one left by an earlier run continued. Raises DataError (the server unreachable, an error answer, a stall, or another
    checksum: nothing is left at ``destination`` then) or CanceledError."""
    callback = callback or Callback()
    stall = stall or Stall.rule()
    destination = Path(destination)
    expected = sha256.lower()
    if destination.is_file() and file_sha256(destination) == expected:
        callback.info(f"{destination.name} is already downloaded (checksum verified)")
        return destination
    refuse_special(destination)
    created = [p for p in (destination.parent, *destination.parent.parents) if not p.exists()]
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(destination, expected)
    for stale in destination.parent.glob(f"{destination.name}.*{PARTIAL_SUFFIX}"):
        if stale != part:  # an earlier catalogue entry's file: never continued with these bytes
            stale.unlink()
    callback.info(f"Downloading {url}")
    try:
        _fetch(url, part, destination, expected, callback, stall)
        os.replace(part, destination)
    except BaseException:
        if not KEEP_PARTIAL or (part.exists() and part.stat().st_size == 0):
            part.unlink(missing_ok=True)
        for folder in created:  # innermost first: the folders this download made, when they stayed empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return destination


@contextmanager
def _open(url: str, start: int, stall: Stall, again: str, blocks: Callable[[Any], Iterator[bytes]]) -> Iterator[Answer]:
    """The server's answer to a GET of ``url`` from byte ``start``, its body read by ``blocks``."""
    headers = {"User-Agent": "dualstream", **({"Range": f"bytes={start}-"} if start else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=stall.no_byte_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # the kept bytes reach past the file: the loop starts it again from zero
            exc.close()
            yield Answer(416, "", ())
            return
        raise DataError(f"Downloading {url} failed: the server answered {exc.code} {exc.reason}; check the address "
                        "in the catalogue, or try again later.") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError):
            raise DataError(f"Downloading {url} stalled: the server did not answer within {stall.no_byte_s:g} s. "
                            f"{again}") from exc
        raise DataError(f"Downloading {url} failed: {reason}. Check the network (and a proxy in $https_proxy). "
                        f"{again}") from exc
    with response:
        yield Answer(response.status, response.headers.get("Content-Range", ""), blocks(response))


def _fetch(url: str, part: Path, destination: Path, expected: str, callback: Callback, stall: Stall) -> None:
    """``part`` completed from the byte it ends at (the one loop, ``engine.io.download``), then checked against
    ``expected`` (removed when it differs)."""
    kept = (f"The bytes fetched so far are kept in '{part}': run it again to continue from there, or copy the file "
            f"by hand to '{destination}'." if KEEP_PARTIAL else
            f"Nothing was kept; run it again later, or copy the file by hand to '{destination}'.")
    state = {"done": 0, "total": 0}  # bytes in ``part``; the file's size once an answer tells it (0: unknown)

    def blocks(response: Any) -> Iterator[bytes]:
        length = int(response.headers.get("Content-Length") or 0)
        found = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
        state["total"] = (int(found.group(1)) if found and response.status == 206 else 0) + length if length else 0
        yield from _receive(url, response, state, callback, stall, kept)

    def moved(done: int) -> None:
        state["done"] = done
        callback.progress(done, max(state["total"], done, 1), Stage.DOWNLOAD)

    done = fetch_into(part, lambda start: _open(url, start, stall, kept, blocks), url, callback.info, moved=moved)
    if state["total"] and done != state["total"]:
        raise DataError(f"Downloading {url} ended after {done} of {state['total']} bytes. {kept}")
    got = file_sha256(part)
    if got != expected:
        part.unlink()
        raise DataError(f"The file downloaded from {url} has SHA-256 {got}, but the catalogue expects {expected}: it "
                        "is not the file the catalogue describes (changed on the server, or damaged on the way), so it "
                        "was not kept. Try again; if it persists, the catalogue entry is out of date.")


def _receive(url: str, response: Any, state: dict[str, int], callback: Callback, stall: Stall,
             kept: str) -> Iterator[bytes]:
    """The answer's body as it arrives, watched under ``stall`` (a stall, a broken link: DataError); ``state``: the
    bytes in the partial file (``done``) and the file's size (``total``, 0 when unknown) for the lines said."""
    total = state["total"]
    of_total = f" of {size_text(total)}" if total else ""
    watch = Watch(stall)
    while True:
        callback.check_canceled()
        try:
            block = response.read1(CHUNK)  # what the connection has, never waiting for a full block
        except TimeoutError as exc:
            raise DataError(f"Downloading {url} stalled: no byte for {stall.no_byte_s:g} s after "
                            f"{size_text(state['done'])}{of_total}. {kept}") from exc
        except (OSError, http.client.HTTPException) as exc:  # the connection broke mid-way
            raise DataError(f"Downloading {url} broke off after {size_text(state['done'])}{of_total} ({exc}). "
                            f"{kept}") from exc
        if not block:
            return
        yield block  # written (and ``state`` moved) before the loop goes on
        why = watch.arrived(len(block))
        if why:
            raise DataError(f"Downloading {url} stalled: {why}, {size_text(state['done'])}{of_total} in all. {kept}")
        if watch.report_due(state["done"] / total if total else None):
            callback.progress_line(f"Downloaded {size_text(state['done'])}{of_total} "
                                   f"({size_text(watch.done / max(watch.seconds, 1e-9))}/s)")


def prepare(entry: Entry, folder: Path, callback: Callback, install: bool = True) -> tuple[Path, Path | None]:
    """(the verified graph of ``entry``, the download to remove once it is wrapped: downloads go under ``folder``);
    ``install``: pip-install a missing package, else DependencyError with the command."""
    source = entry.source
    if source.kind == "http":  # the checksum in the download's name: another version is another file
        path = download(str(source.url), Path(folder) / "downloads" / f"{entry.name}-{source.sha256[:12]}.onnx",
                        source.sha256, callback)
        return path, path
    for requirement in missing_requirements(source):
        if not install:
            raise DependencyError(requirement, f"install it with `{' '.join(pip_install_command([requirement]))}`"
                                               ", or let DualStream install it")
        install_package(requirement, callback)
    model = package_file(source, str(source.model), source.sha256)
    callback.info(f"Found {model} (checksum verified)")
    if source.statistics and source.statistics_format == "ukis-csmask":
        statistics = package_file(source, source.statistics, str(source.statistics_sha256))
        check_statistics(entry, statistics)
    return model, None
