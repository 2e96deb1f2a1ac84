"""`--protocol authors` against a re-implementation written here, plainly, from the rules of SpanishTinyRoBERTa's
evaluation.py: their tokenizer call, the model given input_ids and attention_mask only, and per window the first
position of the largest start logit and of the largest end logit, kept when start <= end and end - start + 1 <= 30,
the text cut from the context at those tokens' offsets, the score their sum, the best window per question."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from destila.data import load_dataset
from destila.errors import ConfigError
from destila.evaluation import Protocol, evaluate
from destila.infer.authors import decode, partial_batch_slip
from destila.metrics import score

MAX_LENGTH, STRIDE = 64, 16  # small windows, so that most contexts need several


def _first_max(values) -> int:
    best = 0
    for p in range(len(values)):
        if values[p] > values[best]:
            best = p
    return best


def _reference_decode(start_logits, end_logits, offsets, sample_map, contexts, max_answer_length=30):
    best: dict[int, tuple[float, str]] = {}
    for w in range(len(start_logits)):
        i = sample_map[w]
        s = _first_max(start_logits[w])
        e = _first_max(end_logits[w])
        if e < s or e - s + 1 > max_answer_length:
            continue
        logit_score = float(start_logits[w][s]) + float(end_logits[w][e])
        if i not in best or logit_score > best[i][0]:
            best[i] = (logit_score, contexts[i][offsets[w][s][0] : offsets[w][e][1]])
    return [best[i][1] if i in best else "" for i in range(len(contexts))]


def _reference_windows(tokenizer, questions, contexts):
    return tokenizer([q.strip() for q in questions], contexts, max_length=MAX_LENGTH, truncation="only_second",
                     stride=STRIDE, return_overflowing_tokens=True, return_offsets_mapping=True,
                     padding="max_length")


def _reference_logits(model_dir, enc):
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor(enc["input_ids"]), attention_mask=torch.tensor(enc["attention_mask"]))
    return out.start_logits.numpy(), out.end_logits.numpy()


@pytest.fixture(scope="module")
def sample():
    return load_dataset("sample").head(24)


@pytest.fixture(scope="module")
def reference(tiny_qa_model_dir, sample):
    from destila.models.hub import load_tokenizer

    questions = [ex.question for ex in sample.examples]
    contexts = [ex.context for ex in sample.examples]
    enc = _reference_windows(load_tokenizer(tiny_qa_model_dir), questions, contexts)
    start, end = _reference_logits(tiny_qa_model_dir, enc)
    return enc, start, end, contexts


def test_authors_protocol_answers_as_their_rules_do(tiny_qa_model_dir, sample, reference, tmp_path):
    enc, start, end, contexts = reference
    expected = _reference_decode(start, end, enc["offset_mapping"], enc["overflow_to_sample_mapping"], contexts)
    result = evaluate(tiny_qa_model_dir, sample, protocol=Protocol("authors"), threads=1, batch_size=5,
                      max_seq_len=MAX_LENGTH, doc_stride=STRIDE)
    assert list(result.predictions.values()) == expected
    assert result.metrics == score(sample, result.predictions)
    assert result.protocol == {"name": "authors", "first": None, "max_answer_length": 30, "max_length": MAX_LENGTH,
                               "stride": STRIDE, "slip_batch_size": None}
    # the cases their rules treat unlike destila's occur here: pairs dropped for end < start, arg-maxes in the question
    sequence_ids = [enc.sequence_ids(w) for w in range(len(start))]
    starts, ends = start.argmax(1), end.argmax(1)
    assert len(start) > len(sample)  # several windows per question
    assert any(e < s for s, e in zip(starts, ends))
    assert any(seq[s] == 0 or seq[e] == 0 for seq, s, e in zip(sequence_ids, starts, ends))
    result.write(tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))["protocol"]["name"] == "authors"


def test_the_partial_batch_slip_as_their_loop_writes_it(tiny_qa_model_dir, sample, reference):
    enc, start, end, contexts = reference
    batch = next(b for b in range(3, 16) if len(start) % b)  # a batch size that leaves a partial last batch
    slipped = []
    for logits in (start, end):  # their loop, with zeros where their np.empty array is never written
        out = np.zeros_like(logits)
        for batch_id in range((len(logits) + batch - 1) // batch):
            rows = logits[batch_id * batch : (batch_id + 1) * batch]
            offset = batch_id * len(rows)
            out[offset : offset + len(rows)] = rows
        slipped.append(out)
    expected = _reference_decode(*slipped, enc["offset_mapping"], enc["overflow_to_sample_mapping"], contexts)
    result = evaluate(tiny_qa_model_dir, sample, protocol=Protocol("authors", slip_batch_size=batch), threads=1,
                      max_seq_len=MAX_LENGTH, doc_stride=STRIDE)
    assert list(result.predictions.values()) == expected
    assert result.protocol["slip_batch_size"] == batch


def test_partial_batch_slip_by_hand():
    logits = np.arange(10, dtype=np.float32)[:, None] + 1  # rows 1..10, batches of 4: 4 + 4 + 2
    out = partial_batch_slip(logits, 4)[:, 0].tolist()
    # the last batch (rows 9, 10) is written at 2 * 2 = 4; rows 8 and 9 are never written
    assert out == [1, 2, 3, 4, 9, 10, 7, 8, 0, 0]
    assert np.array_equal(partial_batch_slip(logits, 5), logits)  # no partial batch: nothing moves


def _window(start_at: dict[int, float], end_at: dict[int, float], length: int = 8):
    start, end = np.zeros(length, dtype=np.float32), np.zeros(length, dtype=np.float32)
    for p, v in start_at.items():
        start[p] = v
    for p, v in end_at.items():
        end[p] = v
    return start, end


def test_decode_by_hand():
    #         positions: 0 CLS, 1-2 question, 3 SEP, 4-6 context, 7 padding
    context = "abcdefghij"
    offsets = np.array([[0, 0], [1, 3], [4, 6], [0, 0], [0, 2], [3, 5], [6, 9], [0, 0]])
    cases = {
        "end before start": (_window({5: 3}, {4: 3}), ""),
        "start in the question": (_window({1: 3}, {5: 3}), context[1:5]),
        "both in the question": (_window({2: 3}, {2: 3}), context[4:6]),
        "CLS pair": (_window({0: 3}, {0: 3}), ""),
        "padding pair": (_window({7: 3}, {7: 3}), ""),
        "context": (_window({4: 3}, {6: 3}), context[0:9]),
    }
    for name, ((start, end), answer) in cases.items():
        got = decode(start[None], end[None], offsets[None], np.array([0]), [context])
        assert got == [answer], name
    # a span of exactly max_answer_len tokens is kept, one more is not
    start, end = _window({1: 3}, {6: 3})
    assert decode(start[None], end[None], offsets[None], np.array([0]), [context], max_answer_len=6) == [context[1:9]]
    assert decode(start[None], end[None], offsets[None], np.array([0]), [context], max_answer_len=5) == [""]


def test_decode_best_window_and_no_pair():
    context = "abcdefghij"
    offsets = np.array([[0, 0], [1, 3], [4, 6], [0, 0], [0, 2], [3, 5], [6, 9], [0, 0]])
    low, high, dropped, tie = (_window({4: 1}, {4: 1}), _window({5: 2}, {5: 2}), _window({6: 9}, {4: 9}),
                               _window({6: 2}, {6: 2}))
    windows = [low, dropped, high, tie, dropped]
    starts = np.stack([w[0] for w in windows])
    ends = np.stack([w[1] for w in windows])
    got = decode(starts, ends, np.stack([offsets] * 5), np.array([0, 0, 0, 0, 1]), [context, context])
    assert got == [context[3:5], ""]  # the best score over windows (first on a tie); "" when no window keeps a pair


def test_decode_matches_the_reference_on_random_logits():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n_windows, length = int(rng.integers(1, 12)), int(rng.integers(4, 40))
        contexts = ["".join(rng.choice(list("abcdef ghij"), size=60)) for _ in range(4)]
        example = np.sort(rng.integers(0, 4, size=n_windows))
        offsets = np.sort(rng.integers(0, 60, size=(n_windows, length, 2)), axis=2)
        start = rng.normal(size=(n_windows, length)).astype(np.float32)
        end = rng.normal(size=(n_windows, length)).astype(np.float32)
        max_answer = int(rng.integers(1, length + 1))
        assert decode(start, end, offsets, example, contexts, max_answer) == _reference_decode(
            start, end, offsets.tolist(), example.tolist(), contexts, max_answer)


def test_protocol_choices_are_checked():
    with pytest.raises(ConfigError, match="destila, authors"):
        Protocol("paper")
    with pytest.raises(ConfigError, match="n-best 1"):
        Protocol("authors", n_best=3)
    with pytest.raises(ConfigError, match="authors' protocol"):
        Protocol(slip_batch_size=64)
