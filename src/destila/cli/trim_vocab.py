"""`destila trim-vocab`: shrink a QA model's vocabulary to the pieces a corpus uses."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from destila.cli import app
from destila.cli._common import require_extra


@app.command("trim-vocab")
def trim_vocab_command(
    model: Annotated[
        str, typer.Option("--model", help="QA model: a folder, a hub id, or offline:multilingual-e5-small.")
    ],
    corpus: Annotated[
        list[str],
        typer.Option(
            "--corpus",
            help="Text to keep pieces for (repeatable): a dataset (a file, or a name such as "
            "squad-es-v1.1:dev-small@train), a .txt file, or wordfreq:LANG:N (the N most frequent words of a "
            "language, e.g. wordfreq:es:100000).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the trimmed model (new or empty).")],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Local data folder (default: DESTILA_DATA_DIR).")
    ] = None,
    keep_top: Annotated[
        int,
        typer.Option("--keep-top", help="Also keep the N most likely unused pieces written in the corpus's characters "
                     "(Unigram scores), for unseen text."),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as one JSON object.")] = False,
) -> None:
    """Keep only the vocabulary a corpus uses (plus special tokens); outputs on that text stay the same."""
    from destila.card import relocate_usage
    from destila.models.trim import WORDFREQ_PREFIX, trim_vocabulary

    if any(spec.startswith(WORDFREQ_PREFIX) for spec in corpus):
        require_extra("trim-vocab", "offline", "wordfreq")

    report = trim_vocabulary(model, corpus, out, data_dir=data_dir, keep_top=keep_top)
    relocate_usage(out)  # the card came with the model: its usage names the new folder
    if as_json:
        record = {k: v for k, v in report.__dict__.items() if k != "kept_ids"}
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    from rich.console import Console

    Console().print(
        f"kept {report.kept:,} of {report.original_tokenizer_size:,} pieces "
        f"({report.kept_detail['used']:,} used by {report.corpus_tokens:,} corpus tokens); "
        f"parameters {report.params_before:,} -> {report.params_after:,}; saved to {report.out}",
        highlight=False,
    )
