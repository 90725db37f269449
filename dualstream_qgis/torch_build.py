"""Which torch build to install, and from where: the NVIDIA driver (``nvidia-smi``), the system and the CPU decide.

torch 2.13's CUDA builds (pytorch/pytorch RELEASE.md, release compatibility matrix: stable CUDA 12.6 and 13.0,
experimental 13.2) each have their own package index at download.pytorch.org. PyPI serves Windows only the CPU
build, and Linux one CUDA build (13.0), which an older driver cannot run; so with an NVIDIA GPU the index is
chosen from the CUDA version the driver reports: the newest stable build it supports. Intel Macs have no torch
2.13 at all (PyTorch's last macOS x86_64 wheel is 2.2.2, and transformers 5 needs torch >= 2.6): there the
installer offers what does run, the onnxruntime backend.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import subproc

TORCH_INDEX = "https://download.pytorch.org/whl/"
#: PyTorch's index of CPU-only builds (a fraction of the CUDA build's size).
CPU_INDEX_URL = TORCH_INDEX + "cpu"
#: torch 2.13's stable CUDA builds, newest first: (CUDA version, index name). 13.2 is experimental: left out.
CUDA_BUILDS = (((13, 0), "cu130"), ((12, 6), "cu126"))
#: The last onnxruntime with macOS x86_64 wheels (1.24 dropped them).
INTEL_MAC_ONNXRUNTIME = "onnxruntime==1.23.2"
#: Packages that need torch (not installable on an Intel Mac).
NEEDS_TORCH = ("torch", "transformers", "safetensors", "onnx")
#: Seconds nvidia-smi may take (it can wait for a sleeping GPU to wake up).
SMI_TIMEOUT_S = 20.0


@dataclass
class Gpu:
    """What ``nvidia-smi`` says (empty name: no NVIDIA GPU or driver)."""

    name: str = ""
    driver: str = ""
    cuda: str = ""

    def describe(self) -> str:
        if not self.name:
            return "no NVIDIA GPU or driver found (nvidia-smi)"
        return f"{self.name}, driver {self.driver}" + (f", CUDA {self.cuda}" if self.cuda else "")


def find_smi() -> str | None:
    """nvidia-smi: on PATH, else where Windows drivers put it (System32; NVSMI for drivers before R418)."""
    found = shutil.which("nvidia-smi")
    if found or os.name != "nt":
        return found
    for folder in (Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32",
                   Path(os.environ.get("ProgramFiles", r"C:\Program Files")) / "NVIDIA Corporation" / "NVSMI"):
        if (folder / "nvidia-smi.exe").is_file():
            return str(folder / "nvidia-smi.exe")
    return None


def detect_gpu(smi: str | None = None) -> Gpu:
    """The first NVIDIA GPU and the CUDA version its driver supports, from ``nvidia-smi``."""
    smi = smi or find_smi()
    if smi is None:
        return Gpu()
    try:
        query = subproc.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"], timeout=SMI_TIMEOUT_S)
        header = subproc.run([smi], timeout=SMI_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):
        return Gpu()
    if query.returncode != 0 or not query.stdout.strip():
        return Gpu()
    name, _, driver = query.stdout.splitlines()[0].partition(",")
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", header)
    return Gpu(name.strip(), driver.strip(), cuda.group(1) if cuda else "")


def cuda_build(driver_cuda: str) -> tuple[str | None, str]:
    """(index name such as ``cu126``, or None when no CUDA build runs; why) for a driver reporting
    ``driver_cuda`` (nvidia-smi's "CUDA Version")."""
    numbers = re.findall(r"\d+", driver_cuda)
    if len(numbers) < 2:
        return None, f"the driver's CUDA version ('{driver_cuda}') could not be read"
    driver = (int(numbers[0]), int(numbers[1]))
    for version, name in CUDA_BUILDS:
        if version <= driver:
            return name, f"the newest torch 2.13 CUDA build the driver (CUDA {driver_cuda}) supports"
    for version, name in reversed(CUDA_BUILDS):
        if version[0] == driver[0]:  # CUDA minor version compatibility: a 12.x driver runs any 12.y build
            return name, (f"CUDA {version[0]}.{version[1]} is newer than the driver's {driver_cuda}, which runs it "
                          "through CUDA's minor version compatibility; if torch then finds no GPU, update the "
                          "NVIDIA driver")
    oldest = CUDA_BUILDS[-1][0]
    return None, (f"the driver supports CUDA {driver_cuda}, torch 2.13 needs CUDA {oldest[0]}.{oldest[1]} or newer: "
                  "update the NVIDIA driver (then run this again)")


@dataclass
class Choice:
    """The packages to install, the extra index torch comes from, and what to tell the user about it."""

    build: str
    packages: list[str]
    index_url: str | None
    lines: list[str] = field(default_factory=list)


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


def choose(build: str, gpu: Gpu, packages: list[str], system: str, machine: str, defaults: tuple[str, ...]
           ) -> Choice:
    """What to install for the torch ``build`` asked for (auto, cuda, cpu) on ``system``/``machine``
    (``platform.system()``/``platform.machine()``); ``defaults``: the packages DualStream needs (only the
    default list is rewritten for an Intel Mac; a list of one's own is installed as given)."""
    if system == "Darwin" and machine == "x86_64":
        lines = ["Intel Mac (macOS x86_64): PyTorch's last wheel for it is torch 2.2.2, and transformers 5, which "
                 "DualStream's models need, requires torch 2.6 or newer; so training and .dsmodel bundles cannot run "
                 "here. What runs: Segment with an .onnx model (made by Export on another computer) through "
                 f"onnxruntime ({INTEL_MAC_ONNXRUNTIME}, the last onnxruntime with Intel-Mac wheels). On an "
                 "Apple-silicon Mac, install QGIS's arm64 build instead of running the Intel one."]
        if list(packages) != list(defaults):
            return Choice("none", list(packages), None, lines + ["Packages were given: installing them as given."])
        kept = [p for p in packages if _name(p) not in NEEDS_TORCH and _name(p) != "onnxruntime"]
        return Choice("none", kept + [INTEL_MAC_ONNXRUNTIME], None,
                      lines + [f"Installing {', '.join(kept + [INTEL_MAC_ONNXRUNTIME])} (no torch)."])
    if system == "Darwin":
        note = " (macOS has no CUDA)" if build == "cuda" else ""
        return Choice("cpu", list(packages), None, [f"torch build: PyPI's macOS build, CPU{note}"])
    if build == "cpu" or (build == "auto" and not gpu.name):
        why = "asked for" if build == "cpu" else "no NVIDIA GPU found"
        return Choice("cpu", list(packages), CPU_INDEX_URL, [f"torch build: CPU ({why}), from {CPU_INDEX_URL}"])
    if not gpu.cuda:
        name, why = CUDA_BUILDS[-1][1], "no NVIDIA driver found to choose by: the build that runs with most drivers"
    else:
        name, why = cuda_build(gpu.cuda)
    if name is None:
        return Choice("cpu", list(packages), CPU_INDEX_URL, [f"torch build: CPU, because {why}"])
    url = TORCH_INDEX + name
    return Choice("cuda", list(packages), url, [f"torch build: CUDA {name} from {url}: {why}"])
