"""Where a training starts other than from nothing: fine-tuning from a whole model bundle (``train.init_from``), or
a pretrained encoder's released band statistics.

The parent bundle gives the family and size (its model config, unless the user set them), every weight that fits
the new model, and its band statistics when the bands match (unless ``train.recompute_stats``). Where the new data
differs, the model is adapted and the log says how: other classes rebuild the head; another band or aux count
adapts the input convolutions as for pretrained encoders (:func:`engine.models.pretrained.adapt_kernel`). The new
bundle records its parent (name and digests). Weights are read with safetensors only: nothing is unpickled.

Without a parent, an encoder's released band statistics replace the data's own where its weights' record has them
for bands fed by name (Prithvi-EO-2.0: the mean and standard deviation of its 6 HLS bands, reflectance x 10000)
and the data is on the scale they are for (Sentinel-2 L2A or HLS reflectance x 10000, brought there by the
product's own offsets), so the encoder sees what it was trained on. Data on another scale (8-bit, reflectance 0-1)
keeps its own statistics, as said in the log: the released ones would put it far off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..bundle.schema import BundleMetadata
from ..data.normalize import BandStatistics
from ..errors import ConfigError, DataError, DualStreamError, mention
from ..io.digest import file_sha256
from ..models.configuration_utils import ModelConfig
from ..models.encoders.weights import model_pretrained


@dataclass(frozen=True)
class Parent:
    """The bundle a fine-tuning starts from."""

    path: str
    metadata: BundleMetadata
    sha256: str

    @property
    def name(self) -> str:
        return Path(self.path).name

    def record(self) -> dict[str, Any]:
        """What the new bundle says of its parent."""
        model = self.metadata.model
        return {"name": self.name, "sha256": self.sha256, "weights_sha256": self.metadata.weights_sha256,
                "family": model.name, "preset": model.preset, "classes": list(self.metadata.data.class_names),
                "val_iou": self.metadata.metrics.get("val_iou")}


def read_parent(path: str) -> Parent:
    """The parent bundle of ``train.init_from``; ConfigError naming the setting when it is missing or no bundle."""
    from ..bundle.store import read_metadata

    where = f"{mention('train.init_from')} '{path}'"
    if not Path(path).is_file():
        raise ConfigError(f"{where} does not exist; give the model bundle (.dsmodel) to start from.")
    try:
        meta = read_metadata(path)
    except DualStreamError as exc:
        raise ConfigError(f"{where} cannot start a training: {exc}") from exc
    if meta.onnx is not None:
        raise ConfigError(f"{where} is an ONNX export; start from the .dsmodel bundle it was exported from.")
    return Parent(str(path), meta, file_sha256(path))


def check_family(model_cfg: ModelConfig, parent: Parent) -> None:
    """ConfigError when the model family differs from the parent's: its weights cannot start another family."""
    theirs = parent.metadata.model.name
    if model_cfg.name != theirs:
        raise ConfigError(f"{mention('model.name')} is {model_cfg.name}, but {mention('train.init_from')} "
                          f"'{parent.name}' is a {theirs} model: fine-tuning keeps the parent's family. Leave "
                          f"{mention('model.name')} unset (or give {theirs}), or train {model_cfg.name} without "
                          f"{mention('train.init_from')}.")


#: Model settings a training picks on its validation tiles (a change mask's decision threshold): a fine-tuning
#: picks them again rather than keep the parent's.
PICKED_ON_VALIDATION = ("threshold",)


def parent_model_config(model_cfg: ModelConfig, parent: Parent, given: Collection[str]) -> ModelConfig:
    """The parent's model config with the model settings the user gave (``model.x`` in ``given``) on top; a given
    family other than the parent's is refused. Never a pretrained source: the weights come from the parent."""
    if "model.name" in given:
        check_family(model_cfg, parent)
    mine = {name.split(".", 1)[1] for name in given if name.startswith("model.")}
    mine_values = {k: v for k, v in model_cfg.to_dict().items() if k in mine}
    theirs = parent.metadata.model.to_dict()
    # what the parent's validation picked is picked again on this training's validation
    again = {k: None for k in PICKED_ON_VALIDATION if k in theirs and k not in mine}
    return type(parent.metadata.model).from_dict({**theirs, **again, **mine_values, "pretrained": None})


