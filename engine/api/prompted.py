"""Labelling: ``label`` and the interactive calls behind a map tool (Segment Anything prompts in map coordinates ->
polygons), and the labelling loop: ``suggest`` (square windows of one or more scenes, ranked by how much labelling
them is expected to help), ``propose`` (candidate labels in the suggested windows, the model's blobs refined by
Segment Anything) and ``accept`` (the checked windows into the labels and the labelled area).

A map tool calls :func:`prompted_session` when the user picks a window (the slow step: the embedding, cached), then
:func:`predict_prompts` for every click, box or text (fast: only the prompt encoder and mask decoder run);
:func:`label_with_prompts` is the headless job. A map tool's Accept asks :func:`check_polygon_layer` and
:func:`class_field` whether and how a layer of the user's takes the class, by the rule ``accept`` applies.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import AcceptConfig, PromptedConfig, ProposeConfig
from ..imagery.stac_assets import BANDS_HELP as STAC_BANDS_HELP
from ..imagery.stac_assets import StacLayer, write_stac_layer
from ..prompted.accept import Accepted, AcceptResult, accept, hidden_by_filter
from ..prompted.class_field import ClassField, check_polygon_layer, class_field
from ..prompted.labels import LabelResult, label_with_prompts
from ..prompted.model import DEFAULT_MODEL, MODELS, NamedModel
from ..prompted.propose import Proposal, ProposeResult, propose
from ..prompted.session import MaskPolygon, PromptAnswer, PromptSession, open_session
from ..suggest.run import SuggestedWindow, SuggestResult, suggest
from .protocol import Callback

__all__ = ["DEFAULT_PROMPT_MODEL", "STAC_BANDS_HELP", "AcceptConfig", "AcceptResult", "Accepted", "ClassField",
           "LabelResult", "MaskPolygon", "NamedModel", "PromptAnswer", "PromptSession", "PromptedConfig",
           "ProposeConfig", "ProposeResult", "Proposal", "StacLayer", "SuggestResult", "SuggestedWindow", "accept",
           "check_polygon_layer", "class_field", "hidden_by_filter", "label_with_prompts", "predict_prompts",
           "prompt_models", "prompted_session", "propose", "stac_layer", "suggest"]

DEFAULT_PROMPT_MODEL = DEFAULT_MODEL  # the front ends' name: the one model a prompt session opens unless told


def prompt_models() -> list[NamedModel]:
    """The Segment Anything models offered by name (any hub id or folder works too)."""
    return list(MODELS.values())


def prompted_session(image: str, extent: Sequence[float] | None = None, model: str = DEFAULT_MODEL, *,
                     extent_crs: str = "", bands: Sequence[int | str] | None = None, device: str = "auto",
                     callback: Callback | None = None, pixel_size: float | None = None,
                     name: str = "") -> PromptSession:
    """Embed the window of ``image`` (any source the engine reads, a STAC item too) covering ``extent`` (xmin,
    ymin, xmax, ymax in ``extent_crs``, default the image's CRS; None: the whole image), its ``bands`` shown as
    red, green, blue (or one as grey; numbers, or names as :data:`STAC_BANDS_HELP` says; None: natural colour by
    name), with ``model`` (a name of :func:`prompt_models`, a hub id or a folder). The model is fetched on first use
    (progress and licence through ``callback``) and kept loaded; the embedding is kept in an LRU cache keyed by
    source, window, bands and model, so asking again is instant (``session.from_cache``). A web service's
    description is read over ``extent`` at ``pixel_size`` metres per pixel, never finer than its finest level;
    ``name`` is how messages name it. Raises DataError when the image cannot be read or the extent misses it,
    ModelError when the model cannot be had."""
    return open_session(image, extent, model, extent_crs=extent_crs, bands=bands, device=device, callback=callback,
                        pixel_size=pixel_size, name=name)


def predict_prompts(session: PromptSession, points: Sequence[tuple[float, float]] = (),
                    labels: Sequence[int] = (), box: Sequence[float] | None = None, text: str = "", *,
                    crs: str = "", class_name: str = "", treatment: str = "",
                    min_pixels: float = 16.0) -> list[PromptAnswer]:
    """The answer to one prompt on an embedded window, as :meth:`PromptSession.predict` says (``labels`` default to
    all 1): each answer holds polygons (WKT in ``session.crs``), the model's score and the seconds it took. Raises
    DataError for a prompt outside the window, or no prompt; ModelError when the model does not take this prompt."""
    return session.predict(points, labels, box, text, crs, class_name=class_name, treatment=treatment,
                           min_pixels=min_pixels)


def stac_layer(item: str, bands: str | Sequence[str] | None, folder: str,
               callback: Callback | None = None) -> StacLayer:
    """A layer a front end can show for the STAC ``item`` (file or URL; QGIS has no STAC layer): a VRT of the
    assets ``bands`` names (text as typed or a list; None: red, green, blue by name) written as new files in
    ``folder``, never over a file the item reads. Prompt its windows with :func:`prompted_session` on the item and
    the same bands (``layer.bands``), which reads them as Segment does. Raises DataError when the item cannot be
    read or the bands do not fit it; ConfigError for a blank band entry (``red,,blue``, refused as by ``--bands``),
    or a file the item reads is in the way."""
    return write_stac_layer(item, bands, folder, callback)
