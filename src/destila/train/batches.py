"""Training windows and the order they are seen in.

The order is a pure function of (seed, epoch, number of windows, global micro-batch size), never of the number
of processes: a run on two processes with half the per-process batch sees exactly the windows a one-process run
sees, and a resumed run regenerates the order of its epoch and skips what was already done.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from destila.data.types import QADataset
from destila.errors import ConfigError
from destila.infer.features import pad_batch, prepare_train_features

TRAIN_KEYS = ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")
# The label of a window with no gold answer to learn from: past the end of any window, so the task loss ignores it
# (positions outside the sequence are ignored, as in transformers' QA heads).
IGNORED_POSITION = 2**31 - 1


@dataclass
class TrainFeatures:
    """Unpadded training windows: plain lists, one entry per window."""

    data: dict[str, list]

    def __len__(self) -> int:
        return len(self.data["input_ids"])

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(ids) for ids in self.data["input_ids"]], dtype=np.int64)


def build_train_features(examples, tokenizer, max_length: int, doc_stride: int, max_query_length: int | None):
    """Training windows; `max_query_length` None never cuts a question (a window then needs room for all of it).

    Windows of augmented examples (copies without gold answers, `QAExample.augmented`) follow the originals' and
    are labelled `IGNORED_POSITION`: they add no cross-entropy, only the terms that read the teacher.
    """

    def windows(part):
        data = prepare_train_features(
            part, tokenizer, max_length=max_length, doc_stride=doc_stride,
            max_query_length=max_query_length or max_length,
        )
        return {k: v for k, v in data.items() if k in TRAIN_KEYS}

    data = windows([ex for ex in examples if not ex.augmented])
    copies = [ex for ex in examples if ex.augmented]
    if copies:
        extra = windows(copies)
        for key in ("start_positions", "end_positions"):
            extra[key] = [IGNORED_POSITION] * len(extra[key])
        data = {key: data[key] + extra[key] for key in data}
    return TrainFeatures(data)


def strip_questions(dataset: QADataset) -> QADataset:
    """A copy whose questions have no surrounding spaces."""
    examples = [dataclasses.replace(ex, question=ex.question.strip()) for ex in dataset.examples]
    return dataclasses.replace(dataset, examples=examples)


def hold_out_articles(dataset: QADataset, fraction: float, seed: int) -> tuple[QADataset, QADataset]:
    """(kept, held out): a seeded `fraction` of the articles (by title), whole, goes to the second set.

    Titles are counted over the originals only, so that augmenting the data holds out the same articles."""
    titles = list(dict.fromkeys(ex.title for ex in dataset.examples if not ex.augmented))
    n_out = math.ceil(fraction * len(titles))
    if len(titles) < 2 or n_out >= len(titles):
        raise ConfigError(
            f"train.validation_fraction: {dataset.name} has {len(titles)} article(s); holding out {fraction:g} "
            "of them leaves nothing to train or to validate on"
        )
    rng = np.random.default_rng([seed, 7])
    held = {titles[i] for i in rng.choice(len(titles), size=n_out, replace=False)}
    kept = [ex for ex in dataset.examples if ex.title not in held]
    # augmented copies of held-out articles have no gold answers to score: they are neither trained on nor scored
    out = [ex for ex in dataset.examples if ex.title in held and not ex.augmented]
    name = f"{dataset.name} (validation: {n_out} of {len(titles)} articles)"
    return (dataclasses.replace(dataset, examples=kept),
            dataclasses.replace(dataset, examples=out, name=name))


def training_windows(tokenizer, train, count: int, seed: int) -> dict:
    """Windows (with gold positions) of a seeded sample of the training questions of `train` (a TrainConfig):
    its data, window settings and held-out articles (`validation_fraction`) as the training run reads them, so
    that nothing scored here is an article the run holds out, and eval data is never read."""
    import random

    from destila.data import load_dataset

    dataset = load_dataset(train.train_data, data_dir=train.data_dir)
    if train.validation_fraction:
        dataset, _ = hold_out_articles(dataset, train.validation_fraction, train.seed)
    examples = [ex for ex in dataset.examples if not ex.augmented]
    if not examples:
        raise ConfigError(f"student.prune: the training data {train.train_data!r} holds no questions")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    chosen = [examples[i] for i in sorted(order[:count])]  # about one window a question; more are sampled below
    return build_train_features(chosen, tokenizer, train.max_length, train.doc_stride, train.max_query_length).data


@dataclass
class BatchPlan:
    """Which windows make up each global micro-batch of each epoch.

    A global micro-batch holds `per_process * num_processes` windows; process r takes its r-th slice.
    `grad_accum` consecutive micro-batches make one optimiser step. The incomplete tail of an epoch is
    dropped, so every process always has the same number of windows.
    """

    lengths: np.ndarray
    per_process: int
    num_processes: int
    grad_accum: int
    seed: int
    group_by_length: bool = False

    def __post_init__(self) -> None:
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"train.batch_size: {len(self.lengths)} training windows are fewer than one optimiser step needs "
                f"({self.per_process} x {self.num_processes} processes x {self.grad_accum} accumulation); "
                "use more data or a smaller batch"
            )
        self._cache: tuple[int, list[np.ndarray]] | None = None

    @property
    def global_batch(self) -> int:
        return self.per_process * self.num_processes

    @property
    def steps_per_epoch(self) -> int:
        return len(self.lengths) // self.global_batch // self.grad_accum

    def total_steps(self, epochs: float, max_steps: int | None) -> int:
        return max_steps if max_steps else max(1, math.ceil(epochs * self.steps_per_epoch))

    def _epoch(self, epoch: int) -> list[np.ndarray]:
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        n_batches = self.steps_per_epoch * self.grad_accum
        size = self.global_batch
        if self.group_by_length:
            # Sort within chunks of 50 batches, then shuffle the batches: little padding, still random.
            chunk = size * 50
            parts = [order[i : i + chunk] for i in range(0, len(order), chunk)]
            order = np.concatenate([p[np.argsort(-self.lengths[p], kind="stable")] for p in parts])
            batches = [order[i * size : (i + 1) * size] for i in range(len(order) // size)]
            batches = [batches[i] for i in rng.permutation(len(batches))][:n_batches]
        else:
            batches = [order[i * size : (i + 1) * size] for i in range(n_batches)]
        self._cache = (epoch, batches)
        return batches

    def step_rows(self, step: int, process_index: int) -> list[np.ndarray]:
        """The window indices this process handles in each micro-batch of optimiser step `step` (0-based)."""
        epoch, within = divmod(step, self.steps_per_epoch)
        batches = self._epoch(epoch)
        lo, hi = process_index * self.per_process, (process_index + 1) * self.per_process
        return [batches[within * self.grad_accum + k][lo:hi] for k in range(self.grad_accum)]

    def epoch_of(self, step: int) -> float:
        return step / self.steps_per_epoch


def collate(features: TrainFeatures, rows, pad_token_id: int, *, pad_to: int | None, device, multiple: int = 1,
            max_length: int | None = None) -> dict:
    """Tensors for `rows`, padded to their longest window rounded up to a multiple of `multiple` (never past
    `max_length`), or to `pad_to` when given."""
    batch = pad_batch(features.data, list(rows), pad_token_id)
    length = batch["input_ids"].shape[1]
    if pad_to is None and multiple > 1:
        pad_to = -(-length // multiple) * multiple
        if max_length is not None:
            pad_to = max(length, min(pad_to, max_length))
    if pad_to is not None and length < pad_to:
        extra = pad_to - length
        for key, fill in (("input_ids", pad_token_id), ("attention_mask", 0), ("token_type_ids", 0)):
            if key in batch:
                batch[key] = np.pad(batch[key], ((0, 0), (0, extra)), constant_values=fill)
    out = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
    out["feature_index"] = torch.as_tensor(np.asarray(rows, dtype=np.int64), device=device)
    return out
