"""SpanishTinyRoBERTa's evaluation, as its authors' `evaluation.py` (with `configs/evaluation1.json`) computes it.

Their rules, each kept here:

- **Windows**: `tokenizer(question.strip(), context, max_length=384, truncation="only_second", stride=128,
  return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")`: the question is never cut
  and every window is padded to `max_length`. The model is given `input_ids` and `attention_mask` only.
- **A window's span**: the arg-max of the start logits and the arg-max of the end logits, each taken separately
  over every position (question, special tokens and padding included). The pair is kept unless
  `end < start or end - start + 1 > max_answer_length` (their test), i.e. kept when `start <= end` and it covers at
  most `max_answer_length` tokens (30: `end - start <= 29`).
- **Its text**: `context[offsets[start][0]:offsets[end][1]]` with the offsets of whatever tokens those are: a
  question token's offsets index the question, yet the text is cut from the context; special and padding tokens
  have offsets (0, 0), so a pair of them gives "" (and a special start with a context end gives the context from
  its first character). Their offsets are never cleared, so no position is skipped.
- **Its score**: start logit + end logit.
- **A question's answer**: the kept pair of highest score over its windows (the first on a tie), "" when no
  window keeps one.

Their arg-max is `np.argsort(logits)[-1]` (n-best 1); it differs from `argmax` only among exactly equal logits.

Their last partial batch is written at the wrong offset (`offset = batch_id * len(start_logits)`): with `B` windows
a batch and a last batch of `r < B`, the last batch's logits land on rows `(b-1)·r ...` instead of `(b-1)·B ...`,
so `r` earlier windows are decoded with the last windows' logits and the last `r` windows keep whatever their
`np.empty` array held. `partial_batch_slip` reproduces this, with zeros for the never-written rows (a large fresh
`np.empty` array is usually zero pages, but theirs may hold anything). A zero row decodes to "" with score 0: `argmax`
picks position 0 (the first special token), their argsort the last position (padding or the final special token),
and both have offsets (0, 0). The slip is offered only on request (`slip_batch_size`); it is not their method, only
their code's accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from destila.errors import ConfigError

MAX_LENGTH = 384  # their configs/evaluation1.json
STRIDE = 128
MAX_ANSWER_LENGTH = 30
BATCH_SIZE = 64


@dataclass
class AuthorsWindows:
    """Every window of a list of questions, as their tokenizer call builds them."""

    input_ids: np.ndarray  # (windows, max_length) int64
    attention_mask: np.ndarray  # (windows, max_length) int64
    offsets: np.ndarray  # (windows, max_length, 2) int64: characters of the question or the context; (0, 0) else
    example_index: np.ndarray  # (windows,) the question each window belongs to


def authors_windows(
    questions: Sequence[str], contexts: Sequence[str], tokenizer, max_length: int = MAX_LENGTH, stride: int = STRIDE
) -> AuthorsWindows:
    """Their windows: questions stripped and never cut, contexts cut with `stride` tokens shared, padded to
    `max_length`."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("the authors' protocol needs a fast tokenizer (character offsets)")
    if len(questions) != len(contexts):
        raise ConfigError(f"{len(questions)} questions but {len(contexts)} contexts")
    stripped = [q.strip() for q in questions]
    try:
        enc = tokenizer(
            stripped,
            list(contexts),
            max_length=max_length,
            truncation="only_second",
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding="max_length",
        )
    except Exception as exc:  # the tokenizer's own error does not say which question
        raise ConfigError(f"{_too_long(stripped, tokenizer, max_length, stride)}; the authors' protocol never cuts "
                          f"the question: raise --max-seq-len or lower --doc-stride ({exc})") from None
    return AuthorsWindows(
        input_ids=np.array(enc["input_ids"], dtype=np.int64).reshape(-1, max_length),
        attention_mask=np.array(enc["attention_mask"], dtype=np.int64).reshape(-1, max_length),
        offsets=np.array(enc["offset_mapping"], dtype=np.int64).reshape(-1, max_length, 2),
        example_index=np.array(enc["overflow_to_sample_mapping"], dtype=np.int64),
    )


