"""The change family's automatic choices (:func:`.auto.choose_settings` calls them for scenes of two dates): the
class names of a change mask, the change's weight in the loss (one date's binary masks' too), each date's own
scaling, its tiles' zoom (one date's too), its changed objects enlarged and pasted, its training step on a CPU (tile,
batch, weight average), how a change mask is run (flips, the threshold picked on the validation tiles), and from-to
classes of polygon labels."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..errors import ConfigError, mention
from ..models.configuration_utils import CHANGE_CLASSES
from .choice import Choice, Chosen


def choose_change_classes(chosen: Chosen) -> None:
    """A change mask's class names for scenes of two dates whose labels keep the default names."""
    if len(chosen.data.class_names) == 2:
        chosen.data = chosen.data.replace(class_names=list(CHANGE_CLASSES))
        chosen.choices.append(Choice({"data.class_names": ",".join(CHANGE_CLASSES)},
                                     "the scenes hold two dates, so the label is a change mask (what changed between "
                                     "them); give the names for another meaning"))


#: The foreground's weight in a binary mask's focal loss (its function's own default, 0.25, is the detectors'), with
#: why: a change mask's and one date's
FOREGROUND_ALPHA = {
    "change": (0.75, "a change mask: change is the rarer class (a tenth to a fifth of the pixels in the change "
                     "datasets), so it weighs more in the focal loss than the rest"),
    "one date": (0.5, "a binary mask of one date: its foreground weighs as much as the rest in the focal loss (at "
                      "0.25 the models of one Massachusetts scene called a quarter to a half of its buildings)")}


def choose_foreground_weight(chosen: Chosen, kind: str) -> None:
    """A binary mask's foreground weight in the focal loss, ``kind`` a key of ``FOREGROUND_ALPHA``: on LEVIR-CD's
    sample pairs 0.25 found a seventh of the change (docs/benchmarks.md); on one Massachusetts scene 0.5 lifted the
    map's building IoU on every seed (docs/unlabelled.md)."""
    loss = chosen.train.loss
    if loss.focal_alpha is None and "focal" in loss.terms_for(chosen.model.name):
        alpha, why = FOREGROUND_ALPHA[kind]
        chosen.train = chosen.train.replace(loss=loss.replace(focal_alpha=alpha))
        chosen.choices.append(Choice({"loss.focal_alpha": alpha}, why))


def choose_date_scaling(chosen: Chosen) -> None:
    """Each date's tile standardised by its own statistics: on LEVIR-CD's sample pairs the models missed every test
    pair whose later date is brighter than the training pairs' (docs/benchmarks.md)."""
    if getattr(chosen.model, "date_scaling", None) == "none":
        chosen.model = chosen.model.replace(date_scaling="tile")
        chosen.choices.append(Choice({"model.date_scaling": "tile"}, (
            "two dates of one place: each date's tile is standardised by its own mean and spread, so a brightness or "
            "contrast shift between the dates (another sun, season or sensor) is not taken for change")))


ZOOM_RANGE = [0.5, 1.5]  # a mask's training tiles read from half to 1.5 times the tile's side
ZOOMED = {"change": ("a change mask", "changed buildings larger and smaller than the few labelled pairs'"),
          "one date": ("one date's classes", "objects larger and smaller than the labelled scenes' (on one 1 m "
                       "scene, the flat roofs of a block of shops among houses)")}


def choose_zoom(chosen: Chosen, kind: str) -> None:
    """A mask's tiles zoomed in and out more (read windows of 0.5-1.5 times the tile, not 0.75-1.25), ``kind`` a
    key of ``ZOOMED``: on LEVIR-CD's sample pairs the change models found more of the change of every size, and on
    one Massachusetts scene the one-date models found the large roofs its training part lacks
    (docs/change-detection.md, docs/unlabelled.md)."""
    augment = chosen.data.augment
    if list(augment.scale_range) == list(type(augment)().scale_range):
        what, seen = ZOOMED[kind]
        chosen.data = chosen.data.replace(augment=augment.replace(scale_range=list(ZOOM_RANGE)))
        chosen.choices.append(Choice({"augment.scale_range": "-".join(f"{v:g}" for v in ZOOM_RANGE)}, (
            f"{what}: each training tile is read from a window of half to 1.5 times its side (zoomed in and "
            f"out), so {seen} are seen")))


CHANGE_PASTE = 0.5  # the share of a change mask's training tiles that get an enlarged changed object pasted


def choose_change_paste(chosen: Chosen) -> None:
    """A change mask's training tiles get changed objects of the batch, enlarged and pasted (change pastes): on
    LEVIR-CD's sample pairs no training pair shows a large building appearing, and the models missed every hall
    built on the test pairs (docs/change-detection.md)."""
    augment = chosen.data.augment
    if augment.change_paste == type(augment)().change_paste:
        chosen.data = chosen.data.replace(augment=augment.replace(change_paste=CHANGE_PASTE))
        low, high = augment.change_paste_zoom
        chosen.choices.append(Choice({"augment.change_paste": CHANGE_PASTE}, (
            f"a change mask: {CHANGE_PASTE:.0%} of the training tiles get one changed object of the batch, "
            f"enlarged {low:g}-{high:g} times and pasted elsewhere on both dates as change "
            f"({augment.change_paste_bright:.0%} of them light on one date, {augment.change_paste_unchanged:.0%} one "
            f"date's object on both as no change), so changes larger and lighter than the labelled pairs' (a white "
            f"hall built) are seen")))


