"""Which mixed precision a run uses: `auto` picks bf16 where the hardware computes it natively (`destila.hardware`).

On a CPU with AVX512-BF16 or AMX, bf16 autocast roughly halves the time of a training step; on other CPUs bf16 is
emulated and slower than fp32, so `auto` stays in fp32 there. On a GPU, `auto` takes bf16 when the GPU supports it.
"""

from __future__ import annotations

import torch

from destila import hardware


def resolve_mixed_precision(setting: str) -> str:
    """`no`, `fp16` or `bf16` for accelerate; `auto` becomes bf16 or no for this machine."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if hardware.cpu_has_native_bf16() else "no"
