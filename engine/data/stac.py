"""STAC items as inputs: an item's data assets as named bands (``eo:bands`` names and common names, the STAC 1.1
``bands`` with ``eo:common_name``), each with its ``raster:bands`` scale, offset and nodata, read where they lie
(an ``http(s)`` asset through GDAL's ``/vsicurl/``: only the windows read travel, a COG is never downloaded
whole), as Earth Search, Planetary Computer and most national hubs publish Sentinel-2 and Landsat: one single-band
COG per band. An ItemCollection (or a text file listing items) gives several scenes for a bulk run. Torch-free.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import DataError
from ..io import locations, network
from ..io.formats import RASTER_SUFFIXES

_RASTER_TYPES = ("image/tiff", "image/vnd.stac.geotiff", "application/x-geotiff", "image/jp2")


@dataclass(frozen=True)
class StacBand:
    """One single-band data asset: its key, band name, common name, where it lies (a GDAL path) and scaling."""

    key: str
    name: str
    common_name: str | None
    href: str
    scale: float | None = None
    offset: float | None = None
    nodata: float | None = None
    given: str = ""  # the href as the item writes it
    outside: str | None = None  # the folder outside the item's own that a relative local href reaches, if any

    @property
    def label(self) -> str:
        """The name matched against a model's band names: the common name where the item gives one."""
        return self.common_name or self.name

    def said(self) -> str:
        extra = f" ({self.name})" if self.common_name and self.name != self.common_name else ""
        return f"asset '{self.key}'{extra}"

    def where(self) -> str:
        """The asset with its href as the item gives it and, where it differs, the file or URL read."""
        local = locations.local_file(self.href)
        read = os.path.normpath(local) if local is not None else self.href.removeprefix("/vsicurl/")
        shown = f"'{self.given}'" + (f" -> '{read}'" if self.given and read != self.given else "")
        outside = f", outside the item's folder (in '{self.outside}')" if self.outside else ""
        return f"asset '{self.key}' (href {shown}{outside})"


@dataclass(frozen=True)
class StacItem:
    """A STAC item: its id, where it was read from, its properties and its single-band data assets."""

    id: str
    source: str
    properties: dict[str, Any]
    bands: list[StacBand]
    twins: list[tuple[StacBand, StacBand]] = field(default_factory=list)  # (skipped twin, the band kept)

    def listing(self) -> str:
        """The bands as numbered here (what ``--bands`` numbers count), with their asset keys and files."""
        return "; ".join(f"{i} {b.label} = {b.where()}" for i, b in enumerate(self.bands, 1))

    def by_key(self, given: Sequence[Any]) -> list[str]:
        """``given`` bands with each asset key as its band's number (as :meth:`listing` counts them): an asset key
        stands for its band, the one sure name when two assets share a common name. The one rule for every pick."""
        keys = {b.key: str(i) for i, b in enumerate(self.bands, 1)}
        return [keys.get(str(g).strip(), str(g).strip()) for g in given]

    def twins_said(self) -> str:
        """Which assets were left out as another format of a band already there ('' when none)."""
        return "; ".join(f"asset '{t.key}' is the same band as asset '{k.key}' ({k.name}), read from '{k.key}'"
                         for t, k in self.twins)


def is_url(text: str) -> bool:
    return urllib.parse.urlparse(str(text)).scheme in ("http", "https")


def looks_like_stac(text: str) -> bool:
    """Whether an image path names a STAC item or collection rather than a raster (a .json file or URL)."""
    path = str(text).split("#", 1)[0].split("?", 1)[0].lower()
    return path.endswith((".json", ".geojson")) and not str(text).startswith("/vsi")


def read_json(source: str, what: str = "STAC item", info: Callable[[str], None] | None = None) -> Any:
    """The JSON document at a file path or http(s) URL (DataError naming it otherwise); a URL is read under the
    network rule (:class:`engine.io.network.Stall`: given up when it sends under 1 KB/s for a minute), saying what
    it waits for through ``info``."""
    try:
        if is_url(source):
            text = network.read_url(source, what, info).decode("utf-8")
        else:
            text = Path(locations.local_file(source) or source).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, urllib.error.URLError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"The {what} '{source}' cannot be read ({exc}); give a STAC item JSON file or URL.") from exc


def _href(href: str, base: str) -> str:
    """An asset's href as a GDAL path (:func:`engine.io.locations.resolve_href`); DataError for a local file named
    by an item read from a URL (a server has no say over this machine's files)."""
    path = locations.resolve_href(href, base)
    if is_url(base) and locations.local_file(path) is not None:
        raise DataError(f"The STAC item '{base}', read from a URL, names the local file '{path}' (href '{href}'); "
                        f"an item from a server is only read from servers. Download the item and its assets, "
                        f"or fix the href.")
    return path


