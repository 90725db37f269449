"""What this CPU's instructions offer a model: whether it computes in bfloat16 natively (AMX or AVX-512 BF16).

Where it does, oneDNN's bfloat16 convolutions and matrix products run at about twice the float32 rate; where it
does not, bfloat16 is emulated and slower than float32. torch reports both instruction sets (private helpers of
``torch.cpu``, asked defensively); Linux's ``/proc/cpuinfo`` flags answer where torch cannot.
"""

from __future__ import annotations

from typing import Any

CPUINFO = "/proc/cpuinfo"
#: Flag in /proc/cpuinfo -> the instruction set's name as the log says it.
BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX-512 BF16"}


def _cpuinfo_flags(path: str = CPUINFO) -> set[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bf16_instructions(torch: Any = None, flags: set[str] | None = None) -> str | None:
    """The name of the instruction set with which this CPU computes bfloat16 natively, or None."""
    if torch is not None:
        cpu = getattr(torch, "cpu", None)
        for name, check in (("AMX-BF16", "_is_amx_tile_supported"), ("AVX-512 BF16", "_is_avx512_bf16_supported")):
            try:
                if getattr(cpu, check)():
                    return name
            except (AttributeError, RuntimeError):
                continue
    found = _cpuinfo_flags() if flags is None else flags
    for flag, name in BF16_FLAGS.items():
        if flag in found:
            return name
    return None
