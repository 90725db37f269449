"""What the running Python can do: versions of the stack and whether a GPU is usable; and the process's place under
torchrun (:func:`setup_distributed`: rank, world size, device). Every optional package is imported lazily, so the
report works (and says what is missing) without torch or transformers."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DependencyError

#: The ``dualstream`` package (pyproject.toml): its dependencies and extras pin the versions, read from
#: requirements*.txt, so no hint here repeats a version.
DISTRIBUTION = "dualstream"
#: Optional packages -> the extra of the package that installs them, and what they are for.
EXTRAS = {"onnx": ("onnx", "ONNX export"), "onnxruntime": ("onnx", "ONNX export and the onnxruntime backend")}
#: The packages a run needs, as the report names them (``gdal``: GDAL's Python bindings, ``osgeo``).
REQUIRED = ("numpy", "torch", "transformers", "safetensors", "gdal", "rasterio")
#: Packages pip must not install: they are built against the system's GDAL, which QGIS shares.
SYSTEM_PACKAGES = {"rasterio": "python3-rasterio", "osgeo": "python3-gdal"}


def installed_requirements() -> dict[str, str]:
    """Package -> its requirement as the installed ``dualstream`` package states it (``torch==2.13.0``); empty
    where this engine is not that package's (bundled inside the QGIS plugin, or a checkout never installed)."""
    if __package__.split(".")[0] != "engine":
        return {}
    try:
        requires = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    requirements = [line.split(";")[0].strip() for line in requires]
    return {name.group(0).lower(): r for r in requirements if (name := re.match(r"[A-Za-z0-9_.-]+", r))}


def _python() -> str:
    """The Python to name in a pip command: this one (a venv's python is not on PATH as ``python3``)."""
    return sys.executable if sys.executable and Path(sys.executable).name.startswith("python") else "python3"


def _system_numpy() -> list[str]:
    """A pin that stops pip from shadowing the system's numpy, which GDAL and rasterio are built against."""
    spec = importlib.util.find_spec("numpy")
    return [f"numpy=={_version('numpy')}"] if spec is not None and (spec.origin or "").startswith("/usr/") else []


def pip_install_command(requirements: list[str]) -> list[str]:
    """The pip command installing ``requirements`` into this Python, the system's numpy kept."""
    return [_python(), "-m", "pip", "install", *requirements, *_system_numpy()]


def install_hint(package: str) -> str:
    """What to run to install ``package`` into this Python, for the way DualStream was installed: the package's
    extra (pip takes the versions from it), ``make install`` in a checkout, the system's packages for GDAL."""
    root = Path(__file__).resolve().parents[2]  # the DualStream checkout this engine runs from, if it does
    checkout = root if (root / "Makefile").is_file() and (root / "pyproject.toml").is_file() else None
    make = f"run `make install` in {checkout}, or " if checkout else ""
    if package in SYSTEM_PACKAGES:
        return (f"{make}on Debian/Ubuntu `sudo apt-get install {SYSTEM_PACKAGES[package]}` (a pip wheel would bring "
                "a second GDAL)")
    extra = EXTRAS[package][0] if package in EXTRAS else None
    pins = installed_requirements()
    if pins:  # the dualstream package is installed: pip reads the versions from its metadata
        target = f'"{DISTRIBUTION}[{extra}]"' if extra else f'"{pins.get(package, package)}"'
    elif checkout:
        target = f'-e "{checkout}{f"[{extra}]" if extra else ""}"'
    else:  # bundled inside the plugin: no package metadata to take versions from
        target = package
    pin = "".join(f' "{p}"' for p in _system_numpy())
    return f"{make}`{_python()} -m pip install {target}{pin}`"


