"""What a Segment Anything model type's image encoder needs beyond transformers, checked before anything is downloaded.

EdgeTAM's image encoder is a RepViT that transformers builds through timm (``TimmWrapperModel``). timm imports
torchvision as it loads (``timm.layers`` takes ``FrozenBatchNorm2d`` from it) and transformers counts timm as
present only beside torchvision, so ``pip install timm --no-deps`` does not help. PyPI's torchvision wheels are built
for PyPI's CUDA torch and fail to load with a CPU-only torch ("operator torchvision::nms does not exist"); a CPU
torch takes its torchvision from PyTorch's CPU index.
"""

from __future__ import annotations

import importlib
import re

from ..errors import ModelError
from ..runtime.environment import pip_install_command, require
from .catalog import PromptModelType

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def import_problem(package: str) -> str:
    """Why ``package`` cannot be imported here ("" when it can): missing, or installed but failing to load."""
    try:
        importlib.import_module(package)
    except Exception as exc:  # noqa: BLE001 - a broken install raises anything (RuntimeError from torchvision)
        if isinstance(exc, ModuleNotFoundError) and exc.name == package:
            return "missing"
        return f"installed but failing to load ({str(exc).splitlines()[0][:160]})"
    if package == "timm":
        from transformers.utils import is_timm_available

        if not is_timm_available():  # transformers also asks for torchvision and Pillow
            return "installed, but transformers does not count it usable (it wants torchvision and Pillow beside it)"
    return ""


def torchvision_pin(torch_version: str) -> str:
    """The torchvision release series made for ``torch_version`` (torch 2.N goes with torchvision 0.N+15)."""
    found = re.match(r"2\.(\d+)", torch_version)
    return f"torchvision==0.{int(found.group(1)) + 15}.*" if found else "torchvision"


def needs_message(model_type: PromptModelType, problem: str, torch_version: str, cpu_only: bool) -> str:
    """What to tell a user whose Python lacks ``model_type.needs`` (``problem`` as :func:`import_problem` says it)."""
    package = model_type.needs
    said = "is not installed" if problem == "missing" else f"is {problem}"
    install = f"`{' '.join(pip_install_command([package]))}`"
    text = f"{model_type.model_class}'s image encoder is built by {package}, which {said}. "
    if package != "timm":
        return text + f"Install it into the Python that runs DualStream: {install}."
    if cpu_only:
        python = pip_install_command([])[0]
        text += (f"This torch ({torch_version}) is a CPU-only build, and the torchvision that `pip install timm` "
                 f"brings from PyPI is built for CUDA torch and does not load with it. Install the CPU torchvision "
                 f"made for this torch, then timm: `{python} -m pip install --force-reinstall --no-deps "
                 f"\"{torchvision_pin(torch_version)}\" --index-url {CPU_INDEX}`, then {install}")
    else:
        text += f"Install it into the Python that runs DualStream: {install} (it brings the torchvision for your torch)"
    return text + (". timm imports torchvision as it loads, so timm alone (--no-deps) does not work. Or use "
                   "sam2.1-tiny, the default, which needs nothing more.")


def check_needs(model_type: PromptModelType) -> None:
    """Raise ModelError saying what to install when ``model_type``'s image encoder needs a package that cannot load."""
    if not model_type.needs:
        return
    problem = import_problem(model_type.needs)
    if problem:
        torch = require("torch")
        cpu_only = getattr(torch.version, "cuda", None) is None and getattr(torch.version, "hip", None) is None
        raise ModelError(needs_message(model_type, problem, torch.__version__, cpu_only))
