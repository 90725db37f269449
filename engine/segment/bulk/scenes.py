"""The scenes of a bulk run: images (files, globs, folders) with their aux matched by name, or a manifest.

Everything that makes the whole run pointless (nothing to segment, two scenes writing the same file, an output
that would replace an input, a manifest without an image column) is a :class:`ConfigError` before any work.
What concerns one scene only (an aux pattern that matches nothing for it, a missing or corrupt file) is recorded
on that scene, which then fails alone while the others run.
"""

from __future__ import annotations

import csv
import fnmatch
import glob
import json
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Any

from ...callbacks import Callback
from ...config import BulkConfig
from ...config.output_kinds import EXTRA_KINDS
from ...data.stac import expand_items, looks_like_stac
from ...errors import ConfigError, DataError, command, mention
from ...imagery.door import no_extent, web_source
from ...io import locations
from ...io.safety import RASTER_GIVE, RASTER_SUFFIXES, Files
from ...io.safety import check_outputs as check_identity
from ...runtime.environment import require
from ..scene_outputs import SceneOutputs

PATTERN_FIELDS = ("stem", "name")
MARKER_FOLDER = ".dualstream-bulk"  # completion markers and per-rank summaries, inside the output folder


@dataclass
class Scene:
    """One scene to segment and where its outputs go."""

    image: str
    aux: list[str]
    name: str  # stem of every output file
    error: str | None = None  # a problem found while listing; the scene is recorded as failed
    stac: bool = False  # ``image`` is a STAC item (a file, URL or ``COLLECTION#ID``), read through its assets
    pixels: int = 0  # width x height from the header (0 when it cannot be read; the run then says why)
    width: int = 0
    height: int = 0
    after: tuple[str, ...] = ()  # a change model's later date (``bulk.after_pattern``, ``bulk.pair_by_date``)
    web: bool = False  # ``image`` is a web layer's description, read over ``bulk.extent`` at the pixel size
    dates: tuple[str, ...] = ()  # a season model's place: its dates as given, ``image`` the first (places.py)


RUN_LAYER = "polygons_all_scenes.gpkg"  # every scene's polygons in one layer, in the output folder (summary.py)


def first_dates_recur(scenes: list[Scene]) -> bool:
    """Whether a first date is that of several pairs (a series): only then are its tiles' encoder maps worth
    keeping (independent pairs would fill the store with maps never read again)."""
    firsts = [scene.image for scene in scenes if scene.after and not scene.error]
    return len(set(firsts)) < len(firsts)


def scene_outputs(out_dir: str | Path, name: str, bulk: BulkConfig) -> SceneOutputs:
    """Output paths of scene ``name``: ``<name>.tif``, the kinds the bulk switches ask for, its marker."""
    out = Path(out_dir)
    extras = {kind.name: out / kind.bulk_name.format(name=name) for kind in EXTRA_KINDS
              if kind.bulk_key and getattr(bulk, kind.bulk_key)}
    return SceneOutputs(classes=out / f"{name}.tif", extras=extras, marker=out / MARKER_FOLDER / f"{name}.json")


def expand_images(entry: str) -> list[str]:
    """Sources of one ``--images`` entry: a folder's rasters, a glob's matches, or the source itself (a URL or
    ``/vsi`` path stays as given; a remote folder or glob is listed through GDAL)."""
    if locations.is_remote(entry):
        return _expand_remote(entry)
    path = Path(entry).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES
                       and not p.name.startswith("."))
        if not found:
            raise ConfigError(f"The folder '{entry}' holds no raster files ({', '.join(RASTER_SUFFIXES)}); give "
                              f"the folder of the images, or a glob such as '{path / '*.tif'}'.")
        return [str(p) for p in found]
    if glob.has_magic(entry):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not found:
            raise ConfigError(f"The glob '{entry}' matches no file; check the folder and the pattern (quote it "
                              f"so that the shell does not expand it).")
        return [str(p) for p in found]
    return [str(path)]  # a plain path: a missing file fails as its own scene, with the usual message


