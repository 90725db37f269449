"""Tiny Segment Anything models of the real layouts (the real classes, small sizes), saved with save_pretrained, for
the prompted-labelling tests; the benchmark builds the real sizes from the same classes' default configs."""

from __future__ import annotations

from pathlib import Path

SIDE = 256  # the tiny models' input side (the real ones take 1024, SAM 3 1008)


def tiny_config(family: str) -> object:
    """The config of a tiny model of ``family`` (sam, sam2)."""
    import transformers as t

    decoder = dict(hidden_size=32, num_hidden_layers=2, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32)
    if family == "sam":
        return t.SamConfig(
            vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=SIDE,
                               patch_size=16, output_channels=32, global_attn_indexes=[1], window_size=4, mlp_dim=64,
                               num_pos_feats=16),
            prompt_encoder_config=dict(hidden_size=32, image_size=SIDE, patch_size=16, mask_input_channels=4),
            mask_decoder_config=decoder)
    if family == "sam2":
        sizes = [[SIDE // 4, SIDE // 4], [SIDE // 8, SIDE // 8], [SIDE // 16, SIDE // 16]]
        return t.Sam2Config(
            vision_config=dict(
                backbone_config=dict(model_type="sam2_hiera_det_model", hidden_size=16, image_size=[SIDE, SIDE],
                                     blocks_per_stage=[1, 1, 2, 1],
                                     embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 2, 2],
                                     window_size_per_stage=[4, 4, 4, 4], global_attention_blocks=[3],
                                     window_positional_embedding_background_size=[4, 4]),
                backbone_channel_list=[128, 64, 32, 16], backbone_feature_sizes=sizes, fpn_hidden_size=32),
            prompt_encoder_config=dict(hidden_size=32, image_size=SIDE, patch_size=16, mask_input_channels=4),
            mask_decoder_config=dict(decoder, hidden_size=32))
    raise KeyError(family)


def save_tiny(family: str, folder: Path, seed: int = 0) -> Path:
    """A tiny ``family`` model with random weights saved at ``folder`` (config.json + model.safetensors)."""
    import torch
    import transformers as t

    torch.manual_seed(seed)
    model_class = {"sam": t.SamModel, "sam2": t.Sam2Model}[family]
    model_class(tiny_config(family)).save_pretrained(folder)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny test model\n")
    return folder
