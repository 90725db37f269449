"""Tiny Segment Anything models of the real layouts (the real classes, small sizes), saved with save_pretrained, for
the prompted-labelling tests; the benchmark builds the real sizes from the same classes' default configs."""

from __future__ import annotations

from pathlib import Path

SIDE = 256  # the tiny models' input side (the real ones take 1024, SAM 3 1008)


def tiny_config(family: str) -> object:
    """The config of a tiny model of ``family`` (sam, sam2, sam3)."""
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
    if family == "sam3":
        h, small = 32, dict(hidden_size=32, num_attention_heads=2, intermediate_size=64)
        return t.Sam3Config(
            vision_config=dict(
                backbone_config=dict(model_type="sam3_vit_model", num_hidden_layers=2, image_size=112, patch_size=14,
                                     window_size=4, global_attn_indexes=[1], pretrain_image_size=112, **small),
                fpn_hidden_size=h, backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]]),
            text_config=dict(num_hidden_layers=1, vocab_size=16, max_position_embeddings=8, projection_dim=h,
                             bos_token_id=0, eos_token_id=1, pad_token_id=1, **small),
            geometry_encoder_config=dict(num_layers=1, **small), detr_encoder_config=dict(num_layers=1, **small),
            detr_decoder_config=dict(num_layers=1, num_queries=10, **small),
            mask_decoder_config=dict(hidden_size=h, num_attention_heads=2))
    raise KeyError(family)


def _save_tokenizer(folder: Path) -> None:
    """A word-level tokenizer of a few words with CLIP's start and end tokens (SAM 3 reads text through one)."""
    import transformers as t
    from tokenizers import Tokenizer, models, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    words = {"<|startoftext|>": 0, "<|endoftext|>": 1, "building": 2, "tree": 3, "<unk>": 4}
    tokenizer = Tokenizer(models.WordLevel(words, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = TemplateProcessing(single="<|startoftext|> $A <|endoftext|>",
                                                  special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)])
    t.PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                              pad_token="<|endoftext|>", unk_token="<unk>").save_pretrained(folder)


def save_tiny(family: str, folder: Path, seed: int = 0) -> Path:
    """A tiny ``family`` model with random weights saved at ``folder`` (config.json + model.safetensors)."""
    import torch
    import transformers as t

    torch.manual_seed(seed)
    model_class = {"sam": t.SamModel, "sam2": t.Sam2Model, "sam3": t.Sam3Model}[family]
    model_class(tiny_config(family)).save_pretrained(folder)
    if family == "sam3":
        _save_tokenizer(folder)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny test model\n")
    return folder