def keep_parent_statistics(datasets: tuple[Any, Any, Any], parent: Parent, recompute: bool,
                           say: Callable[[str], None]) -> tuple[Any, Any, Any]:
    """The datasets normalised with the parent's band statistics where the bands match (a small new area must
    not rescale a model trained on a large one), unless ``recompute``; each stream's choice said."""
    meta, theirs = datasets[2].metadata, parent.metadata.data
    changes = {}
    for stream, words in (("vision_stats", "image"), ("aux_stats", "aux")):
        mine, old = getattr(meta, stream), getattr(theirs, stream)
        if mine is None or old is None:
            continue
        if old.bands != mine.bands:
            say(f"Fine-tuning: the parent has {old.bands} {words} band(s), this data {mine.bands}: {words} band "
                f"statistics computed from this data.")
        elif recompute:
            say(f"Fine-tuning: {words} band statistics recomputed from this data "
                f"({mention('train.recompute_stats')}).")
        else:
            changes[stream] = old
            say(f"Fine-tuning: kept parent statistics for the {mine.bands} {words} band(s) ({old.method}); "
                f"{mention('train.recompute_stats')} computes them from this data instead.")
    return _with_statistics(datasets, **changes) if changes else datasets


def _with_statistics(datasets: tuple[Any, Any, Any], **changes: Any) -> tuple[Any, Any, Any]:
    """The datasets and their summary's metadata with ``changes`` (stream -> BandStatistics)."""
    train_ds, val_ds, summary = datasets
    for ds in (train_ds, val_ds):
        for stream, stats in changes.items():
            if ds is not None and hasattr(ds, stream):
                setattr(ds, stream, stats)
    return train_ds, val_ds, dataclasses.replace(summary, metadata=dataclasses.replace(summary.metadata, **changes))


def load_parent_weights(model: Any, model_cfg: ModelConfig, parent: Parent, say: Callable[[str], None],
                        warn: Callable[[str], None]) -> None:
    """Copy the parent's weights into ``model`` (built for the new data), saying which tensors were copied, which
    rebuilt (the head: other classes), adapted (other input channels) or left random (absent from the parent or of
    another shape)."""
    from ..bundle.store import load_state
    from ..models.pretrained import adapt_kernel

    theirs = load_state(parent.path, parent.metadata)  # safetensors (no pickle), checked against their digest
    old_model = parent.metadata.model
    old_out, new_out = old_model.num_classes, model_cfg.num_classes
    done: dict[str, list[str]] = {"copied": [], "head": [], "new": []}
    hows: list[str] = []  # the adapted tensors, in words
    state = model.state_dict()
    for name, tensor in state.items():
        old = theirs.get(name)
        if old is None:
            done["new"].append(name)
        elif tuple(old.shape) == tuple(tensor.shape):
            state[name] = old.to(tensor.dtype)
            done["copied"].append(name)
        elif old_out != new_out and old.shape[0] == old_out and tensor.shape[0] == new_out and \
                tuple(old.shape[1:]) == tuple(tensor.shape[1:]):
            done["head"].append(name)  # keeps the new model's initialisation
        elif old.dim() == 4 and tensor.dim() == 4 and old.shape[0] == tensor.shape[0] and \
                tuple(old.shape[2:]) == tuple(tensor.shape[2:]):
            state[name], how = adapt_kernel(old.to(tensor.dtype), int(tensor.shape[1]))
            hows.append(f"{name} from {old.shape[1]} to {tensor.shape[1]} input channels ({how})")
        else:
            done["new"].append(name)
    model.load_state_dict(state)  # copies without autograd
    say(f"Fine-tuning from '{parent.name}' ({old_model.name}, preset {old_model.preset}, sha256 "
        f"{parent.sha256[:12]}): {len(done['copied'])} of {len(state)} weight tensors copied from it.")
    if done["head"]:
        say(f"Fine-tuning: head rebuilt for {new_out} output(s) (the parent has {old_out}: classes "
            f"{list(parent.metadata.data.class_names)}); {len(done['head'])} tensor(s) start from random weights.")
    for how in hows:
        say(f"Fine-tuning: adapted {how}.")
    if done["new"]:
        warn(f"Fine-tuning: {len(done['new'])} weight tensor(s) do not fit the parent '{parent.name}' and start "
             f"from random weights (e.g. {done['new'][:3]}); the model size differs from the parent's.")


