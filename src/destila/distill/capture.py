"""Record per-layer attention internals (pre-softmax scores, probabilities, values) without forking transformers.

transformers 5.x looks up each model's attention function by name (`config._attn_implementation`) in its
`AttentionInterface`. We register one more name, `destila_capture`: numerically the stock eager attention, which
also appends what it computed to a recorder held in a context variable. `capture_attention(model)` switches a model
to it for the duration of a `with` block and restores the previous implementation afterwards, so the model runs
with sdpa (or whatever it had) everywhere else. Gradient checkpointing is refused: its backward pass recomputes the
layers after the block has ended, with the model's own attention rather than the one that ran forward.

What is recorded, per attention call (= per layer, in call order):
- `scores`: scaled dot products Q·Kᵀ/√d *before* the padding mask is added, (B, heads, L, L). Keeping them
  unmasked means padding never shows up as -inf/-3.4e38; the losses mask padding themselves.
- `probs`: the softmax probabilities *before* attention dropout, (B, heads, L, L). Identical to what
  `output_attentions=True` returns in eval mode; in train mode they are the distribution rather than a random
  dropout mask of it, which is the better distillation target.
- `dropped`: the probabilities *after* attention dropout, (B, heads, L, L): the very tensor the layer multiplies the
  values by, so gradients flow through it. What `output_attentions=True` returns in train mode (and what
  SpanishTinyRoBERTa's code distils); in eval mode the same as `probs`.
- `values`: the value states (B, heads, L, head_dim), for MiniLM-style value relations.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

import torch
from torch import nn

from destila.errors import ModelError

CAPTURE_IMPLEMENTATION = "destila_capture"

_RECORDER: contextvars.ContextVar[AttentionRecorder | None] = contextvars.ContextVar(
    "destila_attention_recorder", default=None
)


@dataclass
class AttentionRecorder:
    """What to keep from each attention call, and the per-layer lists it fills (None for layers not kept)."""

    scores: bool = False
    probs: bool = False
    dropped: bool = False
    values: bool = False
    layers: frozenset[int] | None = None
    """0-based indices of the attention calls (layers) to keep; None keeps all."""
    recorded_scores: list[torch.Tensor | None] = field(default_factory=list)
    recorded_probs: list[torch.Tensor | None] = field(default_factory=list)
    recorded_dropped: list[torch.Tensor | None] = field(default_factory=list)
    recorded_values: list[torch.Tensor | None] = field(default_factory=list)
    calls: int = 0

    def wants(self, index: int) -> bool:
        return self.layers is None or index in self.layers

    def keep(self, **tensors: torch.Tensor | None) -> None:
        """Append one layer's tensors (None for a layer not kept) to the lists of the kinds asked for."""
        for kind, tensor in tensors.items():
            if getattr(self, kind):
                getattr(self, f"recorded_{kind}").append(tensor)


def capturing_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
):
    """Eager attention (same arithmetic as transformers' BERT/RoBERTa `eager_attention_forward`), recording."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    recorder = _RECORDER.get()
    keep = False
    if recorder is not None:
        keep = recorder.wants(recorder.calls)
        recorder.calls += 1
        if not keep:
            recorder.keep(scores=None, probs=None, dropped=None, values=None)
            if not torch.is_grad_enabled():
                # A layer nobody asked for, in a no-grad forward (the teacher): the fused kernel, which does not
                # materialise the (B, heads, L, L) maps. With gradients (the student) we stay eager: the same
                # arithmetic and the same attention-dropout draws as when every layer is kept, so keeping only the
                # mapped layers changes no number of a training run.
                output = nn.functional.scaled_dot_product_attention(
                    query,
                    key,
                    value,
                    attn_mask=attention_mask,
                    dropout_p=dropout if module.training else 0.0,
                    scale=scaling,
                )
                return output.transpose(1, 2).contiguous(), None

    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    weights = scores + attention_mask if attention_mask is not None else scores
    probs = nn.functional.softmax(weights, dim=-1)
    dropped = nn.functional.dropout(probs, p=dropout, training=module.training)
    if keep:
        recorder.keep(scores=scores, probs=probs, dropped=dropped, values=value)
    output = torch.matmul(dropped, value).transpose(1, 2).contiguous()
    return output, dropped


def _register() -> None:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import eager_mask

    AttentionInterface.register(CAPTURE_IMPLEMENTATION, capturing_attention_forward)
    # The mask builder is looked up by the same name: ours wants the eager additive float mask.
    AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, eager_mask)


_register()


def unwrap_model(model: nn.Module) -> nn.Module:
    """The PreTrainedModel inside DDP / accelerate / torch.compile wrappers."""
    seen = set()
    while id(model) not in seen:
        seen.add(id(model))
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
    return model


def _configs(model: nn.Module) -> list:
    """Every distinct config the model's PreTrainedModel parts read `_attn_implementation` from."""
    from transformers import PreTrainedModel

    found: dict[int, object] = {}
    for module in model.modules():
        if isinstance(module, PreTrainedModel):
            found.setdefault(id(module.config), module.config)
    return list(found.values())


@contextlib.contextmanager
def use_attention_implementation(model: nn.Module, name: str):
    """Temporarily run `model` (and its sub-models) with the attention implementation `name`."""
    configs = _configs(unwrap_model(model))
    previous = [c._attn_implementation for c in configs]
    try:
        for c in configs:
            # Set the internal field directly: the public setter re-validates hub kernels on every call,
            # and this runs on every training step.
            c._attn_implementation_internal = name
        yield
    finally:
        for c, old in zip(configs, previous):
            c._attn_implementation_internal = old


def _is_checkpointing(model: nn.Module) -> bool:
    model = unwrap_model(model)
    if not model.training:
        return False
    # transformers 5 renamed the property (the old name warns); accept either.
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        if hasattr(type(model), name):
            return bool(getattr(model, name))
    return False


@contextlib.contextmanager
def capture_attention(
    model: nn.Module,
    *,
    scores: bool = False,
    probs: bool = False,
    dropped: bool = False,
    values: bool = False,
    layers: frozenset[int] | None = None,
):
    """Run `model` with the recording attention inside the block; yields the AttentionRecorder.

    >>> with capture_attention(model, scores=True) as rec:
    ...     model(**inputs)
    >>> rec.recorded_scores  # one (B, heads, L, L) tensor per layer

    `layers` (0-based) limits what is kept: other layers record None and, without gradients, run a fused kernel.
    """
    if _is_checkpointing(model):
        raise ModelError(
            "attention capture does not work with gradient checkpointing: the backward pass would recompute the "
            "layers with another attention function than the forward pass; turn checkpointing off"
        )
    recorder = AttentionRecorder(scores=scores, probs=probs, dropped=dropped, values=values, layers=layers)
    token = _RECORDER.set(recorder)
    try:
        with use_attention_implementation(model, CAPTURE_IMPLEMENTATION):
            yield recorder
    finally:
        _RECORDER.reset(token)
