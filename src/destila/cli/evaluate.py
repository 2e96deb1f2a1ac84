"""`destila evaluate`: answer every question of a dataset with a model, then score the answers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from destila.cli import app
from destila.cli._common import DataDirOption, DataOption, FoldOption


@app.command("evaluate")
def evaluate_command(
    model: Annotated[
        str,
        typer.Option(
            "--model", help="QA model: a folder, a hub id, offline:NAME, or an exported ONNX folder."
        ),
    ],
    data: DataOption,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for predictions.json, null_odds.json, metrics.json.")
    ],
    fold: FoldOption = None,
    data_dir: DataDirOption = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (default: all).", min=1)
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per model call.", min=1)] = 16,
    max_seq_len: Annotated[int, typer.Option("--max-seq-len", help="Tokens per window.", min=8)] = 384,
    doc_stride: Annotated[
        int, typer.Option("--doc-stride", help="Tokens shared by neighbouring windows.", min=0)
    ] = 128,
    max_question_len: Annotated[
        int, typer.Option("--max-question-len", help="Question tokens kept.", min=1)
    ] = 64,
    max_answer_len: Annotated[
        int, typer.Option("--max-answer-len", help="Longest answer in tokens.", min=1)
    ] = 15,
    null_threshold: Annotated[
        float,
        typer.Option("--null-threshold", help='v2.0 data: answer "" when the null odds exceed this.'),
    ] = 0.0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Predict answers for a dataset and write predictions, null odds (v2.0) and official + Spanish scores."""
    from destila.data import load_dataset
    from destila.infer.predictor import Predictor
    from destila.metrics import score

    dataset = load_dataset(data, data_dir=data_dir, fold=fold)
    predictor = Predictor.from_pretrained(
        model,
        threads=threads,
        batch_size=batch_size,
        max_seq_len=max_seq_len,
        doc_stride=doc_stride,
        max_question_len=max_question_len,
        max_answer_len=max_answer_len,
    )
    started = time.perf_counter()
    predictions, null_odds = predictor.predict_dataset(
        dataset, progress=progress, null_threshold=null_threshold
    )
    seconds = time.perf_counter() - started
    v2 = dataset.version == "2.0"
    metrics = score(dataset, predictions, null_odds if v2 else None)

    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "predictions.json", predictions)
    if v2:
        _write_json(out / "null_odds.json", null_odds)
    _write_json(out / "metrics.json", metrics)
    _print_table(metrics, dataset, model, len(dataset) / seconds if seconds > 0 else float("inf"), out)


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _print_table(metrics: dict, dataset, model: str, per_second: float, out: Path) -> None:
    from rich.console import Console

    from destila.cli._common import metrics_table

    table = metrics_table(f"{model} on {dataset.name} — SQuAD v{dataset.version}, {len(dataset)} questions",
                          metrics, f"{per_second:.1f} questions/s; written to {out}")
    Console().print(table)
