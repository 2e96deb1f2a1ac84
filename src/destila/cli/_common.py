"""Options and terminal tables shared by the verbs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
        help="Runner: auto (the folder's model.onnx or OpenVINO IR, else PyTorch), torch, torch-bf16, onnx, "
        "openvino, openvino-fp32, openvino-bf16, or another registered backend.",
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
