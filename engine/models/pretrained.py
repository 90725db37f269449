"""SegFormer (MiT) vision encoders, built from sizes or loaded from a checkpoint and adapted to Cv bands (CMX runs
their ``stages`` one by one); with the checkpoint helpers the named encoders share.

A pretrained source (read in ``encoders.weights``: ``imagenet`` stands for the preset's ``nvidia/mit-bN``) is a
``save_pretrained`` folder of a ``SegformerModel`` or ``SegformerForSemanticSegmentation`` (``config.json`` +
``model.safetensors`` / ``pytorch_model.bin``), a Hugging Face cache folder (its newest snapshot is used) or a hub
id, fetched once into the Hugging Face cache and read from there afterwards, offline too (``engine.models.hub``).
The checkpoint's own config fixes the architecture (its sizes override the preset's); then the first
patch-embedding conv is rebuilt for the model's vision channel count.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from torch import nn

from ..errors import ModelError
from ..runtime.environment import require
from .blocks import in_layout_of
from .encoders.catalog import MIT_SIZE_KEYS as SIZE_KEYS
from .encoders.weights import is_hub_id, pretrained_source
from .hub import fetch

# what transformers' from_pretrained raises for a damaged checkpoint: a truncated or garbled safetensors file
# (SafetensorError), a truncated pickled one (EOFError, UnpicklingError, RuntimeError), a bad config or index
LOAD_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, RuntimeError, KeyError,
                                                AttributeError, pickle.UnpicklingError, SafetensorError)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def build_segformer(sizes: dict[str, list[int]], num_channels: int, drop_path: float) -> nn.Module:
    """A randomly initialised ``SegformerModel``: a 4-stage encoder at strides 4/8/16/32 with the given sizes."""
    transformers = require("transformers")
    return transformers.SegformerModel(transformers.SegformerConfig(
        num_channels=num_channels, num_encoder_blocks=4, hidden_sizes=list(sizes["hidden_sizes"]),
        depths=list(sizes["depths"]), num_attention_heads=list(sizes["num_attention_heads"]),
        sr_ratios=list(sizes.get("sr_ratios", [8, 4, 2, 1])), mlp_ratios=list(sizes.get("mlp_ratios", [4, 4, 4, 4])),
        patch_sizes=[7, 3, 3, 3], strides=[4, 2, 2, 2], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        drop_path_rate=drop_path))


def encoder_sizes(config: Any) -> dict[str, list[int]]:
    """The size fields of a SegformerConfig, as stored in ``ModelConfig.vision_encoder``."""
    return {key: [int(v) for v in getattr(config, key)] for key in SIZE_KEYS}


def first_patch_conv(model: nn.Module) -> tuple[nn.Module, nn.Conv2d]:
    """(parent module, conv) of the first patch embedding (transformers 5: ``stages[0].patch_embeddings.proj``)."""
    parent = model.stages[0].patch_embeddings
    return parent, parent.proj


def adapt_kernel(weight: torch.Tensor, channels: int) -> tuple[torch.Tensor, str]:
    """(a conv kernel (out, C0, kh, kw), or a 3D one, for ``channels`` inputs, how): the first min(C0, channels)
    trained kernels copied, extra channels the mean of them; for fewer channels the kept kernels scaled by
    C0/channels so the response to a grey input keeps its size."""
    old_channels = int(weight.shape[1])
    weight = weight.detach()
    if channels > old_channels:
        extra = weight.mean(dim=1, keepdim=True).expand(-1, channels - old_channels, *weight.shape[2:])
        return (torch.cat([weight, extra], dim=1).contiguous(),
                f"channels 1-{old_channels} copied, {channels - old_channels} extra = mean of them")
    return ((weight[:, :channels] * (old_channels / channels)).contiguous(),
            f"first {channels} kernel(s) kept, scaled by {old_channels}/{channels}")


def replace_input_conv(parent: nn.Module, attr: str, channels: int, what: str, unit: str = "channels") -> str:
    """``parent.<attr>``, a model's input conv (2D, or Prithvi's 3D patch embedding; pretrained: 3 inputs, RGB) named
    ``what`` in the sentence returned, rebuilt for ``channels`` inputs where it takes another count: its kernels
    adapted by :func:`adapt_kernel`, its bias copied."""
    old = getattr(parent, attr)
    if old.in_channels == channels:
        return f"{what} kept ({channels} input {unit})"
    new = type(old)(channels, old.out_channels, kernel_size=old.kernel_size, stride=old.stride,
                    padding=old.padding, dilation=old.dilation, bias=old.bias is not None)
    with torch.no_grad():
        weight, how = adapt_kernel(old.weight, channels)
        new.weight.copy_(weight)
        if old.bias is not None:
            new.bias.copy_(old.bias.detach())
    setattr(parent, attr, new.to(device=old.weight.device, dtype=old.weight.dtype))
    return f"{what} adapted from {old.in_channels} to {channels} input {unit} ({how})"


def load_segformer(source: str, drop_path: float, log: Callable[[str], None]) -> tuple[nn.Module, str]:
    """(pretrained ``SegformerModel`` with its own config, resolved source) from a folder or a hub id; ModelError
    naming the source and the fix for a non-SegFormer checkpoint, a missing folder or a hub id not fetched."""
    transformers = require("transformers")
    folder, where, model_type = local_checkpoint(source, log)
    if model_type != "segformer":
        raise ModelError(
            f"Pretrained checkpoint '{source}' is a '{model_type}' model, not a SegFormer/MiT one. The vision "
            f"encoder needs a SegFormer checkpoint such as nvidia/segformer-b1-finetuned-ade-512-512 or "
            f"nvidia/mit-b1 saved with save_pretrained; or leave 'pretrained' empty for random init."
        )
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ModelError(f"Pretrained folder '{source}' has a config.json but no weights "
                         f"({', '.join(WEIGHT_FILES[::2])}); copy the complete checkpoint folder.")
    try:
        with quiet_transformers():
            model, info = transformers.SegformerModel.from_pretrained(
                str(folder), drop_path_rate=drop_path, output_loading_info=True, local_files_only=True)
    except LOAD_ERRORS as exc:
        raise load_failed(f"Pretrained SegFormer '{source}'", folder, exc) from exc
    missing = [k for k in info.get("missing_keys", []) if k]
    if missing:
        raise ModelError(
            f"Pretrained checkpoint '{source}' lacks {len(missing)} encoder weight(s) (e.g. {missing[:3]}): it is "
            f"not a complete SegFormer encoder. Use a SegformerModel or SegformerForSemanticSegmentation checkpoint."
        )
    log(f"Read SegFormer checkpoint from {where}.")
    return model, where


def load_failed(what: str, folder: Path, exc: BaseException) -> ModelError:
    """A checkpoint folder transformers could not read, said with the file at fault (a weights file cut short by
    an interrupted download or copy is the usual cause) and what to do."""
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    weights = sorted(p.name for p in folder.glob("*.safetensors")) + sorted(p.name for p in folder.glob("*.bin"))
    files = f" ({', '.join(weights[:3])} in {folder})" if weights else f" (in {folder})"
    return ModelError(f"{what} could not be loaded: its checkpoint{files} is damaged or incomplete ({first}). A "
                      f"download or copy cut short leaves such a file: copy the complete checkpoint folder again "
                      f"(for a hub id, delete its folder in the Hugging Face cache and run again), or pass another "
                      f"checkpoint.")


def local_checkpoint(source: str, log: Callable[[str], None]) -> tuple[Path, str, Any]:
    """(folder holding config.json, how to name it, the ``model_type`` its config.json names) for a local folder, an
    HF cache folder or a hub id; ModelError naming ``source`` when config.json is unreadable."""
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"Pretrained '{source}' is a file; pass the checkpoint's folder (with config.json and "
                             f"model.safetensors), not a single file.")
        # the folder itself, or the newest snapshot of an HF cache repo folder
        found = [path] if (path / "config.json").is_file() else [
            p.parent for p in path.glob("snapshots/*/config.json") if p.is_file()]
        if not found:
            raise ModelError(
                f"Pretrained folder '{path}' is not a SegFormer checkpoint: it has no config.json. Pass a folder "
                f"written by `SegformerModel.save_pretrained` / `SegformerForSemanticSegmentation.save_pretrained` "
                f"(config.json + model.safetensors), an HF cache folder, or leave 'pretrained' empty for random "
                f"init.")
        folder = max(found, key=lambda p: p.stat().st_mtime)
        where = str(folder)
    elif is_hub_id(source):
        folder = fetch(source, log)
        where = f"hub id {source} (cached in {folder})"
    else:
        raise ModelError(f"Pretrained folder '{source}' does not exist. Pass an existing save_pretrained folder, "
                         f"a hub id like 'nvidia/mit-b1', 'imagenet', or nothing for random init.")
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"Pretrained checkpoint '{source}': config.json cannot be read ({exc}); "
                         f"re-save the checkpoint with save_pretrained.") from exc
    return folder, where, config.get("model_type") if isinstance(config, dict) else None


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' own loading chatter (unused decode-head weights etc.) and its "Loading weights"
    progress bar; we report what matters. The bar writes to stderr from whatever thread loads: inside QGIS a
    background task's write reaches QGIS's own stderr hook, which fails there (a RecursionError in the desktop)."""
    from transformers.utils import logging as hf_logging

    chatter, bar = logging.getLogger("transformers"), hf_logging.is_progress_bar_enabled()
    level = chatter.level
    chatter.setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        chatter.setLevel(level)
        if bar:
            hf_logging.enable_progress_bar()


