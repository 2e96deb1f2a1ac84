"""The terms of the distillation loss, one class each, registered by their weight's name.

A term says which `LossConfig` weight switches it on (`name`; every weight is 0, the term off, unless a recipe turns
it on), what it reads from the two forward passes (`needs`: hidden states, attention probabilities before or after
attention dropout, pre-softmax scores or values; attention internals only for the layers in `layers`) and how it is
computed (`compute`, from the plain functions in `destila.distill.functional`). Everything else follows from
`TERMS`: LossConfig's weight fields and their validation, `DistillationLoss.needs()` and `forward_kwargs()`, the
projections, the dry run's list of active terms, the model card's list, and the table in docs/distillation.md (a
test checks that it lists every term with its `definition` and `normalisation`).

To add a term, write one class here with `@register`. Registration order is the order terms are computed, summed
and logged.

This module does not import torch, so that recipes (and LossConfig) load without it; `compute` imports the
tensor functions when it first runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from destila.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from torch import Tensor

    from destila.distill.layer_map import LayerMap
    from destila.distill.outputs import QAOutputs

CAPTURES = ("hidden", "attentions", "dropped_attentions", "scores", "values")
"""What `run_qa_model` records besides the logits (its keyword arguments of the same names)."""
ATTENTION_CAPTURES = frozenset(CAPTURES[1:])
"""The attention internals: one (B, heads, L, ·) tensor per layer, kept only for the layers some term reads."""
SIDES = ("student", "teacher")
"""Index 0 and 1 of a layer map's (student, teacher) pairs."""


@dataclass(frozen=True)
class ModelShape:
    """What the terms need to know about a model before seeing its outputs."""

    layers: int
    width: int
    heads: int

    @classmethod
    def of(cls, config) -> ModelShape:
        """The shape of a transformers config."""
        return cls(config.num_hidden_layers, config.hidden_size, config.num_attention_heads)


@dataclass
class TermInputs:
    """What every term is computed from."""

    student: QAOutputs
    teacher: QAOutputs
    batch: dict
    valid: Tensor
    """(B, L) bool: the real (non-padding) tokens."""
    mask: Tensor
    """(B, L) bool: the positions that count, `valid` or every position when `mask_padding` is off."""
    project: Callable[[Tensor, int], Tensor]
    """Student hidden state of a layer (0 = embedding) -> teacher width."""


class LossTerm:
    """One weighted term. Subclasses set the class attributes and override what they need."""

    name: ClassVar[str]
    """The LossConfig weight that switches the term on, and its key in the loss dict and the training log."""
    definition: ClassVar[str]
    """What it computes (markdown, one line: the docs table's second column)."""
    normalisation: ClassVar[str]
    """How it is averaged and summed (markdown, one line: the docs table's third column)."""
    reads_teacher: ClassVar[bool] = True
    """False for a term computed from the student alone (the task loss): a stage of such terms runs no teacher."""
    reads_internals: ClassVar[bool] = False
    """Whether it reads the teacher's hidden states or attention (so needs the student's tokenizer and one named
    teacher), not only its start/end logits."""
    uses_layer_map: ClassVar[bool] = False
    """Whether it compares mapped layer pairs (the layer map is resolved only when some active term does)."""

    def __init__(self, config, student: ModelShape, teacher: ModelShape, layer_map: LayerMap | None):
        """Checks that need the models (head counts, widths) go in subclasses' constructors, as ConfigErrors."""
        self.config = config
        self.shapes = {"student": student, "teacher": teacher}
        self.layer_map = layer_map

    def needs(self) -> frozenset[str]:
        """What `run_qa_model` must record on both models for this term (a subset of CAPTURES)."""
        return frozenset()

    def layers(self, side: str) -> frozenset[int]:
        """The layers (1-based) of `side` whose attention internals this term reads: its mapped layers."""
        if not self.needs() & ATTENTION_CAPTURES:
            return frozenset()
        index = SIDES.index(side)
        return frozenset(pair[index] for pair in self.layer_map.pairs)

    def projected(self) -> tuple[int, ...]:
        """Student layers (0 = embedding) whose hidden states this term maps to the teacher width."""
        return ()

    def compute(self, x: TermInputs) -> Tensor | None:
        """The unweighted term, or None when this batch cannot give it (e.g. no labels)."""
        raise NotImplementedError

    def read(self, x: TermInputs, side: str, field: str) -> tuple:
        """`field` of `side`'s outputs, checked: recorded, one entry per layer (hidden states: plus the embedding
        output), and an entry for each layer this term reads."""
        value = getattr(getattr(x, side), field)
        if value is None:
            raise ModelError(
                f"{side} outputs have no {field}, which loss.{self.name} needs: "
                f"call run_qa_model(model, batch, **loss_fn.forward_kwargs({side!r}))"
            )
        count = self.shapes[side].layers + (field == "hidden_states")
        if len(value) != count:
            raise ModelError(f"{side} outputs have {len(value)} {field}, expected {count}")
        if field != "hidden_states":
            missing = sorted(layer for layer in self.layers(side) if value[layer - 1] is None)
            if missing:
                raise ModelError(f"{side} outputs have no {field} for mapped layer(s) {missing}")
        return value


TERMS: dict[str, type[LossTerm]] = {}
"""Every term, by name, in registration order."""


def register(cls: type[LossTerm]) -> type[LossTerm]:
    """Class decorator: add a term to TERMS."""
    if cls.name in TERMS:
        raise ValueError(f"loss term {cls.name!r} is registered twice")
    TERMS[cls.name] = cls
    return cls


# ---------------------------------------------------------------------------------------------------------------


