"""Tiny Segment Anything models of the real layouts (the real classes, small sizes), saved with save_pretrained, for
the prompted-labelling tests; the benchmark builds the real sizes from the same classes' default configs."""

from __future__ import annotations

from pathlib import Path

SIDE = 256  # the tiny models' input side (the real ones take 1024, SAM 3 1008)
X0, Y0, PIXEL = 500000.0, 4100000.0, 0.5  # the test scene's top-left corner and pixel size, EPSG:32633


def write_scene(path: Path) -> Path:
    """A 300 x 200 pixel, 3-band 16-bit image in UTM 33N with band names, a bright square on a dark field."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    data = rng.integers(200, 400, (3, 200, 300)).astype(np.uint16)
    data[:, 60:120, 100:180] += 3000
    with rasterio.open(path, "w", driver="GTiff", width=300, height=200, count=3, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(X0, Y0, PIXEL, PIXEL)) as dst:
        dst.write(data)
        dst.descriptions = ("red", "green", "blue")
    return path


def scene_point(col: float, row: float) -> tuple[float, float]:
    """The map position (EPSG:32633) of a pixel position of :func:`write_scene`'s image."""
    return X0 + col * PIXEL, Y0 - row * PIXEL


def tiny_config(family: str) -> object:
    """The config of a tiny model of ``family`` (sam, sam2, edgetam, sam3)."""
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
    if family == "edgetam":  # the hub's EdgeTAM is a video checkpoint; the image model reads it
        return t.EdgeTamVideoConfig(
            vision_config=dict(
                model_type="edgetam_vision_model",  # (a dict without it is read as SAM 2's vision config)
                backbone_config=t.TimmWrapperConfig(architecture="repvit_m1", model_args=dict(
                    in_chans=3, features_only=True, out_indices=[0, 1, 2, 3], embed_dim=[8, 16, 32, 64],
                    depth=[1, 1, 1, 1])),  # RepViT m1 of 4 blocks, 8-64 channels (the real: 18 blocks, 48-384)
                backbone_channel_list=[64, 32, 16, 8],
                backbone_feature_sizes=[[SIDE // 4, SIDE // 4], [SIDE // 8, SIDE // 8], [SIDE // 16, SIDE // 16]],
                fpn_hidden_size=32),
            prompt_encoder_config=dict(hidden_size=32, image_size=SIDE, patch_size=16, mask_input_channels=4),
            mask_decoder_config=decoder, image_size=SIDE, memory_attention_hidden_size=32,
            memory_attention_mlp_hidden_size=64, memory_attention_num_layers=1, memory_encoder_hidden_size=32,
            memory_encoder_output_channels=16, mask_downsampler_embed_dim=32, memory_fuser_intermediate_dim=64,
            perceiver_resampler_num_latents=16, perceiver_resampler_hidden_size=16,
            perceiver_resampler_mlp_intermediate_size=32, perceiver_resampler_attention_head_dim=16,
            perceiver_resampler_num_layers=1)
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


CLIP_WORDS = ("building", "tree", "road")


def clip_bpe_tokenizer() -> object:
    """A tiny CLIP tokenizer (byte-level BPE, ``</w>`` ending a word, lower-cased, CLIP's start and end tokens, padded
    with the end token): the class and layout of SAM 3's own (``CLIPTokenizer``), with the letters and the merges
    that spell :data:`CLIP_WORDS` (a word or its plural: ``buildings`` -> ``building`` + ``s</w>``)."""
    import transformers as t

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(letter, len(vocab))
        vocab.setdefault(letter + "</w>", len(vocab))
    merges: list[tuple[str, str]] = []
    for word in CLIP_WORDS:
        for pieces in (list(word[:-1]) + [word[-1] + "</w>"], list(word)):  # the word alone, and inside a longer one
            joined = pieces[0]
            for piece in pieces[1:]:
                if (joined, piece) not in merges:
                    merges.append((joined, piece))
                joined += piece
                vocab.setdefault(joined, len(vocab))
    return t.CLIPTokenizer(vocab=vocab, merges=merges)


def save_tiny_sam3_clip(folder: Path, seed: int = 0) -> Path:
    """A tiny ``Sam3Model`` whose text encoder reads :func:`clip_bpe_tokenizer` (vocabulary and text length as its
    tokenizer gives, 32 tokens as SAM 3's processor pads to), saved as the hub's SAM 3 repository holds it: weights,
    ``tokenizer.json`` + ``tokenizer_config.json`` (``CLIPTokenizer``), and CLIP's ``vocab.json`` / ``merges.txt``."""
    import json

    import torch
    import transformers as t

    torch.manual_seed(seed)
    tokenizer = clip_bpe_tokenizer()
    config = tiny_config("sam3")
    config.text_config.vocab_size = len(tokenizer)
    config.text_config.max_position_embeddings = 32
    from tests.helpers import save_quietly

    save_quietly(t.Sam3Model(config), folder)
    tokenizer.save_pretrained(folder)
    vocab = tokenizer.get_vocab()
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(
        f"{' '.join(m) if isinstance(m, list) else m}\n" for m in model["merges"]), encoding="utf-8")
    (folder / "README.md").write_text("---\nlicense: other\nlicense_name: sam-license\n---\n# tiny SAM 3\n")
    return folder


def save_tiny(family: str, folder: Path, seed: int = 0) -> Path:
    """A tiny ``family`` model with random weights saved at ``folder`` (config.json + model.safetensors); EdgeTAM
    (which needs timm) as the hub holds it, a video model (``edgetam_video``) that the image model reads."""
    import torch
    import transformers as t

    torch.manual_seed(seed)
    model_class = {"sam": t.SamModel, "sam2": t.Sam2Model, "sam3": t.Sam3Model, "edgetam": t.EdgeTamVideoModel}[family]
    from tests.helpers import save_quietly

    save_quietly(model_class(tiny_config(family)), folder)
    if family == "sam3":
        _save_tokenizer(folder)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny test model\n")
    return folder


def damaged_folders(good: Path, root: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Copies of the SAM folder ``good`` damaged three ways, each with the words its error must hold: a config.json
    cut short, weights cut short, weights of other sizes than the config.json makes (issue 61, item 10)."""
    import json
    import shutil

    made = {}
    for name in ("cut_config", "cut_weights", "other_sizes"):
        shutil.copytree(good, root / name)
        made[name] = root / name
    (made["cut_config"] / "config.json").write_text('{"model_type": "sam2", "vision_config": {')
    weights = made["cut_weights"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    config = json.loads((made["other_sizes"] / "config.json").read_text())
    config["mask_decoder_config"]["hidden_size"] = config["prompt_encoder_config"]["hidden_size"] = 48
    (made["other_sizes"] / "config.json").write_text(json.dumps(config))
    return {"cut_config": (made["cut_config"], ("config.json", "cannot be read", "download the model again")),
            "cut_weights": (made["cut_weights"], ("damaged or incomplete", "download it again")),
            "other_sizes": (made["other_sizes"], ("does not match sam2model", "in the file", "by the config"))}
