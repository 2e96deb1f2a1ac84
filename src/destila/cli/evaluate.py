"""`destila evaluate`: answer every question of a dataset with a model, then score the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from destila.cli import app
from destila.cli._common import BackendOption, DataDirOption, DataOption, FoldOption, ThreadsOption

MaxAnswerLenOption = Annotated[
    int | None,
    typer.Option(
        "--max-answer-length", "--max-answer-len", help="Longest answer in tokens (default 15; authors: 30).", min=1
    ),
]
ProtocolOption = Annotated[
    str,
    typer.Option(
        "--protocol",
        help="destila: the best valid span inside the context (the pipeline's decoding). authors: "
        "SpanishTinyRoBERTa's evaluation.py rule for rule (arg-max start and end over every position, pair kept "
        "when start <= end within --max-answer-length tokens (default 30), question never cut, windows of "
        "--max-seq-len padded, no token types).",
    ),
]
FirstOption = Annotated[
    int | None, typer.Option("--first", help="Score only the first N questions (default: all).", min=1)
]
NBestOption = Annotated[
    int | None,
    typer.Option(
        "--n-best", help="Candidate spans each window proposes (default 12, the pipeline's; authors: 1).",
        min=1,
    ),
]
SlipOption = Annotated[
    int | None,
    typer.Option(
        "--partial-batch-slip",
        help="authors only: reproduce their evaluation.py's slip for batches of N windows (theirs: 64): the "
        "last partial batch written at the wrong rows, the rows never written scored from zero logits.",
        min=1,
    ),
]


@app.command("evaluate")
def evaluate_command(
    model: Annotated[
        str,
        typer.Option(
            "--model", help="QA model: a folder, a hub id, offline:NAME, or an exported ONNX folder."
        ),
    ],
    data: DataOption,
    *,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for predictions.json, null_odds.json, metrics.json.")
    ],
    fold: FoldOption = None,
    data_dir: DataDirOption = None,
    threads: ThreadsOption = None,
    backend: BackendOption = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per model call.", min=1)] = 16,
    max_seq_len: Annotated[int, typer.Option("--max-seq-len", help="Tokens per window.", min=8)] = 384,
    doc_stride: Annotated[
        int, typer.Option("--doc-stride", help="Tokens shared by neighbouring windows.", min=0)
    ] = 128,
    max_question_len: Annotated[
        int,
        typer.Option("--max-question-len", help="Question tokens kept (authors protocol: never cut).", min=1),
    ] = 64,
    max_answer_len: MaxAnswerLenOption = None,
    protocol: ProtocolOption = "destila",
    first: FirstOption = None,
    n_best: NBestOption = None,
    partial_batch_slip: SlipOption = None,
    null_threshold: Annotated[
        float | None,
        typer.Option(
            "--null-threshold",
            help='v2.0 data: answer "" when the null odds exceed this (default: the threshold the model\'s training '
            "run chose on training-fold questions, destila_no_answer.json, else 0). v1.1 data: never \"\".",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Predict answers for a dataset and write predictions, null odds (v2.0) and official + Spanish scores.

    The paper's evaluation (SpanishTinyRoBERTa's evaluation.py): --protocol authors --first 200. metrics.json
    records the protocol that scored under "protocol" (its name and the values in force).
    """
    from destila.data import load_dataset
    from destila.evaluation import Protocol, evaluate

    dataset = load_dataset(data, data_dir=data_dir, fold=fold)
    result = evaluate(
        model,
        dataset,
        protocol=Protocol(protocol, first=first, n_best=n_best, max_answer_len=max_answer_len,
                          slip_batch_size=partial_batch_slip),
        null_threshold=null_threshold,
        progress=progress,
        threads=threads,
        backend=backend,
        batch_size=batch_size,
        max_seq_len=max_seq_len,
        doc_stride=doc_stride,
        max_question_len=max_question_len,
    )
    result.write(out)
    _print_table(result, model, out)


def _print_table(result, model: str, out: Path) -> None:
    from rich.console import Console

    from destila.cli._common import metrics_table

    dataset = result.dataset
    caption = f"{result.questions_per_second:.1f} questions/s; written to {out}"
    if result.null_threshold is not None:
        used = result.null_threshold
        caption = f'"" when the null odds exceed {used["value"]:.4g} ({used["from"]}); ' + caption
    title = f"{model} on {dataset.name} — SQuAD v{dataset.version}, {len(dataset)} questions"
    table = metrics_table(f"{title}, {result.protocol['name']} protocol",
                          result.metrics, caption)
    Console().print(table)
