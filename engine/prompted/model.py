"""The Segment Anything models (SAM, SAM 2.1, EdgeTAM, SAM 3, SlimSAM): the prompt model types (a transformers
class each, and how its picture is prepared), the models offered by name, what a type needs, and a model loaded
strictly (a name here, a Hugging Face id or a folder), its image embedding made once per window and prompts answered
from it. Torch is imported only when a model is loaded. What a type's image encoder needs beyond transformers is
checked before anything is downloaded (:func:`check_needs`; why EdgeTAM needs timm: docs/segment-anything.md).

The picture is prepared without torchvision or an image processor: padded to a square at its bottom and right (as
SAM's own processor does), resized to the model's input side and normalised, so one number, ``scale`` (model pixels
per window pixel), carries points and boxes into the model and its masks back, whatever the window's shape.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..callbacks import Callback
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
    text: bool = False  # takes a text prompt (SAM 3), not points and boxes
    needs: str = ""  # a package its image encoder needs beyond transformers


#: the prompt model types by key (SAM, SAM 2, EdgeTAM, SAM 3)
PROMPT_MODEL_TYPES = {
    "sam": PromptModelType("sam", "SamModel", 1024, *IMAGENET_DEFAULT),
    "sam2": PromptModelType("sam2", "Sam2Model", 1024, *IMAGENET_DEFAULT),
    "edgetam": PromptModelType("edgetam", "EdgeTamModel", 1024, *IMAGENET_DEFAULT, needs="timm"),
    "sam3": PromptModelType("sam3", "Sam3Model", 1008, *IMAGENET_STANDARD, text=True),
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


PATTERNS = ["config.json", "*.safetensors", "model.safetensors.index.json", "preprocessor_config.json",
            "processor_config.json", "tokenizer*", "vocab.json", "merges.txt", "special_tokens_map.json"]
TEXT_THRESHOLD = 0.5  # SAM 3: an object is kept when its score (object x presence) reaches this


@dataclass
class Embedding:
    """An image embedding and the geometry that maps window pixels to model pixels."""

    features: Any  # a tensor (SAM), a list of tensors (SAM 2), the vision output (SAM 3)
    scale: float  # model pixels per window pixel
    shape: tuple[int, int]  # the window's (rows, cols)


def _vet(source: str, info: Any) -> None:
    """The hub's record ``info`` of ``source`` checked (it names the ``model_type``) before any file is downloaded."""
    model_type = (getattr(info, "config", None) or {}).get("model_type", "")
    if model_type in CHECKPOINT_TYPES:
        check_needs(model_type_of(model_type, source))


def _key(entry: Any) -> str:
    """One key of transformers' loading report: a name, or (name, shape in the file, shape the config makes)."""
    if isinstance(entry, (tuple, list)) and len(entry) == 3:
        name, found, wanted = entry
        return f"{name}: {list(found)} in the file, {list(wanted)} by the config"
    return str(entry)


def _model_type(config_file: Path, source: str) -> str:
    """The ``model_type`` a checkpoint's config.json names; ModelError when it is missing or unreadable."""
    if not config_file.is_file():
        raise ModelError(f"'{source}' has no config.json; give a Segment Anything checkpoint in the transformers "
                         f"format (saved with save_pretrained).")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"The config.json of '{source}' ({config_file}) cannot be read ({exc}); the download was cut "
                         f"short or the file edited: download the model again (delete that folder, or the model's "
                         f"entry in the Hugging Face cache) or give another checkpoint.") from exc
    if not isinstance(config, dict):
        raise ModelError(f"The config.json of '{source}' ({config_file}) holds no settings; give a checkpoint saved "
                         f"with save_pretrained.")
    return str(config.get("model_type", ""))


