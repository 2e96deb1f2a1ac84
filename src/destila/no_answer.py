"""The no-answer threshold of a model that learnt to say "no answer", chosen on training-fold questions.

A model trained on data holding unanswerable questions (SQuAD v2.0 style) answers "" when its null odds (the null
score minus the best span's score, `ExamplePrediction.null_odds`) exceed a threshold. At the end of a training run
(`destila.train.recipe.TrainingRun.finish`, the one place it is chosen) `destila.evaluation.choose_null_threshold`
picks the threshold that maximises the official SQuAD v2.0 F1 (the official script's best-threshold search,
`destila.metrics`) on `threshold_questions`: the run's validation questions (training articles held out with
`validation_fraction`), else a seeded sample of its training questions; never `eval_data`, never an eval fold.
`write` stores the record in the model folder (`files.NO_ANSWER`); `read` / `stored_threshold` give it to
`destila evaluate` (v2.0 data), `destila serve` (`--no-answer auto` turns "no answer" on for a folder holding it)
and the pipeline. This module reads and writes only (no model is run here). The record (illustrative values):

    {"threshold": 0.031, "search": "official SQuAD v2.0 best_f1_thresh",
     "chosen_on": {"kind": "validation", "data": "...", "questions": 448, "unanswerable": 221},
     "f1": 61.2, "exact": 57.0, "HasAns_f1": 55.1, "NoAns_f1": 67.4}
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from destila import files
from destila.data.types import QADataset
from destila.errors import ModelError

SEARCH = "official SQuAD v2.0 best_f1_thresh"


def threshold_questions(train: QADataset, validation: QADataset | None, cap: int, seed: int) -> QADataset | None:
    """The questions a threshold is chosen on: `validation` (held-out training articles) when given, else at most
    `cap` of the `train` questions (a seeded sample, in their order); augmented copies (no gold) left out.
    Scored as SQuAD v2.0, whatever the sources' versions."""
    if validation is not None:
        chosen = [ex for ex in validation.examples if not ex.augmented]
        name = validation.name
    else:
        pool = [ex for ex in train.examples if not ex.augmented]
        if len(pool) > cap:
            keep = np.sort(np.random.default_rng([seed, 11]).choice(len(pool), size=cap, replace=False))
            pool = [pool[i] for i in keep]
        chosen = pool
        name = f"{train.name} (training questions: {len(pool)})"
    if not chosen:
        return None
    return dataclasses.replace(train if validation is None else validation, examples=chosen, version="2.0",
                               name=name)


def write(folder: str | os.PathLike, record: dict | None) -> None:
    """Store `record` in `folder`; None removes a record left there by an earlier run."""
    path = Path(folder) / files.NO_ANSWER
    if record is None:
        path.unlink(missing_ok=True)
        return
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read(folder: str | os.PathLike) -> dict | None:
    """The record stored in a model folder, or None (no file, not a folder: a hub id or an `offline:` name)."""
    path = Path(folder).expanduser() / files.NO_ANSWER
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable ({exc}); delete it or train the model again") from None
    value = record.get("threshold") if isinstance(record, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelError(f"{path}: field 'threshold' must be a number, got {value!r}")
    return record


def stored_threshold(folder: str | os.PathLike) -> float | None:
    """The threshold stored in a model folder, or None."""
    record = read(folder)
    return None if record is None else float(record["threshold"])
