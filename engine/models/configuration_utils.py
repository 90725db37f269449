"""The torch-free part of the model contract: ``ModelConfig``, the base of every family's configuration.

Every family has a ``configuration_<family>.py`` with a ``ModelConfig`` subclass (its presets and options) and
a ``modeling_<family>.py`` with the model. ``ModelConfig(name="cmx", preset="b0")`` and
``ModelConfig.from_dict({"name": "cmx", ...})`` return the family's own config class, so code that only knows
a family name (CLI, plugin, bundle) never needs to import it. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..declarations import CONFIG_ONLY, setting
from ..errors import ConfigError
from ..settings import Settings, check
from .registry import FAMILIES, family_module, list_models, list_presets

T = TypeVar("T", bound="ModelConfig")
DEFAULT_FAMILY = "dualstream"
AUTO, DEFAULT = "auto", "default"  # the front ends' choices that leave the family / preset to the engine
FROM_DATA = "set from the training data (its bands, aux rasters and classes)"
MODEL_DETAIL = "a fine-tuning setting of the model: command line or config file"
# drop_path: every family has it, with its own default
DROP_PATH = {"group": "model", "metavar": "RATE", "no_qgis": MODEL_DETAIL,
             "help": "Stochastic depth rate of the encoder blocks (ConvNeXt, Swin, MiT), in [0, 1).",
             "default_note": "the family's: 0.1 for dualstream and cmx, 0 for unet, pspnet and deeplabv3plus"}
# vision_encoder: the SegFormer families' (dualstream, cmx)
VISION_ENCODER = {"no_cli": CONFIG_ONLY, "no_qgis": CONFIG_ONLY,
                  "help": "Explicit SegFormer encoder sizes overriding the preset's (hidden_sizes, depths, "
                          "num_attention_heads, sr_ratios, mlp_ratios: 4 ints each); filled in from a pretrained "
                          "checkpoint so a bundle rebuilds exactly."}


@dataclass
class ModelConfig(Settings):
    """Settings every family shares. ``aux_channels=0`` builds a vision-only model.

    Families add their own fields and override ``preset``'s default. ``aux_ratio`` is the number of vision
    pixels per aux pixel of the aux tensor the data gives the model (8: a 64x64 aux grid under a 512 tile;
    1: aux at the vision resolution, e.g. extra bands of the same image).
    """

    name: str = setting(
        DEFAULT_FAMILY, flag="--model", param="MODEL_FAMILY", label="Model family", group="model",
        choices=lambda: (*list_models(), AUTO), off=AUTO, qgis_default=AUTO,
        auto="on a GPU dualstream, or cmx with X bands; on a CPU unet for imagery only, dualstream with aux rasters, "
             "cmx with X bands",
        help="dualstream: imagery + coarse aux grids; cmx: two images of one grid (RGB + NIR/DSM/SAR, or X bands of "
             "one file); unet, pspnet, deeplabv3plus: imagery only. auto: chosen from the data and the device.")
    preset: str = setting(
        "b1", label="Architecture preset", group="model", choices=lambda: (*list_presets(), DEFAULT), off=DEFAULT,
        qgis_default=DEFAULT,
        auto="a small preset on a CPU (tiny; light for unet, pspnet and deeplabv3plus), the family's own on a GPU "
             "(dualstream b1, cmx b2, the baselines base)",
        help="Model size; each family has its own presets (the list of model families gives them), tiny for tests "
             "and CPU demos. default: chosen for the device.")
    vision_channels: int = setting(4, help="Bands of the vision stream.", no_cli=FROM_DATA, no_qgis=FROM_DATA)
    aux_channels: int = setting(48, help="Channels of the aux (or X) stream; 0 = imagery only.", no_cli=FROM_DATA,
                                no_qgis=FROM_DATA)
    num_classes: int = setting(1, help="Classes; 1 = binary (sigmoid).", no_cli=FROM_DATA, no_qgis=FROM_DATA)
    aux_ratio: int = setting(8, help="Vision pixels per aux pixel of the aux tensor.",
                             no_cli="the data's aux ratio (data.aux_ratio)", no_qgis="the data's Aux ratio")
    dropout: float = setting(0.1, group="model", metavar="RATE", no_qgis=MODEL_DETAIL,
                             help="Dropout before the classifier, in [0, 1).")
    pretrained: str | None = setting(
        None, label="Pretrained encoder weights (imagenet, a hub id, or a folder)", custom_qgis=True,
        group="model", metavar="SOURCE",
        help="imagenet for the encoder's ImageNet checkpoint, a Hugging Face hub id such as nvidia/mit-b1 "
             "(downloaded once into the Hugging Face cache, then used offline too), or a local checkpoint folder "
             "(save_pretrained output). Default: random initialisation (needs more epochs).")

    PRESETS: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> ModelConfig:
        # ModelConfig(name=...) builds the family's own config class (like transformers' AutoConfig.for_model).
        if cls is ModelConfig:
            cls = family_config_class(kwargs.get("name", args[0] if args else DEFAULT_FAMILY))
        return super().__new__(cls)

    def __post_init__(self) -> None:
        check(self.preset in self.PRESETS,
               f"model preset '{self.preset}' is unknown for family '{self.name}'; use one of {list(self.PRESETS)}.")
        check(self.vision_channels >= 1, f"vision_channels must be >= 1 (got {self.vision_channels}).")
        check(self.aux_channels >= 0, f"aux_channels must be >= 0, 0 = vision only (got {self.aux_channels}).")
        check(self.num_classes >= 1, f"num_classes must be >= 1, 1 = binary (got {self.num_classes}).")
        check(self.aux_ratio >= 1, f"aux_ratio must be >= 1 (got {self.aux_ratio}).")
        check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1) (got {self.dropout}).")

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """The family's config from a dict (``name`` picks the family when called on ``ModelConfig``)."""
        if cls is ModelConfig:
            if not isinstance(data, dict):
                raise ConfigError(f"ModelConfig: expected a mapping of settings, got {type(data).__name__}.")
            target = family_config_class(data.get("name", DEFAULT_FAMILY))
            return target.from_dict(data)  # type: ignore[return-value]
        return super().from_dict.__func__(cls, data)  # type: ignore[attr-defined]

    @property
    def output_channels(self) -> int:
        """Channels of the logits: 1 for binary (sigmoid), N for N-class softmax."""
        return self.num_classes

    @property
    def uses_aux(self) -> bool:
        """Whether the model takes an aux tensor (callers pass ``aux=None`` otherwise)."""
        return self.aux_channels > 0

    def fit_data(self: T, vision_channels: int, aux_channels: int, num_classes: int, aux_ratio: int) -> T:
        """This config with the band counts, classes and aux ratio of the training data.

        Families that ignore aux unless asked (the single-stream baselines) override this to keep it at 0.
        """
        return self.replace(vision_channels=vision_channels, aux_channels=aux_channels, num_classes=num_classes,
                            aux_ratio=aux_ratio)

    def aux_input_note(self, tile_size: int) -> str | None:
        """What the model does with its aux input, when that is worth saying (the training log shows it)."""
        return None

    def preset_settings(self) -> Any:
        """The preset object of this config."""
        return self.PRESETS[self.preset]


def family_config_class(name: Any) -> type[ModelConfig]:
    """The config class of family ``name``; ConfigError listing the families for an unknown one."""
    if name not in FAMILIES:
        raise ConfigError(f"Unknown model family '{name}'; valid families are {list_models()}.")
    return family_module(str(name), "configuration").CONFIG
