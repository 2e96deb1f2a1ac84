"""Predictor on a tiny random model: pipeline-shaped outputs, batching invariance, datasets, errors, runners."""

from __future__ import annotations

import numpy as np
import pytest

from destila.data.types import Answer, QADataset, QAExample
from destila.errors import ConfigError, DestilaError
from destila.infer.predictor import Predictor

CONTEXTS = [
    "El Museo del Prado abrió sus puertas en 1819 con obras de Velázquez y Goya.",
    "\ufeffLa cigüeña construyó su nido sobre el campanario de la iglesia románica. " * 6,
    "En el año 2020 la población de la ciudad superaba los dos millones de habitantes.",
]
QUESTIONS = ["¿Cuándo abrió el Prado?", "¿Dónde construyó el nido?", "¿Cuántos habitantes había?"]


def same(a: dict, b: dict) -> bool:
    """Same answer and span, score equal up to float noise (padding changes the last bits)."""
    return (a["answer"], a["start"], a["end"]) == (b["answer"], b["start"], b["end"]) and a["score"] == pytest.approx(
        b["score"], rel=1e-4
    )


@pytest.fixture(scope="module")
def predictor(tiny_qa_model_dir):
    return Predictor.from_pretrained(tiny_qa_model_dir, threads=1, batch_size=4, max_seq_len=64, doc_stride=16)


def test_output_structure_follows_the_pipeline(predictor):
    one = predictor(question=QUESTIONS[0], context=CONTEXTS[0])
    assert set(one) == {"score", "start", "end", "answer"}
    assert isinstance(one["score"], float) and isinstance(one["start"], int)
    assert one["answer"] == CONTEXTS[0][one["start"] : one["end"]] and one["answer"]
    three = predictor(question=QUESTIONS[0], context=CONTEXTS[0], top_k=3)
    assert isinstance(three, list) and len(three) == 3
    assert [a["score"] for a in three] == sorted((a["score"] for a in three), reverse=True)
    assert same(three[0], one)
    many = predictor(question=QUESTIONS, context=CONTEXTS)
    assert isinstance(many, list) and len(many) == 3 and all(isinstance(r, dict) for r in many)
    assert same(many[0], one)
    shared = predictor(question=QUESTIONS[:2], context=CONTEXTS[0])
    assert same(shared[0], one)
    assert same(predictor({"question": QUESTIONS[0], "context": CONTEXTS[0]}), one)
    assert same(predictor(QUESTIONS[0], CONTEXTS[0]), one)
    nested = predictor(question=QUESTIONS[:2], context=CONTEXTS[:2], top_k=2)
    assert all(isinstance(r, list) and len(r) == 2 for r in nested)


def test_answers_come_from_the_context(predictor):
    for q, c in zip(QUESTIONS, CONTEXTS):
        for a in predictor(question=q, context=c, top_k=5, max_answer_len=4):
            assert a["answer"] == c[a["start"] : a["end"]] and 0 <= a["start"] < a["end"] <= len(c)
    null = predictor(question=QUESTIONS[1], context=CONTEXTS[1], top_k=1000, handle_impossible_answer=True)
    assert sum(a["answer"] == "" for a in null) == 1
    assert next(a for a in null if a["answer"] == "")["start"] == 0
    assert len({a["answer"].lower() for a in null}) == len(null)  # texts equal up to case are merged


def test_batch_size_and_order_do_not_change_answers(tiny_qa_model_dir, predictor):
    single = Predictor.from_pretrained(tiny_qa_model_dir, batch_size=1, max_seq_len=64, doc_stride=16)
    questions = QUESTIONS * 3
    contexts = CONTEXTS * 3
    a = predictor(question=questions, context=contexts, top_k=2)
    b = single(question=questions, context=contexts, top_k=2)
    for x, y in zip(a, b):
        assert [(r["answer"], r["start"], r["end"]) for r in x] == [(r["answer"], r["start"], r["end"]) for r in y]
        np.testing.assert_allclose([r["score"] for r in x], [r["score"] for r in y], rtol=1e-4)