def make_mit(sizes: dict[str, list[int]], channels: int, drop_path: float, pretrained: str | None,
             log: Callable[[str], None], what: str = "vision",
             preset: str = "") -> tuple[nn.Module, dict[str, list[int]], str | None]:
    """(SegformerModel for ``channels`` bands, its sizes, pretrained source or None); a checkpoint's own sizes win
    over ``sizes``, said in the log, as random initialisation is."""
    source = pretrained_source(pretrained, preset)
    if not source.loads:
        log(source.random_line(what))
        return build_segformer(sizes, channels, drop_path), sizes, None
    model, where = load_segformer(source.location(), drop_path, log)
    loaded = encoder_sizes(model.config)
    if loaded != sizes:
        log(f"The checkpoint's encoder sizes {loaded} override preset '{preset}' ({sizes}); the rest of the "
            f"model follows them.")
    adapted = replace_input_conv(first_patch_conv(model)[0], "proj", channels, "first patch-embedding conv")
    model.config.num_channels = channels
    log(f"Loaded pretrained {what} weights from {where}; {adapted}.")
    return model, loaded, where


def config_mit(config: Any, log: Callable[[str], None]) -> tuple[nn.Module, Any, str | None]:
    """(vision MiT of a family config with MiT presets, the config with ``vision_encoder`` set where a checkpoint
    fixed other sizes than the preset's so a bundle rebuilds exactly, pretrained source or None)."""
    preset = config.preset_settings()
    sizes = {**preset.encoder_sizes(), **(config.vision_encoder or {})}
    model, sizes, source = make_mit(sizes, config.vision_channels, config.drop_path, config.pretrained, log,
                                    preset=config.preset)
    if sizes != preset.encoder_sizes():
        config = config.replace(vision_encoder=sizes)
    return model, config, source


def mit_features(model: nn.Module, pixels: torch.Tensor) -> list[torch.Tensor]:
    """The four maps (B, C_i, H/s, W/s), s = 4, 8, 16, 32, in the pixels' memory format (:func:`in_layout_of`)."""
    return [in_layout_of(m, pixels) for m in model(pixel_values=pixels, output_hidden_states=True).hidden_states]

