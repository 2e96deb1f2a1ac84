"""`destila augment`: teacher-labelled copies of a training set, written as an inspectable SQuAD file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from destila.augment.config import AUGMENTERS, AugmentConfig
from destila.cli import app
from destila.cli._common import DataDirOption, DataOption

DEFAULT = AugmentConfig()


@app.command("augment")
def augment_command(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", help="The SQuAD JSON file to write (originals, then copies).")],
    *,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Teacher or its base (folder, hub id or offline:NAME): its input embeddings "
                     "give the word neighbours. Needed by the words augmenter."),
    ] = None,
    copies: Annotated[int, typer.Option("--copies", help="Copies per question.", min=1)] = DEFAULT.copies,
    p: Annotated[
        float, typer.Option("--p", help="Chance that a word of the context is replaced, and that a sentence other "
                            "than the answer's is dropped.", min=0.0, max=1.0)
    ] = DEFAULT.p,
    question_p: Annotated[
        float, typer.Option("--question-p", help="Chance that a word of the question is replaced (0: questions kept "
                            "as asked).", min=0.0, max=1.0)
    ] = DEFAULT.question_p,
    names: Annotated[
        bool, typer.Option("--names/--no-names", help="Also replace capitalised words of the context (names).")
    ] = DEFAULT.names,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed: the same seed, data and model give the same file.")
    ] = DEFAULT.seed,
    augmenters: Annotated[
        str,
        typer.Option("--augmenters", help=f"Comma-separated, applied in order to each copy: {', '.join(AUGMENTERS)}."),
    ] = ",".join(DEFAULT.augmenters),
    vocabulary: Annotated[
        int, typer.Option("--vocabulary", help="The most frequent Spanish words (wordfreq) that can be replaced.")
    ] = DEFAULT.vocabulary,
    neighbours: Annotated[
        int, typer.Option("--neighbours", help="A word is replaced by one of its this many nearest words.")
    ] = DEFAULT.neighbours,
    min_length: Annotated[
        int, typer.Option("--min-length", help="Words shorter than this are never replaced.")
    ] = DEFAULT.min_length,
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as one JSON object.")] = False,
) -> None:
    """Copies of each training question for distillation: words replaced by embedding neighbours, sentences
    dropped, reordered or added around the answer's. Copies carry no gold answer (the teacher labels them);
    eval-fold data is refused."""
    from destila.augment import augment_dataset, check_spec
    from destila.data import load_dataset

    config = AugmentConfig(copies=copies, augmenters=augmenters, p=p, seed=seed, vocabulary=vocabulary,
                           neighbours=neighbours, min_length=min_length, question_p=question_p, names=names)
    check_spec(data)  # before reading anything
    result = augment_dataset(load_dataset(data, data_dir=data_dir), config, model, data_dir=data_dir)
    path = result.write(out)
    record = {**result.summary(), "out": str(path), "seconds": round(result.seconds, 2),
              "neighbour_table": str(result.table.path) if result.table else None,
              "table_built": result.table.built if result.table else None}
    if as_json:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    from rich.console import Console

    Console().print(
        f"{record['copies']:,} copies of {record['questions']:,} questions "
        f"({record['duplicates_dropped']:,} duplicates dropped) in {record['seconds']:.1f} s; saved to {path}",
        highlight=False,
    )
