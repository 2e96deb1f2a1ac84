"""Distillation losses for extractive QA: `DistillationLoss`, the weighted sum of the active terms.

The terms' arithmetic is in `destila.distill.functional` (re-exported here). Which terms exist, what each reads
from the models and how it calls these functions is in `destila.distill.terms`; `DistillationLoss` builds the active
terms of a `LossConfig`, holds the learned projections (student width -> teacher width) and turns a student's and a
teacher's `QAOutputs` into the weighted total plus every unweighted term. See docs/distillation.md.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from destila.distill.functional import (  # noqa: F401  (the terms' functions, importable from here too)
    attention_mse,
    hidden_mse,
    kd_loss,
    masked_mse,
    task_loss,
    token_mask,
    value_relation_kl,
)
from destila.distill.layer_map import LayerMap
from destila.distill.loss_config import LossConfig
from destila.distill.outputs import QAOutputs
from destila.distill.terms import ATTENTION_CAPTURES, CAPTURES, SIDES, TERMS, ModelShape, TermInputs
from destila.errors import ConfigError, ModelError


class DistillationLoss(nn.Module):
    """Weighted sum of the active terms (weight > 0); holds the projections from student width to teacher width.

    >>> loss_fn = DistillationLoss(LossConfig.paper(), student_config=student.config, teacher_config=teacher.config)
    >>> with torch.no_grad():
    ...     t_out = run_qa_model(teacher, batch, **loss_fn.forward_kwargs("teacher"))
    >>> terms = loss_fn(run_qa_model(student, batch, **loss_fn.forward_kwargs("student")), t_out, batch)
    >>> terms["loss"].backward()   # terms["kd"], terms["hidden"], ... are the unweighted terms, for logging
    """

    def __init__(self, config: LossConfig, *, student_config, teacher_config):
        super().__init__()
        self.config = config
        student, teacher = ModelShape.of(student_config), ModelShape.of(teacher_config)
        config.check_active()
        active = {name: TERMS[name] for name in config.active()}
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
