"""Distillation losses for extractive QA: task, prediction-layer (KD), hidden-state, embedding and attention.

`DistillationLoss` holds the learned projections (student width -> teacher width) and turns a student's and a
teacher's `QAOutputs` into the weighted total plus every unweighted term. The plain functions below it are the
terms themselves, usable and testable on their own. See docs/distillation.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from destila.distill.layer_map import LayerMap
from destila.distill.outputs import QAOutputs
from destila.errors import ConfigError, ModelError

KD_KINDS = ("kl", "soft_ce")
ATTENTION_KINDS = ("probs", "scores")
ATTENTION_HEADS = ("per_head", "mean", "relations")
PROJECTIONS = ("shared", "per_layer", "none")
WEIGHTS = ("ce", "kd", "hidden", "attention", "embedding")


@dataclass
class LossConfig:
    """Loss weights and options of one distillation stage. The defaults are the paper's recipe, with padding masked."""

    ce: float = 1.0
    """Weight of the task loss: mean of start and end cross-entropy against the gold positions."""
    kd: float = 1.0
    """Weight of the prediction-layer loss on start and end logits."""
    hidden: float = 1.0
    """Weight of the hidden-state MSE over the mapped layers (summed over layer pairs)."""
    attention: float = 1.0
    """Weight of the attention loss over the mapped layers (summed over layer pairs)."""
    embedding: float = 1.0
    """Weight of the embedding-output MSE (student layer 0 vs teacher layer 0)."""
    temperature: float = 1.0
    """Softmax temperature of the prediction-layer loss."""
    kd_kind: str = "kl"
    """"kl": KL(teacher ‖ student); "soft_ce": cross-entropy of the student against the teacher's distribution."""
    t2_scaling: bool = True
    """Multiply the prediction-layer loss by T² (keeps gradient size independent of T)."""
    attention_kind: str = "probs"
    """"probs": post-softmax probabilities (the paper); "scores": pre-softmax scores (TinyBERT)."""
    attention_heads: str = "per_head"
    """"per_head" (equal head counts), "mean" (average over heads first) or "relations" (value-value relation KL)."""
    relation_heads: int | None = None
    """Relation heads for attention_heads="relations"; None means the smaller of the two head counts."""
    projection: str = "shared"
    """"shared": one learned Linear for all layers and the embedding; "per_layer": one each; "none": equal widths."""
    layer_map: str | list = "uniform"
    """"uniform" (g(m) = T/S · m) or a list of teacher layers (1-based) or [student, teacher] pairs."""
    mask_padding: bool = True
    """Leave padding positions out of every loss. False reproduces the paper's code, which masks nothing."""

    def __post_init__(self):
        for name in WEIGHTS:
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigError(f"loss.{name}: expected a finite weight >= 0, got {value!r}")
            setattr(self, name, float(value))
        if not any(getattr(self, name) > 0 for name in WEIGHTS):
            raise ConfigError(f"loss: every weight ({', '.join(WEIGHTS)}) is zero; nothing to train")
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise ConfigError(f"loss.temperature: expected a number > 0, got {t!r}")
        self.temperature = float(t)
        _check_choice("kd_kind", self.kd_kind, KD_KINDS)
        _check_choice("attention_kind", self.attention_kind, ATTENTION_KINDS)
        _check_choice("attention_heads", self.attention_heads, ATTENTION_HEADS)
        _check_choice("projection", self.projection, PROJECTIONS)
        for name in ("t2_scaling", "mask_padding"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"loss.{name}: expected true or false, got {getattr(self, name)!r}")
        r = self.relation_heads
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise ConfigError(f"loss.relation_heads: expected a positive integer or null, got {r!r}")
        if self.layer_map != "uniform":
            if isinstance(self.layer_map, str):
                raise ConfigError(f"loss.layer_map: expected 'uniform' or a list, got {self.layer_map!r}")
            try:
                LayerMap.from_list(self.layer_map)
            except ConfigError as exc:
                raise ConfigError(f"loss.{exc}") from None

    @classmethod
    def from_dict(cls, data: dict) -> LossConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"loss: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def paper(cls, **overrides) -> LossConfig:
        """SpanishTinyRoBERTa as released: one stage, all weights 1, KL at T=1 × T², probabilities, shared
        projection, uniform map, no padding mask."""
        return cls(**{"mask_padding": False, **overrides})

    @classmethod
    def tinybert_intermediate(cls, **overrides) -> LossConfig:
        """TinyBERT stage 1: embedding, hidden and attention (pre-softmax scores) losses only."""
        base = {"ce": 0.0, "kd": 0.0, "attention_kind": "scores", "projection": "shared"}
        return cls(**{**base, **overrides})

    @classmethod
    def tinybert_prediction(cls, **overrides) -> LossConfig:
        """TinyBERT stage 2: prediction-layer soft cross-entropy only."""
        base = {"ce": 0.0, "kd": 1.0, "hidden": 0.0, "attention": 0.0, "embedding": 0.0, "kd_kind": "soft_ce"}
        return cls(**{**base, **overrides})


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"loss.{name}: expected one of {', '.join(choices)}, got {value!r}")


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
        logits = _masked_fill_min(logits.float(), mask)
        length = logits.size(1)
        positions = positions.to(logits.device).long().view(-1).clamp(0, length)
        keep = positions != length
        if not keep.any():
            return logits.sum() * 0.0
        return F.cross_entropy(logits, positions, ignore_index=length)

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
    """Weighted sum of the active loss terms; holds the projections from student width to teacher width.

    >>> loss_fn = DistillationLoss(LossConfig(), student_config=student.config, teacher_config=teacher.config)
    >>> with torch.no_grad():
    ...     t_out = run_qa_model(teacher, batch, **loss_fn.forward_kwargs("teacher"))
    >>> terms = loss_fn(run_qa_model(student, batch, **loss_fn.forward_kwargs("student")), t_out, batch)
    >>> terms["loss"].backward()   # terms["kd"], terms["hidden"], ... are the unweighted terms, for logging
    """

    def __init__(self, config: LossConfig, *, student_config, teacher_config):
        super().__init__()
        self.config = config
        s_layers, t_layers = student_config.num_hidden_layers, teacher_config.num_hidden_layers
        self.student_width, self.teacher_width = student_config.hidden_size, teacher_config.hidden_size
        self.student_heads = student_config.num_attention_heads
        self.teacher_heads = teacher_config.num_attention_heads
        self.student_layers, self.teacher_layers = s_layers, t_layers

        uses_layers = config.hidden > 0 or config.attention > 0
        self.layer_map = LayerMap.resolve(config.layer_map, s_layers, t_layers) if uses_layers else None

        self.relation_heads = None
        if config.attention > 0:
            if config.attention_heads == "per_head" and self.student_heads != self.teacher_heads:
                raise ConfigError(
                    f"loss.attention_heads: 'per_head' needs equal head counts (student {self.student_heads}, "
                    f"teacher {self.teacher_heads}); use 'mean' or 'relations'"
                )
            if config.attention_heads == "relations":
                r = config.relation_heads or min(self.student_heads, self.teacher_heads)
                for who, width in (("student", self.student_width), ("teacher", self.teacher_width)):
                    if width % r:
                        raise ConfigError(
                            f"loss.relation_heads: {r} relation heads do not divide the {who} width {width}"
                        )
                self.relation_heads = r

        self.projection = None
        self.projections = None
        if config.hidden > 0 or config.embedding > 0:
            if config.projection == "none":
                if self.student_width != self.teacher_width:
                    raise ConfigError(
                        f"loss.projection: 'none' needs equal widths (student {self.student_width}, teacher "
                        f"{self.teacher_width}); use 'shared' or 'per_layer'"
                    )
            elif config.projection == "shared":
                self.projection = self._linear(teacher_config)
            else:
                keys = []
                if config.embedding > 0:
                    keys.append(0)
                if config.hidden > 0:
                    keys.extend(s for s, _ in self.layer_map.pairs)
                self.projections = nn.ModuleDict({f"layer_{k}": self._linear(teacher_config) for k in keys})

    def _linear(self, teacher_config) -> nn.Linear:
        layer = nn.Linear(self.student_width, self.teacher_width)
        nn.init.normal_(layer.weight, std=getattr(teacher_config, "initializer_range", 0.02))
        nn.init.zeros_(layer.bias)
        return layer

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
        """Keyword arguments for `run_qa_model`, the same for the student's and the teacher's forward."""
        c = self.config
        attention = c.attention > 0
        return {
            "hidden": c.hidden > 0 or c.embedding > 0,
            "attentions": attention and c.attention_heads != "relations" and c.attention_kind == "probs",
            "scores": attention and c.attention_heads != "relations" and c.attention_kind == "scores",
            "values": attention and c.attention_heads == "relations",
        }

    def forward_kwargs(self, role: str) -> dict:
        """`needs()` plus `layers`: the mapped layers of `role` ("student" or "teacher"), so that run_qa_model keeps
        only their attention internals. For a 24-layer teacher mapped to 6 student layers this keeps 6 attention
        maps instead of 24 and runs the other 18 layers with the fused kernel."""
        if role not in ("student", "teacher"):
            raise ValueError(f"role must be 'student' or 'teacher', got {role!r}")
        kwargs: dict = dict(self.needs())
        if self.config.attention > 0:
            side = 0 if role == "student" else 1
            kwargs["layers"] = tuple(sorted({pair[side] for pair in self.layer_map.pairs}))
        return kwargs

    def forward(self, student: QAOutputs, teacher: QAOutputs, batch: dict) -> dict[str, Tensor]:
        c = self.config
        attention_mask = token_mask(batch, student.start_logits)
        mask = attention_mask if c.mask_padding else torch.ones_like(attention_mask)
        terms: dict[str, Tensor] = {}

        if c.ce > 0 and "start_positions" in batch and "end_positions" in batch:
            terms["ce"] = task_loss(
                student.start_logits,
                student.end_logits,
                batch["start_positions"],
                batch["end_positions"],
                mask,
            )
        if c.kd > 0:
            kw = {"temperature": c.temperature, "kind": c.kd_kind, "t2_scaling": c.t2_scaling}
            terms["kd"] = (
                kd_loss(student.start_logits, teacher.start_logits.detach(), mask, **kw)
                + kd_loss(student.end_logits, teacher.end_logits.detach(), mask, **kw)
            ) / 2
        if c.hidden > 0 or c.embedding > 0:
            s_h = self._require(student, "hidden_states", "student", self.student_layers + 1)
            t_h = self._require(teacher, "hidden_states", "teacher", self.teacher_layers + 1)
            hmask = mask if c.mask_padding else None
            if c.embedding > 0:
                terms["embedding"] = hidden_mse(self.project(s_h[0], 0), t_h[0].detach(), hmask)
            if c.hidden > 0:
                terms["hidden"] = sum(
                    hidden_mse(self.project(s_h[s], s), t_h[t].detach(), hmask)
                    for s, t in self.layer_map.pairs
                )
        if c.attention > 0:
            terms["attention"] = self._attention(student, teacher, attention_mask)

        if not terms:
            raise ModelError(
                "no loss term is active: the only weighted term is ce and the batch has no labels"
            )
        weights = {name: getattr(c, name) for name in WEIGHTS}
        terms["loss"] = sum(weights[name] * value for name, value in terms.items())
        return terms

    def _attention(self, student: QAOutputs, teacher: QAOutputs, attention_mask: Tensor) -> Tensor:
        c = self.config
        if c.attention_heads == "relations":
            s_v = self._require(student, "values", "student", self.student_layers)
            t_v = self._require(teacher, "values", "teacher", self.teacher_layers)
            return sum(
                value_relation_kl(
                    s_v[s - 1],
                    t_v[t - 1].detach(),
                    attention_mask,
                    relation_heads=self.relation_heads,
                    mask_padding=c.mask_padding,
                )
                for s, t in self.layer_map.pairs
            )
        field_name = "attentions" if c.attention_kind == "probs" else "attention_scores"
        s_a = self._require(student, field_name, "student", self.student_layers)
        t_a = self._require(teacher, field_name, "teacher", self.teacher_layers)
        return sum(
            attention_mse(
                s_a[s - 1],
                t_a[t - 1].detach(),
                attention_mask,
                kind=c.attention_kind,
                heads=c.attention_heads,
                mask_padding=c.mask_padding,
            )
            for s, t in self.layer_map.pairs
        )

    def _require(self, outputs: QAOutputs, name: str, who: str, count: int):
        value = getattr(outputs, name)
        if value is None:
            raise ModelError(f"{who} outputs have no {name}: call run_qa_model(model, batch, **loss.needs())")
        if len(value) != count:
            raise ModelError(f"{who} outputs have {len(value)} {name}, expected {count}")
        if name != "hidden_states" and self.layer_map is not None:
            side = 0 if who == "student" else 1
            missing = sorted({p[side] for p in self.layer_map.pairs if value[p[side] - 1] is None})
            if missing:
                raise ModelError(f"{who} outputs have no {name} for mapped layer(s) {missing}")
        return value
