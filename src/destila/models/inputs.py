"""What a QA model takes as input: the one place that decides whether token types are fed."""

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
