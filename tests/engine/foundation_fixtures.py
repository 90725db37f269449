"""Tiny models in the real layouts of the foundation encoders' releases, for the local hub (``local_hub``).

Prithvi-EO-2.0: a state dict with the release's own key names (an MAE: ``encoder.*`` and ``decoder.*``), written
out here from the release's layout, not from our module, and saved as the release does (``torch.save`` of a dict,
``Prithvi_EO_V2_*.pt``). DINOv3: transformers' own ``DINOv3ConvNextModel`` / ``DINOv3ViTModel`` saved with
``save_pretrained``, as the ``facebook/dinov3-*`` repositories hold them.
"""

from __future__ import annotations

from pathlib import Path

import torch

PRITHVI_TINY_REPO = "ibm-nasa-geospatial/Prithvi-EO-2.0-tiny-TL"
PRITHVI_TINY_FILE = "Prithvi_EO_V2_tiny_TL.pt"


def prithvi_release_state(embed: int = 32, depth: int = 4, bands: int = 6, patch: int = 16, decoder: int = 16,
                          tl: bool = True, seed: int = 0) -> dict[str, torch.Tensor]:
    """The key names and shapes of a Prithvi-EO-2.0 MAE checkpoint (encoder + pixel decoder), random values."""
    gen = torch.Generator().manual_seed(seed)
    grid = (224 // patch) ** 2

    def t(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * 0.02

    def block(prefix: str, width: int) -> dict[str, torch.Tensor]:
        return {f"{prefix}.norm1.weight": 1 + t(width), f"{prefix}.norm1.bias": t(width),
                f"{prefix}.attn.qkv.weight": t(3 * width, width), f"{prefix}.attn.qkv.bias": t(3 * width),
                f"{prefix}.attn.proj.weight": t(width, width), f"{prefix}.attn.proj.bias": t(width),
                f"{prefix}.norm2.weight": 1 + t(width), f"{prefix}.norm2.bias": t(width),
                f"{prefix}.mlp.fc1.weight": t(4 * width, width), f"{prefix}.mlp.fc1.bias": t(4 * width),
                f"{prefix}.mlp.fc2.weight": t(width, 4 * width), f"{prefix}.mlp.fc2.bias": t(width)}

    state = {"encoder.cls_token": t(1, 1, embed), "encoder.pos_embed": t(1, grid + 1, embed),
             "encoder.patch_embed.proj.weight": t(embed, bands, 1, patch, patch),
             "encoder.patch_embed.proj.bias": t(embed)}
    for i in range(depth):
        state.update(block(f"encoder.blocks.{i}", embed))
    state.update({"encoder.norm.weight": 1 + t(embed), "encoder.norm.bias": t(embed)})
    state.update({"decoder.mask_token": t(1, 1, decoder), "decoder.decoder_pos_embed": t(1, grid + 1, decoder),
                  "decoder.decoder_embed.weight": t(decoder, embed), "decoder.decoder_embed.bias": t(decoder),
                  "decoder.decoder_norm.weight": 1 + t(decoder), "decoder.decoder_norm.bias": t(decoder),
                  "decoder.decoder_pred.weight": t(patch * patch * bands, decoder),
                  "decoder.decoder_pred.bias": t(patch * patch * bands)})
    state.update(block("decoder.decoder_blocks.0", decoder))
    if tl:
        for part in ("encoder.temporal_embed_enc", "encoder.location_embed_enc", "decoder.temporal_embed_dec",
                     "decoder.location_embed_dec"):
            state[f"{part}.scale"] = torch.full((1,), 0.1)
    return state


def write_prithvi_release(folder: Path, **sizes: int) -> dict[str, torch.Tensor]:
    """``folder/Prithvi_EO_V2_tiny_TL.pt`` (torch.save of the state dict, as released); returns the state."""
    folder.mkdir(parents=True, exist_ok=True)
    state = prithvi_release_state(**sizes)
    torch.save(state, folder / PRITHVI_TINY_FILE)
    (folder / "config.json").write_text('{"architecture": "prithvi_eo_v2_tiny_tl"}', encoding="utf-8")
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# Prithvi-EO-2.0 (tiny test copy)\n",
                                      encoding="utf-8")  # the release's model card states its licence so
    return state


def write_dinov3(folder: Path, kind: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A tiny ``DINOv3ConvNextModel`` / ``DINOv3ViTModel`` (``kind``: convnext / vit) saved with save_pretrained."""
    import transformers

    torch.manual_seed(seed)
    if kind == "convnext":
        model = transformers.DINOv3ConvNextModel(transformers.DINOv3ConvNextConfig(
            hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1]))
    else:
        model = transformers.DINOv3ViTModel(transformers.DINOv3ViTConfig(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
            num_register_tokens=4))
    from engine.models.pretrained import quiet_transformers

    with quiet_transformers():  # no "Writing model shards" bar in the test log
        model.save_pretrained(folder)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
