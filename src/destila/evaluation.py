"""Answer every question of a dataset with a model and score the answers: the one evaluation path.

`destila evaluate`, the pipeline, the training loop, the export's parity check and `destila bench` all call
`evaluate`, so a model scores the same wherever it is scored.

    >>> result = evaluate("runs/student", load_dataset("squad-es-v1.1:dev-small@eval"), threads=2)
    >>> result.metrics["official"]["f1"]
    >>> result.write("runs/student/eval")          # predictions.json, null_odds.json (v2.0), metrics.json
    >>> evaluate("runs/student", dataset, protocol=Protocol("authors", first=200))   # the paper's evaluation

What is evaluated can be a model folder (hub id, `offline:` name, exported folder), a `Predictor`, a runner or an
in-memory PyTorch model (the last two with their tokenizer).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from destila import files
from destila.data.types import QADataset
from destila.errors import ConfigError
from destila.infer.authors import MAX_ANSWER_LENGTH, predict_authors
from destila.infer.postprocess import n_candidates
from destila.infer.predictor import Predictor
from destila.infer.runners import Runner, make_runner
from destila.metrics import score
from destila.no_answer import SEARCH, stored_threshold

PROTOCOLS = ("destila", "authors")


@dataclass(frozen=True)
class Protocol:
    """Which questions are scored and how answers are picked; `Protocol()` is destila's default.

    `name="destila"`: the Predictor's decoding (the best valid span inside the context, as transformers'
    question-answering pipeline picks it). `name="authors"`: SpanishTinyRoBERTa's evaluation.py, rule for rule
    (`destila.infer.authors`); the paper's table is `Protocol("authors", first=200)`.
    """

    name: str = "destila"  # one of PROTOCOLS
    first: int | None = None  # score only the first N questions
    n_best: int | None = None  # destila: spans each window proposes (default 2 * top_k + 10, the pipeline's)
    max_answer_len: int | None = None  # longest answer in tokens (default: destila 15, the predictor's; authors 30)
    slip_batch_size: int | None = None  # authors: reproduce their last-partial-batch slip for batches of N windows

    def __post_init__(self) -> None:
        if self.name not in PROTOCOLS:
            raise ConfigError(f"protocol {self.name!r}: expected one of {', '.join(PROTOCOLS)}")
        for name in ("first", "n_best", "max_answer_len", "slip_batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if self.name == "authors" and self.n_best not in (None, 1):
            raise ConfigError(f"n_best {self.n_best}: the authors' protocol takes the arg-max start and end (n-best 1)")
        if self.name != "authors" and self.slip_batch_size is not None:
            raise ConfigError("slip_batch_size reproduces the authors' evaluation.py: it needs the authors' protocol")

    def record(self, predictor: Predictor) -> dict:
        """The protocol as metrics.json records it: its name and the values in force."""
        if self.name == "authors":
            return {
                "name": self.name,
                "first": self.first,
                "max_answer_length": self.max_answer_len or MAX_ANSWER_LENGTH,
                "max_length": predictor.max_seq_len,
                "stride": predictor.doc_stride,
                "slip_batch_size": self.slip_batch_size,
            }
        return {
            "name": self.name,
            "first": self.first,
            "n_best": self.n_best or n_candidates(1),
            "max_answer_length": self.max_answer_len or predictor.max_answer_len,
        }


@dataclass
class EvalResult:
    dataset: QADataset  # the questions scored (the first N when the protocol says so)
    predictions: dict[str, str]  # id -> answer text ("" = no answer)
    null_odds: dict[str, float]  # id -> null score minus best span score
    metrics: dict  # destila.metrics.score: {"official": {...}, "es": {...}}
    seconds: float  # answering time (loading excluded)
    protocol: dict | None = None  # Protocol.record: its name ("destila" | "authors") and the values in force
    # when "no answer" competed: {"value": the null-odds threshold, "from": files.NO_ANSWER | "given"}; else None
    null_threshold: dict | None = None

    @property
    def questions_per_second(self) -> float:
        return len(self.dataset) / self.seconds if self.seconds > 0 else float("inf")

    def write(self, folder: str | os.PathLike) -> None:
        """predictions.json, null_odds.json (v2.0 data, when the protocol gives null odds) and metrics.json (+
        "protocol", + "null_threshold" when "no answer" competed with a threshold other than 0)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / files.PREDICTIONS, self.predictions)
        if self.dataset.version == "2.0" and self.null_odds:
            _write_json(out / files.NULL_ODDS, self.null_odds)
        metrics = self.metrics if self.protocol is None else {**self.metrics, "protocol": self.protocol}
        if self.null_threshold is not None and self.null_threshold["value"] != 0.0:
            metrics = {**metrics, "null_threshold": self.null_threshold}
        _write_json(out / files.METRICS, metrics)


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def evaluate(
    source,
    dataset: QADataset,
    *,
    tokenizer=None,
    protocol: Protocol | None = None,
    handle_impossible_answer: bool | None = None,
    null_threshold: float | None = 0.0,
    progress: bool = False,
    **settings,
) -> EvalResult:
    """Answer `dataset` with `source` and score the answers.

    `settings` go to the `Predictor` built for a folder (`Predictor.from_pretrained`: threads, backend,
    batch_size, max_seq_len, doc_stride, max_question_len, ...) or around a runner or in-memory model; a given
    `Predictor` is used as is. `handle_impossible_answer` defaults to the dataset's version (v2.0: the empty
    answer wins when its null odds exceed `null_threshold`). `null_threshold=None`: the threshold stored in the
    model folder by its training run (`destila.no_answer`), else 0.
    """
    protocol = protocol or Protocol()
    dataset = dataset.head(protocol.first)
    if protocol.name == "authors":
        return _evaluate_authors(source, dataset, tokenizer, protocol, settings)
    handle = dataset.version == "2.0" if handle_impossible_answer is None else handle_impossible_answer
    threshold = _null_threshold(source, null_threshold) if handle else None
    with _predictor(source, tokenizer, settings) as predictor:
        started = time.perf_counter()
        predictions, null_odds = predictor.predict_dataset(
            dataset,
            progress=progress,
            handle_impossible_answer=handle,
            null_threshold=threshold["value"] if threshold else 0.0,
            max_answer_len=protocol.max_answer_len,
            n_best=protocol.n_best,
        )
        seconds = time.perf_counter() - started
    metrics = score(dataset, predictions, null_odds if dataset.version == "2.0" else None)
    return EvalResult(dataset, predictions, null_odds, metrics, seconds, protocol.record(predictor), threshold)


