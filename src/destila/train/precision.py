"""Which mixed precision a run uses: `auto` picks bf16 where the hardware computes it natively.

On a CPU with AVX512-BF16 or AMX, bf16 autocast roughly halves the time of a training step; on other CPUs bf16 is
emulated and slower than fp32, so `auto` stays in fp32 there. On a GPU, `auto` takes bf16 when the GPU supports it.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo_line(field: str, cpuinfo: str | Path) -> str | None:
    """The value of the first `field` line of Linux's cpuinfo (None where it cannot be read)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field):
            return line.split(":", 1)[1].strip()
    return None


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty where unknown)."""
    return set((_cpuinfo_line("flags", cpuinfo) or "").split())


def cpu_name(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name, for the record of a measurement."""
    return _cpuinfo_line("model name", cpuinfo) or platform.processor() or platform.machine() or "unknown CPU"


@functools.lru_cache(maxsize=4)
def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when the CPU advertises bf16 arithmetic (the `flags` line of Linux's cpuinfo; False where unknown)."""
    return bool(cpu_flags(cpuinfo) & set(CPU_BF16_FLAGS))


def resolve_mixed_precision(setting: str) -> str:
    """`no`, `fp16` or `bf16` for accelerate; `auto` becomes bf16 or no for this machine."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if cpu_has_native_bf16() else "no"
