"""The Segment Anything models by name, torch-free: their hub ids, families and what their image encoders take.

A name here, a Hugging Face id or a local ``save_pretrained`` folder all work; the family (and so the
transformers class) is read from the checkpoint's ``config.json`` ``model_type``. The hub ids are the ones
published on the Hugging Face hub; none could be reached from the machines this was written on.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelError

IMAGENET_DEFAULT = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
IMAGENET_STANDARD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class Family:
    """One transformers model class and how its images are prepared (RGB 0..255 scaled to 0..1, then normalised)."""

    name: str
    model_class: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    text: bool = False  # takes a text prompt (SAM 3)
    clicks: bool = True  # takes points and boxes
    needs: str = ""  # a package its image encoder needs beyond transformers


FAMILIES = {
    "sam": Family("sam", "SamModel", 1024, *IMAGENET_DEFAULT),
    "sam2": Family("sam2", "Sam2Model", 1024, *IMAGENET_DEFAULT),
    "edgetam": Family("edgetam", "EdgeTamModel", 1024, *IMAGENET_DEFAULT, needs="timm"),
    "sam3": Family("sam3", "Sam3Model", 1008, *IMAGENET_STANDARD, text=True, clicks=False),
}
# the model_type of checkpoints saved for video (the hub's SAM 2.1 / SAM 3 repositories): the image model reads them
MODEL_TYPES = {"sam": "sam", "sam2": "sam2", "sam2_video": "sam2", "edgetam": "edgetam", "edgetam_video": "edgetam",
               "sam3": "sam3", "sam3_video": "sam3"}


@dataclass(frozen=True)
class NamedModel:
    """A model offered by name."""

    name: str
    hub_id: str
    family: str
    note: str


MODELS = {m.name: m for m in (
    NamedModel("sam-vit-base", "facebook/sam-vit-base", "sam", "SAM ViT-B (Apache-2.0), 94 M parameters"),
    NamedModel("slimsam", "nielsr/slimsam-50-uniform", "sam", "SlimSAM, SAM pruned to about 10 % (Apache-2.0)"),
    NamedModel("sam2.1-tiny", "facebook/sam2.1-hiera-tiny", "sam2", "SAM 2.1 Hiera-T (Apache-2.0)"),
    NamedModel("sam2.1-small", "facebook/sam2.1-hiera-small", "sam2", "SAM 2.1 Hiera-S (Apache-2.0)"),
    NamedModel("edgetam", "yonigozlan/EdgeTAM-hf", "edgetam",
               "EdgeTAM (Apache-2.0); its RepViT encoder needs timm and torchvision"),
    NamedModel("sam3", "facebook/sam3", "sam3", "SAM 3 with text prompts (SAM licence, gated: accept it on the hub)"),
)}
DEFAULT_MODEL = "sam2.1-tiny"


def model_source(name: str) -> str:
    """The hub id or folder behind ``name`` (a catalogue name, a hub id or a folder, returned as given)."""
    text = (name or "").strip()
    if not text:
        raise ModelError(f"Name a Segment Anything model: one of {', '.join(MODELS)}, a Hugging Face id or a "
                         f"local save_pretrained folder.")
    entry = MODELS.get(text.lower())
    return entry.hub_id if entry else text


def known_family(source: str) -> Family | None:
    """The family of a catalogue name or its hub id (known before anything is downloaded); None for others."""
    text = (source or "").strip()
    entry = MODELS.get(text.lower()) or next((m for m in MODELS.values() if m.hub_id == text), None)
    return FAMILIES[entry.family] if entry else None


def family_of(model_type: str, source: str) -> Family:
    """The family a checkpoint's ``model_type`` belongs to (ModelError naming the source otherwise)."""
    key = MODEL_TYPES.get(model_type)
    if key is None:
        raise ModelError(f"'{source}' is a '{model_type}' checkpoint, not a Segment Anything one; use one of "
                         f"{', '.join(MODELS)} or a checkpoint of type {', '.join(sorted(MODEL_TYPES))}.")
    return FAMILIES[key]
