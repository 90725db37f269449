"""A Segment Anything model (SAM, SAM 2.1, EdgeTAM, SAM 3, SlimSAM) loaded strictly, its image embedding made
once per window, and prompts answered from it.

The picture is prepared without torchvision or an image processor: padded to a square at its bottom and right (as
SAM's own processor does), resized to the model's input side and normalised, so one number, ``scale`` (model pixels
per window pixel), carries points and boxes into the model and its masks back, whatever the window's shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..callbacks import Callback
from ..errors import ModelError
from ..runtime.environment import require
from .catalog import CHECKPOINT_TYPES, PromptModelType, check_needs, known_model_type, model_source, model_type_of

PATTERNS = ["config.json", "*.safetensors", "model.safetensors.index.json", "preprocessor_config.json",
            "processor_config.json", "tokenizer*", "vocab.json", "merges.txt", "special_tokens_map.json"]
TEXT_THRESHOLD = 0.5  # SAM 3: an object is kept when its score (object x presence) reaches this


@dataclass
class Embedding:
    """An image embedding and the geometry that maps window pixels to model pixels."""

    features: Any  # a tensor (SAM), a list of tensors (SAM 2), the vision output (SAM 3)
    scale: float  # model pixels per window pixel
    shape: tuple[int, int]  # the window's (rows, cols)


def _type_vet(source: str) -> Callable[[Any], None]:
    """A check of the hub's record of ``source`` (it names the ``model_type``) before any file is downloaded."""
    def vet(info: Any) -> None:
        model_type = (getattr(info, "config", None) or {}).get("model_type", "")
        if model_type in CHECKPOINT_TYPES:
            check_needs(model_type_of(model_type, source))
    return vet


def _key(entry: Any) -> str:
    """One key of transformers' loading report: a name, or (name, shape in the file, shape the config makes)."""
    if isinstance(entry, (tuple, list)) and len(entry) == 3:
        name, found, wanted = entry
        return f"{name}: {list(found)} in the file, {list(wanted)} by the config"
    return str(entry)


def _model_type(config_file: Path, source: str) -> str:
    """The ``model_type`` a checkpoint's config.json names; ModelError naming the file when it cannot be read."""
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
        known = known_model_type(source)
        if known is not None:  # a package the encoder needs is asked for before anything is downloaded
            check_needs(known)
        folder = Path(fetch(source, log, patterns=None if Path(source).expanduser().is_dir() else PATTERNS,
                            callback=callback, vet=_type_vet(source)))
        config_file = folder / "config.json"
        if not config_file.is_file():
            raise ModelError(f"'{source}' has no config.json; give a Segment Anything checkpoint in the transformers "
                             f"format (saved with save_pretrained).")
        model_type = model_type_of(_model_type(config_file, source), source)
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
            if self.model_type.name == "sam3":
                features = self.model.get_vision_features(pixel_values=pixels)
            else:
                features = self.model.get_image_embeddings(pixels)
        return Embedding(features, scale, (int(rgb.shape[0]), int(rgb.shape[1])))

    def decode(self, embedding: Embedding, points: np.ndarray | None, labels: np.ndarray | None,
               box: np.ndarray | None) -> tuple[np.ndarray, float]:
        """One mask for points (N, 2; window pixels, x then y) with labels (1 object, 0 not) and/or a box (window
        pixels): (probabilities over the window, the model's IoU estimate). A single point is ambiguous (a roof,
        the house, the block): three masks are asked for and the best scored kept, as SAM's authors advise."""
        torch = require("torch")
        if not self.model_type.clicks:
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
