"""The Segment Anything models, torch-free: the prompt model types (a transformers class each, and how its picture
is prepared) and the models offered by name. A name here, a Hugging Face id or a ``save_pretrained`` folder all
work; the type is read from the checkpoint's ``config.json`` ``model_type``. The hub ids could not be reached from
the machines this was written on.

What a type's image encoder needs beyond transformers is checked before anything is downloaded
(:func:`check_needs`). EdgeTAM's RepViT is built through timm, which imports torchvision as it loads, and
transformers counts timm as present only beside torchvision, so ``pip install timm --no-deps`` does not help.
PyPI's torchvision wheels fail to load with a CPU-only torch ("operator torchvision::nms does not exist"); a CPU
torch takes its torchvision from PyTorch's CPU index.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

from ..errors import ModelError
from ..runtime.environment import pip_install_command, require

IMAGENET_DEFAULT = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
IMAGENET_STANDARD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class PromptModelType:
    """One type of prompt model (not a segmentation family): its transformers class and how its pictures are
    prepared (RGB 0..255 scaled to 0..1, then normalised)."""

    name: str
    model_class: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    text: bool = False  # takes a text prompt (SAM 3)
    clicks: bool = True  # takes points and boxes
    needs: str = ""  # a package its image encoder needs beyond transformers


#: the prompt model types by key (SAM, SAM 2, EdgeTAM, SAM 3)
PROMPT_MODEL_TYPES = {
    "sam": PromptModelType("sam", "SamModel", 1024, *IMAGENET_DEFAULT),
    "sam2": PromptModelType("sam2", "Sam2Model", 1024, *IMAGENET_DEFAULT),
    "edgetam": PromptModelType("edgetam", "EdgeTamModel", 1024, *IMAGENET_DEFAULT, needs="timm"),
    "sam3": PromptModelType("sam3", "Sam3Model", 1008, *IMAGENET_STANDARD, text=True, clicks=False),
}
# a checkpoint's model_type -> its prompt model type; those saved for video (the hub's SAM 2.1 / SAM 3
# repositories) are read by the image model
CHECKPOINT_TYPES = {"sam": "sam", "sam2": "sam2", "sam2_video": "sam2", "edgetam": "edgetam",
                    "edgetam_video": "edgetam", "sam3": "sam3", "sam3_video": "sam3"}


@dataclass(frozen=True)
class NamedModel:
    """A model offered by name."""

    name: str
    hub_id: str
    model_type: str  # a key of PROMPT_MODEL_TYPES
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


def known_model_type(source: str) -> PromptModelType | None:
    """The prompt model type of a catalogue name or its hub id; None for others."""
    text = (source or "").strip()
    entry = MODELS.get(text.lower()) or next((m for m in MODELS.values() if m.hub_id == text), None)
    return PROMPT_MODEL_TYPES[entry.model_type] if entry else None


def model_type_of(model_type: str, source: str) -> PromptModelType:
    """The prompt model type of a checkpoint's ``model_type``; ModelError otherwise."""
    key = CHECKPOINT_TYPES.get(model_type)
    if key is None:
        raise ModelError(f"'{source}' is a '{model_type}' checkpoint, not a Segment Anything one; use one of "
                         f"{', '.join(MODELS)} or a checkpoint of type {', '.join(sorted(CHECKPOINT_TYPES))}.")
    return PROMPT_MODEL_TYPES[key]


CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def import_problem(package: str) -> str:
    """Why ``package`` cannot be imported here ("" when it can): missing, or installed but failing to load."""
    try:
        importlib.import_module(package)
    except Exception as exc:  # noqa: BLE001 - a broken install raises anything (RuntimeError from torchvision)
        if isinstance(exc, ModuleNotFoundError) and exc.name == package:
            return "missing"
        return f"installed but failing to load ({str(exc).splitlines()[0][:160]})"
    if package == "timm":
        from transformers.utils import is_timm_available

        if not is_timm_available():  # transformers also asks for torchvision and Pillow
            return "installed, but transformers does not count it usable (it wants torchvision and Pillow beside it)"
    return ""


def torchvision_pin(torch_version: str) -> str:
    """The torchvision release series made for ``torch_version`` (torch 2.N goes with torchvision 0.N+15)."""
    found = re.match(r"2\.(\d+)", torch_version)
    return f"torchvision==0.{int(found.group(1)) + 15}.*" if found else "torchvision"


def needs_message(model_type: PromptModelType, problem: str, torch_version: str, cpu_only: bool) -> str:
    """What to tell a user whose Python lacks ``model_type.needs`` (``problem``: :func:`import_problem`'s)."""
    package = model_type.needs
    said = "is not installed" if problem == "missing" else f"is {problem}"
    install = f"`{' '.join(pip_install_command([package]))}`"
    text = f"{model_type.model_class}'s image encoder is built by {package}, which {said}. "
    if package != "timm":
        return text + f"Install it into the Python that runs DualStream: {install}."
    if cpu_only:
        python = pip_install_command([])[0]
        text += (f"This torch ({torch_version}) is a CPU-only build, and the torchvision that `pip install timm` "
                 f"brings from PyPI is built for CUDA torch and does not load with it. Install the CPU torchvision "
                 f"made for this torch, then timm: `{python} -m pip install --force-reinstall --no-deps "
                 f"\"{torchvision_pin(torch_version)}\" --index-url {CPU_INDEX}`, then {install}")
    else:
        text += f"Install it into the Python that runs DualStream: {install} (it brings the torchvision for your torch)"
    return text + (". timm imports torchvision as it loads, so timm alone (--no-deps) does not work. Or use "
                   "sam2.1-tiny, the default, which needs nothing more.")


def check_needs(model_type: PromptModelType) -> None:
    """Raise ModelError saying what to install when ``model_type``'s image encoder needs a package that cannot load."""
    if not model_type.needs:
        return
    problem = import_problem(model_type.needs)
    if problem:
        torch = require("torch")
        cpu_only = getattr(torch.version, "cuda", None) is None and getattr(torch.version, "hip", None) is None
        raise ModelError(needs_message(model_type, problem, torch.__version__, cpu_only))
