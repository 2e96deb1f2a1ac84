"""Distillation losses for extractive QA: the plain term functions and `DistillationLoss`, their weighted sum.

The functions below are the terms' arithmetic, usable and testable on their own. Which terms exist, what each reads
from the models and how it calls these functions is in `destila.distill.terms`; `DistillationLoss` builds the active
terms of a `LossConfig`, holds the learned projections (student width -> teacher width) and turns a student's and a
teacher's `QAOutputs` into the weighted total plus every unweighted term. See docs/distillation.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from destila.distill.layer_map import LayerMap
from destila.distill.loss_config import KD_KINDS, LossConfig
from destila.distill.outputs import QAOutputs
from destila.distill.terms import ATTENTION_CAPTURES, CAPTURES, SIDES, TERMS, ModelShape, TermInputs
from destila.errors import ConfigError, ModelError

# ---------------------------------------------------------------------------------------------------------------
# The terms, as plain functions. `mask` is a boolean (B, L) tensor of positions that count (True = counts).


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
        raise ConfigError(f"loss.kd_kind: expected one of {', '.join(KD_KINDS)}, got {kind!r}")
    per_pos = torch.where(mask, per_pos, torch.zeros_like(per_pos))
    loss = per_pos.sum(dim=-1).mean()
    if t2_scaling:
        loss = loss * temperature**2
    return loss


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


class DistillationLoss(nn.Module):
    """Weighted sum of the active terms (weight > 0); holds the projections from student width to teacher width.

    >>> loss_fn = DistillationLoss(LossConfig(), student_config=student.config, teacher_config=teacher.config)
    >>> with torch.no_grad():
    ...     t_out = run_qa_model(teacher, batch, **loss_fn.forward_kwargs("teacher"))
    >>> terms = loss_fn(run_qa_model(student, batch, **loss_fn.forward_kwargs("student")), t_out, batch)
    >>> terms["loss"].backward()   # terms["kd"], terms["hidden"], ... are the unweighted terms, for logging
    """

    def __init__(self, config: LossConfig, *, student_config, teacher_config):
        super().__init__()
        self.config = config
        student, teacher = ModelShape.of(student_config), ModelShape.of(teacher_config)
        active = {name: term for name, term in TERMS.items() if getattr(config, name) > 0}
        self.layer_map = None
        if any(term.uses_layer_map for term in active.values()):
            self.layer_map = LayerMap.resolve(config.layer_map, student.layers, teacher.layers)
        # The active terms, in registration order: the order they are computed, summed and logged.
        self.terms = {name: term(config, student, teacher, self.layer_map) for name, term in active.items()}

        self.projection = None
        self.projections = None
        projected = list(dict.fromkeys(layer for term in self.terms.values() for layer in term.projected()))
        if not projected:
            return
        init_std = getattr(teacher_config, "initializer_range", 0.02)
        if config.projection == "none":
            if student.width != teacher.width:
                raise ConfigError(
                    f"loss.projection: 'none' needs equal widths (student {student.width}, teacher "
                    f"{teacher.width}); use 'shared' or 'per_layer'"
                )
        elif config.projection == "shared":
            self.projection = _linear(student.width, teacher.width, init_std)
        else:
            self.projections = nn.ModuleDict(
                {f"layer_{k}": _linear(student.width, teacher.width, init_std) for k in projected}
            )

    def project(self, hidden: Tensor, student_layer: int) -> Tensor:
        """Map a student hidden state (B, L, Hs) of layer `student_layer` (0 = embedding) to the teacher width."""
        if self.projection is not None:
            return self.projection(hidden)
        if self.projections is not None:
            return self.projections[f"layer_{student_layer}"](hidden)
        return hidden

    def projection_parameters(self) -> list[nn.Parameter]:
        """Parameters to train alongside the student; they are dropped after training, never saved with it."""
        return list(self.parameters())

    def needs(self) -> dict[str, bool]:
        """What `run_qa_model` must record on both models: {"hidden", "attentions", "scores", "values"} -> bool."""
        wanted = set().union(*(term.needs() for term in self.terms.values()))
        return {name: name in wanted for name in CAPTURES}

    def needs_internals(self) -> bool:
        """Whether some term reads more than the logits, i.e. whether a cache of the teacher's logits falls short."""
        return any(self.needs().values())

    def needs_teacher(self) -> bool:
        """Whether some term reads the teacher at all (the task loss alone does not)."""
        return any(term.reads_teacher for term in self.terms.values())

    def forward_kwargs(self, role: str) -> dict:
        """`needs()` plus, when attention internals are recorded, `layers`: the layers of `role` ("student" or
        "teacher") that some term reads, so that run_qa_model keeps only theirs. For a 24-layer teacher mapped to 6
        student layers this keeps 6 attention maps instead of 24 and runs the other 18 layers with the fused
        kernel."""
        if role not in SIDES:
            raise ValueError(f"role must be 'student' or 'teacher', got {role!r}")
        kwargs: dict = self.needs()
        if any(kwargs[name] for name in ATTENTION_CAPTURES):
            kwargs["layers"] = tuple(sorted(set().union(*(term.layers(role) for term in self.terms.values()))))
        return kwargs

    def forward(self, student: QAOutputs, teacher: QAOutputs, batch: dict) -> dict[str, Tensor]:
        """{term name: unweighted value} for the terms this batch gives, plus "loss", their weighted sum."""
        valid = token_mask(batch, student.start_logits)
        mask = valid if self.config.mask_padding else torch.ones_like(valid)
        x = TermInputs(student=student, teacher=teacher, batch=batch, valid=valid, mask=mask, project=self.project)
        terms: dict[str, Tensor] = {}
        for name, term in self.terms.items():
            value = term.compute(x)
            if value is not None:
                terms[name] = value
        if not terms:
            raise ModelError(
                f"no loss term could be computed on this batch (active: {', '.join(self.terms)}); "
                "ce needs the labels start_positions and end_positions"
            )
        terms["loss"] = sum(getattr(self.config, name) * value for name, value in terms.items())
        return terms


def _linear(width_in: int, width_out: int, init_std: float) -> nn.Linear:
    layer = nn.Linear(width_in, width_out)
    nn.init.normal_(layer.weight, std=init_std)
    nn.init.zeros_(layer.bias)
    return layer
