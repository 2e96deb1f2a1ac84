"""Question/context pairs to model windows: tokens, character offsets and training labels.

A context longer than the window is cut into overlapping windows (`doc_stride` tokens shared between
neighbours), each holding the whole question. The layout of special tokens and token types is read from the
tokenizer's own post-processor, so BERT WordPiece, RoBERTa byte-level BPE and XLM-R SentencePiece tokenizers all
give the same windows as `tokenizer(question, context, truncation="only_second", stride=doc_stride,
return_overflowing_tokens=True)` does (context first, truncating "only_first", when the tokenizer pads on the left).

Two differences from that call, both deliberate: the question is cut to `max_query_length` tokens first, and a
`doc_stride` too large for the room left by the question shrinks instead of failing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from destila.data.types import QAExample
from destila.errors import ConfigError
from destila.models.inputs import uses_token_type_ids


@dataclass
class ContextTokens:
    """One tokenised context: ids, character offsets and, for each token, the first and last token of its word."""

    ids: np.ndarray  # (n,) int64
    offsets: np.ndarray  # (n, 2) int64, characters of the original context (a leading U+FEFF counts)
    word_ids: np.ndarray  # (n,) int64, -1 where the tokenizer gives no word
    _word_span: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def word_span(self) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) token index of the word of each token; -1 for tokens without a word."""
        if self._word_span is None:
            n = len(self.word_ids)
            idx = np.arange(n)
            w = self.word_ids
            new_run = np.ones(n, dtype=bool)
            if n > 1:
                new_run[1:] = (w[1:] != w[:-1]) | (w[1:] < 0)
            first = np.maximum.accumulate(np.where(new_run, idx, 0)) if n else idx
            run_end = np.ones(n, dtype=bool)
            if n > 1:
                run_end[:-1] = new_run[1:]
            last = np.minimum.accumulate(np.where(run_end, idx, n)[::-1])[::-1] if n else idx
            first = np.where(w < 0, -1, first)
            last = np.where(w < 0, -1, last)
            self._word_span = (first, last)
        return self._word_span


@dataclass
class Windows:
    """All windows of a list of examples. Window k covers context tokens [ctx_start[k], ctx_start[k] + ctx_len[k])
    of example example_index[k], placed from position ctx_pos[k] of its input_ids."""

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    example_index: np.ndarray
    ctx_pos: np.ndarray
    ctx_start: np.ndarray
    ctx_len: np.ndarray
    contexts: list[ContextTokens]  # one per example (examples sharing a context share the object)
    cls_index: np.ndarray  # position of the classification token in each window (0 for the usual templates)

    def __len__(self) -> int:
        return len(self.input_ids)

    def offsets(self, k: int) -> np.ndarray:
        """(length, 2) character span of each position of window k in its context; (-1, -1) where the position is
        not a context token (question, special tokens)."""
        out = np.full((len(self.input_ids[k]), 2), -1, dtype=np.int64)
        a, n, pos = self.ctx_start[k], self.ctx_len[k], self.ctx_pos[k]
        out[pos : pos + n] = self.contexts[self.example_index[k]].offsets[a : a + n]
        return out


@dataclass
class _Layout:
    question_first: bool
    prefix: list[int]
    middle: list[int]
    suffix: list[int]
    prefix_types: list[int]
    middle_types: list[int]
    suffix_types: list[int]
    first_type: int
    second_type: int

    @property
    def n_special(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)


_BACKEND_LOCK = threading.Lock()  # the backend's truncation/padding settings are shared state


@contextmanager
def _plain_backend(tokenizer):
    """The tokenizer's backend with truncation and padding off for the duration (restored afterwards)."""
    backend = tokenizer.backend_tokenizer
    with _BACKEND_LOCK:
        truncation, padding = backend.truncation, backend.padding
        if truncation is not None:
            backend.no_truncation()
        if padding is not None:
            backend.no_padding()
        try:
            yield backend
        finally:
            if truncation is not None:
                backend.enable_truncation(**truncation)
            if padding is not None:
                backend.enable_padding(**padding)


