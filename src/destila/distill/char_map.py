"""Carrying a teacher's start/end distributions to a student with another tokenizer, through the characters of the
context they both read.

A teacher window and a student window cover the same context characters, each cut into its own tokens. A student
token's start probability is the mass of the teacher tokens that *start* inside its character span; its end
probability the mass of the teacher tokens that *end* inside it. A teacher start that falls between student tokens
(e.g. on a space the student's tokens leave out) goes to the next student token, an end to the previous one: the
same rule that turns an answer's characters into token labels (`destila.infer.features.prepare_train_features`).
The no-answer mass moves from the teacher's classification token to the student's.

The teacher's mass on positions with no counterpart (its question tokens, its separators, context characters
outside the student's window) is dropped and the rest renormalised: it is mass on spans no answer can have, neither
"no answer" nor a span of the student's window, so giving it to the CLS token would teach the student to abstain
more often than the teacher does. A window where nothing maps (which a well-formed pair of windows never gives)
becomes "no answer" (all mass on the student's CLS).

`window_map` (numpy) is computed once per window; `carry` (torch) applies it to a batch of distributions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNMAPPED = -1
"""The target of a teacher position with no student counterpart."""


@dataclass(frozen=True)
class WindowMap:
    """Where each teacher position's start and end mass goes: a student position, or UNMAPPED."""

    start: np.ndarray
    """(teacher length,) int64."""
    end: np.ndarray
    """(teacher length,) int64."""


def window_map(teacher_offsets: np.ndarray, student_offsets: np.ndarray, teacher_cls: int,
               student_cls: int) -> WindowMap:
    """The map of one pair of windows.

    `*_offsets` are (length, 2) character spans [start, end) of each window position in the context; positions
    that are not context tokens (question, special tokens) hold (-1, -1). Context tokens must appear in character
    order, as they do in a window. `*_cls` are the positions of the classification tokens.
    """
    t = np.asarray(teacher_offsets, dtype=np.int64).reshape(-1, 2)
    s = np.asarray(student_offsets, dtype=np.int64).reshape(-1, 2)
    start = np.full(len(t), UNMAPPED, dtype=np.int64)
    end = np.full(len(t), UNMAPPED, dtype=np.int64)
    start[teacher_cls] = end[teacher_cls] = student_cls
    # Student context tokens with at least one character: the only targets (as for answer labels).
    targets = np.nonzero((s[:, 0] >= 0) & (s[:, 1] > s[:, 0]))[0]
    if len(targets) == 0:
        return WindowMap(start, end)
    s_starts, s_ends = s[targets, 0], s[targets, 1]
    first, last = s_starts[0], s_ends[-1]
    # Teacher context tokens with characters inside the student window's characters.
    sources = np.nonzero((t[:, 0] >= 0) & (t[:, 1] > t[:, 0]) & (t[:, 1] > first) & (t[:, 0] < last))[0]
    t_starts, t_ends = t[sources, 0], t[sources, 1]
    # start: the first student token ending after the teacher token's first character
    i = np.searchsorted(s_ends, t_starts, side="right")
    # end: the last student token starting before the teacher token's end
    j = np.searchsorted(s_starts, t_ends, side="left") - 1
    start[sources] = targets[np.clip(i, 0, len(targets) - 1)]
    end[sources] = targets[np.clip(j, 0, len(targets) - 1)]
    return WindowMap(start, end)


def carry(probs, index, student_length: int, student_cls):
    """Teacher distributions (B, Lt) carried to student positions (B, student_length) by `index` (B, Lt): a
    WindowMap's `start` or `end` per row (UNMAPPED, or padding marked UNMAPPED). Unmapped mass is dropped and each
    row renormalised; a row with no mapped mass goes wholly to `student_cls` (B,)."""
    import torch

    index = index.to(probs.device).long()
    bins = torch.where(index >= 0, index, torch.full_like(index, student_length))
    out = torch.zeros(probs.shape[0], student_length + 1, dtype=probs.dtype, device=probs.device)
    out = out.scatter_add(1, bins, probs)[:, :student_length]
    total = out.sum(dim=1, keepdim=True)
    cls = torch.nn.functional.one_hot(student_cls.to(probs.device).long(), student_length).to(probs.dtype)
    return torch.where(total > 0, out / total.clamp_min(torch.finfo(probs.dtype).tiny), cls)


def stack_maps(maps: list[WindowMap], length: int, field: str):
    """`field` ("start" or "end") of a batch of window maps as a (B, length) tensor, padded with UNMAPPED."""
    import torch

    out = np.full((len(maps), length), UNMAPPED, dtype=np.int64)
    for row, m in enumerate(maps):
        values = getattr(m, field)[:length]
        out[row, : len(values)] = values
    return torch.from_numpy(out)
