"""The character mapping of start/end distributions between tokenizers (destila.distill.char_map)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from destila.distill.char_map import UNMAPPED, carry, stack_maps, window_map
from destila.infer.features import encode_windows
from tiny import build_wordpiece_tokenizer
from tiny_tokenizers import build_bpe_tokenizer, build_unigram_tokenizer

NONE = (-1, -1)


def _carry_one(probs: list[float], index: np.ndarray, length: int, cls: int = 0) -> np.ndarray:
    out = carry(torch.tensor([probs], dtype=torch.float64), torch.from_numpy(index)[None], length,
                torch.tensor([cls]))
    return out[0].numpy()


def test_worked_example_by_hand():
    """The example of docs/distillation.md: context "El río Ebro", a SentencePiece-like teacher whose pieces carry
    the space before them, a WordPiece student whose tokens carry none."""
    # teacher: <s> q </s> ▁El ▁r ío ▁Eb ro </s>
    teacher = [NONE, NONE, NONE, (0, 2), (2, 4), (4, 6), (6, 9), (9, 11), NONE]
    # student: [CLS] q q [SEP] El río E ##bro [SEP]
    student = [NONE, NONE, NONE, NONE, (0, 2), (3, 6), (7, 8), (8, 11), NONE]
    m = window_map(np.array(teacher), np.array(student), teacher_cls=0, student_cls=0)
    #                          cls  q   sep  ▁El  ▁r  ío  ▁Eb  ro  sep
    assert m.start.tolist() == [0, -1, -1, 4, 5, 5, 6, 7, -1]
    assert m.end.tolist() == [0, -1, -1, 4, 5, 5, 7, 7, -1]

    start = [0.10, 0.05, 0.0, 0.05, 0.40, 0.10, 0.20, 0.10, 0.0]
    got = _carry_one(start, m.start, len(student))
    # the question token's 0.05 is dropped, the remaining 0.95 renormalised
    want = np.array([0.10, 0, 0, 0, 0.05, 0.50, 0.20, 0.10, 0]) / 0.95
    np.testing.assert_allclose(got, want, atol=1e-12)

    end = [0.10, 0.0, 0.0, 0.10, 0.10, 0.20, 0.10, 0.40, 0.0]
    got = _carry_one(end, m.end, len(student))
    np.testing.assert_allclose(got, [0.10, 0, 0, 0, 0.10, 0.30, 0.0, 0.50, 0], atol=1e-12)


def test_nothing_mapped_goes_to_the_students_cls():
    m = window_map(np.array([NONE, NONE, (0, 3)]), np.array([NONE, NONE, (10, 12)]), 0, 1)
    assert m.start.tolist() == [1, UNMAPPED, UNMAPPED]
    got = _carry_one([0.0, 0.3, 0.7], m.start, 3, cls=1)
    np.testing.assert_allclose(got, [0, 1, 0])


def test_teacher_tokens_outside_the_student_window_are_dropped():
    """A teacher window wider than the student's: only characters the student window holds keep their mass."""
    teacher = np.array([NONE, (0, 4), (5, 9), (10, 14), NONE])
    student = np.array([NONE, (5, 9), NONE])
    m = window_map(teacher, student, 0, 0)
    assert m.start.tolist() == [0, UNMAPPED, 1, UNMAPPED, UNMAPPED]
    got = _carry_one([0.2, 0.3, 0.2, 0.3, 0.0], m.start, 3)
    np.testing.assert_allclose(got, [0.5, 0.5, 0.0])


# ---------------------------------------------------------------------------------------------------------------
# Real tokenizers of the three kinds, against a plain per-character computation

CONTEXT = ("El río Ebro nace en Fontibre, Cantabria, y desemboca en el Mediterráneo cerca de Tortosa; "
           "su caudal medio supera los 400 m³/s.")
QUESTION = "¿Dónde nace el río Ebro?"


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    return {
        "bpe": build_bpe_tokenizer(),
        "unigram": build_unigram_tokenizer(),
        "wordpiece": build_wordpiece_tokenizer(tmp_path_factory.mktemp("wordpiece")),
    }


def _window(tokenizer, max_length=128):
    w = encode_windows([QUESTION], [CONTEXT], tokenizer, max_length=max_length, doc_stride=16, max_query_length=64)
    return w, w.offsets(0), int(w.cls_index[0])


