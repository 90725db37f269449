"""The config of an imported ONNX model (torch-free): how to feed its graph and read its output.

An imported model is not a family one trains: it has no modelling file, the registry lists it as run-only, and
onnxruntime runs its graph as it came. Its config says what the engine cannot see in the graph itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...declarations import check, config_only, redeclared
from ..configuration_utils import IMAGERY, FamilyCard, ModelConfig

# what the graph's output holds: logits get softmax / sigmoid here; scores are independent per-class scores in
# [0, 1] read as Deepness reads every output (the highest score at or above the threshold, class 0 where none is)
OUTPUTS = ("probabilities", "logits", "scores")
LAYOUTS = ("NCHW", "NHWC")
IMPORTED = "imported"


@dataclass
class ImportedConfig(ModelConfig):
    """An ONNX graph made by another tool: one image input, one class-score output."""

    name: str = redeclared(ModelConfig, "name", IMPORTED)
    preset: str = redeclared(ModelConfig, "preset", "onnx")
    aux_channels: int = redeclared(ModelConfig, "aux_channels", 0)
    aux_ratio: int = redeclared(ModelConfig, "aux_ratio", 1)
    input_name: str = config_only("input", help="The graph input the image goes to.")
    output_name: str = config_only("output", help="The graph output holding the class scores.")
    output: str = config_only("probabilities", choices=OUTPUTS,
                              help="What the output holds: probabilities, logits (softmax/sigmoid applied), or "
                                   "scores (per class, 0..1, read as Deepness reads them).")
    layout: str = config_only("NCHW", choices=LAYOUTS, help="The axis order of the graph's input and output.")
    batch: int | None = config_only(None, help="The graph's fixed batch size; None: any.")
    fixed_tile: int | None = config_only(None, help="The graph's fixed tile size; None: any (dynamic).")
    threshold: float = config_only(0.5, help="The threshold its maker suggests for a one-channel output (and, for "
                                             "scores, the score a class must reach).")
    architecture: str | None = config_only(None, help="What the model is, in its maker's words.")

    PRESETS: ClassVar[dict[str, None]] = {"onnx": None}
    description: ClassVar[str] = "A model made elsewhere, imported from its ONNX file; runs with onnxruntime."
    CARD: ClassVar[FamilyCard] = FamilyCard("imported ONNX model", "", IMAGERY, framework="onnx")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.aux_channels == 0, f"an imported model takes one image input (aux_channels {self.aux_channels}).")
        check(self.output in OUTPUTS, f"output must be one of {OUTPUTS} (got {self.output!r}).")
        check(self.layout in LAYOUTS, f"layout must be one of {LAYOUTS} (got {self.layout!r}).")
        check(0.0 < self.threshold < 1.0, f"threshold must be in (0, 1) (got {self.threshold}).")
        for name in ("batch", "fixed_tile"):
            value = getattr(self, name)
            check(value is None or int(value) >= 1, f"{name} must be >= 1 or None (got {value}).")


CONFIG = ImportedConfig