class PromptModel:
    """A loaded model; :meth:`embed` once per window, then :meth:`decode` / :meth:`decode_text`."""

    def __init__(self, model: Any, model_type: PromptModelType, source: str, tokenizer: Any = None):
        self.model, self.model_type, self.source, self.tokenizer = model, model_type, source, tokenizer
        self.device = next(model.parameters()).device
        config = model.config
        prompts = getattr(config, "prompt_encoder_config", None)
        self.image_size = int(getattr(prompts, "image_size", 0) or getattr(config.vision_config, "image_size", 0)
                              or model_type.image_size)  # the side the checkpoint was made for

    @classmethod
    def load(cls, name: str, log: Callable[[str], None], callback: Callback | None = None,
             device: str = "auto") -> PromptModel:
        """The model ``name`` (a catalogue name, a hub id or a folder), loaded strictly: a checkpoint missing
        weights, or holding weights the class does not know, is refused."""
        torch = require("torch")
        from ..models.hub import fetch

        source = model_source(name)
        for entry in MODELS.values():  # a package the encoder needs is asked for before anything is downloaded
            if entry.hub_id == source:
                check_needs(PROMPT_MODEL_TYPES[entry.model_type])
        folder = Path(fetch(source, log, patterns=None if Path(source).expanduser().is_dir() else PATTERNS,
                            callback=callback, vet=partial(_vet, source)))
        model_type = model_type_of(_model_type(folder / "config.json", source), source)
        check_needs(model_type)
        model_class = getattr(require("transformers"), model_type.model_class)
        from ..models.pretrained import quiet_transformers

        damaged = (OSError, ValueError, RuntimeError, require("safetensors").SafetensorError)
        try:
            with quiet_transformers():  # weights of other sizes are listed below, not raised mid-report
                model, info = model_class.from_pretrained(str(folder), output_loading_info=True,
                                                          local_files_only=True, ignore_mismatched_sizes=True)
        except damaged as exc:
            raise ModelError(f"'{source}' could not be loaded as {model_type.model_class}: its files in '{folder}' are "
                             f"damaged or incomplete ({str(exc).splitlines()[0][:200]}). Download it again (delete "
                             f"that folder, or the model's entry in the Hugging Face cache) or give a complete "
                             f"checkpoint.") from exc
        wrong = {k: v for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if (v := list(info.get(k) or []))}
        if wrong:
            said = "; ".join(f"{k.replace('_', ' ')}: {len(v)} (e.g. {_key(v[0])})" for k, v in wrong.items())
            raise ModelError(f"'{source}' does not match {model_type.model_class} as its config.json describes it "
                             f"({said}); give a complete checkpoint of that model, its weights saved with its "
                             f"config.json.")
        tokenizer = (require("transformers").AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
                     if model_type.text else None)
        chosen = "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
        model = model.to(chosen).eval()
        log(f"Segment Anything model: {model_type.model_class} from {folder} on {chosen}.")
        return cls(model, model_type, source, tokenizer)

    def prepare(self, rgb: np.ndarray) -> tuple[Any, float]:
        """(pixel values (1, 3, S, S), model pixels per window pixel) for an (rows, cols, 3) uint8 picture."""
        torch = require("torch")
        rows, cols = rgb.shape[:2]
        side, size = max(rows, cols), self.image_size
        square = np.zeros((side, side, 3), np.uint8)
        square[:rows, :cols] = rgb
        pixels = torch.from_numpy(square).permute(2, 0, 1)[None].float() / 255.0
        if side != size:
            pixels = torch.nn.functional.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False,
                                                     antialias=side > size)
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (self.model_type.mean, self.model_type.std))
        return ((pixels - mean) / std).to(self.device), size / side

    def embed(self, rgb: np.ndarray) -> Embedding:
        """The image embedding of a window's picture (the slow step)."""
        torch = require("torch")
        pixels, scale = self.prepare(rgb)
        with torch.inference_mode():
            features = (self.model.get_vision_features(pixel_values=pixels) if self.model_type.name == "sam3"
                        else self.model.get_image_embeddings(pixels))
        return Embedding(features, scale, (int(rgb.shape[0]), int(rgb.shape[1])))

    def decode(self, embedding: Embedding, points: np.ndarray | None, labels: np.ndarray | None,
               box: np.ndarray | None) -> tuple[np.ndarray, float]:
        """One mask for points (N, 2; window pixels, x then y) with labels (1 object, 0 not) and/or a box (window
        pixels): (probabilities over the window, the model's IoU estimate). A single point is ambiguous (a roof,
        the house, the block): three masks are asked for and the best scored kept, as SAM's authors advise."""
        torch = require("torch")
        if self.model_type.text:
            raise ModelError(f"{self.model_type.model_class} answers a text, not points or boxes; give a text.")
        args: dict[str, Any] = {}
        if points is not None and len(points):
            args["input_points"] = torch.tensor(np.asarray(points, np.float32) * embedding.scale,
                                                device=self.device).view(1, 1, -1, 2)
            args["input_labels"] = torch.tensor(np.asarray(labels, np.int64), device=self.device).view(1, 1, -1)
        if box is not None:
            args["input_boxes"] = torch.tensor(np.asarray(box, np.float32) * embedding.scale,
                                               device=self.device).view(1, 1, 4)
        multimask = box is None and points is not None and len(points) == 1
        with torch.inference_mode():
            out = self.model(image_embeddings=embedding.features, multimask_output=multimask, **args)
        scores = out.iou_scores[0, 0]
        best = int(torch.argmax(scores))
        return self._to_window(out.pred_masks[0, 0, best], embedding), float(scores[best])

    def decode_text(self, embedding: Embedding, text: str) -> list[tuple[np.ndarray, float]]:
        """Every object a text names (SAM 3): [(probabilities over the window, score)], best first."""
        torch = require("torch")
        if not self.model_type.text:
            raise ModelError(f"{self.model_type.model_class} does not read text; use SAM 3 (sam3) for a text prompt, "
                             f"or give points or boxes.")
        tokens = self.tokenizer([text], return_tensors="pt", padding="max_length", truncation=True,
                                max_length=self.model.config.text_config.max_position_embeddings)
        with torch.inference_mode():
            out = self.model(vision_embeds=embedding.features, input_ids=tokens["input_ids"].to(self.device),
                             attention_mask=tokens["attention_mask"].to(self.device))
        scores = out.pred_logits[0].sigmoid()
        if getattr(out, "presence_logits", None) is not None:
            scores = scores * out.presence_logits[0].sigmoid()
        order = torch.argsort(scores, descending=True)
        return [(self._to_window(out.pred_masks[0, int(i)], embedding), float(scores[i]))
                for i in order if float(scores[i]) >= TEXT_THRESHOLD]

    def _to_window(self, logits: Any, embedding: Embedding) -> np.ndarray:
        """Low-resolution mask logits (over the padded square) -> probabilities over the window's pixels."""
        torch = require("torch")
        rows, cols = embedding.shape
        side = max(rows, cols)
        full = torch.nn.functional.interpolate(logits[None, None].float(), size=(side, side), mode="bilinear",
                                               align_corners=False)[0, 0, :rows, :cols]
        return full.sigmoid().cpu().numpy()