def _expand_remote(entry: str) -> list[str]:
    """A remote entry: a folder (ending in ``/``) or a glob listed with GDAL (a server that lists none is refused),
    else the source itself."""
    folder_entry = entry.endswith("/")
    if not folder_entry and not glob.has_magic(locations.file_name(entry)):
        return [entry]
    gdal = require("osgeo.gdal")
    folder, pattern = (entry.rstrip("/"), "*") if folder_entry else entry.rsplit("/", 1)
    listing = gdal.ReadDir(locations.gdal_path(folder)) or []
    found = sorted(f"{folder}/{name}" for name in listing if fnmatch.fnmatch(name, pattern)
                   and locations.suffix(name) in RASTER_SUFFIXES and not name.startswith("."))
    if not found:
        raise ConfigError(f"The remote {'folder' if folder_entry else 'glob'} '{entry}' lists no raster file "
                          f"({', '.join(RASTER_SUFFIXES)}) (the server gave {len(listing)} name(s)); a server "
                          f"that lists no folders needs the scenes one by one, or a manifest.")
    return found


def _format_pattern(pattern: str, image: str) -> str:
    """``{stem}``/``{name}`` of ``image`` put into ``pattern``; ``{stem:OLD=NEW}`` replaces OLD with NEW in it."""
    values = {"stem": locations.stem(image), "name": locations.file_name(image)}
    parts = []
    for literal, field, spec, _ in Formatter().parse(pattern):
        parts.append(literal)
        if field is None:
            continue
        if field not in PATTERN_FIELDS or (spec and "=" not in spec):
            raise ConfigError(f"The aux pattern '{pattern}' uses {{{field}{':' + spec if spec else ''}}}; use {{stem}} "
                              f"(the image name without its extension), {{name}} (with it), or {{stem:OLD=NEW}} "
                              f"(OLD replaced by NEW), e.g. '{{stem}}_aux.tif' or '{{stem:_image=_aux}}.tif'.")
        parts.append(values[field].replace(*spec.split("=", 1)) if spec else values[field])
    return "".join(parts)


def match_aux(image: str, patterns: list[str], what: str = "aux file",
              setting: str = "bulk.aux_patterns") -> tuple[list[str], str | None]:
    """The aux files (``what``) of ``image`` by ``patterns`` (relative to the image's folder), and the first miss."""
    aux: list[str] = []
    for pattern in patterns:
        text = _format_pattern(pattern, image)
        if locations.is_remote(image) or locations.is_remote(text):
            aux.append(locations.sibling(image, text))  # a missing one fails as its scene, naming the URL
            continue
        image_path = Path(image)
        target = Path(text).expanduser()
        said = f"the pattern '{pattern}'"
        if not target.is_absolute():
            target = image_path.parent / target
            said += " (read from the image's folder)"
        many = glob.has_magic(text)
        hits = sorted(glob.glob(str(target))) if many else [str(target)] if target.is_file() else []
        if not hits:
            return aux, (f"No {what} for the scene '{image}': {said} gives '{target}', which "
                         f"{'matches no file' if many else 'does not exist'}. Add the {what}{'(s)' if many else ''} "
                         f"or fix {mention(setting)}.")
        aux.extend(hits)
    return aux, None


def _later_date(image: str, pattern: str) -> tuple[list[str], str | None]:
    """The later date of ``image`` by ``pattern`` (``bulk.after_pattern``) and the scene's error, if any: no file,
    or the image itself."""
    found, error = match_aux(image, [pattern], "later date", "bulk.after_pattern")
    if not error and any(_key(image) == _key(a) for a in found):
        error = (f"The later date of the scene '{image}' is the image itself: the pattern '{pattern}' "
                 f"({mention('bulk.after_pattern')}) gives its own name. Give a pattern that names the later "
                 f"date's file, e.g. '../2023/{{name}}' or '{{stem:_2019=_2023}}.tif'.")
    return found, error


