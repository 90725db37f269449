"""The bundle metadata schema: what a model bundle (and an exported ONNX model) says about its model, typed.

:meth:`BundleMetadata.from_dict` reads every version this engine knows (v1: before model families, the ``model``
section the flat DualStream settings, the ``data`` section lacking later keys); :meth:`to_dict` writes the current
one. Readers use attributes; the JSON key names live here only. Torch-free.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..config import TrainConfig
from ..data.metadata import DataMetadata, known_fields
from ..errors import BundleError, ConfigError, DataError
from ..models.configuration_utils import AutoModelConfig, ModelConfig

BUNDLE_FORMAT = "dualstream-bundle"
# 2: model families (metadata "model" = the family config, "name" = the family); 3: the metadata's own digest
BUNDLE_VERSION = 3
DIGESTED_SINCE = 3  # the first version whose metadata carries metadata_sha256 (required from it on)
METADATA_KEY = "dualstream"  # the key of the JSON in a bundle's header and an ONNX model's metadata_props
REQUIRED_KEYS = ("format", "format_version", "model", "data", "weights_sha256")
REQUIRED_DATA_KEYS = ("vision_bands", "vision_stats", "aux_channels", "class_names", "class_colors", "tile_size")


def description_digest(meta: dict[str, Any]) -> str:
    """SHA-256 of a bundle's metadata as JSON (keys sorted), its own ``metadata_sha256`` left out: what a bundle
    says about its model (classes, colours, bands, statistics) is covered like its weights are."""
    body = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def described_shapes(meta: BundleMetadata) -> list[str]:
    """Where the data section disagrees with the model section or with itself (class names and colours for
    the class count, band and aux counts), each said with both figures; empty when they agree."""
    data, model = meta.data, meta.model
    names = 2 if model.num_classes == 1 else model.num_classes  # binary: background and foreground
    checks = ((data.num_classes, model.num_classes, "its data section says {} output class(es), its model {}"),
              (len(data.class_names), names, "it lists {} class name(s) for a model of {} class(es)"),
              (len(data.class_colors), len(data.class_names), "it lists {} class colour(s) for {} class name(s)"),
              (data.vision_bands, model.vision_channels, "it says {} vision band(s), its model takes {}"),
              (data.aux_channels, model.aux_channels, "it says {} aux channel(s), its model takes {}"))
    return [text.format(given, wanted) for given, wanted, text in checks if given != wanted]


@dataclass
class OnnxMetadata:
    """The "onnx" section of an exported model: its graph's inputs and fixed sizes, and its source bundle."""

    inputs: list[str]
    tile_size: int
    batch: int | None = None  # None: any batch size
    opset: int | None = None
    output: str = "probabilities"
    clip_vision: bool = False
    clip_aux: bool = False  # a one-input graph clips the second stream's percentile scaling too
    activation: str = "sigmoid"
    source_weights_sha256: str | None = None
    source_bundle_sha256: str | None = None  # the bundle file's digest (the export cache's key)
    quantized: str | None = None  # "int8" for a quantized export
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OnnxMetadata:
        known, extra = known_fields(cls, data)
        known.pop("extra", None)
        return cls(**known, extra=dict(extra))

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**out, **self.extra}


