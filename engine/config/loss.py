"""Loss settings (LossConfig): the named loss terms with their weights and options, the deep-supervision side
weights, each model family's defaults, and how the loss settings of older versions read into them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..declarations import Settings, check, check_choices, setting
from ..errors import ConfigError, mention
from ..models.configuration_utils import BASELINE_LOSS, families_by, family_card
from .values import DEFAULT_SIDE_WEIGHT, LOSS_ALIASES, LOSS_DETAIL, LOSS_TERMS

OLD_DEFAULT_TERMS = {"focal": 0.5, "lovasz": 0.5}  # the loss of versions before LossConfig (DualStream's)


def family_loss(family: str) -> dict[str, float]:
    """The loss terms family ``family`` trains with by default (its card's, else the baseline's)."""
    card = family_card(family)
    return dict(card.loss if card is not None and card.loss else BASELINE_LOSS)


def _terms_help() -> str:
    terms = "; ".join(f"{', '.join(names)} {loss}" for loss, names in
                      families_by(lambda f: " + ".join(f"{w:g} {t}" for t, w in family_loss(f).items())))
    return f"Weighted loss terms from {', '.join(LOSS_TERMS)} (bce = ce). Empty: the family's own: {terms}."


def parse_loss_terms(text: str | dict[str, Any], what: str = "loss") -> dict[str, float]:
    """``"focal=1,dice=1"`` (or ``"focal,dice"``: weight 1 each, or a mapping) -> {name: weight}; ``bce`` is
    another name of ``ce``. ConfigError naming ``what`` and the valid terms."""
    if isinstance(text, dict):
        items = list(text.items())
    else:
        parts = [part.strip().partition("=") for part in str(text).split(",") if part.strip()]
        items = [(name, weight.strip() or 1.0) for name, _, weight in parts]
    terms: dict[str, float] = {}
    for name, weight in items:
        key = LOSS_ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
        check(key in LOSS_TERMS, f"{what}: loss term '{name}' is unknown; use one of {list(LOSS_TERMS)} "
                                  f"(bce = ce), e.g. focal=1,dice=1.")
        try:
            value = float(weight)
        except (TypeError, ValueError):
            raise ConfigError(f"{what}: the weight of '{name}' must be a number (got {weight!r}); e.g. "
                              f"focal=1,dice=1.") from None
        check(value >= 0 and math.isfinite(value), f"{what}: the weight of '{name}' must be >= 0 (got {value}).")
        check(key not in terms, f"{what}: loss term '{key}' is given twice.")
        terms[key] = value
    check(any(w > 0 for w in terms.values()),
           f"{what}: no loss term with a weight > 0 (got {text!r}); e.g. focal=1,dice=1.")
    return terms


def _loss_terms_flag(text: str) -> dict[str, float]:
    return parse_loss_terms(text, mention("loss.terms"))


def _number_list_flag(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected comma-separated numbers, e.g. 0.3,0.15 (got {text!r})") from None


@dataclass
class LossConfig(Settings):
    """The training loss. ``terms`` None = the model family's default (its card's ``loss``, else the baseline Focal
    + Dice). Every output gets the same weighted sum of terms; the final output weighs 1, side output i weighs
    ``side_weights[i]``."""

    terms: dict[str, float] | None = setting(
        None, flag="--loss", param="LOSS", cli={"type": _loss_terms_flag}, metavar="TERM=W,...", group="loss",
        advanced=True, label="Loss terms (e.g. focal=1,dice=1; empty: the family's)",
        help=_terms_help)
    focal_alpha: float | None = setting(
        None, group="loss", no_qgis=LOSS_DETAIL,
        help="Focal alpha, the foreground's weight (unset: a change mask's 0.75, one date's binary mask's 0.5, other "
             "binary models' 0.25; multi-class none).")
    focal_gamma: float = setting(2.0, group="loss", no_qgis=LOSS_DETAIL, help="Focal gamma.")
    lovasz_variant: str = setting("hinge", choices=("hinge", "probability"), group="loss", no_qgis=LOSS_DETAIL,
                                  help="hinge (Berman, on logits) or probability (the reference's, binary only).")
    dice_smooth: float = setting(1.0, group="loss", no_qgis=LOSS_DETAIL, help="Dice smoothing term.")
    ohem_threshold: float = setting(0.7, group="loss", no_qgis=LOSS_DETAIL,
                                    help="Pixels whose true-class probability is below this are hard (OHEM).")
    ohem_min_kept: int = setting(100_000, group="loss", no_qgis=LOSS_DETAIL,
                                 help="At least this many hardest pixels per batch (OHEM).")
    side_weights: list[float] | None = setting(
        None, cli={"type": _number_list_flag}, metavar="W,...", group="loss", no_qgis=LOSS_DETAIL,
        help="Deep-supervision weight of each side output of the model (dualstream: 0.3,0.15).")

    def __post_init__(self) -> None:
        if self.terms is not None:
            self.terms = parse_loss_terms(self.terms, "loss.terms")
        check(self.focal_alpha is None or 0.0 <= self.focal_alpha <= 1.0,
               f"loss.focal_alpha must be in [0, 1], or unset (got {self.focal_alpha}).")
        check(self.focal_gamma >= 0, f"loss.focal_gamma must be >= 0 (got {self.focal_gamma}).")
        check_choices(self, "loss")
        check(self.dice_smooth >= 0, f"loss.dice_smooth must be >= 0 (got {self.dice_smooth}).")
        check(0.0 < self.ohem_threshold <= 1.0, f"loss.ohem_threshold must be in (0, 1] (got {self.ohem_threshold}).")
        check(self.ohem_min_kept >= 1, f"loss.ohem_min_kept must be >= 1 (got {self.ohem_min_kept}).")
        if self.side_weights is not None:
            self.side_weights = [float(w) for w in self.side_weights]
            check(all(w >= 0 for w in self.side_weights),
                   f"loss.side_weights must be >= 0 (got {self.side_weights}).")

    def terms_for(self, family: str) -> dict[str, float]:
        return dict(self.terms) if self.terms is not None else family_loss(family)

    def side_weights_for(self, family: str, num_side_outputs: int) -> list[float]:
        """One weight per side output the model declares; ConfigError when given weights do not match."""
        if self.side_weights is None:
            card = family_card(family)
            default = list(card.side_weights) if card is not None else []
            return default if default and len(default) == num_side_outputs else [DEFAULT_SIDE_WEIGHT] * num_side_outputs
        check(len(self.side_weights) == num_side_outputs,
               f"loss.side_weights has {len(self.side_weights)} value(s) {self.side_weights} but the {family} model "
               f"has {num_side_outputs} deep-supervision side output(s); give {num_side_outputs} weight(s)"
               f"{' or leave side_weights unset' if num_side_outputs else ' (an empty list) or leave it unset'}.")
        return list(self.side_weights)

    def describe(self, family: str) -> str:
        """E.g. ``0.5 focal + 0.5 lovasz`` (for logs)."""
        return " + ".join(f"{w:g} {name}" for name, w in self.terms_for(family).items() if w > 0)


# Settings of older versions, read from old config files and bundles: name -> how it maps onto LossConfig.
LEGACY_LOSS_SETTINGS = ("focal_weight", "lovasz_weight", "dice_weight", "ohem_weight", "deep_supervision_weights")


def legacy_loss(data: dict[str, Any]) -> dict[str, Any]:
    """``focal_weight``/``lovasz_weight``/``deep_supervision_weights`` (before LossConfig) as a loss section."""
    loss = dict(data.get("loss") or {})
    weights = {name: data[f"{name}_weight"] for name in ("focal", "lovasz", "dice", "ohem")
               if f"{name}_weight" in data}
    terms = {**OLD_DEFAULT_TERMS, **weights}
    # the old defaults were DualStream's (then the only family): they stay "the family's default"
    if weights and "terms" not in loss and {k: v for k, v in terms.items() if v} != OLD_DEFAULT_TERMS:
        loss["terms"] = terms
    ds = data.get("deep_supervision_weights")
    if ds is not None and "side_weights" not in loss and [float(w) for w in ds] != [1.0, 0.3, 0.15]:
        check(len(ds) >= 1 and float(ds[0]) > 0, f"deep_supervision_weights must start with the final output's "
                                                   f"weight > 0 (got {ds}).")
        loss["side_weights"] = [float(w) / float(ds[0]) for w in ds[1:]]
    return loss