def season_scenes(bulk: BulkConfig, callback: Callback, exclude: set[Path] | frozenset = frozenset()) -> list[Scene]:
    """A season model's scenes: one per place of ``--images`` (:func:`~engine.imagery.places.season_places`), named
    after it, said once."""
    from ...imagery.places import season_places

    by_name = [mention(key) for key, on in (("bulk.aux_patterns", bulk.aux_patterns),
                                            ("bulk.after_pattern", bulk.after_pattern),
                                            ("bulk.pair_by_date", bulk.pair_by_date != "off")) if on]
    if by_name:
        raise ConfigError(f"A season model's bulk run takes each place's dates from {mention('bulk.images')} (a "
                          f"folder with a subfolder of dates per place, or the dated rasters of the places, grouped "
                          f"by footprint), {mention('bulk.stac_items')} (one item per date) or a "
                          f"{mention('bulk.manifest')} (a 'place' column); {', '.join(by_name)} do not apply to it.")
    if bulk.manifest:
        found = season_manifest_places(Path(str(bulk.manifest)).expanduser(), exclude)
    else:
        found = season_places([*bulk.images, *bulk.stac_items], "bulk.images", exclude)
    callback.info(f"A season model: {len(found)} place(s), one output each: " + "; ".join(
        f"'{p.name}' ({len(p.dates)} date(s){', cannot run' if p.error else ''})" for p in found[:10])
        + (f"; and {len(found) - 10} more" if len(found) > 10 else "") + ".")
    return [Scene(image=place.dates[0], aux=[], name=place.name, dates=tuple(place.dates), error=place.error)
            for place in found]


def season_manifest_places(path: Path, exclude: set[Path] | frozenset = frozenset()) -> list[Any]:
    """A season model's places from a manifest: one row per date (a raster or a STAC item), the rows of a place
    sharing its ``place`` name (a JSON item may list its ``dates``); rows without one grouped by footprint
    (``imagery.places``, the one same-place rule). An ``output`` names its place's files."""
    from ...imagery.places import Place, distinct_names, season_places

    named: dict[str, Any] = {}
    outputs: dict[str, str] = {}
    loose: list[str] = []
    for row in _manifest_rows(path):
        if not row["image"]:
            raise ConfigError(f"The manifest '{path}', {row['where']}: no image; every row needs a date's raster or "
                              f"STAC item.")
        if row["aux"]:
            raise ConfigError(f"The manifest '{path}', {row['where']}: a season model reads no aux rasters; leave "
                              f"the aux column empty.")
        image = _manifest_source(path.parent, str(row["image"]))
        if not row["place"]:
            if row["output"]:
                raise ConfigError(f"The manifest '{path}', {row['where']}: output '{row['output']}' names a place's "
                                  f"files, and the row names no place; add a 'place' column.")
            loose.append(image)
            continue
        place = str(row["place"])
        named.setdefault(place, Place(place)).dates.append(image)
        if row["output"]:
            output = Path(str(row["output"]))
            if output.name != str(row["output"]) or outputs.setdefault(place, output.stem) != output.stem:
                raise ConfigError(f"The manifest '{path}', {row['where']}: output '{row['output']}' must be one file "
                                  f"name per place (its others: '{outputs[place]}'); every output goes into "
                                  f"{mention('bulk.out_dir')}.")
    for place, stem in outputs.items():
        named[place].name = stem
    found = list(named.values()) + (season_places(loose, "bulk.manifest", exclude) if loose else [])
    if not found:
        raise ConfigError(f"The manifest '{path}' lists no date; add one row per date (image, place).")
    return distinct_names(found)


