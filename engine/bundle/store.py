"""The model bundle: one file a user can copy.

A bundle is a safetensors file whose header carries the JSON metadata (``schema.BundleMetadata``) under the key
``dualstream``. Loading never unpickles. The metadata also stores a SHA-256 of the weights and (format v3 on) one of
itself, so altered weights or an edited description are rejected, and safetensors itself rejects truncated files. On
load, the description's classes, colours, band and aux counts are compared with the model and its tensors' shapes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BundleError
from ..io.atomic import write_bytes_atomic
from ..io.formats import BUNDLE
from ..io.safety import check_input_file
from ..models.imported.configuration_imported import IMPORTED
from ..runtime.environment import require
from .schema import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    DIGESTED_SINCE,
    METADATA_KEY,
    BundleMetadata,
    described_shapes,
    description_digest,
)

MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on the JSON header


@dataclass
class LoadedBundle:
    """A model ready for inference plus everything the bundle says about it."""

    model: Any  # torch.nn.Module in eval mode
    metadata: BundleMetadata


def weights_digest(state: dict[str, Any]) -> str:
    """SHA-256 over tensor names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().contiguous().cpu()
        for part in (name, str(tensor.dtype), str(tuple(tensor.shape))):
            digest.update(part.encode())
        digest.update(tensor.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    from .. import __version__

    out = {"engine": __version__}
    for name in ("torch", "transformers", "safetensors"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "missing"
    return out


def save_bundle(path: str | os.PathLike, model: Any, metadata: BundleMetadata | dict[str, Any]) -> str:
    """Write ``model``'s weights and ``metadata`` (a :class:`BundleMetadata`, or its dict with at least ``model`` and
    ``data``) atomically; format, versions, creation time and digests are set here."""
    require("torch")
    safetensors_torch = require("safetensors.torch")
    path = Path(path)
    if not isinstance(metadata, BundleMetadata):
        metadata = BundleMetadata.from_dict(metadata, str(path), written=False)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # Serialised in memory and written with a plain open() (atomic_file): safetensors' save_file creates
    # files as 0600, but a bundle is meant to be shared.
    write_bytes_atomic(path, safetensors_torch.save(state, metadata=header(metadata, weights_digest(state))))
    return str(path)


def header(metadata: BundleMetadata, weights_sha256: str) -> dict[str, str]:
    """The safetensors header of a bundle: ``metadata`` stamped with the format, versions, creation time and
    weights digest, and its own digest."""
    meta = metadata.replace(format=BUNDLE_FORMAT, format_version=BUNDLE_VERSION, versions=versions(),
                            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                            weights_sha256=weights_sha256)
    described = meta.to_dict()
    described["metadata_sha256"] = description_digest(described)
    return {METADATA_KEY: json.dumps(described)}


def looks_like_bundle(path: str | os.PathLike) -> bool:
    """Whether the regular file ``path`` is a DualStream bundle by its content (a safetensors header carrying
    the ``dualstream`` metadata), whatever its name: a bundle saved as ``model.bundle`` is still one. Reads the
    header only, with no package needed (the QGIS plugin asks before torch is loaded)."""
    try:
        if not Path(path).is_file():  # never open a FIFO or a device: the read would block or never end
            return False
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 0 < size <= MAX_HEADER_BYTES:
                return False
            header = json.loads(handle.read(size))
    except (OSError, ValueError):
        return False
    return isinstance(header, dict) and METADATA_KEY in (header.get("__metadata__") or {})


def read_metadata(path: str | os.PathLike) -> BundleMetadata:
    """The bundle's metadata, without loading weights; BundleError for anything that is not a bundle."""
    path = Path(path)
    check_input_file(path, "model bundle", give="the .dsmodel file written by `train`", suffixes=BUNDLE.suffixes)
    if not path.is_file():
        raise BundleError(f"Model bundle '{path}' does not exist; pass the file written by `train`.")
    safetensors = require("safetensors")
    try:
        # the header only, so no torch import: bad-input errors come back in a second
        with safetensors.safe_open(str(path), framework="numpy") as handle:
            header = handle.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for bad headers
        raise BundleError(
            f"'{path}' is not a readable DualStream model bundle ({exc}). It may be truncated or not a "
            f"bundle at all; copy the bundle again or retrain."
        ) from exc
    if METADATA_KEY not in header:
        raise BundleError(f"'{path}' is a safetensors file but not a DualStream bundle (no '{METADATA_KEY}' metadata).")
    try:
        meta = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise BundleError(f"The metadata of bundle '{path}' is corrupt ({exc}); copy the bundle again or "
                          f"retrain.") from exc
    metadata = BundleMetadata.from_dict(meta, str(path))
    # the description altered after it was written (its digest, from format v3 on), or disagreeing with the model
    if int(metadata.format_version) >= DIGESTED_SINCE and meta.get("metadata_sha256") != description_digest(meta):
        raise BundleError(f"The description (metadata) of bundle '{path}' does not match its checksum: it was edited "
                          f"or damaged after training, so its classes, colours or band statistics cannot be trusted. "
                          f"Copy the bundle again or retrain.")
    if found := described_shapes(metadata):
        raise BundleError(f"Bundle '{path}' contradicts itself: {'; '.join(found)}. Its description was edited or "
                          f"damaged; copy the bundle again or retrain.")
    return metadata


def load_state(path: str | os.PathLike, meta: BundleMetadata) -> dict[str, Any]:
    """The weights of bundle ``path`` (safetensors: nothing is unpickled), checked against ``meta``'s digest."""
    safetensors_torch = require("safetensors.torch")
    try:
        state = safetensors_torch.load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001
        raise BundleError(f"The weights in bundle '{path}' cannot be read ({exc}); the file is probably "
                          f"truncated. Copy the bundle again or retrain.") from exc
    if weights_digest(state) != meta.weights_sha256:
        raise BundleError(f"The weights in bundle '{path}' do not match their checksum: the file was altered "
                          f"or damaged. Copy the bundle again or retrain.")
    return state


def load_bundle(path: str | os.PathLike, device: str = "cpu") -> LoadedBundle:
    """Rebuild the model from the bundle's config, load and verify its weights, move it to ``device``."""
    torch = require("torch")
    from ..models import build_model_from_config

    meta = read_metadata(path)
    if meta.model.name == IMPORTED:
        raise BundleError(f"'{path}' holds a model made elsewhere (an imported ONNX graph), which torch cannot load: "
                          f"segment and evaluate run it with onnxruntime; it cannot be fine-tuned or exported.")
    state = load_state(path, meta)
    config = meta.model.replace(pretrained=None)  # weights come from the bundle, never from a hub
    try:
        model = _model_with_weights(torch, build_model_from_config, config, state)
    except RuntimeError as exc:
        if differences := _shape_differences(torch, build_model_from_config, config, state):
            raise BundleError(f"Bundle '{path}' describes a model whose weights have other shapes than the ones it "
                              f"holds ({'; '.join(differences)}): its description was edited or damaged. Copy "
                              f"the bundle again or retrain.") from exc
        raise BundleError(f"Bundle '{path}' does not fit its own architecture ({str(exc)[:300]}); it was made "
                          f"by an incompatible engine version. Retrain with this version.") from exc
    model.to(torch.device(device)).eval()
    return LoadedBundle(model=model, metadata=meta)


def _shape_differences(torch: Any, build: Any, config: Any, state: dict[str, Any], most: int = 3) -> list[str]:
    """'<tensor>: described (3, 64, 1, 1), held (2, 64, 1, 1)' for tensors the description builds with another
    shape than the weights hold (at most ``most``); empty when none, or when the model cannot be built."""
    try:
        with torch.device("meta"):
            expected = build(config).state_dict()
    except (RuntimeError, NotImplementedError, ValueError):
        return []
    found = [f"{name}: described {tuple(tensor.shape)}, held {tuple(state[name].shape)}"
             for name, tensor in expected.items() if name in state and tuple(tensor.shape) != tuple(state[name].shape)]
    return found[:most]


def _model_with_weights(torch: Any, build: Any, config: Any, state: dict[str, Any]) -> Any:
    """The model of ``config`` holding ``state``, built on the meta device: no random initialisation that the
    weights would overwrite (1.2 s of start-up for b1 on a CPU). A model that cannot be built there, or that
    keeps tensors the state does not hold (buffers made at init), is built and initialised normally instead.
    """
    # torch 2.6 (Debian trixie's) runs tensor code when torch._dynamo is first imported, which transformers'
    # modelling modules do (torch.compiler.disable); under the meta device that code fails and the model class
    # cannot be imported at all, so the import happens first (the model build imports it anyway)
    import torch._dynamo  # noqa: F401

    try:
        with torch.device("meta"):
            model = build(config)
    except (RuntimeError, NotImplementedError):  # an init that needs real values (e.g. .item())
        model = None
    if model is not None:
        # own copies: safetensors' tensors share one buffer at 8-byte offsets, and CPU kernels given unaligned
        # weights round differently (1e-7) from a model whose weights were copied into its own parameters
        model.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True, assign=True)
        if not any(t.is_meta for t in (*model.parameters(), *model.buffers())):
            return model
    model = build(config)
    model.load_state_dict(state, strict=True)
    return model
