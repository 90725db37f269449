"""Where a dataset lives: a local file, a GDAL source that is no local file, or one layer of a vector file.

The engine reads what GDAL reads, as it is given: ``/vsi...`` paths, URLs (through ``/vsicurl/``), a GDAL
WMS/TMS/WCS description (``<GDAL_WMS>`` XML, ``WCS:`` connections) and VRTs. Such a source is never a local path:
``Path()`` would fold its ``//`` and a check for a file on disk would refuse it. A vector source may name one layer
of a multi-layer file as QGIS writes it, ``file.gpkg|layername=buildings``.

Everything that has to ask "is this a file here?" or "what is this source's name?" asks here.
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

#: GDAL's network file systems and archive handlers: their paths are read as given.
VSI_PREFIXES = ("/vsicurl", "/vsis3", "/vsigs", "/vsiaz", "/vsiadls", "/vsioss", "/vsiswift", "/vsiwebhdfs",
                "/vsihdfs", "/vsizip", "/vsitar", "/vsigzip", "/vsi7z", "/vsirar", "/vsimem", "/vsistdin")
#: GDAL connection strings that name a service, not a file.
CONNECTION_PREFIXES = ("WMS:", "WCS:", "WMTS:", "AGS:", "<GDAL_WMS>", "<WCS_GDAL>", "<GDAL_WMTS>", "<VRTDataset")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_LAYER_OPTION = re.compile(r"\|\s*layername\s*=\s*([^|]*)", re.IGNORECASE)
# QGIS writes a layer's filter last, and everything after it is the filter (it may hold "|" itself)
_SUBSET_OPTION = re.compile(r"\|\s*subset\s*=(.*)\Z", re.IGNORECASE | re.DOTALL)


def is_url(source: str | os.PathLike | None) -> bool:
    """True for ``scheme://...`` (http, https, s3, gs, ...)."""
    return bool(source) and bool(_URL.match(str(source)))


def is_remote(source: str | os.PathLike | None) -> bool:
    """True when GDAL reads ``source`` from elsewhere than a local file (a URL, a ``/vsi...`` path, a service
    description): it is taken as given and never checked on disk."""
    if not source:
        return False
    text = str(source).strip()
    if text.lower().startswith("file://"):
        return False  # a local file, named as a URL
    return (is_url(text) or text.lower().startswith(VSI_PREFIXES)
            or text.upper().startswith(tuple(p.upper() for p in CONNECTION_PREFIXES)))


def gdal_path(source: str | os.PathLike) -> str:
    """The path GDAL opens: ``http(s)://`` through ``/vsicurl/``, ``s3://`` through ``/vsis3/``, ...; a ``file://``
    URL as its local path; anything else as given, without a layer option (GDAL does not read ``|layername=``)."""
    text = str(source).strip()
    if text.lower().startswith("file://"):
        return file_url_path(text)
    if is_url(text):
        scheme, rest = text.split("://", 1)
        handler = {"http": "vsicurl", "https": "vsicurl", "ftp": "vsicurl", "s3": "vsis3", "gs": "vsigs",
                   "az": "vsiaz", "abfs": "vsiadls"}.get(scheme.lower())
        return f"/vsicurl/{text}" if handler == "vsicurl" else f"/{handler}/{rest}" if handler else text
    return split_layer(text)[0]


def file_url_path(url: str) -> str:
    """The local path of a ``file://`` URL (``file:///d/x.tif``, ``file://localhost/d/x.tif``), escapes decoded."""
    parts = urlsplit(url)
    return unquote(parts.path if parts.netloc in ("", "localhost") else f"//{parts.netloc}{parts.path}")


def resolve_href(href: str, base: str) -> str:
    """Where a link ``href`` in the document at ``base`` (a path or URL) points, as GDAL opens it (the STAC rule for
    asset hrefs): a relative href beside the document (on its server for a document read from a URL)."""
    text = str(href).strip()
    if is_url(str(base)) and not str(base).lower().startswith("file://") and not is_url(text):
        return gdal_path(urljoin(str(base), text))
    if not is_url(text) and not os.path.isabs(text) and not is_remote(text):
        folder = Path(file_url_path(str(base)) if str(base).lower().startswith("file://") else str(base)).parent
        text = str(folder / text)
    return gdal_path(text)


def split_layer(source: str | os.PathLike) -> tuple[str, str | None]:
    """(file, layer name or None) of ``file.gpkg|layername=NAME``; other ``|option=value`` parts QGIS adds
    (``|layerid=0``, ``|subset=...``: :func:`layer_subset`) are dropped."""
    text = str(source)
    if "|" not in text or is_remote(text) and text.lstrip().startswith("<"):
        return text, None
    subset = _SUBSET_OPTION.search(text)
    found = _LAYER_OPTION.search(text[:subset.start()] if subset else text)
    return text.split("|", 1)[0], (found.group(1).strip() or None) if found else None