def scenes_from_images(bulk: BulkConfig, callback: Callback,
                       exclude: set[Path] | frozenset = frozenset()) -> list[Scene]:
    """Scenes from ``--images`` entries and ``--aux-pattern``s; files in ``exclude`` (earlier outputs) are left out."""
    unique: dict[Any, str] = {}  # each source once, where it first came
    for path in (p for entry in bulk.images for p in expand_images(str(entry))):
        unique.setdefault(_key(path), path)
    candidates = list(unique.values())
    # a glob or folder that reaches into the output folder would pick up earlier outputs as images
    ignored = [p for p in candidates if _key(p) in exclude]
    if ignored:
        callback.warning(f"{len(ignored)} file(s) written by an earlier bulk run into '{bulk.out_dir}' are not "
                         f"segmented (e.g. '{ignored[0]}'); keep the output folder apart from the images.")
        candidates = [p for p in candidates if p not in ignored]
        if not candidates:
            raise ConfigError(f"No images to segment in {list(bulk.images)}: every raster found is an output of an "
                              f"earlier bulk run in '{bulk.out_dir}'; check {mention('bulk.images')}.")
    items = _stac_scenes(bulk, [c for c in candidates if looks_like_stac(c)])
    items += _web_scenes(bulk, [c for c in candidates if locations.is_web_description(c)])
    candidates = [c for c in candidates if not looks_like_stac(c) and not locations.is_web_description(c)]
    if not candidates and items:
        return items
    matched = {image: match_aux(image, list(bulk.aux_patterns)) for image in candidates}
    # the aux files of a folder's or glob's scenes are rasters in the same listing: not scenes
    aux_files = {_key(a) for aux, _ in matched.values() for a in aux}
    images = [image for image in candidates if _key(image) not in aux_files]
    from .pairs import pair_name, pairs_by_date

    if bulk.pair_by_date != "off":  # every image a date of its place; the pairs are the scenes
        return [Scene(image=first, aux=matched[first][0], name=pair_name(first, later) if later else
                      locations.stem(first), after=(later,) if later else (), error=error or matched[first][1])
                for first, later, error in pairs_by_date(images, bulk.pair_by_date)] + items
    later = {image: _later_date(image, bulk.after_pattern) if bulk.after_pattern else ([], None) for image in images}
    dates = {_key(p) for image, (paths, _) in later.items() for p in paths  # a later date of another: no scene
             if _key(p) != _key(image)}
    # a pair's outputs are named after both dates (a change map under the first date's name reads as that date)
    scenes = [Scene(image=image, aux=matched[image][0],
                    name=pair_name(image, later[image][0][0]) if later[image][0] else locations.stem(image),
                    after=tuple(later[image][0]), error=matched[image][1] or later[image][1])
              for image in images if _key(image) not in dates] + items
    if not scenes:
        raise ConfigError(f"No images to segment in {list(bulk.images)}: every raster found is an aux file or a "
                          f"later date of another; check {mention('bulk.images')}, {mention('bulk.aux_patterns')}"
                          f"{' and ' + mention('bulk.after_pattern') if bulk.after_pattern else ''}.")
    return scenes


def _web_scenes(bulk: BulkConfig, webs: list[str]) -> list[Scene]:
    """One scene per web layer, read over ``bulk.extent`` (ConfigError without it: a map of the whole world)."""
    by_name = [mention(key) for key, on in (("bulk.aux_patterns", bulk.aux_patterns),
                                            ("bulk.after_pattern", bulk.after_pattern),
                                            ("bulk.pair_by_date", bulk.pair_by_date != "off")) if on]
    scenes = []
    for web in webs:
        _, stem, name = web_source(web)
        if bulk.extent is None:
            raise no_extent(name, "bulk.extent")
        error = (f"The {name} has no file name to find other files by ({', '.join(by_name)}); segment it alone with "
                 f"{command('segment')}, its other rasters given as {mention('segment.aux')} or "
                 f"{mention('segment.after')}." if by_name else None)
        scenes.append(Scene(image=web, aux=[], name=stem, web=True, error=error))
    return scenes


