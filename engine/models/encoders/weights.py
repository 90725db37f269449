"""Pretrained weights: one record per encoder and source, and the one reading of the word ``pretrained``.

A :class:`Weights` record says what segmentation_models_pytorch's ``pretrained_settings`` and TorchGeo's
``Weights.meta`` say: source, licence, training data, the bands and statistics of their inputs. Torch-free.

``pretrained`` is told apart here, and only here (:func:`pretrained_source`):

- empty (``None``): not given; the automatic choices may pick the encoder's own weights, else random weights;
- ``none``: random weights, asked for;
- ``imagenet`` or ``release``: the encoder's own weights (its record), the two words alike (``release`` reads
  better for a foundation encoder, whose weights are not from ImageNet);
- an existing local path (a ``save_pretrained`` folder, a Hugging Face cache folder, a release's ``.pt`` file);
- a hub id ``owner/name`` (any other text is taken as a path, which then is said not to exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ModelError
from .catalog import SENTINEL2

IMAGENET, RELEASE, NONE = "imagenet", "release", "none"
UNSET, RANDOM, OWN, HUB, PATH = "unset", "random", "own", "hub", "path"  # what a pretrained text names

RGB = ("red", "green", "blue")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # of values scaled to 0-1
DINOV3_LICENCE = "DINOv3 License (gated: accept it on the model page)"
PRITHVI_REPO = "ibm-nasa-geospatial/Prithvi-EO-2.0-"
S2_BANDS = SENTINEL2


@dataclass(frozen=True)
class Weights:
    """One pretrained source of one encoder; ``bands`` (common names), ``mean`` and ``std`` (on ``scale``) are those
    its inputs were standardised by."""

    hub_id: str
    title: str  # names it in messages
    trained_on: str
    word: str = IMAGENET  # what ``pretrained`` says for it (imagenet or release)
    licence: str = ""
    file: str = ""  # a release's own weights file in hub_id ("": a save_pretrained checkpoint)
    bands: tuple[str, ...] = RGB
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    scale: str = "values 0-1"
    # the encoder knows these bands only: read by name from each image, standardised by the released statistics
    # where the data is on their scale (else any band count, the first conv adapted, the data's own statistics)
    by_name: bool = False
    dated: bool = False  # it takes each tile's date and place
    gated: bool = False
    # any weights this encoder loads are these (a local copy, a fine-tune), so the record holds for any path or id
    copies: bool = False

    def said(self) -> str:
        """The hub id with its release file and licence, as a model card names where the weights came from."""
        details = [d for d in (self.file, self.licence) if d]
        return f"{self.hub_id} ({', '.join(details)})" if details else self.hub_id


def _imagenet(hub_id: str) -> Weights:
    return Weights(hub_id, "ImageNet checkpoint", "ImageNet-1k photographs")


def _prithvi(size: str, tl: bool = False) -> Weights:
    suffix = "-TL" if tl else ""
    return Weights(f"{PRITHVI_REPO}{size}{suffix}", "Prithvi-EO-2.0 release",
                   "Harmonized Landsat Sentinel-2 (HLS) scenes", RELEASE, "Apache-2.0",
                   f"Prithvi_EO_V2_{size}{suffix.replace('-', '_')}.pt",
                   bands=("blue", "green", "red", "nir08", "swir16", "swir22"),
                   mean=(1087.0, 1342.0, 1433.0, 2734.0, 1958.0, 1363.0),
                   std=(2248.0, 2179.0, 2178.0, 1850.0, 1242.0, 1049.0),
                   scale="HLS reflectance x 10000", by_name=True, dated=tl, copies=True)


def _dinov3(hub_id: str, satellite: bool = False) -> Weights:
    if satellite:  # the satellite release's own standardisation (Maxar RGB)
        return Weights(hub_id, "DINOv3 release", "SAT-493M satellite images (RGB)", RELEASE, DINOV3_LICENCE,
                       mean=(0.430, 0.411, 0.296), std=(0.213, 0.156, 0.143), gated=True)
    return Weights(hub_id, "DINOv3 release", "LVD-1689M web images", RELEASE, DINOV3_LICENCE, gated=True)


def _galileo(size: str) -> Weights:
    """Galileo's release of ``size`` (its ``config.json`` beside the file fixes the sizes); the Sentinel-2 bands'
    pre-training mean and standard deviation (``config/normalization.json``), the encoder's own scaling on top."""
    from .eo_bands import GALILEO_SCALING

    return Weights("nasaharvest/galileo", "Galileo release",
                   "Galileo pre-training set (127,155 places: Sentinel-1/2, ERA5, SRTM, ... time series)", RELEASE,
                   "MIT", f"models/{size}/encoder.pt", bands=S2_BANDS,
                   mean=tuple(lo + span / 2 for lo, span in zip(GALILEO_SCALING.low[2:12], GALILEO_SCALING.span[2:12])),
                   std=tuple(span / 4 for span in GALILEO_SCALING.span[2:12]),
                   scale="Sentinel-2 L2A reflectance x 10000", by_name=True, dated=True, copies=True)