def layer_subset(source: str | os.PathLike) -> str | None:
    """The filter of ``file.gpkg|layername=NAME|subset=SQL`` (QGIS's, an OGR attribute filter such as
    ``"class" = 1``), or None."""
    text = str(source)
    if "|" not in text or is_remote(text) and text.lstrip().startswith("<"):
        return None
    found = _SUBSET_OPTION.search(text)
    return (found.group(1).strip() or None) if found else None


def join_layer(path: str | os.PathLike, layer: str | None) -> str:
    """``path`` with ``|layername=layer`` when a layer is named."""
    return f"{path}|layername={layer}" if layer else str(path)


def local_file(source: str | os.PathLike) -> str | None:
    """The file on disk ``source`` reads, or None for a remote source."""
    if is_remote(source):
        return None
    if str(source).strip().lower().startswith("file://"):
        return file_url_path(str(source).strip())
    return split_layer(source)[0]


def exists(source: str | os.PathLike) -> bool:
    """A remote source is taken as there (reading it says otherwise); a local one must exist (a file or folder)."""
    return (local := local_file(source)) is None or Path(local).exists()


def is_file(source: str | os.PathLike) -> bool:
    """Like :func:`exists`, for a source that must be a regular file when it is local."""
    return (local := local_file(source)) is None or Path(local).is_file()


def suffix(source: str | os.PathLike) -> str:
    """The lower-case ending of :func:`file_name`, e.g. ``.tif``."""
    return PurePosixPath(file_name(source)).suffix.lower()


def file_name(source: str | os.PathLike) -> str:
    """The last part of a URL's, ``/vsi`` or local path (query and layer option left out, escapes decoded); a
    service description gives its service's host."""
    text = str(source).strip()
    if text.startswith("<"):
        found = re.search(r"<ServerUrl>([^<]*)</ServerUrl>|<ServerURL>([^<]*)</ServerURL>", text)
        url = (found.group(1) or found.group(2)) if found else ""
        host = urlsplit(url.replace("${", "{")).netloc if url else ""
        return host.replace(":", "_") or "web_layer"
    if is_url(text) or text.lower().startswith(VSI_PREFIXES):
        path = urlsplit(text).path if is_url(text) else text.split("?", 1)[0]
        inner = re.sub(r"^/vsi[a-z0-9]+/", "", path)
        inner = urlsplit(inner).path if is_url(inner) else inner
        return unquote(PurePosixPath(inner).name)
    return Path(split_layer(text)[0]).name


#: How the virtual raster of a web service's window ends (``<layer name>.web.vrt``).
WINDOW_SUFFIX = ".web.vrt"
#: How GDAL's descriptions of web services start (XML or connection string).
WEB_DESCRIPTIONS = ("<GDAL_WMS", "<GDAL_WMTS", "<WCS_GDAL", "WMTS:", "WCS:")


def is_web_description(source: str | os.PathLike) -> bool:
    """Whether ``source`` is a GDAL description of a web service (a map of the world, no scene), or a ``.xml``
    file holding one (GDAL's WMS, WMTS and WCS drivers read both)."""
    text = str(source).lstrip()
    if text.startswith(WEB_DESCRIPTIONS):
        return True
    if text.lower().endswith(".xml") and "\n" not in text and not is_remote(text):
        with suppress(OSError), open(text, encoding="utf-8", errors="replace") as handle:
            return handle.read(256).lstrip().startswith(WEB_DESCRIPTIONS)
    return False


def stem(source: str | os.PathLike) -> str:
    """The name outputs of ``source`` are named after: its file name without the ending (a layer of a
    multi-layer file: the layer's name; a web service's window: the name it was given)."""
    layer = split_layer(source)[1] if not is_remote(source) else None
    name = file_name(source)
    if not layer and name.endswith(WINDOW_SUFFIX) and len(name) > len(WINDOW_SUFFIX):
        return name[: -len(WINDOW_SUFFIX)]
    return layer or PurePosixPath(name).stem


def sibling(source: str, relative: str) -> str:
    """``relative`` in ``source``'s folder, on its server for a URL or ``/vsi`` path (bulk's aux patterns and a
    remote manifest's relative rows)."""
    if is_remote(relative) or os.path.isabs(relative):
        return relative
    if is_url(source):
        parts = urlsplit(source)
        folder = parts.path.rsplit("/", 1)[0]
        return f"{parts.scheme}://{parts.netloc}{folder}/{relative}"
    if source.lower().startswith(VSI_PREFIXES):
        return f"{source.split('?', 1)[0].rsplit('/', 1)[0]}/{relative}"
    return str(Path(source).parent / relative)