def _read_layout(tokenizer, backend) -> _Layout:
    question_first = getattr(tokenizer, "padding_side", "right") != "left"
    enc = backend.encode("a b", "c d", add_special_tokens=True)
    seq, ids, types = enc.sequence_ids, enc.ids, enc.type_ids
    pos0 = [i for i, s in enumerate(seq) if s == 0]
    pos1 = [i for i, s in enumerate(seq) if s == 1]
    if not pos0 or not pos1:
        raise ConfigError("tokenizer cannot encode a pair of texts (no sequence ids from its post-processor)")
    p, m0, m1, s = pos0[0], pos0[-1] + 1, pos1[0], pos1[-1] + 1
    return _Layout(
        question_first=question_first,
        prefix=ids[:p],
        middle=ids[m0:m1],
        suffix=ids[s:],
        prefix_types=types[:p],
        middle_types=types[m0:m1],
        suffix_types=types[s:],
        first_type=types[pos0[0]],
        second_type=types[pos1[0]],
    )


def _check_fast(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False) or getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ConfigError(
            "a fast tokenizer (with character offsets) is needed to build question-answering windows"
        )


def encode_windows(
    questions: Sequence[str],
    contexts: Sequence[str],
    tokenizer,
    max_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
) -> Windows:
    """Tokenise each (question, context) pair and cut the context into overlapping windows."""
    _check_fast(tokenizer)
    if len(questions) != len(contexts):
        raise ConfigError(f"{len(questions)} questions but {len(contexts)} contexts")
    if max_query_length < 1 or doc_stride < 0 or max_length < 1:
        raise ConfigError("max_length and max_query_length must be positive and doc_stride non-negative")

    layout, q_encs, ctx_tokens, ctx_of_example, shape = _tokenise(questions, contexts, tokenizer)
    out = _WindowLists(shape.want_types)
    for i, q_enc in enumerate(q_encs):
        q_ids = np.array(q_enc.ids[:max_query_length], dtype=np.int64)
        ctx = ctx_tokens[ctx_of_example[i]]
        room = max_length - len(q_ids) - layout.n_special
        if room < 1:
            raise ConfigError(
                f"max_length {max_length} leaves no room for the context after a question of {len(q_ids)} tokens "
                f"and {layout.n_special} special tokens; raise max_length or lower max_query_length"
            )
        step = room - min(doc_stride, room - 1)
        n_ctx, start = len(ctx.ids), 0
        while True:
            stop = min(start + room, n_ctx)
            out.add(i, start, stop, shape.window(q_ids, ctx.ids[start:stop]))
            if stop >= n_ctx:
                break
            start += step
    return out.windows([ctx_tokens[j] for j in ctx_of_example])


def encode_spans(
    questions: Sequence[str],
    contexts: Sequence[str],
    spans: Sequence[tuple[int, int]],
    tokenizer,
    max_length: int = 384,
    max_query_length: int = 64,
) -> Windows:
    """One window per (question, context, character span [start, end)): the context tokens whose characters meet
    the span, cut at `max_length`. Another tokenizer's view of windows `encode_windows` made (a teacher with its own
    tokenizer reading the characters of the student's windows)."""
    _check_fast(tokenizer)
    if not len(questions) == len(contexts) == len(spans):
        raise ConfigError(f"{len(questions)} questions, {len(contexts)} contexts and {len(spans)} spans")
    layout, q_encs, ctx_tokens, ctx_of_example, shape = _tokenise(questions, contexts, tokenizer)
    out = _WindowLists(shape.want_types)
    for i, (q_enc, (lo, hi)) in enumerate(zip(q_encs, spans, strict=True)):
        q_ids = np.array(q_enc.ids[:max_query_length], dtype=np.int64)
        ctx = ctx_tokens[ctx_of_example[i]]
        meets = np.nonzero((ctx.offsets[:, 1] > lo) & (ctx.offsets[:, 0] < hi))[0]
        start, stop = (int(meets[0]), int(meets[-1]) + 1) if len(meets) else (0, 0)
        stop = min(stop, start + max(0, max_length - len(q_ids) - layout.n_special))
        out.add(i, start, stop, shape.window(q_ids, ctx.ids[start:stop]))
    return out.windows([ctx_tokens[j] for j in ctx_of_example])


def _tokenise(questions, contexts, tokenizer):
    """(layout, question encodings, distinct contexts' tokens, context of each example, window shape)."""
    # Examples often share a context: tokenise each distinct one once.
    unique: dict[str, int] = {}
    ctx_of_example = [unique.setdefault(c, len(unique)) for c in contexts]
    with _plain_backend(tokenizer) as backend:
        layout = _read_layout(tokenizer, backend)
        q_encs = backend.encode_batch(list(questions), add_special_tokens=False)
        c_encs = backend.encode_batch(list(unique), add_special_tokens=False)
    ctx_tokens = [_context_tokens(enc) for enc in c_encs]
    shape = _WindowShape(layout, tokenizer.cls_token_id, uses_token_type_ids(tokenizer))
    return layout, q_encs, ctx_tokens, ctx_of_example, shape


