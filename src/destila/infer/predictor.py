"""Extractive question answering over any QA model folder: the piece transformers' pipeline used to provide.

`Predictor` answers like transformers 5.2.0's `pipeline("question-answering")` (same windows, scores, word
alignment, merging and output structure; see `destila.infer.postprocess`) but runs windows in length-sorted,
dynamically padded batches, in inference mode, with one tokenizer call per batch of questions.

A runner turns numpy `input_ids` / `attention_mask` / `token_type_ids` into numpy start and end logits: a PyTorch
model, an ONNX session for exported folders, or any other backend of `destila.infer.runners`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from destila.data.types import QADataset
from destila.errors import ConfigError
from destila.infer.features import Windows, encode_windows
from destila.infer.postprocess import (
    ExamplePrediction,
    WindowResult,
    decode_example,
    n_candidates,
    window_candidates,
)
from destila.infer.runners import AUTO, make_runner
from destila.models.inputs import uses_token_type_ids

_EXAMPLES_PER_CHUNK = 4096  # examples tokenised and batched together (bounds memory on large sets)
# Windows are padded to a multiple of this many tokens (see Predictor.widths): coarse enough that windows of
# different questions share batches, fine enough that little is computed on padding.
PAD_TO_MULTIPLE_OF = 16


def _pairs(args, question, context) -> list[tuple[str, str]]:
    """Normalise the pipeline's ways of passing inputs into (question, context) pairs."""
    if args:
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            items = [{"question": args[0], "context": args[1]}]
        elif len(args) == 1:
            items = [args[0]] if isinstance(args[0], dict) else list(args[0])
        else:
            items = list(args)
    elif question is not None and context is not None:
        if isinstance(question, str) and isinstance(context, str):
            items = [{"question": question, "context": context}]
        elif isinstance(question, list) and isinstance(context, str):
            items = [{"question": q, "context": context} for q in question]
        elif isinstance(question, list) and isinstance(context, list):
            if len(question) != len(context):
                raise ConfigError(f"{len(question)} questions but {len(context)} contexts")
            items = [{"question": q, "context": c} for q, c in zip(question, context)]
        else:
            raise ConfigError("question and context must be strings, or lists of strings")
    else:
        raise ConfigError("give a question and a context")
    pairs = []
    for item in items:
        if not isinstance(item, dict) or "question" not in item or "context" not in item:
            raise ConfigError("each input needs a question and a context")
        for key in ("question", "context"):
            if not isinstance(item[key], str):
                raise ConfigError(f"{key} must be a string, got {type(item[key]).__name__}")
            if not item[key]:
                raise ConfigError(f"{key} cannot be empty")
        pairs.append((item["question"], item["context"]))
    return pairs