@register
class TaskTerm(LossTerm):
    name = "ce"
    reads_teacher = False
    definition = (
        "½ (CE(start logits, gold start) + CE(end logits, gold end)), softmax over valid positions; gold positions "
        "outside the sequence are ignored, as in transformers' QA heads"
    )
    normalisation = (
        "mean over the batch. Skipped (no `ce` key) when the batch has no `start_positions`/`end_positions`"
    )

    def compute(self, x: TermInputs) -> Tensor | None:
        from destila.distill.functional import task_loss

        if "start_positions" not in x.batch or "end_positions" not in x.batch:
            return None
        s = x.student
        return task_loss(s.start_logits, s.end_logits, x.batch["start_positions"], x.batch["end_positions"], x.mask)


@register
class PredictionTerm(LossTerm):
    name = "kd"
    definition = (
        "½ (D(start) + D(end)) with `kd_reduction=\"mean\"`, D(start) + D(end) with `\"sum\"` (the paper's code); "
        "per example D = Σₚ pₜ(p)·(log pₜ(p) − log pₛ(p)) for `kd_kind=\"kl\"` (KL(teacher ‖ student)), or "
        "−Σₚ pₜ log pₛ for `\"soft_ce\"`; p = softmax over valid positions of logits / T"
    )
    normalisation = (
        "summed over positions, mean over the batch (`F.kl_div(..., reduction=\"batchmean\")`), × T² if `t2_scaling`"
    )

    def compute(self, x: TermInputs) -> Tensor:
        from destila.distill.functional import span_kd_loss

        c = self.config
        s, t = x.student, x.teacher
        return span_kd_loss(s.start_logits, s.end_logits, t.start_logits, t.end_logits, x.mask,
                            reduction=c.kd_reduction, temperature=c.temperature, kind=c.kd_kind,
                            t2_scaling=c.t2_scaling)


@register
class EmbeddingTerm(LossTerm):
    name = "embedding"
    definition = "MSE(proj(student hidden 0), teacher hidden 0)"
    normalisation = "as `hidden`"
    reads_internals = True

    def needs(self) -> frozenset[str]:
        return frozenset({"hidden"})

    def projected(self) -> tuple[int, ...]:
        return (0,)

    def compute(self, x: TermInputs) -> Tensor:
        from destila.distill.functional import hidden_mse

        s_h, t_h = self.read(x, "student", "hidden_states"), self.read(x, "teacher", "hidden_states")
        return hidden_mse(x.project(s_h[0], 0), t_h[0].detach(), x.mask if self.config.mask_padding else None)


@register
class HiddenTerm(LossTerm):
    name = "hidden"
    definition = "Σ over layer pairs (m, g(m)) of MSE(proj(student hidden m), teacher hidden g(m))"
    normalisation = "MSE: mean over valid tokens × teacher width; summed over pairs (as TinyBERT and the paper)"
    uses_layer_map = True
    reads_internals = True

    def needs(self) -> frozenset[str]:
        return frozenset({"hidden"})

    def projected(self) -> tuple[int, ...]:
        return tuple(s for s, _ in self.layer_map.pairs)

    def compute(self, x: TermInputs) -> Tensor:
        from destila.distill.functional import hidden_mse

        s_h, t_h = self.read(x, "student", "hidden_states"), self.read(x, "teacher", "hidden_states")
        mask = x.mask if self.config.mask_padding else None
        return sum(hidden_mse(x.project(s_h[s], s), t_h[t].detach(), mask) for s, t in self.layer_map.pairs)


@register
class AttentionTerm(LossTerm):
    name = "attention"
    definition = "Σ over layer pairs of the attention loss below"
    normalisation = "summed over pairs"
    uses_layer_map = True
    reads_internals = True

    def __init__(self, config, student: ModelShape, teacher: ModelShape, layer_map: LayerMap | None):
        super().__init__(config, student, teacher, layer_map)
        if config.attention_heads == "per_head" and student.heads != teacher.heads:
            raise ConfigError(
                f"loss.attention_heads: 'per_head' needs equal head counts (student {student.heads}, "
                f"teacher {teacher.heads}); use 'mean' or 'relations'"
            )
        self.relation_heads = None
        if config.attention_heads == "relations":
            r = config.relation_heads or min(student.heads, teacher.heads)
            for side, shape in self.shapes.items():
                if shape.width % r:
                    raise ConfigError(f"loss.relation_heads: {r} relation heads do not divide the {side} width "
                                      f"{shape.width}")
            self.relation_heads = r

    def _field(self) -> tuple[str, str]:
        """(what run_qa_model records, the QAOutputs field it fills)."""
        if self.config.attention_heads == "relations":
            return "values", "values"
        if self.config.attention_kind == "scores":
            return "scores", "attention_scores"
        if self.config.attention_dropout_maps:
            return "dropped_attentions", "dropped_attentions"
        return "attentions", "attentions"

    def needs(self) -> frozenset[str]:
        return frozenset({self._field()[0]})

    def compute(self, x: TermInputs) -> Tensor:
        from destila.distill.functional import attention_mse, value_relation_kl

        c = self.config
        field = self._field()[1]
        s_a, t_a = self.read(x, "student", field), self.read(x, "teacher", field)
        if field == "values":
            return sum(
                value_relation_kl(s_a[s - 1], t_a[t - 1].detach(), x.valid, relation_heads=self.relation_heads,
                                  mask_padding=c.mask_padding)
                for s, t in self.layer_map.pairs
            )
        return sum(
            attention_mse(s_a[s - 1], t_a[t - 1].detach(), x.valid, kind=c.attention_kind,
                          heads=c.attention_heads, mask_padding=c.mask_padding)
            for s, t in self.layer_map.pairs
        )