def _context_tokens(enc) -> ContextTokens:
    n = len(enc.ids)
    offsets = np.array(enc.offsets, dtype=np.int64).reshape(n, 2)
    word_ids = np.array([-1 if w is None else w for w in enc.word_ids], dtype=np.int64)
    return ContextTokens(np.array(enc.ids, dtype=np.int64), offsets, word_ids)


class _WindowShape:
    """Where the question, the context piece, the special tokens and the classification token go in a window."""

    def __init__(self, layout: _Layout, cls_id: int | None, want_types: bool):
        self.layout, self.want_types = layout, want_types
        self.prefix = np.array(layout.prefix, dtype=np.int64)
        self.middle = np.array(layout.middle, dtype=np.int64)
        self.suffix = np.array(layout.suffix, dtype=np.int64)
        parts = (layout.prefix, layout.middle, layout.suffix)
        found = [(region, part.index(cls_id)) for region, part in enumerate(parts) if cls_id in part]
        self.cls_where = found[0] if cls_id is not None and found else None

    def window(self, q_ids: np.ndarray, piece: np.ndarray):
        """(input ids, token types or None, position of the context's first token, index of the CLS token)."""
        lay = self.layout
        if lay.question_first:
            ids = np.concatenate([self.prefix, q_ids, self.middle, piece, self.suffix])
            pos = len(self.prefix) + len(q_ids) + len(self.middle)
        else:
            ids = np.concatenate([self.prefix, piece, self.middle, q_ids, self.suffix])
            pos = len(self.prefix)
        first, second = (len(q_ids), len(piece)) if lay.question_first else (len(piece), len(q_ids))
        types = None
        if self.want_types:
            types = np.array(lay.prefix_types + [lay.first_type] * first + lay.middle_types
                             + [lay.second_type] * second + lay.suffix_types, dtype=np.int64)
        return ids, types, pos, self._cls_index(len(ids), first)

    def _cls_index(self, n_ids: int, first: int) -> int:
        if self.cls_where is None:
            return 0
        region, index = self.cls_where
        if region == 0:
            return index
        if region == 1:
            return len(self.prefix) + first + index
        return n_ids - len(self.suffix) + index


class _WindowLists:
    """The growing per-window lists that become a `Windows`."""

    def __init__(self, want_types: bool):
        self.input_ids: list[np.ndarray] = []
        self.type_ids: list[np.ndarray] | None = [] if want_types else None
        self.ex_index, self.ctx_pos, self.ctx_start, self.ctx_len, self.cls_index = [], [], [], [], []

    def add(self, example: int, start: int, stop: int, window: tuple) -> None:
        """One window of `example` over context tokens [start, stop); `window` as `_WindowShape.window` gives it."""
        ids, types, pos, cls_index = window
        self.input_ids.append(ids)
        if self.type_ids is not None:
            self.type_ids.append(types)
        self.ex_index.append(example)
        self.ctx_pos.append(pos)
        self.ctx_start.append(start)
        self.ctx_len.append(stop - start)
        self.cls_index.append(cls_index)

    def windows(self, contexts: list[ContextTokens]) -> Windows:
        def arr(values):
            return np.array(values, dtype=np.int64)

        return Windows(input_ids=self.input_ids, token_type_ids=self.type_ids, example_index=arr(self.ex_index),
                       ctx_pos=arr(self.ctx_pos), ctx_start=arr(self.ctx_start), ctx_len=arr(self.ctx_len),
                       contexts=contexts, cls_index=arr(self.cls_index))


def window_inputs(windows: Windows, tokenizer) -> dict[str, list]:
    """input_ids, attention_mask and (when the tokenizer declares them) token_type_ids of each window, unpadded."""
    return _pad_lists(windows, tokenizer, 0, False)[0]