#: Presto's release: in its GitHub repository (github.com/nasaharvest/presto, data/default_model.pt), which a hub
#: mirror serving that repository (HF_ENDPOINT) or a local copy (pretrained = the file) provides
PRESTO = Weights("nasaharvest/presto", "Presto release",
                 "Presto pre-training set (21.5 M pixel time series: Sentinel-1/2, ERA5, SRTM, Dynamic World)", RELEASE,
                 "MIT", "data/default_model.pt", bands=S2_BANDS, mean=(0.0,) * 10, std=(1e4,) * 10,  # its x / 10000
                 scale="Sentinel-2 L2A reflectance x 10000, Sentinel-1 dB", by_name=True, dated=True)


#: The pretrained weights of each named encoder (encoders.catalog); tiny sizes and ``transformers`` have none.
WEIGHTS: dict[str, Weights] = {
    "resnet18": _imagenet("microsoft/resnet-18"),
    "resnet50": _imagenet("microsoft/resnet-50"),
    "convnext_tiny": _imagenet("facebook/convnext-tiny-224"),
    "swin_tiny": _imagenet("microsoft/swin-tiny-patch4-window7-224"),
    "mit_b0": _imagenet("nvidia/mit-b0"),
    "mit_b1": _imagenet("nvidia/mit-b1"),
    "mit_b2": _imagenet("nvidia/mit-b2"),
    "prithvi_eo2_tiny_tl": _prithvi("tiny", tl=True),
    "prithvi_eo2_100m_tl": _prithvi("100M", tl=True),
    "prithvi_eo2_300m": _prithvi("300M"),
    "prithvi_eo2_300m_tl": _prithvi("300M", tl=True),
    "prithvi_eo2_600m": _prithvi("600M"),
    "prithvi_eo2_600m_tl": _prithvi("600M", tl=True),
    "dinov3_convnext_tiny": _dinov3("facebook/dinov3-convnext-tiny-pretrain-lvd1689m"),
    "dinov3_convnext_small": _dinov3("facebook/dinov3-convnext-small-pretrain-lvd1689m"),
    "dinov3_convnext_base": _dinov3("facebook/dinov3-convnext-base-pretrain-lvd1689m"),
    "dinov3_vitl16_sat": _dinov3("facebook/dinov3-vitl16-pretrain-sat493m", satellite=True),
    "galileo_nano": _galileo("nano"),
    "galileo_tiny": _galileo("tiny"),
    "galileo_base": _galileo("base"),
    "presto": PRESTO,  # a pixel-series encoder only (the eoseries family's)
}
#: Encoders without a record whose architecture loads one family's weights only (a tiny Prithvi: a release file)
_FAMILY = {"tiny_prithvi": "prithvi_eo2_tiny_tl"}


