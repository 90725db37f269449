"""Named encoders (``encoders.catalog``) as modules giving four maps at strides 4/8/16/32, for any band count.

SegFormer/MiT is built by ``models.pretrained``, Prithvi by ``encoders.prithvi``, the others as transformers
backbones. Pretrained weights (``encoders.weights`` reads the word) load strictly: a missing weight is an error,
checkpoint tensors outside the backbone (a pooled-output norm, a head) are named in the log; the first conv is then
adapted to the band count (kernels kept, extra bands = their mean).

``forward`` = ``pyramid(features(x))``: ``features`` is the backbone alone (what a frozen encoder's feature cache
keeps), ``pyramid`` a trainable 1x1 neck (for single-stride ViTs) and the resampling to strides 4/8/16/32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelError
from ...runtime.environment import require
from .. import pretrained as checkpoints
from .catalog import ENCODERS, EncoderSpec
from .galileo_image import GalileoImage, adapt, fetch_galileo, load_galileo_image
from .prithvi import PrithviViT, load_release, release_file
from .weights import PretrainedSource, pretrained_source

# kind -> transformers' <Name>Config and <Name>Backbone; the concrete classes, not AutoBackbone.from_pretrained,
# which asks the hub whether a local path is a repo
_CLASS_NAME = {"resnet": "ResNet", "convnext": "ConvNext", "swin": "Swin", "dinov3_convnext": "DINOv3ConvNext",
               "dinov3_vit": "DINOv3ViT"}
NECK_WIDTHS = (64, 128, 256, 512)  # a ViT's four maps narrowed to ResNet-18's widths at strides 4/8/16/32


def out_features(stage_names: list[str]) -> list[str]:
    """Four evenly spaced stages, the last included: stage1..4 of a CNN, blocks 6/12/18/24 of a 24-block ViT."""
    stages = [name for name in stage_names if name != "stem"]
    if len(stages) < 4:
        raise ModelError(f"The backbone has {len(stages)} stage(s) ({stages}); the decoders need four.")
    return [stages[len(stages) * k // 4 - 1] for k in range(1, 5)]


def _backbone_class(model_type: str, spec: EncoderSpec, source: str) -> Any:
    """The transformers backbone class of ``model_type``: the encoder's own, or any for ``transformers``."""
    transformers = require("transformers")
    if spec.kind == "transformers":
        from transformers.models.auto.modeling_auto import MODEL_FOR_BACKBONE_MAPPING_NAMES

        name = MODEL_FOR_BACKBONE_MAPPING_NAMES.get(model_type)
        if name is None:
            raise ModelError(f"Pretrained checkpoint '{source}' is a '{model_type}' model, which transformers has no "
                             f"backbone class for; pass a backbone model (e.g. facebook/dinov3-convnext-tiny-"
                             f"pretrain-lvd1689m, microsoft/resnet-50).")
        return getattr(transformers, name)
    return getattr(transformers, f"{_CLASS_NAME[spec.kind]}Backbone")


def _load_backbone(source: str, spec: EncoderSpec, name: str, log: Callable[[str], None],
                   example: str = "") -> tuple[nn.Module, str]:
    """A pretrained backbone from a folder, the HF cache or the hub; ModelError naming the source and the fix.
    ``example``: a checkpoint of the right kind, for the message."""
    transformers = require("transformers")
    folder, where, model_type = checkpoints.local_checkpoint(source, log)
    if model_type != spec.kind and spec.kind != "transformers":
        example = example or "one written by save_pretrained"
        raise ModelError(f"Pretrained checkpoint '{source}' is a '{model_type}' model but encoder '{name}' is a "
                         f"{spec.kind} one; pass a {spec.kind} checkpoint (e.g. {example}) or pick the encoder "
                         f"that matches the checkpoint.")
    cls = _backbone_class(model_type, spec, source)
    try:
        stages = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True).stage_names
        with checkpoints.quiet_transformers():
            model, info = cls.from_pretrained(str(folder), out_features=out_features(stages), local_files_only=True,
                                              output_loading_info=True)
    except checkpoints.LOAD_ERRORS as exc:
        raise checkpoints.load_failed(f"Pretrained encoder '{source}'", folder, exc) from exc
    missing = sorted(k for k in info.get("missing_keys", []) if k)
    if missing or info.get("mismatched_keys"):
        raise ModelError(f"Pretrained checkpoint '{source}' lacks {len(missing)} backbone weight(s) (e.g. "
                         f"{missing[:3]}) or has mismatched ones ({list(info.get('mismatched_keys') or [])[:3]}); it "
                         f"is not a complete {model_type} model: pass the complete checkpoint.")
    unused = sorted(info.get("unexpected_keys") or [])
    if unused:  # the pooled-output norm of a DINOv3 ConvNeXt, a classifier head: not part of the backbone
        log(f"{len(unused)} tensor(s) of '{source}' outside the backbone not used ({', '.join(unused[:4])}).")
    return model, where


