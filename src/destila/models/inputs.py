"""What a QA model takes and gives: whether token types are fed, and the logits-only view exporters trace."""

from __future__ import annotations

MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def uses_token_type_ids(tokenizer=None, config=None) -> bool:
    """Whether `token_type_ids` are fed to the model.

    The tokenizer must list them among its model inputs, and the model config (when given) must have more than one
    token type: RoBERTa-style models have a single type and tokenizers may still emit zeros for them.
    """
    if tokenizer is not None and "token_type_ids" not in getattr(tokenizer, "model_input_names", ()):
        return False
    if config is not None and (getattr(config, "type_vocab_size", 2) or 1) < 2:
        return False
    return tokenizer is not None or config is not None


def graph_inputs(input_ids, attention_mask, token_type_ids=None, *, with_types: bool) -> dict:
    """The int64 arrays an exported graph is fed; with `with_types`, zeros stand in for missing token types (what
    the PyTorch models assume when none are given)."""
    import numpy as np

    input_ids = np.asarray(input_ids, dtype=np.int64)
    feed = {"input_ids": input_ids, "attention_mask": np.asarray(attention_mask, dtype=np.int64)}
    if with_types:
        feed["token_type_ids"] = (
            np.zeros_like(input_ids) if token_type_ids is None else np.asarray(token_type_ids, dtype=np.int64)
        )
    return feed


def logits_module(model):
    """`model` (a transformers QA model) wrapped so that plain tensors go in and (start_logits, end_logits) come
    out, in eval mode: what graph exporters (ONNX, OpenVINO) trace."""
    import torch

    class QALogits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            out = self.inner(**kwargs)
            return out.start_logits, out.end_logits

    return QALogits(model.eval()).eval()
