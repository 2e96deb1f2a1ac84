"""`LossConfig`: the loss weights and options of one distillation stage, validated. Imports no torch, so that
recipes parse without it.

The weights are one float field per registered term (`destila.distill.terms.TERMS`), in registration order, ahead of
the options; `LossConfig.from_dict` is the one way from a recipe's mapping to a LossConfig.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, fields

from destila.distill.layer_map import LayerMap
from destila.distill.terms import TERMS
from destila.errors import ConfigError

KD_KINDS = ("kl", "soft_ce")
KD_REDUCTIONS = ("mean", "sum")
ATTENTION_KINDS = ("probs", "scores")
ATTENTION_HEADS = ("per_head", "mean", "relations")
PROJECTIONS = ("shared", "per_layer", "none")

_TermWeights = dataclasses.make_dataclass(
    "_TermWeights",
    [(name, float, dataclasses.field(default=0.0)) for name in TERMS],
    namespace={"__module__": __name__, "__doc__": "One weight per loss term; a term is on when its weight is > 0, "
               "and off (0) unless a recipe turns it on."},
)


@dataclass
class LossConfig(_TermWeights):
    """Loss weights (one per registered term) and options of one distillation stage. Every term is off (weight 0)
    until a recipe turns it on, so that a new term changes no recipe. The options' defaults are destila's choices
    where they differ from the authors' code: padding masked, the start and end KD terms averaged, attention
    compared before dropout (`LossConfig.paper()` has the authors' own)."""

    temperature: float = 1.0
    """Softmax temperature of the prediction-layer loss."""
    kd_kind: str = "kl"
    """"kl": KL(teacher ‖ student); "soft_ce": cross-entropy of the student against the teacher's distribution."""
    t2_scaling: bool = True
    """Multiply the prediction-layer loss by T² (keeps gradient size independent of T)."""
    kd_reduction: str = "mean"
    """"mean": the average of the start and end terms; "sum": their sum, twice the weight (the paper's code)."""
    attention_kind: str = "probs"
    """"probs": post-softmax probabilities (the paper); "scores": pre-softmax scores (TinyBERT)."""
    attention_dropout_maps: bool = False
    """Compare the student's probabilities after attention dropout, as `output_attentions` returns them in train mode
    (the paper's code), instead of the distribution before it. Needs attention_kind "probs", not "relations"."""
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
        for name in TERMS:
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ConfigError(f"loss.{name}: expected a finite weight >= 0, got {value!r}")
            setattr(self, name, float(value))
        if not _is_number(self.temperature) or self.temperature <= 0:
            raise ConfigError(f"loss.temperature: expected a number > 0, got {self.temperature!r}")
        self.temperature = float(self.temperature)
        _check_choice("kd_kind", self.kd_kind, KD_KINDS)
        _check_choice("kd_reduction", self.kd_reduction, KD_REDUCTIONS)
        _check_choice("attention_kind", self.attention_kind, ATTENTION_KINDS)
        _check_choice("attention_heads", self.attention_heads, ATTENTION_HEADS)
        _check_choice("projection", self.projection, PROJECTIONS)
        for name in ("t2_scaling", "attention_dropout_maps", "mask_padding"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"loss.{name}: expected true or false, got {getattr(self, name)!r}")
        if self.attention_dropout_maps and (self.attention_kind != "probs" or self.attention_heads == "relations"):
            raise ConfigError(
                "loss.attention_dropout_maps: dropout applies to attention probabilities; it needs attention_kind "
                f"'probs' and attention_heads 'per_head' or 'mean' (got {self.attention_kind!r}, "
                f"{self.attention_heads!r}); set it to false"
            )
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
    def from_dict(cls, data, where: str = "loss") -> LossConfig:
        """A LossConfig from a mapping (a recipe's `loss:`, a stage's merged loss, a saved config).

        Unknown fields, numbers YAML reads as strings (`1e-4`) and invalid values are ConfigErrors that name `where`
        (e.g. "stages[prediction].loss") and the field.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a mapping of loss fields, got {data!r}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
        values = dict(data)
        for f in fields(cls):
            if isinstance(f.default, float) and isinstance(values.get(f.name), str):
                try:
                    values[f.name] = float(values[f.name])
                except ValueError:
                    raise ConfigError(f"{where}.{f.name}: expected a number, got {values[f.name]!r}") from None
        try:
            return cls(**values)
        except ConfigError as exc:
            if where == "loss":
                raise
            raise ConfigError(f"{where}: {exc}") from None

    def to_dict(self) -> dict:
        return asdict(self)

    def active(self) -> list[str]:
        """The terms this loss turns on (weight > 0), in registration order."""
        return [name for name in TERMS if getattr(self, name) > 0]

    def check_active(self, where: str = "loss") -> None:
        """A ConfigError naming `where` when no term is on: a stage must train something."""
        if not self.active():
            raise ConfigError(f"{where}: every weight ({', '.join(TERMS)}) is zero, and a term is off unless the "
                              "recipe sets its weight; nothing to train")

    @classmethod
    def paper(cls, **overrides) -> LossConfig:
        """SpanishTinyRoBERTa's code: one stage, all weights 1, KL at T=1 × T² summed over start and end, the
        student's attention probabilities after dropout, shared projection, uniform map, no padding mask."""
        base = {**dict.fromkeys(TERMS, 1.0), "kd_reduction": "sum", "attention_dropout_maps": True,
                "mask_padding": False}
        return cls(**{**base, **overrides})

    @classmethod
    def tinybert_intermediate(cls, **overrides) -> LossConfig:
        """TinyBERT stage 1: embedding, hidden and attention (pre-softmax scores) losses only."""
        base = {"embedding": 1.0, "hidden": 1.0, "attention": 1.0, "attention_kind": "scores", "projection": "shared"}
        return cls(**{**base, **overrides})

    @classmethod
    def tinybert_prediction(cls, **overrides) -> LossConfig:
        """TinyBERT stage 2: prediction-layer soft cross-entropy only."""
        base = {"kd": 1.0, "kd_kind": "soft_ce"}
        return cls(**{**base, **overrides})


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"loss.{name}: expected one of {', '.join(choices)}, got {value!r}")