#: A change mask's training step on a CPU in place of batch 4 of the CPU's 256-px tiles: the same pixels a step in
#: four times the tiles, and the weights' moving average (its decay per step) that validation scores and the bundle
#: keeps. The tiles of an epoch grow with the batch, so an epoch stays as many steps.
CHANGE_STEP = {"data.tile_size": 128, "train.batch_size": 16, "train.weight_average": 0.99}


def choose_change_step(chosen: Chosen, unset: Collection[str]) -> None:
    """A change mask on a CPU whose tile came out at 256 px: 16 tiles of 128 px a step and the weight average, unless
    the tile or the batch is given (the average alone is kept off then, as measured): on LEVIR-CD's sample pairs at
    450 steps, change F1 0.602 +- 0.058 over 3 seeds against 0.515 +- 0.059 (docs/change-detection.md, session 11)."""
    tile, batch, decay = CHANGE_STEP.values()
    if not {"data.tile_size", "train.batch_size"} <= set(unset) or chosen.data.tile_size != 2 * tile:
        return
    before, scale = chosen.train.batch_size, batch // chosen.train.batch_size
    chosen.data = chosen.data.replace(tile_size=tile)
    chosen.train = chosen.train.replace(batch_size=batch)
    values: dict[str, Any] = {"data.tile_size": tile, "train.batch_size": batch}
    why = (f"a change mask on the CPU: {batch} tiles of {tile} px a step (the pixels of {before} of {2 * tile} px, in "
           f"{scale} times the crops)")
    if "data.tiles_per_epoch" in unset:
        chosen.data = chosen.data.replace(tiles_per_epoch=chosen.data.tiles_per_epoch * scale)
        values["data.tiles_per_epoch"] = chosen.data.tiles_per_epoch
        why += ", an epoch as many steps"
    if "train.weight_average" in unset and not chosen.train.weight_average:
        chosen.train = chosen.train.replace(weight_average=decay)
        values["train.weight_average"] = decay
        why += f", and the weights' moving average ({decay:g} a step) is what validation scores and the bundle keeps"
    chosen.choices = [c for c in chosen.choices if "data.tile_size" not in c.values]
    chosen.choices.append(Choice(values, why + "; on LEVIR-CD's sample pairs this lifted the change F1 from 0.515 "
                                 "to 0.602 (3 seeds, 450 steps)"))


CHANGE_TTA = "flips"  # the test-time augmentation a change mask's bundle records


def choose_change_inference(chosen: Chosen) -> None:
    """A change mask is run averaged over flips, from the threshold of the best change F1 on the validation tiles
    (picked at training: the bundle's epoch): on LEVIR-CD's sample pairs the two lifted the change F1 of the same
    models (docs/change-detection.md)."""
    if getattr(chosen.model, "tta", None) == "none":
        chosen.model = chosen.model.replace(tta=CHANGE_TTA)
        chosen.choices.append(Choice({"model.tta": CHANGE_TTA, "model.threshold": "validation"}, (
            "a change mask: segment averages each tile over flips (3 passes), and a pixel is change from the "
            "probability of the best change F1 on the validation tiles (picked at the end, else 0.5); both "
            "recorded in the bundle, segment's own settings override them")))


def choose_transitions(chosen: Chosen, specs: list[Any], given: Collection[str]) -> None:
    """From-to polygon labels: each transition a class ``BEFORE → AFTER`` after "no change", unless the label
    mapping is given (names too)."""
    from ..config.values import fill_class_colors
    from ..data.labels import layer_transitions

    if "data.label_mapping" in given:
        return
    found: set[str] = set()
    for spec in specs:
        if not spec.label_after_field or not spec.label_field:
            raise ConfigError(f"The scene '{spec.image}': the after-class field "
                              f"({mention('data.train_scenes#label_after_field')}) needs the class field before "
                              f"({mention('data.train_scenes#label_field')}) in every scene's polygon label.")
        found.update(layer_transitions(str(spec.label), spec.label_field, spec.label_after_field))
    transitions = sorted(found)
    if not transitions:
        return  # every polygon the same before and after: the label scan says there is nothing to learn
    names = [CHANGE_CLASSES[0], *transitions]
    if "data.class_names" in given:
        names = list(chosen.data.class_names)
        if len(names) != len(transitions) + 1:
            raise ConfigError(f"The polygon labels hold {len(transitions)} transition(s) ({', '.join(transitions)}), "
                              f"so {len(transitions) + 1} classes with no change, but {mention('data.class_names')} "
                              f"names {len(names)}: name them in this order, or leave the names out.")
    colors = list(chosen.data.class_colors) if "data.class_colors" in given else fill_class_colors(
        [chosen.data.class_colors[0]], len(names))
    mapping = {name: index for index, name in enumerate(transitions, start=1)}
    chosen.data = chosen.data.replace(label_mapping=mapping, class_names=names, class_colors=colors)
    chosen.choices.append(Choice({"data.label_mapping": ", ".join(f"{k}={v}" for k, v in mapping.items())},
                                 "the polygon labels give each polygon its class before and after: each transition "
                                 "is a class, the polygons whose two classes are the same are no change (class 0)"))

