"""One output contract between QA models and the distillation losses."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from destila.distill.capture import capture_attention, unwrap_model
from destila.errors import ModelError
from destila.models.inputs import MODEL_INPUT_KEYS, uses_token_type_ids


@dataclass
class QAOutputs:
    """What a QA model produced on a batch.

    start_logits, end_logits: (B, L).
    hidden_states: embedding output, then one per layer, each (B, L, H).
    attentions: per layer, post-softmax probabilities before attention dropout, (B, heads, L, L).
    dropped_attentions: per layer, the same after attention dropout (what `output_attentions=True` returns in train
        mode; in eval mode equal to `attentions`), (B, heads, L, L).
    attention_scores: per layer, pre-softmax scaled scores Q·Kᵀ/√d *without* the padding mask, (B, heads, L, L).
    values: per layer, value states (B, heads, L, head_dim), for value-relation distillation.
    The attention fields hold one entry per layer, None for layers not recorded (see run_qa_model's `layers`).
    """

    start_logits: Tensor
    end_logits: Tensor
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None
    dropped_attentions: tuple[Tensor, ...] | None = None
    attention_scores: tuple[Tensor, ...] | None = None
    values: tuple[Tensor, ...] | None = None


def run_qa_model(
    model: nn.Module,
    batch: dict,
    *,
    hidden: bool = False,
    attentions: bool = False,
    dropped_attentions: bool = False,
    scores: bool = False,
    values: bool = False,
    layers=None,
) -> QAOutputs:
    """Forward a QA model on `batch` (input_ids, attention_mask, optional token_type_ids; other keys such as
    start_positions are ignored) and return the requested internals.

    Attention internals are recorded by destila's eager-equivalent attention function, switched on only for this
    call; `model` may be wrapped (DDP, accelerate, torch.compile). Gradients flow as usual: wrap the teacher's call
    in `torch.no_grad()`.

    `layers` (1-based, None = all) limits which layers' attention internals are kept; the tuples still have one
    entry per layer, None for the others. Under no_grad the other layers then run a fused attention kernel, which
    saves the teacher most of the time and memory of its unmapped layers.
    """
    inputs = {k: batch[k] for k in MODEL_INPUT_KEYS if k in batch and batch[k] is not None}
    if "input_ids" not in inputs:
        raise ModelError("run_qa_model: the batch has no input_ids")
    if "token_type_ids" in inputs and not uses_token_type_ids(config=unwrap_model(model).config):
        inputs.pop("token_type_ids")

    if attentions or dropped_attentions or scores or values:
        expected = unwrap_model(model).config.num_hidden_layers
        keep = None
        if layers is not None:
            layers = list(layers)
            bad = [
                x for x in layers if isinstance(x, bool) or not isinstance(x, int) or not 1 <= x <= expected
            ]
            if bad:
                raise ModelError(f"run_qa_model: layers {bad} are outside 1..{expected} (layers are 1-based)")
            keep = frozenset(x - 1 for x in layers)
        with capture_attention(model, scores=scores, probs=attentions, dropped=dropped_attentions, values=values,
                               layers=keep) as rec:
            out = model(**inputs, output_hidden_states=hidden, return_dict=True)
        if rec.calls != expected:
            raise ModelError(
                f"attention capture saw {rec.calls} attention calls for {expected} layers: "
                f"{type(unwrap_model(model)).__name__} does not use transformers' attention interface"
            )
        captured = {
            "attentions": tuple(rec.recorded_probs) if attentions else None,
            "dropped_attentions": tuple(rec.recorded_dropped) if dropped_attentions else None,
            "attention_scores": tuple(rec.recorded_scores) if scores else None,
            "values": tuple(rec.recorded_values) if values else None,
        }
    else:
        out = model(**inputs, output_hidden_states=hidden, return_dict=True)
        captured = {}

    hidden_states = None
    if hidden:
        hidden_states = tuple(out.hidden_states) if out.hidden_states is not None else None
        if hidden_states is None:
            raise ModelError(f"{type(unwrap_model(model)).__name__} returned no hidden states")
    return QAOutputs(
        start_logits=out.start_logits, end_logits=out.end_logits, hidden_states=hidden_states, **captured
    )