# the released statistics fit data whose bands' middle values lie in this range of reflectance x 10000, and
# whose brightest band reaches past 8-bit values
SCALE_LOW, SCALE_HIGH, EIGHT_BIT = 50.0, 15000.0, 255.0


def _middles(stats: BandStatistics) -> tuple[list[float], float]:
    """(each band's mean, or the middle of its 2-98 % range; the highest band's 98 % value, or mean + 2 std)."""
    if stats.method == "meanstd":
        return list(stats.low), max(m + 2 * s for m, s in zip(stats.low, stats.high))
    return [(lo + hi) / 2 for lo, hi in zip(stats.low, stats.high)], max(stats.high)


def _refuse_reflectance_one(meta: Any, encoder: str) -> None:
    """DataError where the Sentinel-2 bands the encoder reads by name hold reflectance 0-1 (a MODIS product, a
    scaled export): its release divides them by 10000, and would take them for black, without a word."""
    from ..models.encoders.eo_bands import dark_reflectance

    stats, names = meta.vision_stats, list(getattr(meta, "band_names", None) or [])
    if stats is None or len(names) != stats.bands:
        return
    tops = list(stats.high) if stats.method == "percentile" else [m + 2 * s for m, s in zip(stats.low, stats.high)]
    if not (dark := dark_reflectance(names, tops)):
        return
    seen = ", ".join(f"{names[i]} up to {tops[i]:.3g}" for i in dark)
    raise DataError(f"The {encoder} encoder reads Sentinel-2 bands in reflectance x 10000 (its release divides them "
                    f"by 10000), and the training images' {seen} (98 %) are reflectance 0-1: it would read them as "
                    f"black. Give those bands x 10000 (e.g. `gdal_translate -scale 0 1 0 10000 -ot UInt16 IN OUT`, "
                    f"each date of a season), or describe them otherwise so that the encoder leaves them out.")


def released_statistics(datasets: tuple[Any, Any, Any], model_cfg: Any,
                        say: Callable[[str], None]) -> tuple[Any, Any, Any]:
    """The datasets normalised by the encoder's released statistics where the module docstring says; each outcome
    said."""
    if getattr(model_cfg, "SENSOR_UNITS", False):  # the encoder scales the sensors' units as it was pre-trained
        _refuse_reflectance_one(datasets[2].metadata, model_cfg.encoder_name)
        bands = datasets[2].metadata.vision_bands
        say(f"The {model_cfg.encoder_name} encoder reads the values in the sensors' units and scales them as its "
            f"release was pre-trained: the image is not normalised by band statistics.")
        return _with_statistics(datasets, vision_stats=BandStatistics("meanstd", [0.0] * bands, [1.0] * bands))
    source = model_pretrained(model_cfg)
    weights = source.weights if source.loads else None
    if weights is None or not weights.by_name or not weights.mean:
        return datasets
    mine = datasets[2].metadata.vision_stats
    title = f"{weights.title}'s"
    # a scene of several dates (change) stacks each date's bands: the released statistics hold for each date
    dates = mine.bands // len(weights.mean) if mine is not None and mine.bands % len(weights.mean) == 0 else 0
    if not dates:
        say(f"The image has {mine.bands if mine else 0} band(s), not the {len(weights.mean)} of the {weights.title}: "
            f"its own band statistics normalise it.")
        return datasets
    middles, top = _middles(mine)
    if not all(SCALE_LOW <= m <= SCALE_HIGH for m in middles) or top <= EIGHT_BIT:
        say(f"The image's values (band middles {', '.join(f'{m:.3g}' for m in middles)}) are not {weights.scale}, "
            f"the scale of the {title} statistics: its own band statistics normalise it.")
        return datasets
    each = f", each of its {dates} dates" if dates > 1 else ""
    say(f"The image is normalised by the {title} statistics (mean and standard deviation of {weights.trained_on}, "
        f"{weights.scale}{each}), as the encoder was pretrained.")
    return _with_statistics(datasets, vision_stats=BandStatistics("meanstd", list(weights.mean) * dates,
                                                                  list(weights.std) * dates))