def _adapt_first_conv(model: nn.Module, channels: int) -> str:
    """Replace the backbone's first conv by one for ``channels`` bands; update every ``num_channels`` record."""
    name, old = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    said = checkpoints.replace_input_conv(parent, name.rsplit(".", 1)[-1], channels, "first conv")
    for module in model.modules():  # embeddings that check the band count against their own record
        if getattr(module, "num_channels", None) == old.in_channels:
            module.num_channels = channels
    model.config.num_channels = channels
    return said


class Encoder(nn.Module):
    """``encoder(x (B, C, H, W)) -> [f1, f2, f3, f4]`` at strides 4/8/16/32; ``channels`` = their widths. ``backbone``
    is the (freezable, cacheable) pretrained part; ``neck`` (None for multi-scale backbones) narrows a ViT's maps."""

    def __init__(self, name: str, in_channels: int, pretrained: str | None = None, drop_path: float = 0.0,
                 log: Callable[[str], None] | None = None, architecture: dict[str, Any] | None = None):
        super().__init__()
        log = log or (lambda message: None)
        if name not in ENCODERS:
            raise KeyError(f"Unknown encoder '{name}'; valid encoders are {list(ENCODERS)}.")
        spec = ENCODERS[name]
        self.name, self.kind = name, spec.kind
        self.source: str | None = None
        self.neck: nn.ModuleList | None = None
        self.architecture = architecture  # what a checkpoint fixed (None: the catalog's sizes)
        if spec.kind == "mit":
            self.backbone, sizes, self.source = checkpoints.make_mit(dict(spec.sizes), in_channels, drop_path,
                                                                     pretrained, log, preset=name)
            self.channels = list(sizes["hidden_sizes"])  # at strides 4, 8, 16, 32
            return
        source = pretrained_source(pretrained, name)
        if spec.kind == "transformers" and not source.loads and not architecture:
            raise ModelError("Encoder 'transformers' takes its architecture and weights from pretrained: give a "
                             "transformers backbone's folder or hub id (e.g. facebook/dinov3-convnext-tiny-pretrain-"
                             "lvd1689m).")
        if source.loads:
            self.backbone, self.source, adapted = self._pretrained(spec, source, in_channels, drop_path, log)
            log(f"Loaded pretrained vision encoder weights ({name}) from {self.source}; {adapted}.")
            if spec.foundation:
                self.architecture = _architecture(self.backbone)
        else:
            self.backbone = _build(spec, architecture or spec.sizes, in_channels, drop_path)
            if not architecture:
                log(source.random_line())
        self.channels = [int(c) for c in self.backbone.channels]
        if len(set(self._strides(in_channels))) == 1:  # one stride (a ViT): narrow its maps to a CNN's widths,
            widths = [min(c, w) for c, w in zip(self.channels, NECK_WIDTHS)]  # so the decoder costs as on a ResNet
            self.neck = nn.ModuleList(nn.Conv2d(c, w, 1) for c, w in zip(self.channels, widths))
            self.channels = widths

    @staticmethod
    def _pretrained(spec: EncoderSpec, source: PretrainedSource, channels: int, drop_path: float,
                    log: Callable[[str], None]) -> tuple[nn.Module, str, str]:
        own, weights = OWN_BACKBONES.get(spec.kind), source.weights
        if own is None:  # a transformers backbone
            backbone, where = _load_backbone(source.location(), spec, source.encoder, log,
                                             weights.hub_id if weights else "")
            return backbone, where, _adapt_first_conv(backbone, channels)
        path = (own.fetch(source, log) if own.fetch is not None else
                release_file(source.location(), weights.file if weights else "", log))
        backbone, _ = own.load(path, spec, drop_path, log)
        return backbone, str(path), own.adapt(backbone, channels)

    @torch.no_grad()
    def _strides(self, channels: int) -> list[int]:
        """The backbone's output strides, measured on a small input (any architecture a folder may hold)."""
        was = self.backbone.training
        self.backbone.eval()
        maps = self.features(torch.zeros(1, channels, 64, 64))
        self.backbone.train(was)
        return [max(1, round(64 / m.shape[-1])) for m in maps]

    def features(self, x: torch.Tensor, coords: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The backbone's maps as it gives them (what a frozen encoder's cache keeps); ``coords`` (B, 4) for an
        encoder that takes each tile's date and place (see ``SegmentationModel.forward``)."""
        if self.kind == "mit":
            return checkpoints.mit_features(self.backbone, x)
        if self.kind in OWN_BACKBONES:
            return self.backbone(x, coords)
        return list(self.backbone(x).feature_maps)

    def pyramid(self, maps: list[torch.Tensor], size: tuple[int, int]) -> list[torch.Tensor]:
        """The neck, then each map resampled to stride 4, 8, 16, 32 of an input of ``size`` where it is not."""
        out = []
        for level, fmap in enumerate(maps):
            if self.neck is not None:
                fmap = self.neck[level](fmap)
            target = (size[0] // (4 << level), size[1] // (4 << level))
            if tuple(fmap.shape[-2:]) != target:
                fmap = F.interpolate(fmap, size=target, mode="bilinear", align_corners=False)
            out.append(fmap)
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.pyramid(self.features(x), (int(x.shape[-2]), int(x.shape[-1])))


def config_encoder(config: Any, channels: int, log: Callable[[str], None]) -> tuple[Encoder, Any]:
    """(a family config's named encoder for ``channels`` bands, the config with ``encoder_config`` set to what a
    checkpoint fixed, so a bundle rebuilds it without the checkpoint), as ``pretrained.config_mit`` for MiT."""
    encoder = Encoder(config.encoder_name, channels, config.pretrained, config.drop_path, log,
                      architecture=config.encoder_config)
    if encoder.architecture != config.encoder_config:
        config = config.replace(encoder_config=encoder.architecture)
    return encoder, config


def _architecture(backbone: nn.Module) -> dict[str, Any]:
    """What rebuilds ``backbone`` without its checkpoint: Prithvi's sizes or the transformers config."""
    if isinstance(backbone, tuple(own.build for own in OWN_BACKBONES.values())):
        return dict(backbone.sizes)
    config = backbone.config.to_dict()
    return {k: v for k, v in config.items() if k not in ("transformers_version", "architectures", "_name_or_path",
                                                          "id2label", "label2id", "torch_dtype", "dtype")}


def _build(spec: EncoderSpec, sizes: dict[str, Any], channels: int, drop_path: float) -> nn.Module:
    """A randomly initialised backbone of the catalog's ``sizes`` or of a recorded architecture (a transformers
    config names its ``model_type``; a bundle's weights then load into it)."""
    own = OWN_BACKBONES.get(spec.kind)
    if own:
        return own.build(channels, drop_path=drop_path, **sizes)
    transformers = require("transformers")
    if "model_type" in sizes:
        settings = {k: v for k, v in sizes.items() if k != "model_type"}
        config = transformers.AutoConfig.for_model(sizes["model_type"], **{**settings, "num_channels": channels})
        return _backbone_class(config.model_type, spec, "the bundle")(config)
    extra = {"drop_path_rate": drop_path} if spec.kind != "resnet" else {}  # ResNet has no stochastic depth
    config = getattr(transformers, f"{_CLASS_NAME[spec.kind]}Config")(num_channels=channels, **sizes, **extra)
    config.out_features = out_features(config.stage_names)
    return transformers.AutoBackbone.from_config(config)


@dataclass(frozen=True)
class OwnBackbone:
    """A kind of encoder built by a module of our own (not transformers), its weights read from a release file."""

    build: Any  # the module class: (channels, drop_path=..., **sizes)
    load: Callable[[Path, EncoderSpec, float, Callable[[str], None]], tuple[nn.Module, dict[str, Any]]]
    adapt: Callable[[Any, int], str]  # the input embedding for a band count
    fetch: Callable[[PretrainedSource, Callable[[str], None]], Path] | None = None  # its files (default: Prithvi's)


#: The kinds built here (every other kind but ``mit`` is a transformers backbone)
OWN_BACKBONES: dict[str, OwnBackbone] = {
    "prithvi": OwnBackbone(PrithviViT, load_release, lambda backbone, channels: (
        checkpoints.replace_input_conv(backbone.patch_embed, "proj", channels, "patch embedding", "bands"))),
    "galileo": OwnBackbone(GalileoImage, load_galileo_image, adapt, fetch_galileo),
}
