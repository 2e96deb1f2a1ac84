"""Which attention kernel trains fastest on this machine, found by timing both on the run's own shapes.

On CPUs, PyTorch's fused attention (`sdpa`) has a slow backward pass in bf16: on a 2-core AMD EPYC with AVX512-BF16,
a layer's forward and backward at 16 x 12 heads x 192 tokens x 32 took 410 ms fused against 267 ms for the plain
matmul-softmax-matmul (`eager`) path, while in fp32 the fused kernel was the faster (350 against 439 ms). Which wins
depends on the CPU and the precision, so `train.attention_implementation: auto` times one layer's forward and
backward of each, at the run's batch, heads, width and precision, and keeps the faster (about a second, once per
shape and process).

`train.compile: auto` is decided here too (`resolve_compile`), from the device and the run's planned steps.
"""

from __future__ import annotations

import functools
import time

import torch

IMPLEMENTATIONS = ("sdpa", "eager")


def _attention(kind: str, q, k, v, mask):
    if kind == "sdpa":
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = torch.matmul(q, k.transpose(-1, -2)) * q.shape[-1] ** -0.5 + mask
    return torch.matmul(torch.softmax(scores, dim=-1), v)


@functools.lru_cache(maxsize=16)
def fastest_attention(batch: int, heads: int, head_dim: int, length: int, dtype: torch.dtype,
                      repeats: int = 3) -> str:
    """"sdpa" or "eager": whichever runs one attention forward + backward faster here (best of `repeats`)."""
    generator = torch.Generator().manual_seed(0)
    shape = (batch, heads, length, head_dim)
    q, k, v = (torch.randn(shape, generator=generator, dtype=dtype) for _ in range(3))
    mask = torch.zeros(batch, 1, 1, length, dtype=dtype)
    grad = torch.randn(shape, generator=generator, dtype=dtype)
    best = {}
    for kind in IMPLEMENTATIONS:
        times = []
        for _ in range(repeats + 1):  # the first call warms the kernels up
            leaves = [t.detach().requires_grad_() for t in (q, k, v)]
            started = time.perf_counter()
            _attention(kind, *leaves, mask).backward(grad)
            times.append(time.perf_counter() - started)
        best[kind] = min(times[1:])
    return min(best, key=best.get)


def training_attention(setting: str, model, batch_size: int, length: int, precision: str) -> str:
    """The implementation to train `model` with: the setting itself, or with `auto` the faster one measured here
    (on a GPU `auto` keeps sdpa)."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "sdpa"
    config = model.config
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    heads = config.num_attention_heads
    return fastest_attention(batch_size, heads, config.hidden_size // heads, length, dtype)


# `train.compile: auto` compiles only on a GPU and only for runs of at least this many planned optimiser steps.
# On a 2-core CPU with AVX512-BF16 compiling did not pay: one 384-wide layer's forward + backward at 16 x ~190 tokens
# in bf16 took 32 s to compile, and its steps were no faster after it (0.84 s compiled against 0.72 s eager, medians
# of 6, on a loaded machine); a tiny 4-layer BERT took 58 s (11 s with inductor's on-disk cache warm). On a GPU the
# fused kernels usually shorten the steps, but the warm-up is of the same order, so only a long run wins it back;
# the threshold is an unmeasured default that keeps dry runs and short checks eager. Both are for
# `benchmarks/train_speed.py --variant compile:compile=on` to revise (it reports the warm-up apart from the steady
# step time, and after how many steps the compiled run is ahead).
AUTO_COMPILE_DEVICES = ("cuda",)
AUTO_COMPILE_MIN_STEPS = 1000


def resolve_compile(setting: str, device, steps: int) -> str:
    """"on" or "off": the setting itself, or with `auto` on only where compiling is known to pay net of its warm-up
    (a GPU run of at least AUTO_COMPILE_MIN_STEPS planned steps; never on a CPU)."""
    if setting != "auto":
        return setting
    kind = torch.device(device).type
    return "on" if kind in AUTO_COMPILE_DEVICES and steps >= AUTO_COMPILE_MIN_STEPS else "off"