def _too_long(questions: list[str], tokenizer, max_length: int, stride: int) -> str:
    """Which question leaves the context no more room than the stride (their tokenizer call fails on it)."""
    special = tokenizer.num_special_tokens_to_add(pair=True)
    lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    for i, n in enumerate(lengths):
        if max_length - n - special <= stride:
            return (f"question {i} has {n} tokens, which with {special} special tokens leaves the context "
                    f"{max(max_length - n - special, 0)} of max_length {max_length}, not more than the stride {stride}")
    return f"windows of {max_length} tokens with stride {stride} cannot be built"


def decode(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: np.ndarray,
    example_index: np.ndarray,
    contexts: Sequence[str],
    max_answer_len: int = MAX_ANSWER_LENGTH,
) -> list[str]:
    """One answer per context (question), by their rules: see the module's docstring.

    `start_logits`, `end_logits`: (windows, length); `offsets`: (windows, length, 2); `example_index`: the question
    of each window, windows in their order."""
    rows = np.arange(len(start_logits))
    start = np.argmax(start_logits, axis=1)
    end = np.argmax(end_logits, axis=1)
    scores = start_logits[rows, start].astype(np.float64) + end_logits[rows, end].astype(np.float64)
    kept = np.flatnonzero((end >= start) & (end - start + 1 <= max_answer_len))
    # per question: highest score first, then the earliest window (their max() keeps the first of equal scores)
    order = kept[np.lexsort((kept, -scores[kept], example_index[kept]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = example_index[order][1:] != example_index[order][:-1]
    answers = [""] * len(contexts)
    for k in order[first]:
        i = int(example_index[k])
        answers[i] = contexts[i][offsets[k, start[k], 0] : offsets[k, end[k], 1]]
    return answers


def partial_batch_slip(logits: np.ndarray, batch_size: int) -> np.ndarray:
    """The logits array their loop leaves: batch b written from row `b * len(batch)`; rows never written are 0."""
    if batch_size < 1:
        raise ConfigError(f"the partial-batch slip needs a batch size of at least 1, got {batch_size}")
    out = np.zeros_like(logits)
    for b, lo in enumerate(range(0, len(logits), batch_size)):
        batch = logits[lo : lo + batch_size]
        out[b * len(batch) : (b + 1) * len(batch)] = batch
    return out


def predict_authors(
    runner,
    tokenizer,
    questions: Sequence[str],
    contexts: Sequence[str],
    *,
    max_length: int = MAX_LENGTH,
    stride: int = STRIDE,
    max_answer_len: int = MAX_ANSWER_LENGTH,
    batch_size: int = 16,
    slip_batch_size: int | None = None,
) -> list[str]:
    """Answer each (question, context) pair as their evaluation.py does. `runner` gets `input_ids` and
    `attention_mask` only, `batch_size` windows at a time (every window is `max_length` wide, so a batch adds no
    padding); `slip_batch_size`: reproduce their partial-batch slip for batches of that many windows."""
    windows = authors_windows(questions, contexts, tokenizer, max_length, stride)
    starts, ends = [], []
    for lo in range(0, len(windows.input_ids), batch_size):
        s, e = runner(windows.input_ids[lo : lo + batch_size], windows.attention_mask[lo : lo + batch_size])
        starts.append(np.asarray(s, dtype=np.float32))
        ends.append(np.asarray(e, dtype=np.float32))
    start_logits = np.concatenate(starts) if starts else np.zeros((0, max_length), dtype=np.float32)
    end_logits = np.concatenate(ends) if ends else np.zeros((0, max_length), dtype=np.float32)
    if slip_batch_size is not None:
        start_logits = partial_batch_slip(start_logits, slip_batch_size)
        end_logits = partial_batch_slip(end_logits, slip_batch_size)
    return decode(start_logits, end_logits, windows.offsets, windows.example_index, contexts, max_answer_len)
