"""Every local file a run reads because of one input: the input itself, a VRT's sources (recursively), the local
assets of a STAC item or ItemCollection, and GDAL's sidecars beside a raster (``.aux.xml``, ``.ovr``, ``.msk``).

:func:`engine.io.safety.check_outputs` compares the outputs with all of them, so ``--out red.tif`` for a STAC item
whose red asset is ``red.tif`` is refused before any work. Only what lies on this machine counts (a URL is read,
never written). Descriptions over :data:`MAX_DESCRIPTION` are not parsed (no VRT or item is that large), nor are
more than :data:`MAX_FILES` files followed from one input.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from typing import Any

from . import locations

MAX_DESCRIPTION = 64 * 2**20  # bytes of a VRT or STAC JSON parsed for the files it names
MAX_FILES = 100_000
SIDECARS = (".aux.xml", ".ovr", ".msk")  # read, written or replaced by GDAL beside a raster
_VRT_TAGS = ("SourceFilename", "SourceDataset")  # a VRT's sources; a warped VRT's dataset
_STAC_SUFFIXES = (".json", ".geojson")


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


def _small(file: str) -> bool:
    try:
        return os.path.getsize(file) <= MAX_DESCRIPTION
    except OSError:
        return False


def vrt_sources(file: str) -> list[str]:
    """The local files a VRT names as sources; none when it cannot be parsed (GDAL says so when it reads it)."""
    if not _small(file):
        return []
    try:
        root = ET.parse(file).getroot()
    except (ET.ParseError, OSError, ValueError):
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
    if not _small(file):
        return []
    try:
        with open(file, encoding="utf-8") as handle:
            document: Any = json.load(handle)
    except (OSError, ValueError):
        return []
    items = [document] if isinstance(document, dict) and document.get("type") == "Feature" else (
        document.get("features") or [] if isinstance(document, dict) else [])
    assets = [item["assets"] for item in items if isinstance(item, dict) and isinstance(item.get("assets"), dict)]
    hrefs = [(str(key), asset["href"]) for each in assets for key, asset in each.items()
             if isinstance(asset, dict) and isinstance(asset.get("href"), str) and asset["href"].strip()]
    found = [(key, locations.local_file(locations.resolve_href(href, file))) for key, href in hrefs]
    return [(key, local) for key, local in found if local is not None]