def _pad_lists(windows: Windows, tokenizer, max_length: int, pad_to_max_length: bool):
    """input_ids / attention_mask / token_type_ids as lists, padded to max_length when asked; the left shift."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    left = getattr(tokenizer, "padding_side", "right") == "left"
    out: dict[str, list] = {"input_ids": [], "attention_mask": []}
    if windows.token_type_ids is not None:
        out["token_type_ids"] = []
    shifts = []
    for k, ids in enumerate(windows.input_ids):
        n = len(ids)
        pad = max_length - n if pad_to_max_length else 0
        shifts.append(pad if left else 0)
        ids_l = ids.tolist()
        mask = [1] * n
        types = windows.token_type_ids[k].tolist() if windows.token_type_ids is not None else None
        if pad:
            if left:
                ids_l, mask = [pad_id] * pad + ids_l, [0] * pad + mask
                types = [0] * pad + types if types is not None else None
            else:
                ids_l, mask = ids_l + [pad_id] * pad, mask + [0] * pad
                types = types + [0] * pad if types is not None else None
        out["input_ids"].append(ids_l)
        out["attention_mask"].append(mask)
        if types is not None:
            out["token_type_ids"].append(types)
    return out, shifts


def prepare_train_features(
    examples: Sequence[QAExample],
    tokenizer,
    max_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
    pad_to_max_length: bool = False,
) -> dict[str, list]:
    """Windows with start/end token labels for training.

    The label is the first gold answer's first and last token when the whole answer lies inside the window;
    otherwise (unanswerable, or the answer outside or across the window's edge) both point at the
    classification token (index 0). Returns input_ids, attention_mask, token_type_ids (only when the tokenizer
    declares them), start_positions, end_positions: one entry per window. Without `pad_to_max_length` the lists
    are unpadded (pad per batch with `pad_batch`).
    """
    windows = encode_windows(
        [ex.question for ex in examples],
        [ex.context for ex in examples],
        tokenizer,
        max_length,
        doc_stride,
        max_query_length,
    )
    # Token span of each example's answer in its context tokens (-1 when there is none).
    tok_start = np.full(len(examples), -1, dtype=np.int64)
    tok_end = np.full(len(examples), -1, dtype=np.int64)
    for i, ex in enumerate(examples):
        if ex.is_impossible or not ex.answers:
            continue
        ans = ex.answers[0]
        start_char, end_char = ans.start, ans.start + len(ans.text)
        offsets = windows.contexts[i].offsets
        if len(offsets) == 0 or end_char <= start_char:
            continue
        # Skip tokens with no characters (e.g. a lone "▁") when searching, so they never become a boundary.
        real = np.nonzero(offsets[:, 1] > offsets[:, 0])[0]
        if len(real) == 0:
            continue
        starts, ends = offsets[real, 0], offsets[real, 1]
        s = int(np.searchsorted(ends, start_char, side="right"))  # first token ending after the answer starts
        e = int(np.searchsorted(starts, end_char, side="left")) - 1  # last token starting before it ends
        if 0 <= s <= e < len(real):
            tok_start[i], tok_end[i] = real[s], real[e]

    out, shifts = _pad_lists(windows, tokenizer, max_length, pad_to_max_length)
    starts_pos, ends_pos = [], []
    for k in range(len(windows)):
        i = windows.example_index[k]
        a, n, pos = windows.ctx_start[k], windows.ctx_len[k], windows.ctx_pos[k]
        s, e = tok_start[i], tok_end[i]
        if s >= 0 and s >= a and e < a + n:
            starts_pos.append(int(s - a + pos + shifts[k]))
            ends_pos.append(int(e - a + pos + shifts[k]))
        else:
            starts_pos.append(int(windows.cls_index[k]) + shifts[k])
            ends_pos.append(int(windows.cls_index[k]) + shifts[k])
    out["start_positions"] = starts_pos
    out["end_positions"] = ends_pos
    return out


def pad_batch(features: dict[str, list], rows: Sequence[int], pad_token_id: int, padding_side: str = "right"):
    """Numpy arrays for the windows `rows` of a features dict, padded to the longest of them.

    Keys padded: input_ids (pad_token_id), attention_mask and token_type_ids (0). start_positions /
    end_positions are copied (shifted when padding on the left). Other keys are left out.
    """
    lengths = [len(features["input_ids"][r]) for r in rows]
    width = max(lengths) if lengths else 0
    left = padding_side == "left"
    batch: dict[str, np.ndarray] = {}
    for key, fill in (("input_ids", pad_token_id), ("attention_mask", 0), ("token_type_ids", 0)):
        if key not in features:
            continue
        arr = np.full((len(rows), width), fill, dtype=np.int64)
        for j, r in enumerate(rows):
            seq = features[key][r]
            if left:
                arr[j, width - len(seq) :] = seq
            else:
                arr[j, : len(seq)] = seq
        batch[key] = arr
    for key in ("start_positions", "end_positions"):
        if key in features:
            vals = np.array([features[key][r] for r in rows], dtype=np.int64)
            if left:
                vals = vals + (width - np.array(lengths, dtype=np.int64))
            batch[key] = vals
    return batch