def _stac_scenes(bulk: BulkConfig, entries: list[str]) -> list[Scene]:
    """One scene per STAC item of ``--stac-items`` and of the ``.json`` images (each item of an ItemCollection)."""
    items = [item for entry in [*bulk.stac_items, *entries] for item in expand_items(str(entry))]
    return [Scene(image=item, aux=[], name=item.partition("#")[2] or locations.stem(item.partition("#")[0]),
                  stac=True) for item in items]


def _key(source: str) -> Any:
    """What tells two sources apart: a local file's resolved path, a remote source's text."""
    return source if locations.is_remote(source) else Path(source).resolve()


def _manifest_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV (header: image, aux..., output, place) or JSON (a list, or {"scenes": [...]}) manifest; a JSON
    item's ``dates`` (a season's place) make a row each."""
    if not path.is_file():
        raise ConfigError(f"The manifest '{path}' does not exist; give a CSV or JSON file with an 'image' column.")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"The manifest '{path}' is not valid JSON ({exc}); fix the syntax.") from exc
        items = data.get("scenes") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ConfigError(f"The manifest '{path}' must be a list of objects (or {{\"scenes\": [...]}}) with "
                              f"\"image\", optional \"aux\" (a path or a list) and \"output\".")
        rows = []
        for index, item in enumerate(items, start=1):
            aux = item.get("aux") or []
            dates = item.get("dates")  # a season's place: its dates in one item
            for image in (dates if isinstance(dates, list) and dates else [item.get("image")]):
                rows.append({"image": image, "aux": [aux] if isinstance(aux, str) else list(aux),
                             "output": item.get("output"), "place": item.get("place"), "where": f"item {index}"})
        return rows
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "image" not in columns:
        raise ConfigError(f"The manifest '{path}' has no 'image' column (its columns: {columns or 'none'}); the "
                          f"first line must name the columns, e.g. 'image,aux,output'.")
    aux_columns = [c for c in (reader.fieldnames or []) if c.strip().lower().startswith("aux")]
    rows = []
    for line, row in enumerate(reader, start=2):
        by_name = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        rows.append({"image": by_name.get("image"), "aux": [(row[c] or "").strip() for c in aux_columns
                                                            if (row[c] or "").strip()],
                     "output": by_name.get("output") or None, "place": by_name.get("place") or None,
                     "where": f"line {line}"})
    return rows


def scenes_from_manifest(bulk: BulkConfig) -> list[Scene]:
    """Scenes from a manifest; relative paths are relative to the manifest's folder."""
    path = Path(str(bulk.manifest)).expanduser()
    base = path.parent
    scenes = []
    for row in _manifest_rows(path):
        if not row["image"]:
            raise ConfigError(f"The manifest '{path}', {row['where']}: no image; every row needs one.")
        image = _manifest_source(base, str(row["image"]))
        aux = [_manifest_source(base, str(a)) for a in row["aux"]]
        web = locations.is_web_description(image)
        if web and bulk.extent is None:
            raise no_extent(web_source(image)[2], "bulk.extent")
        name = web_source(image)[1] if web else locations.stem(image)
        if row["output"]:
            output = Path(str(row["output"]))
            if output.name != str(row["output"]):
                raise ConfigError(f"The manifest '{path}', {row['where']}: output '{row['output']}' must be a file "
                                  f"name; every output goes into {mention('bulk.out_dir')}.")
            name = output.stem
        scenes.append(Scene(image=image, aux=aux, name=name, web=web))
    if not scenes:
        raise ConfigError(f"The manifest '{path}' lists no scene; add one row per image.")
    return scenes


def _manifest_source(base: Path, given: str) -> str:
    """A manifest row's source: a URL or ``/vsi`` path as given, a local path relative to the manifest's folder."""
    return given if locations.is_remote(given) else str(base / Path(given).expanduser())


