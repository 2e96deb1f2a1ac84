"""Runners: what turns token ids into start and end logits, one module per backend.

A runner is any object with

- `runner(input_ids, attention_mask, token_type_ids=None) -> (start_logits, end_logits)`: int64 numpy arrays of
  shape (batch, sequence) in, float32 numpy arrays of the same shape out; `token_type_ids` is None when the
  predictor does not feed them, and a runner drops inputs its model does not take;
- `uses_token_type_ids`: whether its model takes token types at all (the predictor feeds them only then);
- `name`: the backend's name, as given to `--backend`.

`make_runner(folder_or_model, backend="auto", threads=None, device="cpu")` builds one. A backend is registered
with a name, a detector ("does this folder hold my artifact?", or None when it is only ever chosen by name) and a
factory `factory(folder_or_model, threads=None, device="cpu") -> Runner`. With `backend="auto"` the most recently
registered backend whose detector accepts the folder is used, so an exported artifact wins over the PyTorch
weights beside it; PyTorch is the fallback for any other folder or hub id.

Adding a backend is one new module in this package (its runner class, a detector and a factory) plus one
`register(...)` line at the end of this file (with the module's name in the import above it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from destila.errors import ConfigError

AUTO = "auto"
FALLBACK = "torch"


@runtime_checkable
class Runner(Protocol):
    """Numpy ids in, numpy start and end logits out (see the package docstring)."""

    name: str
    uses_token_type_ids: bool

    def __call__(self, input_ids, attention_mask, token_type_ids=None) -> tuple[Any, Any]: ...


@dataclass(frozen=True)
class Backend:
    name: str
    detect: Callable[[Path], bool] | None  # does this folder hold the backend's artifact? None: by name only
    factory: Callable[..., Runner]  # factory(folder_or_model, threads=None, device="cpu") -> Runner


_BACKENDS: dict[str, Backend] = {}


def register(name: str, detect: Callable[[Path], bool] | None, factory: Callable[..., Runner]) -> None:
    """Make `name` available to `make_runner` and `--backend` (a second registration replaces the first)."""
    _BACKENDS.pop(name, None)
    _BACKENDS[name] = Backend(name, detect, factory)


def backend_names() -> list[str]:
    return list(_BACKENDS)


def detect_backend(folder: str | os.PathLike) -> str:
    """The backend `auto` picks for a resolved folder (or hub id)."""
    path = Path(str(folder)).expanduser()
    for backend in reversed(_BACKENDS.values()):
        if backend.detect is not None and backend.detect(path):
            return backend.name
    return FALLBACK


def make_runner(folder_or_model, backend: str = AUTO, threads: int | None = None, device: str = "cpu") -> Runner:
    """The runner for a model folder, hub id, `offline:` name, or an in-memory PyTorch model (torch backend)."""
    if isinstance(folder_or_model, (str, os.PathLike)):
        from destila.models.hub import resolve_model

        folder_or_model = resolve_model(folder_or_model)
        name = detect_backend(folder_or_model) if backend == AUTO else backend
    else:
        name = FALLBACK if backend == AUTO else backend
    if name not in _BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose {AUTO} or one of: {', '.join(_BACKENDS)}")
    return _BACKENDS[name].factory(folder_or_model, threads=threads, device=device)


# The built-in backends, in order: later ones are tried first by `auto`.
from destila.infer.runners import onnx, openvino, torch  # noqa: E402

register("torch", torch.holds_weights, torch.load)
register("torch-bf16", None, torch.load_bf16)
register("torch-compile", None, torch.load_compiled)
register("onnx", onnx.holds_graph, onnx.load)
register("openvino", openvino.holds_ir, openvino.load)
register("openvino-fp32", None, openvino.load_fp32)
register("openvino-bf16", None, openvino.load_bf16)