def test_bad_inputs_raise_clear_errors(predictor):
    with pytest.raises(ConfigError, match="top_k"):
        predictor(question="a", context="b", top_k=0)
    with pytest.raises(ConfigError, match="empty"):
        predictor(question="", context="b")
    with pytest.raises(ConfigError, match="2 questions but 1 contexts"):
        predictor(question=["a", "b"], context=["c"])
    with pytest.raises(ConfigError, match="max_answer_len"):
        predictor(question="a", context="b", max_answer_len=0)
    with pytest.raises(ConfigError, match="doc_stride"):
        predictor(question="a", context="b", doc_stride=100)
    with pytest.raises(DestilaError):
        Predictor.from_pretrained("/nonexistent/model/folder")


def _dataset(version: str) -> QADataset:
    examples = [
        QAExample(id=f"q{i}", question=q, context=c, answers=[Answer(c.split()[1], c.index(c.split()[1]))])
        for i, (q, c) in enumerate(zip(QUESTIONS, CONTEXTS))
    ]
    examples.append(QAExample(id="imp", question="¿Quién?", context=CONTEXTS[2], is_impossible=True))
    return QADataset(examples=examples, version=version, name="tiny")


def test_predict_dataset_gives_texts_and_null_odds(predictor):
    data = _dataset("2.0")
    preds, odds = predictor.predict_dataset(data, progress=False)
    assert set(preds) == set(odds) == {ex.id for ex in data.examples}
    for qid, text in preds.items():
        assert (text == "") == (odds[qid] > 0)
    every_null, _ = predictor.predict_dataset(data, progress=False, null_threshold=-1.0)
    assert set(every_null.values()) == {""}
    v1, _ = predictor.predict_dataset(QADataset(data.examples[:3], "1.1", "tiny"), progress=False)
    spans = predictor(question=QUESTIONS, context=CONTEXTS)
    assert list(v1.values()) == [s["answer"] for s in spans]  # v1.1: always the best span


def test_batches_respect_window_and_token_limits(predictor):
    p = Predictor(predictor.runner, predictor.tokenizer, batch_size=4, max_batch_tokens=1000)
    lengths = np.array([1200, 384, 384, 300, 200, 200, 200, 200, 200, 100])
    batches = p._batches(lengths)
    assert batches[0] == (0, 1)  # a window longer than the budget still runs, alone
    assert [lo for lo, _ in batches[1:]] == [hi for _, hi in batches[:-1]] and batches[-1][1] == len(lengths)
    for lo, hi in batches[1:]:
        assert hi - lo <= 4 and lengths[lo] * (hi - lo) <= 1000
    unlimited = Predictor(predictor.runner, predictor.tokenizer, batch_size=4, max_batch_tokens=None)
    # windows of one width only share a batch (so that none is padded for another's sake)
    assert unlimited._batches(lengths) == [(0, 1), (1, 3), (3, 4), (4, 8), (8, 9), (9, 10)]


def test_n_best_and_max_answer_len_per_call(predictor):
    one = predictor.predict_pairs(QUESTIONS, CONTEXTS, top_k=50, n_best=1)
    windows = predictor.predict_pairs(QUESTIONS, CONTEXTS, top_k=50)
    for few, many in zip(one, windows):
        assert 1 <= len(few.answers) <= len(many.answers)
        assert few.best_score <= many.best_score + 1e-6  # merged texts add scores: more candidates, no less
    with pytest.raises(ConfigError, match="n_best"):
        predictor.predict_pairs(QUESTIONS, CONTEXTS, n_best=0)
    data = _dataset("1.1")
    short, _ = predictor.predict_dataset(data, progress=False, max_answer_len=1, n_best=1)
    assert all(text and " " not in text for text in short.values())  # one token, widened to its word