@dataclass
class BundleMetadata:
    """Everything a bundle says about its model: the family config, the data section, the training settings,
    the best epoch's metrics, versions and the weights' digest (and for an exported ONNX model, ``onnx``)."""

    model: ModelConfig
    data: DataMetadata
    train: dict[str, Any] | None = None  # the TrainConfig it was trained with, as saved (None: not recorded)
    metrics: dict[str, Any] = field(default_factory=dict)  # the best epoch's validation metrics and "epoch"
    format: str = BUNDLE_FORMAT
    format_version: int = BUNDLE_VERSION
    versions: dict[str, str] = field(default_factory=dict)  # package -> version of the writing engine
    created: str | None = None  # ISO time, UTC
    weights_sha256: str = ""
    metadata_sha256: str = ""  # description_digest of the rest (v3 on); "" in older bundles
    onnx: OnnxMetadata | None = None
    parent: dict[str, Any] | None = None  # the bundle it was fine-tuned from: name, sha256, family, preset, ...
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best_epoch(self) -> int | None:
        return self.metrics.get("epoch")

    def train_config(self) -> TrainConfig | None:
        """The training settings as a TrainConfig (settings this engine does not know left out); None when the
        bundle records none or they no longer make a valid TrainConfig."""
        if not self.train:
            return None
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        for candidate in (self.train, {k: v for k, v in self.train.items() if k in known}):
            try:
                return TrainConfig.from_dict(dict(candidate))
            except ConfigError:
                continue
        return None

    @classmethod
    def from_dict(cls, meta: dict[str, Any], source: str = "the metadata", written: bool = True) -> BundleMetadata:
        """Any version this engine reads (BundleError naming ``source`` otherwise). ``written=False``: metadata
        about to be written, whose format, versions and digest the writer adds."""
        if not isinstance(meta, dict):
            raise BundleError(f"Bundle '{source}' has metadata of type {type(meta).__name__}, not a mapping; it "
                              f"was not written by this engine. Retrain.")
        required = REQUIRED_KEYS if written else ("model", "data")
        missing = [k for k in required if k not in meta]
        if not missing:
            missing = [f"data.{k}" for k in REQUIRED_DATA_KEYS if k not in meta["data"]]
        if missing:
            raise BundleError(f"Bundle '{source}' lacks metadata {missing}; it was not written by this engine. "
                              f"Retrain.")
        version = meta.get("format_version", BUNDLE_VERSION)
        if meta.get("format", BUNDLE_FORMAT) != BUNDLE_FORMAT or int(version) > BUNDLE_VERSION:
            raise BundleError(f"Bundle '{source}' has format {meta.get('format')} v{version}, this engine reads "
                              f"{BUNDLE_FORMAT} v{BUNDLE_VERSION}; update DualStream.")
        try:  # v1 bundles hold the flat DualStream settings, which are exactly DualStreamConfig's fields
            model = AutoModelConfig.from_dict(dict(meta["model"]), stored=True)
        except ConfigError as exc:
            raise BundleError(f"Bundle '{source}' describes a model this engine cannot build ({exc}); update "
                              f"DualStream or retrain.") from exc
        try:
            data = DataMetadata.from_dict(meta["data"], model)
        except (DataError, TypeError) as exc:
            raise BundleError(f"Bundle '{source}' has a data section this engine cannot read ({exc}); update "
                              f"DualStream or retrain.") from exc
        known, extra = known_fields(cls, meta)
        for key in ("model", "data", "extra"):
            known.pop(key, None)
        onnx = known.pop("onnx", None)
        known["metrics"] = dict(known.get("metrics") or {})
        known["versions"] = dict(known.get("versions") or {})
        return cls(model=model, data=data, onnx=None if onnx is None else OnnxMetadata.from_dict(onnx), **known,
                   extra=dict(extra))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the current version (``train`` and ``onnx`` only when there are)."""
        out: dict[str, Any] = {"model": self.model.to_dict(), "data": self.data.to_dict()}
        if self.train is not None:
            out["train"] = dict(self.train)
        out.update(metrics=dict(self.metrics), format=self.format, format_version=self.format_version,
                   versions=dict(self.versions), created=self.created, weights_sha256=self.weights_sha256)
        if self.metadata_sha256:
            out["metadata_sha256"] = self.metadata_sha256
        if self.onnx is not None:
            out["onnx"] = self.onnx.to_dict()
        if self.parent is not None:
            out["parent"] = dict(self.parent)
        return {**out, **self.extra}

    def replace(self, **changes: Any) -> BundleMetadata:
        return dataclasses.replace(self, **changes)
