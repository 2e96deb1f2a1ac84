"""`destila answer`: answer one question about a context with a model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from destila.cli import app
from destila.cli._common import BackendOption
from destila.errors import ConfigError, DataError


@app.command("answer")
def answer_command(
    model: Annotated[
        str,
        typer.Option(
            "--model", help="QA model: a folder, a hub id, offline:NAME, or an exported ONNX folder."
        ),
    ],
    question: Annotated[str, typer.Option("--question", help="The question.")],
    context: Annotated[str | None, typer.Option("--context", help="The text to find the answer in.")] = None,
    *,
    context_file: Annotated[
        Path | None, typer.Option("--context-file", help="A UTF-8 text file holding the context.")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="How many answers to show.", min=1)] = 1,
    impossible: Annotated[
        bool,
        typer.Option("--allow-no-answer", help="Let the empty answer compete (SQuAD v2.0 models), against the "
                     "no-answer threshold stored in the model folder (else 0)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the pipeline's structure).")] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Answers exactly as the pipeline gives them, with the space before the first word and the "
            "punctuation after the last (default: trimmed, offsets moved with them).",
        ),
    ] = False,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (default: all).", min=1)
    ] = None,
    max_seq_len: Annotated[int, typer.Option("--max-seq-len", help="Tokens per window.", min=8)] = 384,
    doc_stride: Annotated[
        int, typer.Option("--doc-stride", help="Tokens shared by neighbouring windows.", min=0)
    ] = 128,
    max_answer_len: Annotated[
        int, typer.Option("--max-answer-len", "--max-answer-length", help="Longest answer in tokens.", min=1)
    ] = 15,
    backend: BackendOption = "auto",
) -> None:
    """Print the best answer(s) with score and character span; no answer is "" (start 0, end 0)."""
    from destila.infer.postprocess import clean_answers
    from destila.infer.predictor import Predictor

    context = _read_context(context, context_file)
    if not question.strip():
        raise ConfigError("the question is empty")
    predictor = Predictor.from_pretrained(
        model,
        threads=threads,
        max_seq_len=max_seq_len,
        doc_stride=doc_stride,
        max_answer_len=max_answer_len,
        backend=backend,
    )
    from destila.no_answer import stored_threshold

    threshold = (stored_threshold(model) or 0.0) if impossible else 0.0
    (prediction,) = predictor.predict_pairs([question], [context], top_k=top_k, handle_impossible_answer=impossible,
                                            null_threshold=threshold)
    answers = prediction.answers if raw else clean_answers(prediction.answers)
    if as_json:
        result = answers[0] if len(answers) == 1 else answers  # the pipeline's structure
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        return
    _print_answers(answers)


def _read_context(context: str | None, context_file: Path | None) -> str:
    if (context is None) == (context_file is None):
        raise ConfigError("give the context with exactly one of --context or --context-file")
    if context_file is not None:
        try:
            context = context_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(f"{context_file}: no such file") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{context_file}: not UTF-8 text (byte {exc.start})") from None
    if not context.strip():
        raise ConfigError("the context is empty")
    return context


def _print_answers(answers: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("#", justify="right")
    table.add_column("answer")
    table.add_column("score", justify="right")
    table.add_column("start", justify="right")
    table.add_column("end", justify="right")
    for rank, a in enumerate(answers, 1):
        text = a["answer"] if a["answer"] else "(no answer)"
        table.add_row(str(rank), text, f"{a['score']:.4f}", str(a["start"]), str(a["end"]))
    Console().print(table)
