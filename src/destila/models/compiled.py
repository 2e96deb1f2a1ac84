"""torch.compile with an eager fallback: a function compiled where it can be, run as written where it cannot.

`Compiler(warn)` wraps functions (a module's bound `forward`, the teacher's forward) with
`torch.compile(fn, dynamic=True)`. The wrapper replaces `module.forward` on the instance, so the module itself is
unchanged: its state_dict keys, its parameters and every hook stay those of the eager module (no `_orig_mod.`).

- **Shapes**: batches are padded to their own longest window, so the sequence length changes from batch to batch.
  With `dynamic=True` the first call traces one graph with symbolic sizes and later lengths reuse it; compiling
  static shapes instead (padding to a multiple of 16) traced a new graph per padded length (3 graphs in 10 steps
  of a tiny run at max_length 64, up to max_length / 16 in a real run, beyond dynamo's recompile limit of 8).
- **Graph breaks**: what dynamo cannot trace runs eagerly between compiled pieces: the loss's data-dependent checks
  (a batch without a usable label), and in stages that match hidden states or attention maps the capture of those
  internals (hooks, a context variable), which splits the model into many pieces; logits-only stages and plain
  fine-tuning compile the model's forward whole.
- **Failures**: compiling happens at the first call (and at a recompile). If it fails (no C++ compiler, an
  operation the backend does not support), the call runs eagerly, `warn(message)` is called once, and every
  function of the same `Compiler` runs eagerly from then on. A genuine error of the function itself raises as it
  would without compile (the eager retry raises it). The backward graph is compiled during the forward call
  (`force_non_lazy_backward_lowering`), so that its failure is caught there too and not in `backward()`.
- **Backend**: inductor; `DESTILA_COMPILE_BACKEND=eager` (or `aot_eager`) traces with dynamo without generating
  code, which checks the wiring in seconds instead of the minute inductor takes on a first run.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from contextlib import nullcontext

BACKEND_ENV = "DESTILA_COMPILE_BACKEND"
DEFAULT_BACKEND = "inductor"
RECOMPILE_LIMIT = 32


def compile_backend() -> str:
    """The torch.compile backend: $DESTILA_COMPILE_BACKEND, else inductor."""
    return os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND


class Compiler:
    """Compiles functions for one run (or one runner); one failure sends all of them back to eager, warned once."""

    def __init__(self, warn: Callable[[str], None], backend: str | None = None, fresh: bool = True):
        import torch

        self.warn = warn
        self.backend = backend or compile_backend()
        self.failure: str | None = None
        self.compiled: list[str] = []  # what was wrapped, in order
        if fresh:
            # Graphs compiled by an earlier run in this process (the pipeline's teacher) are freed and no longer
            # count against dynamo's per-function recompile limit.
            torch._dynamo.reset()
        # Teacher and student share the model class's code: with and without gradients, per stage's outputs, each
        # is one more variant of the same functions (10 in a two-stage distillation of hidden states and attention
        # maps), past dynamo's default limit of 8, beyond which a function runs eagerly. Shapes add none.
        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)

    def __call__(self, fn: Callable, what: str) -> Callable:
        """`fn` compiled (dynamic shapes), falling back to `fn` itself when compiling fails."""
        import torch

        compiled = torch.compile(fn, dynamic=True, backend=self.backend)
        self.compiled.append(what)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            if self.failure is not None:
                return fn(*args, **kwargs)
            try:
                with _backward_compiled_in_forward():
                    return compiled(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001  (any failure to compile; a genuine error raises below)
                out = fn(*args, **kwargs)
                self._failed(what, exc)
                return out

        call.eager = fn
        return call

    def _failed(self, what: str, exc: Exception) -> None:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        reason = reason.split(" Set TORCHDYNAMO_VERBOSE=1")[0]  # torch's advice on debugging it, not the cause
        if len(reason) > 300:
            reason = reason[:297] + "..."
        self.failure = (f"compile: compiling {what} failed ({reason}); running eagerly from here on, as with "
                        "compile: off")
        self.warn(self.failure)


def _backward_compiled_in_forward():
    """Compile the backward graph together with the forward one, so that its failure surfaces in the forward call."""
    import torch._functorch.config as functorch_config

    if not hasattr(functorch_config, "force_non_lazy_backward_lowering"):
        return nullcontext()
    return functorch_config.patch(force_non_lazy_backward_lowering=True)