def _outside(href: str, base: str, path: str) -> str | None:
    """The folder outside the item's own that the relative local ``href`` reaches through ``..``, else None."""
    if is_url(base) or locations.is_url(href) or Path(href).is_absolute() or locations.is_remote(path):
        return None
    folder = Path(os.path.realpath(Path(base).parent))
    target = Path(os.path.realpath(path))
    return None if folder in target.parents else str(target.parent)


def item_bands(item: dict[str, Any], source: str) -> tuple[list[StacBand], list[tuple[StacBand, StacBand]]]:
    """The single-band raster data assets of ``item`` (JSON) read from ``source``, in the item's order, and the twins
    left out: an asset of the same name and common name as an earlier one, in another format ("red", "red-jp2")."""
    kept: list[StacBand] = []
    twins: list[tuple[StacBand, StacBand]] = []
    for key, asset in (item.get("assets") or {}).items():
        if not isinstance(asset, dict) or not asset.get("href"):
            continue
        kind, roles = str(asset.get("type") or ""), asset.get("roles") or []
        raster = kind.startswith(_RASTER_TYPES) or str(asset["href"]).lower().endswith(RASTER_SUFFIXES)
        if not raster or (roles and "data" not in roles) or "overview" in roles or "visual" in roles:
            continue
        # its bands: STAC 1.0's eo:bands merged with raster:bands, or STAC 1.1's bands
        bands = [{**r, **e} for r, e in zip_longest(asset.get("raster:bands") or [], asset.get("eo:bands") or [],
                                                    fillvalue={})] or list(asset.get("bands") or [])
        if len(bands) > 1:
            continue  # a multi-band asset (a true-colour preview) is not one band
        info, given = bands[0] if bands else {}, str(asset["href"])
        href = _href(given, source)
        band = StacBand(key=key, name=str(info.get("name") or key), href=href, given=given,
                        common_name=info.get("common_name") or info.get("eo:common_name"), scale=info.get("scale"),
                        offset=info.get("offset"), nodata=info.get("nodata"), outside=_outside(given, source, href))
        same = next((k for k in kept if k.name.lower() == band.name.lower()
                     and (k.common_name or "").lower() == (band.common_name or "").lower()), None)
        if same is not None:
            twins.append((band, same))
        else:
            kept.append(band)
    return kept, twins


def _as_item(document: Any, source: str) -> dict[str, Any]:
    if not isinstance(document, dict) or document.get("type") != "Feature" or "assets" not in document:
        kind = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise DataError(f"'{source}' is not a STAC item (its type is {kind!r}, a STAC item is a GeoJSON Feature "
                        f"with assets); give one item, or an ItemCollection to a bulk run.")
    return document


def read_item(source: str, info: Callable[[str], None] | None = None) -> StacItem:
    """The STAC item at ``source`` (a file or URL; ``COLLECTION.json#ID`` picks one item of an ItemCollection);
    ``info`` hears what a slow server keeps it waiting for."""
    where, _, wanted = str(source).partition("#")
    if where.lower().startswith("file://"):
        where = locations.file_url_path(where)  # a local item named as a URL: its hrefs are read beside it
    document = read_json(where, info=info)
    if wanted and isinstance(document, dict) and document.get("type") == "FeatureCollection":
        if not (hits := [f for f in document.get("features") or [] if isinstance(f, dict) and f.get("id") == wanted]):
            raise DataError(f"The ItemCollection '{where}' has no item '{wanted}'.")
        document = hits[0]
    item = _as_item(document, source)
    bands, twins = item_bands(item, where)
    if not bands:
        raise DataError(f"The STAC item '{source}' has no single-band raster data asset (GeoTIFF/COG with role "
                        f"'data'); it cannot be read as bands.")
    return StacItem(str(item.get("id") or Path(where).stem), where, dict(item.get("properties") or {}), bands, twins)


def expand_items(source: str) -> list[str]:
    """The items a bulk entry names: an ItemCollection -> ``FILE#ID`` for each of its items; a text file of item
    files/URLs (one a line) -> those; an item -> itself."""
    if str(source).lower().endswith((".txt", ".list")) and not is_url(source):
        lines = [ln.strip() for ln in Path(source).read_text(encoding="utf-8").splitlines()]
        return [ln if is_url(ln) or Path(ln).is_absolute() else str(Path(source).parent / ln)
                for ln in lines if ln and not ln.startswith("#")]
    document = read_json(source, "STAC item or ItemCollection")
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        ids = [f.get("id") for f in document.get("features") or [] if isinstance(f, dict)]
        if not ids or not all(ids):
            raise DataError(f"The ItemCollection '{source}' has no items, or items without an id.")
        return [f"{source}#{i}" for i in ids]
    _as_item(document, source)
    return [source]
