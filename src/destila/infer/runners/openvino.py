"""The OpenVINO backends (optional extra `destila[openvino]`): an IR folder, or a PyTorch model converted on load.

`openvino` computes in bf16 where the CPU does so natively (AVX512-BF16 or AMX) and in fp32 elsewhere;
`openvino-fp32` and `openvino-bf16` force one precision. An int8 IR (`destila export --target openvino-int8`)
runs its quantised matrix products in int8 and the rest in that precision.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from destila import files
from destila.errors import ConfigError, ModelError
from destila.models.inputs import graph_inputs, logits_module, uses_token_type_ids

OUTPUTS = ("start_logits", "end_logits")
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}  # destila's name -> OpenVINO's inference precision hint


def _openvino():
    try:
        import openvino
    except ImportError as exc:
        raise ConfigError(
            "the openvino backends need OpenVINO: pip install 'destila[openvino]' (or pip install openvino)"
        ) from exc
    return openvino


def native_precision() -> str:
    """The precision `openvino` computes in on this CPU: bf16 where it is native, else fp32."""
    from destila.hardware import cpu_has_native_bf16

    return "bf16" if cpu_has_native_bf16() else "fp32"


def convert(model):
    """An in-memory PyTorch QA model as an OpenVINO model with dynamic batch and sequence axes, named inputs
    (input_ids, attention_mask[, token_type_ids]) and named outputs (start_logits, end_logits)."""
    import torch

    ov = _openvino()
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if uses_token_type_ids(config=model.config) else [])

    # Two rows, one padded: the trace then keeps the mask arithmetic general instead of folding it away.
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 9:] = 0
    example = {"input_ids": torch.full((2, 16), 5, dtype=torch.long), "attention_mask": mask}
    if "token_type_ids" in names:
        example["token_type_ids"] = torch.zeros(2, 16, dtype=torch.long)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings about shape-dependent Python branches
        converted = ov.convert_model(logits_module(model), example_input=example)
    for port, name in zip(converted.inputs, names):
        port.get_tensor().set_names({name})
    for port, name in zip(converted.outputs, OUTPUTS):
        port.get_tensor().set_names({name})
    return converted


class OpenVinoRunner:
    """Callable like the other runners; inputs the model does not take are dropped, missing token types are zeros."""

    def __init__(self, model, precision: str = "fp32", threads: int | None = None, name: str = "openvino"):
        ov = _openvino()
        if precision not in PRECISIONS:
            raise ConfigError(f"OpenVINO precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        config = {"INFERENCE_PRECISION_HINT": PRECISIONS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        output_names = {name for port in self.compiled.outputs for name in port.get_names()}
        if not {"input_ids", "attention_mask"} <= set(self.input_names) or not set(OUTPUTS) <= output_names:
            raise ModelError(
                f"the OpenVINO model must take input_ids and attention_mask and give {' and '.join(OUTPUTS)}; "
                f"it takes {self.input_names} and gives {sorted(output_names)}"
            )
        self.precision = precision
        self.name = name

    @property
    def uses_token_type_ids(self) -> bool:
        return "token_type_ids" in self.input_names

    def __call__(self, input_ids, attention_mask, token_type_ids=None) -> tuple[np.ndarray, np.ndarray]:
        feed = graph_inputs(input_ids, attention_mask, token_type_ids, with_types=self.uses_token_type_ids)
        out = self.compiled(feed)
        return tuple(np.array(out[self.compiled.output(name)], dtype=np.float32) for name in OUTPUTS)


def holds_ir(folder: Path) -> bool:
    """A local folder holding an OpenVINO IR (`openvino_model.xml`)."""
    return folder.is_dir() and (folder / files.OPENVINO).is_file()


def read(folder_or_model):
    """The OpenVINO model of an IR folder, or a PyTorch folder, hub id or in-memory model converted."""
    if isinstance(folder_or_model, (str, os.PathLike)) and holds_ir(Path(str(folder_or_model)).expanduser()):
        path = Path(str(folder_or_model)).expanduser() / files.OPENVINO
        try:
            return _openvino().Core().read_model(str(path))
        except RuntimeError as exc:
            raise ModelError(f"cannot read {path}: {exc}") from exc
    from destila.infer.runners.torch import load_model

    return convert(load_model(folder_or_model))


def _factory(precision: str | None, name: str):
    def load(folder_or_model, threads: int | None = None, device: str = "cpu") -> OpenVinoRunner:
        if device != "cpu":
            raise ConfigError(f"the {name} backend runs on the CPU only (asked for device {device!r})")
        wanted = precision or native_precision()
        if wanted == "bf16" and native_precision() != "bf16":
            raise ConfigError(f"backend {name}: this CPU does not compute bf16 natively (no AVX512-BF16 or AMX)")
        return OpenVinoRunner(read(folder_or_model), precision=wanted, threads=threads, name=name)

    return load


load = _factory(None, "openvino")
load_fp32 = _factory("fp32", "openvino-fp32")
load_bf16 = _factory("bf16", "openvino-bf16")
