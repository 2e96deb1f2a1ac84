"""Span decoding on hand-made logits: softmax masking, span rules, null score, word widening and merging."""

from __future__ import annotations

import numpy as np
import pytest

from destila.infer.features import ContextTokens
from destila.infer.postprocess import WindowResult, decode_example, softmax_masked, window_candidates


def _one_window(start, end, ctx_pos, ctx_len, max_answer_len=15, n_best=12):
    start = np.array([start], dtype=np.float32)
    end = np.array([end], dtype=np.float32)
    width = start.shape[1]
    keep = np.zeros((1, width), dtype=bool)
    keep[0, ctx_pos : ctx_pos + ctx_len] = True
    keep[0, 0] = True  # CLS
    return window_candidates(
        start, end, keep, ctx_pos=np.array([ctx_pos]), ctx_len=np.array([ctx_len]), cls_index=np.array([0]),
        max_answer_len=max_answer_len, n_best=n_best
    )


def test_softmax_ignores_masked_positions():
    logits = np.array([[1.0, 50.0, 2.0, 3.0]], dtype=np.float32)
    keep = np.array([[True, False, True, True]])
    p = softmax_masked(logits, keep)
    expected = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    assert p[0, 1] == 0.0
    np.testing.assert_allclose(p[0, [0, 2, 3]], expected, rtol=1e-6)
    assert p.dtype == np.float32


def test_best_span_null_score_and_rules():
    # window: [CLS] q q [SEP] c c c c c [SEP]; context positions 4..8
    start = [2.0, 9.0, 9.0, 9.0, 0.0, 5.0, 0.0, 0.0, 1.0, 9.0]
    end = [3.0, 9.0, 9.0, 9.0, 0.0, 0.0, 0.0, 6.0, 0.0, 9.0]
    cand = _one_window(start, end, ctx_pos=4, ctx_len=5, n_best=20)
    assert (cand.starts[0, 0], cand.ends[0, 0]) == (5, 7)
    keep = [0, 4, 5, 6, 7, 8]
    ps = np.exp(np.array(start)[keep]) / np.exp(np.array(start)[keep]).sum()
    pe = np.exp(np.array(end)[keep]) / np.exp(np.array(end)[keep]).sum()
    assert cand.null[0] == pytest.approx(ps[0] * pe[0], rel=1e-5)  # CLS takes part in the softmax
    assert cand.scores[0, 0] == pytest.approx(ps[2] * pe[4], rel=1e-5)
    valid = cand.scores[0] >= 0
    assert valid.sum() == 15  # 5 context tokens: 15 spans with start <= end
    assert np.all(np.diff(cand.scores[0][valid]) <= 0)  # best first
    s, e = cand.starts[0][valid], cand.ends[0][valid]
    assert np.all((s >= 4) & (e <= 8) & (s <= e))


def test_max_answer_len_limits_spans():
    start = [0.0] + [0.0] * 3 + [8.0] + [0.0] * 5
    end = [0.0] + [0.0] * 3 + [0.0] * 5 + [8.0]
    cand = _one_window(start, end, ctx_pos=4, ctx_len=6, max_answer_len=3, n_best=30)
    valid = cand.scores[0] >= 0
    assert np.all(cand.ends[0][valid] - cand.starts[0][valid] < 3)
    assert not np.any((cand.starts[0] == 4) & (cand.ends[0] == 9) & valid)


def _tokens():
    # context "El río Ebro." -> tokens: "El" | "rí" "o" | "Eb" "ro" | "."  with words 0, 1, 1, 2, 2, 3
    context = "El río Ebro."
    offsets = np.array([[0, 2], [3, 5], [5, 6], [7, 9], [9, 11], [11, 12]])
    return context, ContextTokens(ids=np.arange(6), offsets=offsets, word_ids=np.array([0, 1, 1, 2, 2, 3]))


def _window(starts, ends, scores, ctx_start=0, ctx_len=6, ctx_pos=3, null=0.01):
    return WindowResult(
        ctx_start=ctx_start,
        ctx_len=ctx_len,
        ctx_pos=ctx_pos,
        null=null,
        starts=np.array(starts) + ctx_pos,
        ends=np.array(ends) + ctx_pos,
        scores=np.array(scores, dtype=np.float32),
    )


def test_spans_widen_to_words_and_merge_ignoring_case():
    context, tokens = _tokens()
    # "rí" alone and "o" alone both widen to "río": one answer, scores added
    w = _window([1, 2, 3, 0], [1, 2, 4, 0], [0.3, 0.25, 0.4, -1.0])
    pred = decode_example(context, tokens, [w], top_k=3)
    assert [a["answer"] for a in pred.answers] == ["río", "Ebro"]
    assert pred.answers[0]["score"] == pytest.approx(0.55)
    assert (pred.answers[0]["start"], pred.answers[0]["end"]) == (3, 6)
    assert pred.best_text == "río" and pred.null_odds == pytest.approx(0.01 - 0.55)
    raw = decode_example(context, tokens, [w], top_k=3, align_to_words=False)
    assert [a["answer"] for a in raw.answers] == ["Ebro", "rí", "o"]


def test_words_are_cut_at_the_window_edge():
    context, tokens = _tokens()
    # a window holding context tokens 2..5: the word "río" is only its "o" there
    w = _window([0], [0], [0.5], ctx_start=2, ctx_len=4)
    pred = decode_example(context, tokens, [w])
    assert pred.answers[0]["answer"] == "o"


def test_null_answer_competes_with_handle_impossible():
    context, tokens = _tokens()
    windows = [_window([3], [4], [0.25], null=0.6), _window([3], [4], [0.125], null=0.3)]
    pred = decode_example(context, tokens, windows, top_k=2, handle_impossible_answer=True)
    # the null score is the minimum over windows; the same text in two windows adds up
    assert pred.answers == [
        {"score": 0.375, "start": 7, "end": 11, "answer": "Ebro"},
        {"score": pytest.approx(0.3), "start": 0, "end": 0, "answer": ""},
    ]
    assert pred.text(handle_impossible_answer=True) == "Ebro"
    lone = decode_example(
        context, tokens, [_window([3], [4], [0.25], null=0.6)], handle_impossible_answer=True
    )
    assert lone.answers == [{"score": pytest.approx(0.6), "start": 0, "end": 0, "answer": ""}]
    assert (
        lone.text(handle_impossible_answer=True) == "" and lone.text(handle_impossible_answer=False) == "Ebro"
    )
    assert lone.text(handle_impossible_answer=True, null_threshold=0.5) == "Ebro"
    tie = decode_example(
        context, tokens, [_window([3], [4], [0.5], null=0.5)], top_k=2, handle_impossible_answer=True
    )
    assert [a["answer"] for a in tie.answers] == ["Ebro", ""]  # a tie keeps the span first
    assert tie.text(handle_impossible_answer=True) == "Ebro"


def test_a_null_threshold_ranks_the_empty_answer_as_the_text_rule_decides():
    context, tokens = _tokens()
    window = _window([3], [4], [0.25], null=0.6)  # null odds 0.35
    for threshold in (-0.5, 0.0, 0.3, 0.35, 0.4, 1.0):
        pred = decode_example(context, tokens, [window], top_k=2, handle_impossible_answer=True,
                              null_threshold=threshold)
        first = pred.answers[0]["answer"]
        assert first == pred.text(handle_impossible_answer=True, null_threshold=threshold), threshold
        assert (first == "") == (threshold < 0.35), threshold
        assert {a["answer"]: a["score"] for a in pred.answers} == {"Ebro": 0.25, "": pytest.approx(0.6)}
