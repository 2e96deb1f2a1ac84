"""Set a model's dropout rates after it is built.

Attention-probability dropout is the expensive one on CPU: with it, PyTorch's fused attention falls back to a
path that materialises and masks every score matrix, about five times slower than attention itself. Fine-tuning
and distilling on a CPU may switch it off (`train.attention_dropout: 0`) and keep hidden-state dropout.

Which nn.Dropout is which is read from the model's structure: a Dropout held by a module whose class is an
attention module (``*SelfAttention``, ``*Attention``; not ``*SelfOutput``) drops attention probabilities; every
other Dropout acts on hidden states (embeddings, layer outputs, the QA head's input).
"""

from __future__ import annotations

from torch import nn

from destila.models.families import model_family


def _is_attention(module: nn.Module) -> bool:
    name = type(module).__name__
    return name.endswith("Attention") and "Output" not in name


def set_dropout(model: nn.Module, *, attention: float | None = None, hidden: float | None = None) -> dict[str, int]:
    """Set attention-probability and hidden dropout in `model` (None leaves a rate as it is).

    Updates the Dropout modules and the config fields that describe them, so a saved model says what it was
    trained with. Returns how many Dropout modules of each kind were changed.
    """
    changed = {"attention": 0, "hidden": 0}
    if attention is None and hidden is None:
        return changed
    attention_dropouts = set()
    for module in model.modules():
        if _is_attention(module):
            for child in module.children():
                if isinstance(child, nn.Dropout):
                    attention_dropouts.add(id(child))
    for module in model.modules():
        if not isinstance(module, nn.Dropout):
            continue
        kind = "attention" if id(module) in attention_dropouts else "hidden"
        rate = attention if kind == "attention" else hidden
        if rate is not None:
            module.p = float(rate)
            changed[kind] += 1
    config = getattr(model, "config", None)
    if config is not None:
        family = model_family(getattr(config, "model_type", ""))
        for field, rate in ((family.attention_dropout, attention), (family.hidden_dropout, hidden)):
            if rate is not None and isinstance(getattr(config, field, None), float):
                setattr(config, field, float(rate))
    return changed
