"""The arithmetic of the distillation terms as plain functions, usable and testable on their own.

`mask` arguments are boolean (B, L) tensors of the positions that count (True = counts). Which terms exist, what each
reads from the models and how it calls these functions is in `destila.distill.terms`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from destila.errors import ConfigError, ModelError


def token_mask(batch: dict, like: Tensor) -> Tensor:
    """Valid (non-padding) positions from the batch's attention_mask; all positions when there is none."""
    mask = batch.get("attention_mask")
    if mask is None:
        return torch.ones(like.shape[:2], dtype=torch.bool, device=like.device)
    return mask.to(device=like.device).bool()


def _masked_fill_min(x: Tensor, mask: Tensor) -> Tensor:
    return torch.where(mask, x, torch.full_like(x, torch.finfo(x.dtype).min))


def task_loss(
    start_logits: Tensor, end_logits: Tensor, start_positions: Tensor, end_positions: Tensor, mask: Tensor
) -> Tensor:
    """Mean of start and end cross-entropy against gold positions, softmax over the positions in `mask`.

    Positions outside the sequence are ignored, as in transformers' QA heads; with no usable label the loss is 0.
    """

    def one(logits: Tensor, positions: Tensor) -> Tensor:
        length = logits.size(1)
        positions = positions.to(logits.device).long().view(-1).clamp(0, length)
        if not (positions != length).any():
            return logits.float().sum() * 0.0  # before masking: masked logits sum to -inf, and -inf * 0 is nan
        return F.cross_entropy(_masked_fill_min(logits.float(), mask), positions, ignore_index=length)

    return (one(start_logits, start_positions) + one(end_logits, end_positions)) / 2


def kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor,
    *,
    temperature: float = 1.0,
    kind: str = "kl",
    t2_scaling: bool = True,
) -> Tensor:
    """Prediction-layer loss on one logits tensor (B, L): softmax over the positions in `mask` at temperature T,
    summed over positions, averaged over the batch, times T² if `t2_scaling`.

    "kl" is KL(teacher ‖ student) = Σ p_t (log p_t − log p_s), what `F.kl_div(log_softmax(s/T), softmax(t/T),
    reduction="batchmean")` computes; "soft_ce" is −Σ p_t log p_s (TinyBERT), which differs by the teacher's entropy.
    """
    s = _masked_fill_min(student_logits.float() / temperature, mask)
    t = _masked_fill_min(teacher_logits.float() / temperature, mask)
    log_ps = F.log_softmax(s, dim=-1)
    log_pt = F.log_softmax(t, dim=-1)
    pt = log_pt.exp()
    if kind == "kl":
        per_pos = pt * (log_pt - log_ps)
    elif kind == "soft_ce":
        per_pos = -pt * log_ps
    else:
        raise ConfigError(f"loss.kd_kind: expected one of kl, soft_ce, got {kind!r}")
    per_pos = torch.where(mask, per_pos, torch.zeros_like(per_pos))
    loss = per_pos.sum(dim=-1).mean()
    if t2_scaling:
        loss = loss * temperature**2
    return loss


def span_kd_loss(
    student_start: Tensor,
    student_end: Tensor,
    teacher_start: Tensor,
    teacher_end: Tensor,
    mask: Tensor,
    *,
    reduction: str = "mean",
    **kw,
) -> Tensor:
    """`kd_loss` on the start and on the end logits (the teacher's detached), their mean (or their sum with
    `reduction="sum"`); `kw` go to `kd_loss`."""
    both = kd_loss(student_start, teacher_start.detach(), mask, **kw) + kd_loss(
        student_end, teacher_end.detach(), mask, **kw)
    return both if reduction == "sum" else both / 2


def soft_targets(logits: Tensor, mask: Tensor, temperature: float) -> Tensor:
    """The distribution `kd_loss` reads from a teacher's logits (B, L): softmax of logits / T over `mask`."""
    return F.softmax(_masked_fill_min(logits.float() / temperature, mask), dim=-1)


def mixture_logits(distributions: list[Tensor], weights: list[float], temperature: float) -> Tensor:
    """Logits whose `soft_targets` at `temperature` are the mixture Σ wᵢ·distributionsᵢ (weights summing to 1):
    T·log of the mixture, so that `kd_loss` reads several teachers as it reads one. Zero probabilities become
    −10⁴·T, which the softmax turns back into exact zeros."""
    mixture = sum(w * d for w, d in zip(weights, distributions, strict=True))
    return temperature * torch.log(mixture).clamp_min(-1e4)


