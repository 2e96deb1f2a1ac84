"""The PyTorch backend: a transformers QA model, in inference mode."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np

from destila import files
from destila.models.inputs import uses_token_type_ids


class TorchRunner:
    """`runner(input_ids, attention_mask, token_type_ids=None) -> (start_logits, end_logits)` on a PyTorch model."""

    name = "torch"

    def __init__(self, model, device: str = "cpu", threads: int | None = None):
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self.torch = torch
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        # The config decides; the signature guards models whose forward has no such argument at all.
        self.uses_token_type_ids = uses_token_type_ids(config=model.config) and (
            "token_type_ids" in inspect.signature(self.model.forward).parameters
        )

    def __call__(self, input_ids, attention_mask, token_type_ids=None) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            inputs = {
                "input_ids": torch.from_numpy(input_ids).to(self.device),
                "attention_mask": torch.from_numpy(attention_mask).to(self.device),
            }
            if token_type_ids is not None and self.uses_token_type_ids:
                inputs["token_type_ids"] = torch.from_numpy(token_type_ids).to(self.device)
            out = self.model(**inputs)
            return out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()


def holds_weights(folder: Path) -> bool:
    """A Hugging Face folder with safetensors weights."""
    return (folder / files.WEIGHTS).is_file() or any(folder.glob("*.safetensors"))


def load(folder_or_model, threads: int | None = None, device: str = "cpu") -> TorchRunner:
    """A runner over an in-memory QA model, or over the model loaded from a resolved folder or hub id."""
    if not isinstance(folder_or_model, (str, os.PathLike)):
        return TorchRunner(folder_or_model, device=device, threads=threads)
    from transformers.utils import logging as hf_logging

    from destila.models.hub import load_qa_model

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every load
    try:
        model = load_qa_model(folder_or_model)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return TorchRunner(model, device=device, threads=threads)