def own_weights(encoder: str | None) -> Weights | None:
    """The record of ``encoder``'s own weights (an encoder name, or a MiT preset b0..b2); None when it has none."""
    name = encoder or ""
    return WEIGHTS.get(name) or WEIGHTS.get(f"mit_{name}")


def model_encoder(model_cfg: Any) -> str:
    """The encoder a model configuration builds: its named encoder, else its (MiT) preset."""
    return str(getattr(model_cfg, "encoder_name", None) or getattr(model_cfg, "preset", "") or "")


def is_hub_id(text: str) -> bool:
    """``owner/name`` with nothing path-like about it."""
    if text.startswith((".", "~", "/")) or "\\" in text or (len(text) > 1 and text[1] == ":"):
        return False
    parts = text.split("/")
    return len(parts) == 2 and all(parts)


@dataclass(frozen=True)
class PretrainedSource:
    """What ``pretrained`` names for one encoder: ``kind`` (unset, random, own, hub, path) and the record of the
    weights it loads where one is known."""

    given: str | None
    kind: str
    encoder: str
    weights: Weights | None = None

    @property
    def loads(self) -> bool:
        """Weights are loaded (not random)."""
        return self.kind in (OWN, HUB, PATH)

    @property
    def fixes_model(self) -> bool:
        """A checkpoint of its own (a hub id or a folder) decides the architecture, not ``imagenet`` / ``release``."""
        return self.kind in (HUB, PATH)

    def location(self) -> str:
        """The hub id or the path to load from; ModelError for ``imagenet`` / ``release`` of an encoder without
        weights of its own (tiny sizes)."""
        if self.kind == OWN:
            if self.weights is None:
                raise ModelError(f"Encoder '{self.encoder}' has no pretrained weights of its own (a size made for "
                                 f"tests and CPU demos), so '{self.given}' names nothing; choose an encoder that has "
                                 f"them ({', '.join(WEIGHTS)}), pass a hub id or a local folder as pretrained, or "
                                 f"'none' for random weights.")
            return self.weights.hub_id
        return str(self.given).strip()

    def said(self) -> str | None:
        """Where the weights came from in words (a model card's line); None for random weights."""
        if not self.loads:
            return None
        if self.weights is not None and self.location() == self.weights.hub_id:
            return self.weights.said()
        return self.location()

    def random_line(self, role: str = "vision") -> str:
        """The log line of an encoder left random: what was (not) given, and what its own weights would be."""
        why = "--pretrained none" if self.kind == RANDOM else "no pretrained weights given"
        own = own_weights(self.encoder)
        better = (f" from its {own.title} {own.hub_id} (pretrained '{own.word}')" if own is not None else
                  " from a pretrained checkpoint")
        return (f"{role.capitalize()} encoder '{self.encoder}' randomly initialised ({why}): expect slower training "
                f"than{better}.")


def pretrained_source(given: str | None, encoder: str | None) -> PretrainedSource:
    """The one reading of ``pretrained`` (see the module's docstring) for ``encoder`` (a name or a MiT preset)."""
    name = encoder or ""
    text = "" if given is None else str(given).strip()
    own = own_weights(name)
    if not text:
        return PretrainedSource(given, UNSET, name)
    word = text.lower()
    if word == NONE:
        return PretrainedSource(given, RANDOM, name)
    if word in (IMAGENET, RELEASE):
        return PretrainedSource(given, OWN, name, own)
    family = own if own is not None and own.copies else WEIGHTS.get(_FAMILY.get(name, ""))
    if Path(text).expanduser().exists() or not is_hub_id(text):
        return PretrainedSource(given, PATH, name, family)
    return PretrainedSource(given, HUB, name, own if own is not None and text == own.hub_id else family)


def model_pretrained(model_cfg: Any) -> PretrainedSource:
    """:func:`pretrained_source` of a model configuration's ``pretrained`` for the encoder it builds."""
    return pretrained_source(getattr(model_cfg, "pretrained", None), model_encoder(model_cfg))
