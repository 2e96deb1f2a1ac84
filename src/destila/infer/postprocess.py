"""From start/end logits to answers, in numpy.

The rules are those of transformers' question-answering pipeline (5.2.0, the last release that has it), so that
destila's predictor gives the same answers:

- in each window, start and end logits outside the context (and outside the classification token) are set to
  -10000 and each is soft-maxed over the window, in float32;
- the null (no-answer) score of a window is p_start(CLS) * p_end(CLS); an example's null score is the minimum
  over its windows;
- a span's score is p_start(i) * p_end(j) for context tokens i <= j < i + max_answer_len; each window proposes
  its best `2 * top_k + 10` spans;
- a span is widened to whole words (the tokenizer's words, within the window) and read from the context;
  spans whose texts are equal ignoring case are merged, their scores added, the first one's position kept;
- with `handle_impossible_answer` the empty answer competes with its null score; answers are ranked by score
  (a tie keeps the earlier one) and the best `top_k` kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from destila.infer.features import ContextTokens

MASKED_LOGIT = -10000.0
NULL_CEILING = 1_000_000.0  # the null score before any window is seen


def n_candidates(top_k: int) -> int:
    """Spans each window proposes (room for the ones that merge when widened to words)."""
    return 2 * top_k + 10


def softmax_masked(logits: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Row-wise float32 softmax with positions outside `keep` set to a very low logit."""
    x = np.where(keep, logits.astype(np.float32, copy=False), np.float32(MASKED_LOGIT))
    x = np.exp(x - x.max(axis=-1, keepdims=True))
    return x / x.sum(axis=-1, keepdims=True)


@dataclass
class WindowCandidates:
    """Best spans of a batch of windows, in window token positions. Scores are -1 where a window has fewer."""

    null: np.ndarray  # (B,) float32
    starts: np.ndarray  # (B, K) int
    ends: np.ndarray  # (B, K) int
    scores: np.ndarray  # (B, K) float32


