"""Which backend runs a segmentation, and its predictor.

``auto`` (the default): on the CPU, onnxruntime when it is installed (bundles through their cached ONNX exports,
see :mod:`engine.export.onnx_cache`; exported .onnx models as they are), torch where onnxruntime is missing or
a bundle cannot be exported (one log line says why: a bundle whose weights exceed what one ONNX file holds, 2 GiB,
is not even tried), and torch on a GPU. ``torch`` and ``onnxruntime`` force
one. On the CPU torch runs with as many threads as there are free cores, onnxruntime with every core of the
process (:mod:`engine.runtime.cores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..bundle.imported import is_imported
from ..bundle.onnx_metadata import is_onnx_path, onnx_cuda
from ..callbacks import Callback
from ..errors import BundleError, CanceledError, ConfigError, DependencyError, mention
from ..runtime.environment import install_hint, resolve_device, resolve_device_lazily
from .members import Member


def onnxruntime_missing() -> str | None:
    """Why onnxruntime cannot run here (None: it can)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return f"onnxruntime is not installed, which makes CPU runs faster: {install_hint('onnxruntime')}"
    return None


def onnx_only(members: Sequence[Member]) -> list[str]:
    """The members only onnxruntime can run: ONNX files, and models made elsewhere (imported bundles)."""
    return [m.path for m in members if is_onnx_path(m.path) or is_imported(m.metadata)]


def _torch_predictor(members: Sequence[Member], cfg: Any, device: str, callback: Callback, why: str,
                     first_dates: bool) -> Any:
    from .predictor import Predictor

    onnx_files = onnx_only(members)
    if onnx_files:
        raise ConfigError(f"'{onnx_files[0]}' is an ONNX model, which torch cannot run, and {why}; run it where "
                          f"onnxruntime runs (install it: {install_hint('onnxruntime')}), or pass the .dsmodel "
                          f"bundle it was exported from.")
    threads = None
    if device == "cpu":
        from ..runtime.cores import torch_cpu_threads

        threads = torch_cpu_threads(__import__("torch"))
    predictor = Predictor.from_bundles(members, cfg.tta, device, callback, first_dates)
    callback.info(f"Backend: torch on {device}{f' with {threads} thread(s)' if threads else ''} ({why}).")
    return predictor


def too_large(members: Sequence[Member], limit: int | None = None) -> str | None:
    """Why a bundle among ``members`` cannot go to ONNX for its size (``bundle.onnx_metadata.too_large_for_onnx``)."""
    from ..bundle.onnx_metadata import ONNX_MAX_BYTES, too_large_for_onnx

    for member in members:
        if not onnx_only([member]):
            refusal = too_large_for_onnx(member.path, ONNX_MAX_BYTES if limit is None else limit)
            if refusal:
                return refusal
    return None


def make_predictor(members: Sequence[Member], cfg: Any, callback: Callback | None = None,
                   tile: int | None = None, onnx_max_bytes: int | None = None, first_dates: bool = True) -> Any:
    """The predictor for ``members`` with ``cfg``'s backend, device and TTA; ``tile``: the plan's tile size (a
    bundle's export is made or checked now for it, so a failure falls back before any tile is read);
    ``onnx_max_bytes``: the most weights one ONNX file takes (default ``bundle.onnx_metadata.ONNX_MAX_BYTES``);
    ``first_dates``: a change model keeps each first date's encoder maps for the later pairs that share it (a
    predictor serving many pairs; one pair has none to share them with)."""
    callback = callback or Callback()
    forced = f"{mention('segment.backend')} {cfg.backend}"  # the reason when the user chose the backend
    if cfg.backend == "torch":
        return _torch_predictor(members, cfg, resolve_device(cfg.device), callback, forced, first_dates)
    if cfg.backend == "onnxruntime":
        return _onnx_predictor(members, cfg, cfg.device, tile, callback, forced, first_dates)
    device = resolve_device_lazily(cfg.device)
    if device != "cpu":
        if onnx_only(members):
            if not onnx_cuda():
                return _onnx_predictor(members, cfg, "cpu", tile, callback, "auto: an ONNX model was given and this "
                                       "onnxruntime has no CUDA provider (onnxruntime-gpu runs it on the GPU)",
                                       first_dates)
            return _onnx_predictor(members, cfg, device, tile, callback, "auto: an ONNX model was given", first_dates)
        return _torch_predictor(members, cfg, device, callback, f"auto: torch on {device}", first_dates)
    missing = onnxruntime_missing()
    if missing:
        return _torch_predictor(members, cfg, device, callback, f"auto: {missing}", first_dates)
    oversized = too_large(members, onnx_max_bytes)
    if oversized:
        return _torch_predictor(members, cfg, device, callback, f"auto: {oversized}, so onnxruntime cannot run it",
                                first_dates)
    try:
        return _onnx_predictor(members, cfg, device, tile, callback, "auto on the CPU", first_dates)
    except DependencyError as exc:
        if exc.package == "torch":
            raise
        why = f"auto: {exc.package} is not installed, which the ONNX export needs: {install_hint(exc.package)}"
    except (BundleError, CanceledError):
        raise  # an unreadable bundle fails with torch too; a cancel stops the run
    except Exception as exc:  # noqa: BLE001 - whatever stops the export, torch runs the bundle and the log says why
        why = f"auto: the ONNX export failed: {(str(exc).splitlines() or [type(exc).__name__])[0][:300]}"
    return _torch_predictor(members, cfg, device, callback, why, first_dates)


def _onnx_predictor(members: Sequence[Member], cfg: Any, device: str, tile: int | None, callback: Callback,
                    why: str, first_dates: bool) -> Any:
    from ..runtime.cores import model_threads
    from .onnx_predictor import OnnxPredictor

    # onnxruntime's threads sleep between operators (as the engine opens it): every core of the process
    threads = model_threads(spinning=False) if not str(device).startswith("cuda") else None
    predictor = OnnxPredictor.from_files(members, cfg.tta, device, threads=threads, tile=tile, callback=callback,
                                         threshold=getattr(cfg, "threshold", None), first_dates=first_dates)
    callback.info(f"Backend: onnxruntime on {predictor.device}{f' with {threads} thread(s)' if threads else ''} "
                  f"({why}).")
    return predictor
