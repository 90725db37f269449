"""``suggest``: square windows of one or more scenes, ranked by how much labelling them is expected to help."""

from __future__ import annotations

from ..config import SuggestConfig
from ..suggest.run import SuggestedWindow, SuggestResult
from .protocol import Callback

__all__ = ["SuggestResult", "SuggestedWindow", "suggest"]


def suggest(cfg: SuggestConfig, callback: Callback | None = None) -> SuggestResult:
    """Write ``cfg.count`` ranked windows to ``cfg.output`` (the model(s) over every scene; torch loads here)."""
    from ..suggest.run import suggest as run

    return run(cfg, callback)
