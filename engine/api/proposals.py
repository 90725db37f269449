"""The labelling loop: ``suggest`` (square windows of one or more scenes, ranked by how much labelling them is
expected to help), ``propose`` (candidate labels in the suggested windows, the model's blobs refined by Segment
Anything) and ``accept`` (the checked windows into the labels and the labelled area)."""

from __future__ import annotations

from ..config import AcceptConfig, ProposeConfig, SuggestConfig
from ..prompted.accept import Accepted, AcceptResult, hidden_by_filter
from ..prompted.propose import Proposal, ProposeResult
from ..suggest.run import SuggestedWindow, SuggestResult
from .protocol import Callback

__all__ = ["AcceptConfig", "AcceptResult", "Accepted", "ProposeConfig", "ProposeResult", "Proposal", "SuggestResult",
           "SuggestedWindow", "accept", "hidden_by_filter", "propose", "suggest"]


def suggest(cfg: SuggestConfig, callback: Callback | None = None) -> SuggestResult:
    """Write ``cfg.count`` ranked windows to ``cfg.output`` (the model(s) over every scene; torch loads here)."""
    from ..suggest.run import suggest as run

    return run(cfg, callback)


def propose(cfg: ProposeConfig, callback: Callback | None = None) -> ProposeResult:
    """Write ``cfg.output``: one layer of candidate labels for the windows of ``cfg.windows`` (each window segmented
    by ``cfg.models``, each predicted blob a box prompt for ``cfg.sam_model``, or ``cfg.text``; torch loads here)."""
    from ..prompted.propose import propose as run

    return run(cfg, callback)


def accept(cfg: AcceptConfig) -> AcceptResult:
    """Append the proposals of the accepted windows (``cfg.window_ids``, else the windows of the proposals given)
    to ``cfg.labels`` and the windows' outlines to ``cfg.labelled_area``, one transaction each."""
    from ..prompted.accept import accept as run

    return run(cfg)