def masked_mse(a: Tensor, b: Tensor, mask: Tensor | None) -> Tensor:
    """Mean squared error over the elements where `mask` (broadcast to a's shape) is True."""
    diff = (a.float() - b.float()) ** 2
    if mask is None:
        return diff.mean()
    mask = mask.expand_as(diff)
    count = mask.sum()
    if count == 0:
        return diff.sum() * 0.0
    return torch.where(mask, diff, torch.zeros_like(diff)).sum() / count


def hidden_mse(student_hidden: Tensor, teacher_hidden: Tensor, mask: Tensor | None) -> Tensor:
    """MSE between (already projected) student and teacher states (B, L, H) over the tokens in `mask`."""
    return masked_mse(student_hidden, teacher_hidden, None if mask is None else mask[:, :, None])


def attention_mse(
    student: Tensor,
    teacher: Tensor,
    attention_mask: Tensor,
    *,
    kind: str = "probs",
    heads: str = "per_head",
    mask_padding: bool = True,
) -> Tensor:
    """MSE between attention maps (B, heads, L, L) of one layer pair.

    With `mask_padding`, only (query, key) pairs of two valid tokens count. Without it every entry counts (the
    paper's code) — except that pre-softmax scores at padding keys, which carry the mask rather than a score, are
    set to 0 on both sides first, as TinyBERT does.
    """
    if kind == "scores" and not mask_padding:
        keys = attention_mask[:, None, None, :]
        student = torch.where(keys, student, torch.zeros_like(student))
        teacher = torch.where(keys, teacher, torch.zeros_like(teacher))
    if heads == "mean":
        student, teacher = (
            student.float().mean(dim=1, keepdim=True),
            teacher.float().mean(dim=1, keepdim=True),
        )
    elif heads == "per_head":
        if student.shape != teacher.shape:
            raise ModelError(
                f"attention maps differ in shape: student {tuple(student.shape)}, teacher {tuple(teacher.shape)}; "
                "use attention_heads 'mean' or 'relations' when head counts differ"
            )
    else:
        raise ConfigError(f"loss.attention_heads: attention_mse handles per_head or mean, got {heads!r}")
    if not mask_padding:
        return masked_mse(student, teacher, None)
    pairs = attention_mask[:, None, :, None] & attention_mask[:, None, None, :]
    return masked_mse(student, teacher, pairs)


def value_relation_kl(
    student_values: Tensor,
    teacher_values: Tensor,
    attention_mask: Tensor,
    *,
    relation_heads: int,
    mask_padding: bool = True,
) -> Tensor:
    """MiniLM-style value-value relation loss of one layer pair.

    Values (B, heads, L, head_dim) are concatenated over heads and split again into `relation_heads` groups, so
    student and teacher may have different head counts and widths. Per group, the relation is
    softmax(V Vᵀ / √d_r) over keys; the loss is KL(teacher ‖ student) summed over keys, averaged over queries,
    groups and the batch. With `mask_padding`, padding keys are left out of the softmax and padding queries out of
    the average.
    """
    rs = _relation(student_values, relation_heads, attention_mask, mask_padding)
    rt = _relation(teacher_values, relation_heads, attention_mask, mask_padding)
    per_key = rt.exp() * (rt - rs)
    if mask_padding:
        keys = attention_mask[:, None, None, :]
        per_key = torch.where(keys, per_key, torch.zeros_like(per_key))
    per_query = per_key.sum(dim=-1)  # (B, R, L)
    if not mask_padding:
        return per_query.mean()
    queries = attention_mask[:, None, :].expand_as(per_query)
    count = queries.sum()
    if count == 0:
        return per_query.sum() * 0.0
    return torch.where(queries, per_query, torch.zeros_like(per_query)).sum() / count


def _relation(values: Tensor, groups: int, attention_mask: Tensor, mask_padding: bool) -> Tensor:
    """Log-softmax of the scaled value-value dot products, (B, groups, L, L)."""
    b, h, length, d = values.shape
    width = h * d
    if width % groups:
        raise ConfigError(f"loss.relation_heads: {groups} does not divide the value width {width}")
    v = values.float().transpose(1, 2).reshape(b, length, groups, width // groups).transpose(1, 2)
    rel = torch.matmul(v, v.transpose(-1, -2)) / math.sqrt(width // groups)
    if mask_padding:
        rel = _masked_fill_min(rel, attention_mask[:, None, None, :])
    return F.log_softmax(rel, dim=-1)



# ---------------------------------------------------------------------------------------------------------------
