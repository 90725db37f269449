"""What the running Python can do: versions of the stack and whether a GPU is usable.

Imports every optional package lazily, so the report works (and says what is missing) even when
torch or transformers are not installed.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from typing import Any

from ..errors import DependencyError

PINNED_TORCH = "2.13.0"
INSTALL_HINTS = {
    "torch": f"run `make install` in the DualStream checkout, or `python3 -m pip install torch=={PINNED_TORCH}`",
    "transformers": "run `make install`, or `python3 -m pip install transformers safetensors`",
    "safetensors": "run `make install`, or `python3 -m pip install safetensors`",
    "rasterio": "run `make install`, or on Debian/Ubuntu `sudo apt-get install python3-rasterio`",
    "osgeo": "run `make install`, or on Debian/Ubuntu `sudo apt-get install python3-gdal`",
    "onnx": "run `make install`, or `python3 -m pip install onnx==1.23.2` (for ONNX export)",
    "onnxruntime": "run `make install`, or `python3 -m pip install onnxruntime==1.32.0` (for ONNX export and "
                   "segment --backend onnxruntime)",
}


def require(package: str) -> Any:
    """Import ``package`` or raise a DependencyError naming the exact install command."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise DependencyError(package, INSTALL_HINTS.get(package), detail=str(exc)) from exc


def _version(package: str) -> str | None:
    try:
        module = importlib.import_module(package)
    except Exception:  # noqa: BLE001 - a broken install is reported as missing, never crashes the report
        return None
    if package == "osgeo":
        from osgeo import gdal

        return gdal.__version__
    return getattr(module, "__version__", "unknown")


def environment_report() -> dict[str, Any]:
    """Versions of Python, torch, transformers, GDAL, rasterio, numpy, and the GPU if one is usable."""
    from .. import __version__

    report: dict[str, Any] = {
        "engine": __version__,
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "safetensors": _version("safetensors"),
        "gdal": _version("osgeo"),
        "rasterio": _version("rasterio"),
        "onnx": _version("onnx"),  # optional: ONNX export
        "onnxruntime": _version("onnxruntime"),  # optional: ONNX export, segment --backend onnxruntime
        "cuda_available": False,
        "cuda_version": None,
        "gpus": [],
    }
    if report["torch"]:
        import torch

        report["cuda_available"] = bool(torch.cuda.is_available())
        report["cuda_version"] = torch.version.cuda
        if report["cuda_available"]:
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                report["gpus"].append({"index": i, "name": props.name,
                                       "memory_gib": round(props.total_memory / 2**30, 1)})
    report["missing"] = [name for name in ("numpy", "torch", "transformers", "safetensors", "gdal", "rasterio")
                         if not report[name]]
    report["install_hints"] = {name: INSTALL_HINTS.get("osgeo" if name == "gdal" else name, "")
                               for name in report["missing"]}
    return report


def format_report(report: dict[str, Any]) -> str:
    """Human-readable lines of :func:`environment_report`."""
    lines = [f"DualStream engine {report['engine']} on Python {report['python']} ({report['python_executable']})"]
    for name in ("numpy", "torch", "transformers", "safetensors", "gdal", "rasterio"):
        lines.append(f"{name}: {report[name] or 'MISSING'}")
    for name in ("onnx", "onnxruntime"):
        lines.append(f"{name}: {report[name] or 'not installed (optional: ' + INSTALL_HINTS[name] + ')'}")
    if report["cuda_available"]:
        for gpu in report["gpus"]:
            lines.append(f"GPU {gpu['index']}: {gpu['name']} ({gpu['memory_gib']} GiB), CUDA {report['cuda_version']}")
    else:
        lines.append("GPU: none usable (CUDA not available); DualStream will run on the CPU")
    for name, hint in report["install_hints"].items():
        lines.append(f"To install {name}: {hint}")
    return "\n".join(lines)


def resolve_device(requested: str = "auto") -> str:
    """Map 'auto'/'cpu'/'cuda'/'cuda:N' to a usable torch device string, with a clear error if impossible."""
    torch = require("torch")
    from ..errors import ConfigError

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device '{requested}' was requested but CUDA is not available in this Python "
            f"(torch {torch.__version__}); use device 'cpu' or 'auto', or install a CUDA build of torch."
        )
    return requested


# Files that exist only where a GPU driver is loaded (NVIDIA; AMD's ROCm, which torch also calls CUDA)
GPU_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd")


def gpu_possible() -> bool:
    """False when no GPU driver is loaded, so CUDA cannot be available: decided without importing torch."""
    return any(os.path.exists(path) for path in GPU_DRIVER_FILES)


def resolve_device_lazily(requested: str = "auto") -> str:
    """:func:`resolve_device`, but without importing torch where the answer is the CPU anyway (the start-up of
    an onnxruntime run: importing torch takes seconds)."""
    if requested == "cpu" or (requested == "auto" and not gpu_possible()):
        return "cpu"
    return resolve_device(requested)


def process_cores() -> int:
    """CPU cores this process may use: its affinity, shared by the processes of a torchrun node (LOCAL_WORLD_SIZE)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
