"""A ready model's bundle in the models folder, checked before it is called installed: it loads, it holds a model
made elsewhere, the graph it recorded at import is the catalogue entry's (same SHA-256), and the graph's bytes
still match the bundle's own digest. A garbage file or another model under the entry's name is "damaged"."""

from __future__ import annotations

import os
from pathlib import Path

from ..bundle.imported import imported_graph, is_imported
from ..bundle.store import read_metadata
from ..bundle.view import model_view
from ..errors import DualStreamError
from .catalogue import Entry


def cached_problem(path: str | os.PathLike, entry: Entry) -> str | None:
    """Why the bundle ``path`` is not the verified model of ``entry`` (None: it is)."""
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