def _by_characters(t_offsets, s_offsets, t_cls, s_cls, probs, side):
    """The mapping computed character by character: each teacher token's first (start) or last (end) character,
    walked forward (start) or backward (end) to the nearest character a student token holds."""
    length = int(max(t_offsets.max(), s_offsets.max())) + 1
    first_owner, last_owner = np.full(length, -1), np.full(length, -1)
    for j, (a, b) in enumerate(s_offsets):
        for c in range(a, b):
            if first_owner[c] < 0:
                first_owner[c] = j
            last_owner[c] = j
    held = np.nonzero(first_owner >= 0)[0]
    lo, hi = held.min(), held.max()
    out = np.zeros(len(s_offsets))
    out[s_cls] += probs[t_cls]
    for i, (a, b) in enumerate(t_offsets):
        if a < 0 or b <= a or b <= lo or a > hi:
            continue
        if side == "start":
            c = a
            while first_owner[c] < 0:
                c += 1
            out[first_owner[c]] += probs[i]
        else:
            c = b - 1
            while last_owner[c] < 0:
                c -= 1
            out[last_owner[c]] += probs[i]
    return out / out.sum()


@pytest.mark.parametrize("teacher_kind,student_kind", list(itertools.product(["bpe", "unigram", "wordpiece"],
                                                                               repeat=2)))
def test_mapping_between_tokenizer_kinds(tokenizers, teacher_kind, student_kind):
    _, t_off, t_cls = _window(tokenizers[teacher_kind])
    _, s_off, s_cls = _window(tokenizers[student_kind])
    m = window_map(t_off, s_off, t_cls, s_cls)
    rng = np.random.default_rng(0)
    for side in ("start", "end"):
        probs = rng.dirichlet(np.full(len(t_off), 0.5))
        got = _carry_one(probs.tolist(), getattr(m, side), len(s_off), s_cls)
        assert abs(got.sum() - 1) < 1e-6
        np.testing.assert_allclose(got, _by_characters(t_off, s_off, t_cls, s_cls, probs, side), atol=1e-9)
        # only the student's context tokens and its CLS receive mass
        receives = set(np.nonzero(got)[0])
        assert receives <= set(np.nonzero(s_off[:, 0] >= 0)[0]) | {s_cls}


@pytest.mark.parametrize("kind", ["bpe", "unigram", "wordpiece"])
def test_same_tokenizer_maps_every_context_token_to_itself(tokenizers, kind):
    _, off, cls = _window(tokenizers[kind])
    m = window_map(off, off, cls, cls)
    context = np.nonzero(off[:, 1] > off[:, 0])[0]
    # Tokens sharing one character (byte-level BPE splits "³" into two bytes of the same span) are one place: a
    # start there goes to the first of them, an end to the last.
    spans = [tuple(x) for x in off.tolist()]
    first = {span: spans.index(span) for span in spans}
    last = {span: len(spans) - 1 - spans[::-1].index(span) for span in spans}
    assert m.start[cls] == m.end[cls] == cls
    assert [m.start[i] for i in context] == [first[spans[i]] for i in context]
    assert [m.end[i] for i in context] == [last[spans[i]] for i in context]
    if kind != "bpe":
        assert (m.start[context] == context).all() and (m.end[context] == context).all()


def test_a_shorter_student_window_drops_what_it_does_not_hold(tokenizers):
    """The student's window holds part of the context: the teacher's mass beyond it is dropped, not moved."""
    w, s_off, s_cls = _window(tokenizers["wordpiece"], max_length=32)
    assert len(w) > 1
    _, t_off, t_cls = _window(tokenizers["bpe"])
    m = window_map(t_off, s_off, t_cls, s_cls)
    last = s_off[:, 1].max()
    beyond = np.nonzero(t_off[:, 0] >= last)[0]
    assert len(beyond) and (m.start[beyond] == UNMAPPED).all() and (m.end[beyond] == UNMAPPED).all()


def test_stack_maps_pads_with_unmapped():
    short = window_map(np.array([NONE, (0, 2), (3, 5)]), np.array([NONE, (0, 5)]), 0, 0)
    long = window_map(np.array([NONE, NONE, (0, 2), (3, 5)]), np.array([NONE, (0, 2), (3, 5)]), 0, 0)
    stacked = stack_maps([short, long], 4, "end")
    assert stacked.tolist() == [[0, 1, 1, -1], [0, -1, 1, 2]]
