"""Which torch build the installer picks: the NVIDIA driver's CUDA version, the system, the CPU."""

from __future__ import annotations

import shutil

import pytest

from dualstream_qgis import deps, torch_build
from dualstream_qgis.torch_build import CPU_INDEX_URL, Gpu, choose, cuda_build

DEFAULTS = list(deps.DEFAULT_PACKAGES)


@pytest.mark.parametrize(("driver", "build"), [
    ("13.2", "cu130"), ("13.0", "cu130"),  # the newest stable build the driver supports (13.2 is experimental)
    ("12.9", "cu126"), ("12.6", "cu126"),
    ("12.4", "cu126"), ("12.0", "cu126"),  # a 12.x driver runs 12.6 through CUDA's minor version compatibility
    ("11.8", None), ("10.2", None),        # torch 2.13 has no CUDA 11 build: CPU, and update the driver
    ("", None),
])
def test_cuda_build_for_each_driver(driver, build):
    name, why = cuda_build(driver)
    assert name == build, why
    if driver.startswith("12.") and driver < "12.6":
        assert "minor version compatibility" in why
    if build is None and driver:
        assert "update the NVIDIA driver" in why


def test_windows_with_an_nvidia_gpu_gets_the_cuda_index_the_driver_supports():
    gpu = Gpu("NVIDIA GeForce RTX 3060", "552.22", "12.4")
    choice = choose("auto", gpu, DEFAULTS, "Windows", "AMD64", deps.DEFAULT_PACKAGES)
    assert (choice.build, choice.index_url) == ("cuda", "https://download.pytorch.org/whl/cu126")
    assert "CUDA cu126 from https://download.pytorch.org/whl/cu126" in choice.lines[0]
    newer = choose("auto", Gpu("NVIDIA RTX A6000", "580.88", "13.0"), DEFAULTS, "Windows", "AMD64",
                   deps.DEFAULT_PACKAGES)
    assert newer.index_url == "https://download.pytorch.org/whl/cu130"
    old = choose("cuda", Gpu("Quadro K2200", "472.12", "11.4"), DEFAULTS, "Windows", "AMD64", deps.DEFAULT_PACKAGES)
    assert (old.build, old.index_url) == ("cpu", CPU_INDEX_URL) and "update the NVIDIA driver" in old.lines[0]


def test_no_gpu_or_cpu_asked_gets_the_cpu_index():
    for build, gpu in (("auto", Gpu()), ("cpu", Gpu("NVIDIA T4", "550.54", "12.4"))):
        choice = choose(build, gpu, DEFAULTS, "Linux", "x86_64", deps.DEFAULT_PACKAGES)
        assert (choice.build, choice.index_url, choice.packages) == ("cpu", CPU_INDEX_URL, DEFAULTS)


def test_cuda_asked_without_a_driver_found_gets_the_widest_cuda_build():
    choice = choose("cuda", Gpu(), DEFAULTS, "Windows", "AMD64", deps.DEFAULT_PACKAGES)
    assert choice.index_url == "https://download.pytorch.org/whl/cu126"


def test_intel_mac_gets_what_runs_there_and_is_told_why():
    choice = choose("auto", Gpu(), DEFAULTS, "Darwin", "x86_64", deps.DEFAULT_PACKAGES)
    assert choice.build == "none" and choice.index_url is None
    assert choice.packages == ["tqdm>=4.60", "onnxruntime==1.23.2"]
    assert "torch 2.2.2" in choice.lines[0] and "requires torch 2.6" in choice.lines[0] and ".onnx" in choice.lines[0]
    own = choose("auto", Gpu(), ["torch==2.2.2", "transformers<5"], "Darwin", "x86_64", deps.DEFAULT_PACKAGES)
    assert own.packages == ["torch==2.2.2", "transformers<5"]  # a list of one's own is installed as given


def test_apple_silicon_takes_pypi_torch():
    choice = choose("cuda", Gpu(), DEFAULTS, "Darwin", "arm64", deps.DEFAULT_PACKAGES)
    assert (choice.build, choice.index_url, choice.packages) == ("cpu", None, DEFAULTS)
    assert "macOS has no CUDA" in choice.lines[0]


def test_gpu_detection_matches_this_machine():
    """No nvidia-smi: no GPU; with one (a GPU machine): its name, driver and CUDA version."""
    gpu = torch_build.detect_gpu()
    if shutil.which("nvidia-smi") is None:
        assert gpu == Gpu() and "no NVIDIA GPU" in gpu.describe()
    else:
        assert gpu.name and gpu.driver and cuda_build(gpu.cuda)[0] is not None, gpu