def _evaluate_authors(source, dataset: QADataset, tokenizer, protocol: Protocol, settings: dict) -> EvalResult:
    """The authors' evaluation.py (`destila.infer.authors`): windows of the predictor's max_seq_len and doc_stride,
    its runner and batch size; no null odds ("" is whatever their decoding gives)."""
    with _predictor(source, tokenizer, settings) as predictor:
        started = time.perf_counter()
        texts = predict_authors(
            predictor.runner,
            predictor.tokenizer,
            [ex.question for ex in dataset.examples],
            [ex.context for ex in dataset.examples],
            max_length=predictor.max_seq_len,
            stride=predictor.doc_stride,
            max_answer_len=protocol.max_answer_len or MAX_ANSWER_LENGTH,
            batch_size=predictor.batch_size,
            slip_batch_size=protocol.slip_batch_size,
        )
        seconds = time.perf_counter() - started
    predictions = {ex.id: text for ex, text in zip(dataset.examples, texts)}
    return EvalResult(dataset, predictions, {}, score(dataset, predictions), seconds, protocol.record(predictor))


def _null_threshold(source, given: float | None) -> dict:
    """{"value", "from"}: the threshold given, else the one stored in the model folder, else 0."""
    if given is not None:
        return {"value": float(given), "from": "given"}
    stored = stored_threshold(source) if isinstance(source, str | os.PathLike) else None
    if stored is None:
        return {"value": 0.0, "from": "default"}
    return {"value": stored, "from": files.NO_ANSWER}


@contextlib.contextmanager
def _predictor(source, tokenizer, settings: dict):
    """The Predictor for what `evaluate` was given; an in-memory model is put back in the mode it was found in."""
    if isinstance(source, Predictor):
        if settings or tokenizer is not None:
            raise ConfigError("a Predictor is used as is: give settings when building it instead")
        yield source
        return
    if isinstance(source, (str, os.PathLike)):
        yield Predictor.from_pretrained(source, **settings)
        return
    if tokenizer is None:
        raise ConfigError("evaluating a runner or an in-memory model needs its tokenizer")
    if isinstance(source, Runner):
        yield Predictor(source, tokenizer, **settings)
        return
    was_training = source.training
    device = str(next(source.parameters()).device)
    try:
        yield Predictor(make_runner(source, device=device), tokenizer, **settings)
    finally:
        source.train(was_training)


def choose_null_threshold(source, dataset: QADataset, *, kind: str, **settings) -> dict:
    """The no-answer record of a model (`destila.no_answer`): answer `dataset` (training-fold questions, scored as
    SQuAD v2.0) with every question given its best span and its null odds, take the official best-F1 threshold
    and score the answers at it. `kind` says what the questions are ("validation" or "train")."""
    result = evaluate(source, dataset, handle_impossible_answer=False, **settings)
    official = result.metrics["official"]
    threshold = float(official["best_f1_thresh"])
    at = score(result.dataset, result.predictions, result.null_odds, na_prob_thresh=threshold)["official"]
    all_empty = 100.0 * dataset.unanswerable / len(dataset)
    if at["f1"] < official["best_f1"] and math.isclose(official["best_f1"], all_empty):
        # the official sweep reports 0 when answering nothing scores best: the threshold below every null odds
        threshold = min(result.null_odds.values()) - 1.0
        at = score(result.dataset, result.predictions, result.null_odds, na_prob_thresh=threshold)["official"]
    return {
        "threshold": threshold,
        "search": SEARCH,
        "chosen_on": {"kind": kind, "data": dataset.name, "questions": len(dataset),
                      "unanswerable": dataset.unanswerable},
        "f1": at["f1"],
        "exact": at["exact"],
        "HasAns_f1": at.get("HasAns_f1"),
        "NoAns_f1": at.get("NoAns_f1"),
    }