class Predictor:
    """Answers questions about contexts with an extractive QA model.

    >>> predictor = Predictor.from_pretrained("runs/student", threads=2)
    >>> predictor(question="¿Dónde vive?", context="Me llamo Ana y vivo en Sevilla.")
    {'score': 0.93, 'start': 23, 'end': 30, 'answer': 'Sevilla'}
    """

    def __init__(
        self,
        runner,
        tokenizer,
        *,
        batch_size: int = 16,
        max_seq_len: int = 384,
        doc_stride: int = 128,
        max_question_len: int = 64,
        max_answer_len: int = 15,
        max_batch_tokens: int | None = 2048,
        pad_to_multiple_of: int = PAD_TO_MULTIPLE_OF,
    ):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if max_batch_tokens is not None and max_batch_tokens < 1:
            raise ConfigError(f"max_batch_tokens must be at least 1, got {max_batch_tokens}")
        if pad_to_multiple_of < 1:
            raise ConfigError(f"pad_to_multiple_of must be at least 1, got {pad_to_multiple_of}")
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError("the predictor needs a fast tokenizer (character offsets)")
        model_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max < max_seq_len:
            max_seq_len = model_max
        self.runner = runner
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.pad_to_multiple_of = pad_to_multiple_of
        self.max_seq_len = max_seq_len
        self.doc_stride = doc_stride
        self.max_question_len = max_question_len
        self.max_answer_len = max_answer_len
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.cls_id = tokenizer.cls_token_id
        self.feed_token_types = uses_token_type_ids(tokenizer) and getattr(runner, "uses_token_type_ids", True)

    @classmethod
    def from_pretrained(
        cls,
        model_or_folder: str | os.PathLike,
        *,
        threads: int | None = None,
        batch_size: int = 16,
        max_seq_len: int = 384,
        doc_stride: int = 128,
        max_question_len: int = 64,
        max_answer_len: int = 15,
        device: str = "cpu",
        max_batch_tokens: int | None = 2048,
        backend: str = AUTO,
    ) -> Predictor:
        """Load a QA model folder, hub id, `offline:` name or exported folder with its tokenizer.

        `backend` names the runner (`destila.infer.runners`); `auto` runs `model.onnx` when the folder holds one,
        else the PyTorch weights."""
        from destila.models.hub import load_tokenizer, resolve_model

        folder = resolve_model(model_or_folder)
        tokenizer = load_tokenizer(folder)
        runner = make_runner(folder, backend=backend, threads=threads, device=device)
        return cls(runner, tokenizer, batch_size=batch_size, max_seq_len=max_seq_len, doc_stride=doc_stride,
                   max_question_len=max_question_len, max_answer_len=max_answer_len, max_batch_tokens=max_batch_tokens)

    # -- the pipeline-compatible call -------------------------------------------------------------------------

    def __call__(
        self,
        *args,
        question: str | list[str] | None = None,
        context: str | list[str] | None = None,
        top_k: int = 1,
        doc_stride: int | None = None,
        max_answer_len: int | None = None,
        max_seq_len: int | None = None,
        max_question_len: int | None = None,
        handle_impossible_answer: bool = False,
        align_to_words: bool = True,
    ):
        """Answer one (question, context) pair or many; the output has the pipeline's structure: a dict
        `{score, start, end, answer}` per answer, a list of them when `top_k` > 1, a list of those per input
        when several pairs are given."""
        if top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {top_k}")
        pairs = _pairs(args, question, context)
        preds = self.predict_pairs(
            [q for q, _ in pairs],
            [c for _, c in pairs],
            top_k=top_k,
            handle_impossible_answer=handle_impossible_answer,
            doc_stride=doc_stride,
            max_answer_len=max_answer_len,
            max_seq_len=max_seq_len,
            max_question_len=max_question_len,
            align_to_words=align_to_words,
        )
        results = [p.answers[0] if len(p.answers) == 1 else p.answers for p in preds]
        return results[0] if len(results) == 1 else results

    # -- batch prediction -------------------------------------------------------------------------------------

    def predict_pairs(
        self,
        questions: Sequence[str],
        contexts: Sequence[str],
        *,
        top_k: int = 1,
        handle_impossible_answer: bool = False,
        doc_stride: int | None = None,
        max_answer_len: int | None = None,
        max_seq_len: int | None = None,
        max_question_len: int | None = None,
        align_to_words: bool = True,
        progress: bool = False,
        n_best: int | None = None,
        null_threshold: float = 0.0,
    ) -> list[ExamplePrediction]:
        """Predictions for each pair, in order (answers, null score, best span score).

        Each window proposes its `n_best` best spans (default `2 * top_k + 10`, the pipeline's number). With
        `handle_impossible_answer` the empty answer ranks by its null score minus `null_threshold` (a model's
        stored no-answer threshold, `destila.no_answer`)."""
        if max_seq_len is None:
            max_seq_len = self.max_seq_len
        if doc_stride is None:
            doc_stride = min(self.doc_stride, max_seq_len // 2)
        if max_answer_len is None:
            max_answer_len = self.max_answer_len
        if max_question_len is None:
            max_question_len = self.max_question_len
        if doc_stride > max_seq_len:
            raise ConfigError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len})")
        if max_answer_len < 1:
            raise ConfigError(f"max_answer_len must be at least 1, got {max_answer_len}")
        if n_best is None:
            n_best = n_candidates(top_k)
        if n_best < 1:
            raise ConfigError(f"n_best must be at least 1, got {n_best}")

        out: list[ExamplePrediction] = []
        with _progress(progress, len(questions)) as advance:
            for lo in range(0, len(questions), _EXAMPLES_PER_CHUNK):
                hi = min(lo + _EXAMPLES_PER_CHUNK, len(questions))
                windows = encode_windows(
                    questions[lo:hi],
                    contexts[lo:hi],
                    self.tokenizer,
                    max_seq_len,
                    doc_stride,
                    max_question_len,
                )
                results = self._run(windows, max_seq_len, n_best, max_answer_len, advance)
                bounds = np.searchsorted(windows.example_index, np.arange(hi - lo + 1))
                for i in range(hi - lo):
                    out.append(
                        decode_example(
                            contexts[lo + i],
                            windows.contexts[i],
                            results[bounds[i] : bounds[i + 1]],
                            top_k=top_k,
                            handle_impossible_answer=handle_impossible_answer,
                            align_to_words=align_to_words,
                            null_threshold=null_threshold,
                        )
                    )
        return out

    def predict_dataset(
        self,
        dataset: QADataset,
        progress: bool = True,
        handle_impossible_answer: bool | None = None,
        null_threshold: float = 0.0,
        max_answer_len: int | None = None,
        n_best: int | None = None,
    ) -> tuple[dict[str, str], dict[str, float]]:
        """(predictions id -> answer text, null_odds id -> null score minus best span score), ready for
        `destila.metrics.score`. On SQuAD v2.0 data the empty answer wins when its odds exceed `null_threshold`
        (as `handle_impossible_answer` does in the pipeline); on v1.1 data the best span is always given.
        `max_answer_len` and `n_best` override the predictor's for this call (see `predict_pairs`)."""
        if handle_impossible_answer is None:
            handle_impossible_answer = dataset.version == "2.0"
        examples = dataset.examples
        preds = self.predict_pairs(
            [ex.question for ex in examples],
            [ex.context for ex in examples],
            top_k=1,
            max_answer_len=max_answer_len,
            progress=progress,
            n_best=n_best,
        )
        predictions, null_odds = {}, {}
        for ex, p in zip(examples, preds):
            predictions[ex.id] = p.text(handle_impossible_answer, null_threshold)
            null_odds[ex.id] = p.null_odds
        return predictions, null_odds

    def widths(self, lengths: np.ndarray, max_seq_len: int) -> np.ndarray:
        """The width each window is padded to: its length rounded up to a multiple of `pad_to_multiple_of`, at
        most `max_seq_len`. A window's width depends on the window alone, never on the windows beside it."""
        step = self.pad_to_multiple_of
        return np.maximum(lengths, np.minimum(-(-lengths // step) * step, max_seq_len))

    def _batches(self, sorted_widths: np.ndarray) -> list[tuple[int, int]]:
        """Consecutive (lo, hi) ranges of the widest-first windows: windows of one width only, at most `batch_size`
        of them and at most `max_batch_tokens` tokens (a single window may exceed it). Moderate batches run fastest
        on a few CPU cores: big enough for efficient matrix products, small enough to stay in cache."""
        out, lo, n = [], 0, len(sorted_widths)
        while lo < n:
            hi = min(lo + self.batch_size, n)
            if self.max_batch_tokens is not None:
                hi = min(hi, lo + max(1, self.max_batch_tokens // max(1, int(sorted_widths[lo]))))
            hi = lo + int(np.count_nonzero(sorted_widths[lo:hi] == sorted_widths[lo]))
            out.append((lo, hi))
            lo = hi
        return out

    def _run(self, windows: Windows, max_seq_len: int, n_best: int, max_answer_len: int, advance) -> list[WindowResult]:
        """Run every window through the model, widest first, in batches of equal width; keep candidates.

        Every window is padded to its own width (`widths`) and shares a batch only with windows of that width, so
        each window is computed exactly as it would be alone: an answer never depends on the other questions of a
        call (matrix products give each row the same result whatever the batch size; padding does not)."""
        lengths = np.fromiter((len(ids) for ids in windows.input_ids), dtype=np.int64, count=len(windows))
        widths = self.widths(lengths, max_seq_len)
        order = np.argsort(-widths, kind="stable")
        results: list[WindowResult | None] = [None] * len(windows)
        done_examples = 0
        for lo, hi in self._batches(widths[order]):
            rows = order[lo:hi]
            width = int(widths[rows[0]])
            ids, mask, type_ids = self._pad(windows, rows, lengths, width)
            start_logits, end_logits = self.runner(ids, mask, type_ids)
            ctx_pos, ctx_len = windows.ctx_pos[rows], windows.ctx_len[rows]
            positions = np.arange(width)[None, :]
            keep = (positions >= ctx_pos[:, None]) & (positions < (ctx_pos + ctx_len)[:, None])
            if self.cls_id is not None:
                keep |= (ids == self.cls_id) & (mask == 1)
            cand = window_candidates(
                start_logits,
                end_logits,
                keep,
                ctx_pos=ctx_pos,
                ctx_len=ctx_len,
                cls_index=windows.cls_index[rows],
                max_answer_len=max_answer_len,
                n_best=n_best,
            )
            for j, k in enumerate(rows):
                results[k] = WindowResult(
                    ctx_start=int(windows.ctx_start[k]),
                    ctx_len=int(ctx_len[j]),
                    ctx_pos=int(ctx_pos[j]),
                    null=float(cand.null[j]),
                    starts=cand.starts[j],
                    ends=cand.ends[j],
                    scores=cand.scores[j],
                )
            # progress in examples: count those whose windows are all done is costly; approximate by share
            finished = round(hi / len(order) * (windows.example_index[-1] + 1))
            advance(finished - done_examples)
            done_examples = finished
        return results  # type: ignore[return-value]

    def _pad(self, windows: Windows, rows: np.ndarray, lengths: np.ndarray, width: int):
        """The model inputs of windows `rows`, padded to `width`: ids, mask, and token types when they are fed."""
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = windows.token_type_ids if self.feed_token_types else None
        type_ids = np.zeros((len(rows), width), dtype=np.int64) if types is not None else None
        for j, k in enumerate(rows):
            n = lengths[k]
            ids[j, :n] = windows.input_ids[k]
            mask[j, :n] = 1
            if type_ids is not None:
                type_ids[j, :n] = types[k]
        return ids, mask, type_ids


class _progress:
    """A rich progress bar over examples, or nothing."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled and total > 0, total
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task("answering", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False
