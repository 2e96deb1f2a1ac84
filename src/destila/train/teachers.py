"""The teachers of a distillation run: one or several, each read with its own tokenizer.

A teacher with the student's tokenizer reads the student's windows. A teacher with another tokenizer reads its own
windows over the same characters (`destila.infer.features.encode_spans`: the question and the context characters of
each student window, in the teacher's tokens and template), and its start/end distributions are carried to the
student's tokens (`destila.distill.char_map`); the maps are computed once per window, when the run starts.

With one teacher of the student's tokenizer the KD term reads its logits as they are. Otherwise the soft targets are
the weighted mixture of the teachers' distributions, each at the stage's temperature, handed to the loss as
`mixture_logits`; the hidden, attention and embedding terms read the internals of the one teacher marked for them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from destila.distill.char_map import WindowMap, carry, stack_maps, window_map
from destila.distill.functional import mixture_logits, soft_targets, token_mask
from destila.distill.outputs import QAOutputs
from destila.errors import ModelError
from destila.infer.features import encode_spans, encode_windows, window_inputs
from destila.train.batches import TrainFeatures, collate
from destila.train.loop import FrozenTeacher
from destila.train.teacher_cache import TeacherLogitsCache


@dataclass
class TeacherModel:
    """A loaded teacher, as `run_distill` (or the dry run) hands it to the training run."""

    name: str
    model: nn.Module
    tokenizer: Any
    weight: float = 1.0
    """Its share of the soft targets (the run's weights sum to 1)."""
    internals: bool = True
    """Whether the hidden, attention and embedding terms read this teacher."""


def same_tokenizer(a, b) -> bool:
    """Whether two fast tokenizers cut every text into the same ids and windows (truncation and padding aside)."""

    def key(tokenizer):
        doc = json.loads(tokenizer.backend_tokenizer.to_str())
        doc.pop("truncation", None)
        doc.pop("padding", None)
        return doc, tokenizer.cls_token_id, tokenizer.pad_token_id, getattr(tokenizer, "padding_side", "right")

    return a is b or key(a) == key(b)


@dataclass
class CrossWindows:
    """A teacher's own windows over the characters of the student's, one for one, and where their mass goes."""

    features: TrainFeatures
    maps: list[WindowMap]
    student_cls: np.ndarray


def cross_windows(examples, student_tokenizer, teacher_tokenizer, *, student_features: TrainFeatures,
                  max_length: int, doc_stride: int, max_query_length: int | None) -> CrossWindows:
    """The teacher's windows for the student's training windows (`build_train_features` of the same examples:
    originals first, then augmented copies)."""
    query = max_query_length or max_length
    inputs: dict[str, list] = {}
    maps, cls, student_ids = [], [], []
    for part in ([ex for ex in examples if not ex.augmented], [ex for ex in examples if ex.augmented]):
        if not part:
            continue
        s = encode_windows([ex.question for ex in part], [ex.context for ex in part], student_tokenizer,
                           max_length, doc_stride, query)
        spans = []
        for k in range(len(s)):
            ctx = s.offsets(k)
            ctx = ctx[ctx[:, 0] >= 0]
            spans.append((int(ctx[:, 0].min()), int(ctx[:, 1].max())) if len(ctx) else (0, 0))
        chosen = [part[i] for i in s.example_index]
        t = encode_spans([ex.question for ex in chosen], [ex.context for ex in chosen], spans, teacher_tokenizer,
                         max_length, query)
        for key, values in window_inputs(t, teacher_tokenizer).items():
            inputs.setdefault(key, []).extend(values)
        maps += [window_map(t.offsets(k), s.offsets(k), int(t.cls_index[k]), int(s.cls_index[k]))
                 for k in range(len(s))]
        cls += s.cls_index.tolist()
        student_ids += [ids.tolist() for ids in s.input_ids]
    if student_ids != [list(ids) for ids in student_features.data["input_ids"]]:
        raise ModelError("the student's windows rebuilt for a teacher with another tokenizer differ from the "
                         "training windows")
    return CrossWindows(TrainFeatures(inputs), maps, np.asarray(cls, dtype=np.int64))


class RunTeacher:
    """A teacher during a run: frozen on the device, with its own windows when its tokenizer is not the student's."""

    def __init__(self, spec: TeacherModel, device, windows: CrossWindows | None):
        self.spec, self.device, self.windows = spec, device, windows
        self.frozen = FrozenTeacher(spec.model, device)
        pad = spec.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else 0

    @property
    def model(self) -> nn.Module:
        return self.frozen.model

    def input_ids(self, student_features: TrainFeatures) -> list:
        """The ids of the windows it reads (what its logits cache depends on)."""
        return (self.windows.features if self.windows else student_features).data["input_ids"]

    def batch(self, rows, student_batch: dict) -> dict:
        """Its inputs for the student's windows `rows`."""
        if self.windows is None:
            return student_batch
        return collate(self.windows.features, rows, self.pad_id, pad_to=None, device=self.device)

    def carried(self, distributions: torch.Tensor, rows, side: str, student_length: int) -> torch.Tensor:
        """Its distributions (B, Lt) on the student's positions (B, student_length)."""
        if self.windows is None:
            return distributions
        index = stack_maps([self.windows.maps[r] for r in rows], distributions.shape[1], side)
        cls = torch.from_numpy(self.windows.student_cls[np.asarray(rows)])
        return carry(distributions, index, student_length, cls)


class StageTeachers:
    """What one stage reads from the teachers: each live or from its logits cache, combined into one QAOutputs."""

    def __init__(self, teachers: list[RunTeacher], internals: int, loss_fn, caches: list[TeacherLogitsCache | None],
                 autocast: Callable[[], Any]):
        self.teachers, self.internals, self.loss_fn, self.caches = teachers, internals, loss_fn, caches
        self.autocast = autocast
        self.needs = [loss_fn.forward_kwargs("teacher") if i == internals else {} for i in range(len(teachers))]
        # one teacher of the student's tokenizer: its outputs as they are (the KD term reads its logits)
        self.plain = len(teachers) == 1 and teachers[0].windows is None
        self.kd = loss_fn.config.kd > 0

    def __call__(self, rows, batch: dict) -> QAOutputs:
        if self.plain or not self.kd:
            return self.read(self.internals, rows, batch)
        config = self.loss_fn.config
        temperature = config.temperature
        valid = token_mask(batch, batch["input_ids"])
        mask = valid if config.mask_padding else torch.ones_like(valid)
        length = batch["input_ids"].shape[1]
        starts, ends, internals = [], [], None
        for i, teacher in enumerate(self.teachers):
            t_batch = teacher.batch(rows, batch)
            out = self.read(i, rows, t_batch)
            t_mask = mask if teacher.windows is None else t_batch["attention_mask"].bool()
            starts.append(teacher.carried(soft_targets(out.start_logits, t_mask, temperature), rows, "start", length))
            ends.append(teacher.carried(soft_targets(out.end_logits, t_mask, temperature), rows, "end", length))
            if i == self.internals:
                internals = out
        weights = [t.spec.weight for t in self.teachers]
        return dataclasses.replace(internals, start_logits=mixture_logits(starts, weights, temperature),
                                   end_logits=mixture_logits(ends, weights, temperature))

    def read(self, index: int, rows, batch: dict) -> QAOutputs:
        """Teacher `index` on its `batch`: from its logits cache when it has them, else a live forward."""
        cache = self.caches[index]
        if cache is not None and cache.has(rows):
            return cache.read(rows, batch["input_ids"].shape[1], batch["input_ids"].device)
        with self.autocast():
            out = self.teachers[index].frozen(batch, self.needs[index])
        if cache is not None:
            cache.write(rows, out, batch["attention_mask"])
        return out

    def flush(self) -> None:
        for cache in self.caches:
            if cache is not None:
                cache.flush()

    def coverage(self) -> float | None:
        """The share of windows whose logits are cached, over the cached teachers (None: none is)."""
        values = [cache.coverage() for cache in self.caches if cache is not None]
        return min(values) if values else None
