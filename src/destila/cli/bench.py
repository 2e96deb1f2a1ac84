"""`destila bench`: speed, size, memory and quality of several models, or backends of one model, on the same
questions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from destila.cli import app
from destila.cli._common import require_extra


@app.command("bench")
def bench_command(
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="A model to measure; repeat for several.")
    ],
    data: Annotated[str, typer.Option("--data", help="Dataset: a file or NAME[:SPLIT][@train|@eval].")],
    *,
    fold: Annotated[str | None, typer.Option("--fold", help="train or eval fold of a named dataset.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.md, report.json, plot.")] = Path(
        "bench"
    ),
    max_questions: Annotated[
        int | None, typer.Option("--max-questions", min=1, help="Use the first N.")
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, help="Timing rounds (interleaved across models).")
    ] = 3,
    latency_questions: Annotated[
        int, typer.Option("--latency-questions", min=1, help="Questions timed one by one.")
    ] = 50,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Batch size of the throughput pass.")
    ] = 16,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Threads per model (default: all).")
    ] = None,
    name: Annotated[
        list[str] | None, typer.Option("--name", help="Display name per model, in order.")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Local copy of the datasets.")] = None,
    backend: Annotated[
        list[str] | None,
        typer.Option(
            "--backend",
            help="Runner: auto (the folder's artifact, else PyTorch), torch, torch-bf16, torch-compile, onnx, "
            "openvino, openvino-fp32, openvino-bf16. Repeat to compare backends: every model runs under each.",
        ),
    ] = None,
) -> None:
    """Measure each MODEL under each BACKEND on the same questions; the first row is the speedup baseline."""
    require_extra("bench", "plot")  # the report's F1-against-throughput plot
    from rich.console import Console

    from destila.bench.measure import run_bench
    from destila.bench.report import markdown_table
    from destila.data import load_dataset

    console = Console(stderr=True)
    dataset = load_dataset(data, data_dir=data_dir, fold=fold).head(max_questions)
    result = run_bench(
        list(model),
        dataset,
        out,
        repeats=repeats,
        latency_questions=latency_questions,
        batch_size=batch_size,
        threads=threads,
        backends=list(backend) if backend else ["auto"],
        names=list(name) if name else None,
        progress=lambda msg: console.print(f"[dim]{msg}[/]", highlight=False),
    )
    typer.echo(markdown_table(result))
    typer.echo(f"wrote {result['files']['markdown']}, {result['files']['json']}, {result['files']['plot']}")
