"""SegFormer/MiT encoders: built from sizes (random init) or loaded from a local checkpoint, any band count.

Loading and the band adaptation of the first patch-embedding conv live in ``engine.models.pretrained``; this
module decides which to do, says so in the log, and runs the encoder stage by stage when a family fuses
between stages (CMX).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ..blocks import in_layout_of
from ..pretrained import adapt_input_channels, build_segformer, encoder_sizes, load_segformer
from .weights import pretrained_source


def make_mit(sizes: dict[str, list[int]], channels: int, drop_path: float, pretrained: str | None,
             log: Callable[[str], None], what: str = "vision",
             preset: str = "") -> tuple[nn.Module, dict[str, list[int]], str | None]:
    """A SegformerModel for ``channels`` bands. Returns (model, its sizes, pretrained source or None).

    With ``pretrained`` the checkpoint's own sizes win over ``sizes`` (said in the log); without it the encoder
    is randomly initialised, also said in the log.
    """
    source = pretrained_source(pretrained, preset)
    if not source.loads:
        log(source.random_line(what))
        return build_segformer(sizes, channels, drop_path), sizes, None
    model, where = load_segformer(source.location(), drop_path, log)
    loaded = encoder_sizes(model.config)
    if loaded != sizes:
        log(f"The checkpoint's encoder sizes {loaded} override preset '{preset}' ({sizes}); the rest of the "
            f"model follows them.")
    adapted = adapt_input_channels(model, channels)
    log(f"Loaded pretrained {what} weights from {where}; {adapted}.")
    return model, loaded, where


def config_mit(config: Any, log: Callable[[str], None]) -> tuple[nn.Module, Any, str | None]:
    """The vision MiT of a family config with MiT presets and a ``vision_encoder`` sizes override.

    Returns (encoder, the config with ``vision_encoder`` set when a checkpoint fixed other sizes than the
    preset's, pretrained source or None), so that a bundle rebuilds exactly what was trained.
    """
    preset = config.preset_settings()
    sizes = preset.encoder_sizes()
    sizes.update(config.vision_encoder or {})
    model, sizes, source = make_mit(sizes, config.vision_channels, config.drop_path, config.pretrained, log,
                                    preset=config.preset)
    if sizes != preset.encoder_sizes():
        config = config.replace(vision_encoder=sizes)
    return model, config, source


def mit_features(model: nn.Module, pixels: torch.Tensor) -> list[torch.Tensor]:
    """The four maps (B, C_i, H/s, W/s), s = 4, 8, 16, 32, in the pixels' memory format (:func:`in_layout_of`)."""
    return [in_layout_of(m, pixels) for m in model(pixel_values=pixels, output_hidden_states=True).hidden_states]


def mit_stage(model: nn.Module, index: int, x: torch.Tensor) -> torch.Tensor:
    """Run stage ``index`` alone: (B, C_in, h, w) -> (B, C_index, h/s, w/s). transformers 5.x and 4.x layouts."""
    if hasattr(model, "stages"):  # transformers >= 5
        return model.stages[index](x)
    encoder = model.encoder  # transformers 4.x: parallel lists of patch embeddings, blocks and norms
    tokens, height, width = encoder.patch_embeddings[index](x)
    for block in encoder.block[index]:
        tokens = block(tokens, height, width)[0]
    tokens = encoder.layer_norm[index](tokens)
    return tokens.reshape(x.shape[0], height, width, -1).permute(0, 3, 1, 2).contiguous()