def check_outputs(scenes: list[Scene], bulk: BulkConfig) -> None:
    """Refuse two scenes writing one file, and outputs that are one of the inputs (by file identity)."""
    owner: dict[Path, Scene] = {}
    written: list[str] = []
    for scene in scenes:
        outputs = scene_outputs(bulk.out_dir, scene.name, bulk)
        written += [file for files in outputs.written().values() for file in files] + [str(outputs.marker)]
        for path in [*outputs.files, outputs.marker]:
            if (other := owner.setdefault(path.resolve(), scene)) is not scene:
                raise ConfigError(
                    f"The scenes '{other.image}' and '{scene.image}' would both write '{path}'; give them distinct "
                    f"file names, or list them in a {mention('bulk.manifest')} with an 'output' column.")
    out = Path(bulk.out_dir)
    written += [str(out / f"summary.{kind}") for kind in ("json", "csv", "html")]
    if any(scene.after for scene in scenes):
        written.append(str(out / "change_table.csv"))  # every pair's change (summary.CHANGE_TABLE)
    if bulk.polygons:  # the run's layer of every scene's polygons (bulk/summary.py)
        run_layer = (out / RUN_LAYER).resolve()
        if run_layer in owner:
            raise ConfigError(f"The scene '{owner[run_layer].image}' would write '{run_layer}', the file that holds "
                              f"every scene's polygons; rename the image, or give it another name in a "
                              f"{mention('bulk.manifest')} 'output' column.")
        written.append(str(run_layer))
    manifest = mention("bulk.manifest")
    check_identity(inputs={f"images ({mention('bulk.images')} / {manifest})": Files([s.image for s in scenes],
                                                                                   give=RASTER_GIVE),
                           f"aux rasters ({mention('bulk.aux_patterns')} / {manifest})":
                               Files([a for s in scenes for a in s.aux], give=RASTER_GIVE),
                           f"later dates ({mention('bulk.after_pattern')} / {mention('bulk.pair_by_date')})":
                               Files([a for s in scenes for a in s.after], give=RASTER_GIVE),
                           f"dates of the places ({mention('bulk.images')})":
                               Files([d for s in scenes for d in s.dates[1:]], give=RASTER_GIVE),
                           f"manifest ({manifest})": Files(bulk.manifest, give="a .csv or .json manifest file")},
                   outputs={f"outputs in {mention('bulk.out_dir')}": written})


def discover_scenes(bulk: BulkConfig, callback: Callback | None = None,
                    exclude: set[Path] | frozenset = frozenset(), season: bool = False) -> list[Scene]:
    """The run's scenes, checked, with sizes, largest first (ties by name), so that work spreads evenly;
    ``exclude``: resolved paths of files earlier runs wrote (never scenes); ``season``: a season model's run, whose
    scenes are places (:func:`season_scenes`)."""
    callback = callback or Callback()
    scenes = (season_scenes(bulk, callback, exclude) if season else scenes_from_manifest(bulk) if bulk.manifest
              else scenes_from_images(bulk, callback, exclude))
    check_outputs(scenes, bulk)
    from ...data.raster import open_raster

    for scene in scenes:  # sizes from the headers: 0 where one cannot be read (the scene fails later)
        if scene.error or scene.web:  # a web layer's window is sized by the model's pixel size as it opens
            continue
        try:
            ds = open_raster(scene.image, "image")
        except DataError:
            continue
        with ds:
            scene.width, scene.height = int(ds.width), int(ds.height)
            scene.pixels = scene.width * scene.height
    return sorted(scenes, key=lambda s: (-s.pixels, s.name))


def shard(scenes: list[Scene], world_size: int) -> list[list[Scene]]:
    """Greedy by pixel count: each scene (largest first) to the rank with the fewest pixels so far."""
    shares: list[list[Scene]] = [[] for _ in range(world_size)]
    loads = [0] * world_size
    for scene in sorted(scenes, key=lambda s: (-s.pixels, s.name)):
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        shares[rank].append(scene)
        loads[rank] += max(scene.pixels, 1)  # unreadable scenes still cost a try
    return shares