def require(package: str) -> Any:
    """Import ``package`` or raise a DependencyError naming the exact install command."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise DependencyError(package, install_hint(package), detail=str(exc)) from exc


def _version(package: str) -> str | None:
    try:
        module = importlib.import_module("osgeo.gdal" if package == "osgeo" else package)
    except Exception:  # noqa: BLE001 - a broken install is reported as missing, never crashes the report
        return None
    return getattr(module, "__version__", "unknown")


def environment_report() -> dict[str, Any]:
    """Versions of Python, torch, transformers, GDAL, rasterio, numpy, and the GPU if one is usable."""
    from .. import __version__

    report: dict[str, Any] = {
        "engine": __version__,
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        **{name: _version("osgeo" if name == "gdal" else name) for name in (*REQUIRED, *EXTRAS)},
        "cuda_available": False,
        "cuda_version": None,
        "gpus": [],
    }
    if report["torch"]:
        import torch

        report["cuda_available"] = bool(torch.cuda.is_available())
        report["cuda_version"] = torch.version.cuda
        if report["cuda_available"]:
            props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
            report["gpus"] = [{"index": i, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1)}
                              for i, p in enumerate(props)]
    report["missing"] = [name for name in REQUIRED if not report[name]]
    report["install_hints"] = {name: install_hint("osgeo" if name == "gdal" else name)
                               for name in report["missing"]}
    return report


def format_report(report: dict[str, Any]) -> str:
    """Human-readable lines of :func:`environment_report`."""
    lines = [f"DualStream engine {report['engine']} on Python {report['python']} ({report['python_executable']})",
             *(f"{name}: {report[name] or 'MISSING'}" for name in REQUIRED),
             *(f"{name}: {report[name]}" if report[name] else
               f"{name}: not installed (optional, for {EXTRAS[name][1]}): {install_hint(name)}" for name in EXTRAS)]
    if report["cuda_available"]:
        lines += [f"GPU {gpu['index']}: {gpu['name']} ({gpu['memory_gib']} GiB), CUDA {report['cuda_version']}"
                  for gpu in report["gpus"]]
    else:
        lines.append("GPU: none usable (CUDA not available); DualStream will run on the CPU")
    lines += [f"To install {name}: {hint}" for name, hint in report["install_hints"].items()]
    return "\n".join(lines)


def resolve_device(requested: str = "auto") -> str:
    """'auto'/'cpu'/'cuda'/'cuda:N' as a usable torch device string; ConfigError for CUDA where it is not."""
    torch = require("torch")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device '{requested}' was requested but CUDA is not available in this Python "
            f"(torch {torch.__version__}); use device 'cpu' or 'auto', or install a CUDA build of torch."
        )
    return requested


# Files that exist only where a GPU driver is loaded (NVIDIA; AMD's ROCm, which torch also calls CUDA): without
# any, CUDA cannot be available
GPU_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd")


def resolve_device_lazily(requested: str = "auto") -> str:
    """:func:`resolve_device`, but without importing torch where the answer is the CPU anyway (the start-up of
    an onnxruntime run: importing torch takes seconds)."""
    if requested == "cpu" or (requested == "auto" and not any(os.path.exists(p) for p in GPU_DRIVER_FILES)):
        return "cpu"
    return resolve_device(requested)


def process_cores() -> int:
    """CPU cores this process may use: its affinity, shared by the processes of a torchrun node (LOCAL_WORLD_SIZE)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


@dataclass
class DistContext:
    """Process placement under torch.distributed (world_size 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    initialized_here: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every process (no-op when not distributed)."""
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Leave the process group if this context joined it."""
        if self.initialized_here:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.initialized_here = False


def setup_distributed(device: str, backend: str | None = None,
                      timeout: timedelta | None = None) -> tuple[DistContext, str]:
    """Join the process group described by torchrun's RANK/WORLD_SIZE/LOCAL_RANK (nccl on CUDA, gloo on CPU, or
    ``backend``: ``gloo`` where the group only ever meets at barriers; ``timeout``: how long collectives wait).
    Returns the context and the device this process uses (CUDA becomes ``cuda:LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:  # not under torchrun: no torch import (an onnxruntime run may not need it at all)
        return DistContext(), device
    torch = require("torch")
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    here = not dist.is_initialized()
    if here:
        options = {} if timeout is None else {"timeout": timeout}
        dist.init_process_group(backend=backend or ("nccl" if device.startswith("cuda") else "gloo"), **options)
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), initialized_here=here), device
