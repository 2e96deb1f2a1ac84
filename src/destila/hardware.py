"""What this machine's CPU is and computes natively, read from the system (no torch).

The record of a measurement names the CPU; `auto` precisions (training, the `openvino` and `torch-bf16` runners,
`export --target auto`) take bf16 only where the CPU computes it natively (AVX512-BF16 or AMX): elsewhere bf16 is
emulated and slower than fp32.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

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


def machine() -> dict:
    """The CPU a measurement ran on, and whether it computes bf16 natively (what decides the fastest target)."""
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "native_bf16": cpu_has_native_bf16(),
            "amx": "amx_bf16" in cpu_flags(), "platform": platform.platform()}
