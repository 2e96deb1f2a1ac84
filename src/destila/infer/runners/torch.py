"""The PyTorch backends: a transformers QA model in inference mode, in fp32 (`torch`), under bf16 autocast
(`torch-bf16`, only where the hardware computes bf16 natively: elsewhere it is emulated and slower than fp32), or in
fp32 with its forward compiled by torch.compile (`torch-compile`: dynamic shapes, compiled at the first call, which
takes up to a minute; eager with one logged warning where compiling fails)."""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path

import numpy as np

from destila import files
from destila.errors import ConfigError
from destila.models.inputs import uses_token_type_ids

log = logging.getLogger(__name__)


class TorchRunner:
    """`runner(input_ids, attention_mask, token_type_ids=None) -> (start_logits, end_logits)` on a PyTorch model;
    with `bf16`, under bf16 autocast (matrix products in bf16, normalisations and softmax in fp32)."""

    def __init__(self, model, device: str = "cpu", threads: int | None = None, bf16: bool = False):
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self.torch = torch
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.bf16 = bf16
        self.name = "torch-bf16" if bf16 else "torch"
        # The config decides; the signature guards models whose forward has no such argument at all.
        self.uses_token_type_ids = uses_token_type_ids(config=model.config) and (
            "token_type_ids" in inspect.signature(self.model.forward).parameters
        )
        self.forward = self.model

    def compile(self) -> None:
        """Run the model's forward through torch.compile from the next call on (`destila.models.compiled`)."""
        from destila.models.compiled import Compiler

        self.forward = Compiler(log.warning, fresh=False)(self.model.forward, "the model's forward")
        self.name = "torch-compile"

    def __call__(self, input_ids, attention_mask, token_type_ids=None) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            inputs = {
                "input_ids": torch.from_numpy(input_ids).to(self.device),
                "attention_mask": torch.from_numpy(attention_mask).to(self.device),
            }
            if token_type_ids is not None and self.uses_token_type_ids:
                inputs["token_type_ids"] = torch.from_numpy(token_type_ids).to(self.device)
            out = self.forward(**inputs)
            return out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()


def holds_weights(folder: Path) -> bool:
    """A Hugging Face folder with safetensors weights."""
    return (folder / files.WEIGHTS).is_file() or any(folder.glob("*.safetensors"))


def native_bf16(device: str = "cpu") -> bool:
    """Whether `device` computes bf16 natively: a GPU that supports it, a CPU with AVX512-BF16 or AMX."""
    import torch

    if str(device).startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    from destila.hardware import cpu_has_native_bf16

    return str(device) == "cpu" and cpu_has_native_bf16()


def load(folder_or_model, threads: int | None = None, device: str = "cpu") -> TorchRunner:
    """The fp32 runner over an in-memory QA model, or over the model loaded from a resolved folder or hub id."""
    return TorchRunner(load_model(folder_or_model), device=device, threads=threads)


def load_bf16(folder_or_model, threads: int | None = None, device: str = "cpu") -> TorchRunner:
    """The bf16 autocast runner; refused where bf16 would be emulated (slower than fp32 and no more exact)."""
    if not native_bf16(device):
        raise ConfigError(
            f"backend torch-bf16: {device!r} does not compute bf16 natively (a CPU needs AVX512-BF16 or AMX, a GPU "
            "bf16 support); use the torch backend"
        )
    return TorchRunner(load_model(folder_or_model), device=device, threads=threads, bf16=True)


def load_compiled(folder_or_model, threads: int | None = None, device: str = "cpu") -> TorchRunner:
    """The fp32 runner with the model's forward compiled (at its first call)."""
    runner = TorchRunner(load_model(folder_or_model), device=device, threads=threads)
    runner.compile()
    return runner


def load_model(folder_or_model):
    """An in-memory model as is; a resolved folder or hub id loaded (safetensors only, no progress bar)."""
    if not isinstance(folder_or_model, (str, os.PathLike)):
        return folder_or_model
    from transformers.utils import logging as hf_logging

    from destila.models.hub import load_qa_model

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every load
    try:
        model = load_qa_model(folder_or_model)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return model