def window_candidates(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    keep: np.ndarray,
    *,
    ctx_pos: np.ndarray,
    ctx_len: np.ndarray,
    cls_index: np.ndarray,
    max_answer_len: int = 15,
    n_best: int = 12,
) -> WindowCandidates:
    """Score every span of every window of a (padded) batch at once and keep each window's `n_best`.

    `keep` marks the positions that enter the softmax (the context and the classification token); the context of
    row b is positions [ctx_pos[b], ctx_pos[b] + ctx_len[b]).
    """
    p_start = softmax_masked(start_logits, keep)
    p_end = softmax_masked(end_logits, keep)
    batch, width = p_start.shape
    rows = np.arange(batch)
    null = p_start[rows, cls_index] * p_end[rows, cls_index]
    p_start[rows, cls_index] = 0.0
    p_end[rows, cls_index] = 0.0

    span = max(1, min(max_answer_len, width))
    # band[b, i, d] = p_start[b, i] * p_end[b, i + d]: every span of at most `span` tokens
    p_end_padded = np.concatenate([p_end, np.zeros((batch, span - 1), dtype=p_end.dtype)], axis=1)
    end_index = np.arange(width)[:, None] + np.arange(span)[None, :]
    band = p_start[:, :, None] * p_end_padded[:, end_index]
    ctx_stop = (ctx_pos + ctx_len)[:, None, None]
    valid = (np.arange(width)[None, :, None] >= ctx_pos[:, None, None]) & (end_index[None] < ctx_stop)
    band = np.where(valid, band, np.float32(-1.0)).reshape(batch, width * span)

    k = min(n_best, band.shape[1])
    top = np.argpartition(-band, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(band, top, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    starts = top // span
    return WindowCandidates(null=null, starts=starts, ends=starts + top % span, scores=vals)


@dataclass
class ExamplePrediction:
    """Answers of one example, best first, as the pipeline returns them (the empty answer included when it
    competes), its null score and the best non-empty span's score."""

    answers: list[dict] = field(default_factory=list)
    null_score: float = NULL_CEILING
    best_score: float = 0.0
    best_text: str = ""

    @property
    def null_odds(self) -> float:
        """Null score minus the best span's score: above 0 the empty answer wins (SQuAD v2 `na_prob`)."""
        return self.null_score - self.best_score

    def text(self, handle_impossible_answer: bool, null_threshold: float = 0.0) -> str:
        """The answer text; empty when the null score beats the best span by more than `null_threshold`."""
        if handle_impossible_answer and self.null_odds > null_threshold:
            return ""
        return self.best_text


@dataclass
class WindowResult:
    """One window's candidates, kept until all windows of its example are scored."""

    ctx_start: int
    ctx_len: int
    ctx_pos: int
    null: float
    starts: np.ndarray
    ends: np.ndarray
    scores: np.ndarray


def decode_example(
    context: str,
    tokens: ContextTokens,
    windows: list[WindowResult],
    *,
    top_k: int = 1,
    handle_impossible_answer: bool = False,
    align_to_words: bool = True,
    null_threshold: float = 0.0,
) -> ExamplePrediction:
    """Merge the candidates of an example's windows (in window order) into ranked answers. With
    `handle_impossible_answer` the empty answer is ranked by its null score minus `null_threshold` (its score
    stays the null score), so that it comes first exactly when `ExamplePrediction.text` gives ""."""
    offsets = tokens.offsets
    first_tok, last_tok = tokens.word_span() if align_to_words else (None, None)
    answers: list[dict] = []
    by_text: dict[str, dict] = {}
    null_score = NULL_CEILING
    for w in windows:
        null_score = min(null_score, float(w.null))
        ok = w.scores >= 0
        if not ok.any():
            continue
        ci = w.starts[ok] - w.ctx_pos + w.ctx_start
        ce = w.ends[ok] - w.ctx_pos + w.ctx_start
        char_start, char_end = offsets[ci, 0], offsets[ce, 1]
        if align_to_words:
            fs, le = first_tok[ci], last_tok[ce]
            words = (fs >= 0) & (le >= 0)
            lo, hi = w.ctx_start, w.ctx_start + w.ctx_len - 1
            char_start = np.where(words, offsets[np.clip(fs, lo, hi), 0], char_start)
            char_end = np.where(words, offsets[np.clip(le, lo, hi), 1], char_end)
        for cs, cend, sc in zip(char_start.tolist(), char_end.tolist(), w.scores[ok].tolist()):
            text = context[cs:cend]
            key = text.lower()
            seen = by_text.get(key)
            if seen is not None:
                seen["score"] += sc
            else:
                entry = {"score": sc, "start": cs, "end": cend, "answer": text}
                by_text[key] = entry
                answers.append(entry)
    best = max(answers, key=lambda a: a["score"]) if answers else None
    pred = ExamplePrediction(
        null_score=null_score,
        best_score=best["score"] if best else 0.0,
        best_text=best["answer"] if best else "",
    )
    ranked = list(answers)
    null = {"score": null_score, "start": 0, "end": 0, "answer": ""}
    if handle_impossible_answer:
        ranked.append(null)
    ranked.sort(key=lambda a: a["score"] - (null_threshold if a is null else 0.0), reverse=True)
    pred.answers = ranked[:top_k]
    return pred


# ---- answers as a person reads them ------------------------------------------------------------------------
# The pipeline's spans keep what word alignment brings along: the space before a SentencePiece word and the
# punctuation glued to the last word (" 1819", " más de tres millones de visitantes."). `destila serve` and
# `destila answer` show answers without them; the Predictor itself keeps the pipeline's spans.

_EDGE = " ,;:…—–"  # dropped at either end (with any other whitespace)
_PAIRS = {"(": ")", "[": "]", "{": "}", "«": "»", "“": "”", "¿": "?", "¡": "!"}
_CLOSERS = {close: open_ for open_, close in _PAIRS.items()}
_QUOTES = "\"'"
# A final "." that belongs to the answer: Spanish abbreviations that end one ("etc.", "Sra.", "a. C.", "EE. UU.")
_ABBREVIATIONS = frozenset(
    "etc sr sra srta dr dra ud uds vd vds núm pág págs vol ed cap art av avda sto sta fig aprox cía".split()
)


def _ends_with_abbreviation(text: str) -> bool:
    """Whether the dot after `text` closes an abbreviation: a single letter ("a. C."), a doubled capital ("EE.
    UU."), a word holding dots ("S.A.") or a listed abbreviation; a dot after a dot is an ellipsis."""
    word = text.rsplit(None, 1)[-1] if text.strip() else ""
    if not word or word.endswith("."):
        return False
    return (
        (len(word) == 1 and word.isalpha())
        or (len(word) == 2 and word.isupper() and word[0] == word[1])
        or "." in word
        or word.lower() in _ABBREVIATIONS
    )


def _unpaired(text: str, char: str, at_end: bool) -> bool:
    """Whether a bracket or quote at one end of `text` lacks its partner inside the rest of it."""
    rest = text[:-1] if at_end else text[1:]
    if char in _QUOTES:
        return rest.count(char) % 2 == 0
    partner = _CLOSERS.get(char) if at_end else _PAIRS.get(char)
    return partner is not None and partner not in rest


def trim_span(text: str) -> tuple[int, int]:
    """How many characters to drop from the start and from the end of an answer: surrounding whitespace, commas,
    colons, dashes, a final full stop (not an abbreviation's), and brackets or quotes whose partner is outside."""
    lo, hi = 0, len(text)
    while lo < hi:
        c = text[hi - 1]
        if c.isspace() or c in _EDGE or (c == "." and not _ends_with_abbreviation(text[lo : hi - 1])):
            hi -= 1
        elif (c in _CLOSERS or c in _QUOTES) and _unpaired(text[lo:hi], c, at_end=True):
            hi -= 1
        else:
            break
    while lo < hi:
        c = text[lo]
        if c.isspace() or c in _EDGE or ((c in _PAIRS or c in _QUOTES) and _unpaired(text[lo:hi], c, at_end=False)):
            lo += 1
        else:
            break
    return lo, len(text) - hi


def clean_answer(answer: dict) -> dict:
    """A pipeline answer `{score, start, end, answer}` trimmed by `trim_span`, its offsets moved with it
    (`context[start:end] == answer` still holds). The empty (no-answer) answer, and one that would be left
    empty, are returned unchanged."""
    text = answer["answer"]
    lead, trail = trim_span(text)
    if lead + trail >= len(text):
        return dict(answer)
    return {
        **answer,
        "answer": text[lead : len(text) - trail],
        "start": answer["start"] + lead,
        "end": answer["end"] - trail,
    }


def clean_answers(answers: list[dict]) -> list[dict]:
    """`clean_answer` on each of a ranked list. Answers that become equal (ignoring case) are merged as the
    pipeline merges equal spans, scores added and the first one's position kept, then ranked again by score; the
    empty (no-answer) answer keeps its rank among them (a no-answer threshold may have ranked it, not its score)."""
    merged: dict[str, dict] = {}
    empty_rank = None
    for answer in map(clean_answer, answers):
        if answer["answer"] == "":
            if empty_rank is None:
                empty_rank, empty = len(merged), answer
            else:
                empty["score"] += answer["score"]
            continue
        seen = merged.get(answer["answer"].lower())
        if seen is None:
            merged[answer["answer"].lower()] = answer
        else:
            seen["score"] += answer["score"]
    ranked = sorted(merged.values(), key=lambda a: a["score"], reverse=True)
    if empty_rank is not None:
        ranked.insert(empty_rank, empty)
    return ranked
