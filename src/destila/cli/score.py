"""`destila score`: official and Spanish EM/F1 of a predictions file against a dataset."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from destila.cli import app
from destila.cli._common import DataDirOption, DataOption, FoldOption
from destila.errors import DataError


def read_predictions(path: Path) -> dict[str, str]:
    """A JSON object `{question id: answer text}`; "" means the question is judged unanswerable."""
    data = _read_json_object(path, "predictions")
    for qid, value in data.items():
        if not isinstance(value, str):
            raise DataError(
                f'{path}: id {qid!r}: the prediction must be a string (the answer text, "" for no answer), '
                f"got {_kind(value)}"
            )
    return data


def read_null_odds(path: Path) -> dict[str, float]:
    """A JSON object `{question id: no-answer score}` (higher means more likely unanswerable)."""
    data = _read_json_object(path, "null odds")
    for qid, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DataError(f"{path}: id {qid!r}: the null odds must be a number, got {_kind(value)}")
    return data


def _kind(value) -> str:
    names = {str: "a string", bool: "a boolean", dict: "an object", list: "a list", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _read_json_object(path: Path, what: str) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: no such {what} file")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: {what} must be a JSON object mapping question id to value, got {_kind(data)}"
        )
    return data


@app.command("score")
def score_command(
    data: DataOption,
    predictions: Annotated[
        Path, typer.Option("--predictions", help="JSON object: question id -> answer text.")
    ],
    *,
    fold: FoldOption = None,
    data_dir: DataDirOption = None,
    null_odds: Annotated[
        Path | None,
        typer.Option("--null-odds", help="JSON object: question id -> no-answer score (v2.0 datasets)."),
    ] = None,
    na_prob_thresh: Annotated[
        float, typer.Option("--na-prob-thresh", help="Predict no answer when the null odds exceed this.")
    ] = 1.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
) -> None:
    """Score predictions with the official SQuAD scripts' rules and with Spanish normalisation."""
    from destila.data import load_dataset
    from destila.metrics import score

    dataset = load_dataset(data, data_dir=data_dir, fold=fold)
    preds = read_predictions(predictions)
    odds = read_null_odds(null_odds) if null_odds is not None else None
    result = score(dataset, preds, null_odds=odds, na_prob_thresh=na_prob_thresh)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    _print_table(result, dataset)


def _print_table(result: dict, dataset) -> None:
    from rich.console import Console

    from destila.cli._common import metrics_table

    caption = []
    if dataset.dropped_placeholders:
        caption.append(f"{dataset.dropped_placeholders} placeholder gold answers dropped")
    caption.append("es: Spanish articles and all Unicode punctuation removed")
    title = f"{dataset.name} — SQuAD v{dataset.version}, {len(dataset)} questions"
    Console().print(metrics_table(title, result, "; ".join(caption)))


