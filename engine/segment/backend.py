"""Which backend runs a segmentation, and its predictor.

``auto``: on the CPU onnxruntime where it is installed (bundles through their cached ONNX exports), else torch, as
for a bundle whose encoder torch runs faster (the model view's ``torch_on_cpu``: Galileo) or that cannot be
exported (the log says why; weights over what one ONNX file holds, 2 GiB, are not even tried); torch on a GPU.
``torch`` and ``onnxruntime`` force one. On the CPU torch runs on the free cores, onnxruntime on every core of the
process (:mod:`engine.runtime.cores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..bundle.imported import is_imported
from ..bundle.onnx_metadata import ONNX_MAX_BYTES, onnx_cuda, too_large_for_onnx
from ..bundle.view import model_view
from ..callbacks import Callback
from ..errors import BundleError, CanceledError, ConfigError, DependencyError, mention
from ..io.formats import ONNX
from ..runtime.cores import model_threads, torch_cpu_threads
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
    return [m.path for m in members if ONNX.matches(m.path) or is_imported(m.metadata)]


def make_predictor(members: Sequence[Member], cfg: Any, callback: Callback | None = None,
                   tile: int | None = None, onnx_max_bytes: int = ONNX_MAX_BYTES, first_dates: bool = True) -> Any:
    """The predictor for ``members`` with ``cfg``'s backend, device and TTA; ``cfg`` is resolved (a plan's or a bulk
    template's, after :func:`members.model_defaults`); ``tile``: the plan's (a bundle's export is made now, so a
    failure falls back before any tile is read); ``onnx_max_bytes``: the most weights one ONNX file takes;
    ``first_dates``: a change model keeps each first date's encoder maps for later pairs sharing it."""
    callback = callback or Callback()

    def torch(device: str, why: str) -> Any:
        from .predictor import Predictor

        if onnx_files := onnx_only(members):
            raise ConfigError(f"'{onnx_files[0]}' is an ONNX model, which torch cannot run, and {why}; run it where "
                              f"onnxruntime runs (install it: {install_hint('onnxruntime')}), or pass the .dsmodel "
                              f"bundle it was exported from.")
        threads = torch_cpu_threads(__import__("torch")) if device == "cpu" else None
        predictor = Predictor.from_bundles(members, cfg.tta, device, callback, first_dates)
        callback.info(f"Backend: torch on {device}{f' with {threads} thread(s)' if threads else ''} ({why}).")
        return predictor

    def onnx(device: str, why: str) -> Any:
        from .onnx_predictor import OnnxPredictor

        # onnxruntime's threads sleep between operators (as the engine opens it): every core of the process
        threads = model_threads(spinning=False) if not str(device).startswith("cuda") else None
        predictor = OnnxPredictor.from_files(members, cfg.tta, device, threads=threads, tile=tile, callback=callback,
                                             threshold=getattr(cfg, "threshold", None), first_dates=first_dates)
        callback.info(f"Backend: onnxruntime on {predictor.device}{f' with {threads} thread(s)' if threads else ''} "
                      f"({why}).")
        return predictor

    forced = f"{mention('segment.backend')} {cfg.backend}"  # the reason when the user chose the backend
    if cfg.backend == "torch":
        return torch(resolve_device(cfg.device), forced)
    if cfg.backend == "onnxruntime":
        return onnx(cfg.device, forced)
    device = resolve_device_lazily(cfg.device)
    if device != "cpu":
        if not onnx_only(members):
            return torch(device, f"auto: torch on {device}")
        if not onnx_cuda():
            return onnx("cpu", "auto: an ONNX model was given and this onnxruntime has no CUDA provider "
                               "(onnxruntime-gpu runs it on the GPU)")
        return onnx(device, "auto: an ONNX model was given")
    if missing := onnxruntime_missing():
        return torch(device, f"auto: {missing}")
    if faster := next(filter(None, (model_view(m.data, m.metadata.model).torch_on_cpu for m in members
                                    if not onnx_only([m]))), None):
        return torch(device, f"auto: {faster}")
    if oversized := next(filter(None, (too_large_for_onnx(m.path, onnx_max_bytes) for m in members
                                       if not onnx_only([m]))), None):
        return torch(device, f"auto: {oversized}, so onnxruntime cannot run it")
    try:
        return onnx(device, "auto on the CPU")
    except DependencyError as exc:
        if exc.package == "torch":
            raise
        why = f"auto: {exc.package} is not installed, which the ONNX export needs: {install_hint(exc.package)}"
    except (BundleError, CanceledError):
        raise  # an unreadable bundle fails with torch too; a cancel stops the run
    except Exception as exc:  # noqa: BLE001 - whatever stops the export, torch runs the bundle and the log says why
        why = f"auto: the ONNX export failed: {(str(exc).splitlines() or [type(exc).__name__])[0][:300]}"
    return torch(device, why)
