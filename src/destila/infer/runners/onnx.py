"""The ONNX backend: an exported `model.onnx` run by onnxruntime on the CPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from destila import files
from destila.errors import ConfigError, ModelError
from destila.models.inputs import graph_inputs


def session_options(threads: int | None = None):
    """All of onnxruntime's graph optimisations (fusions, constant folding), one inference thread pool."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle pool threads spin by default, taking the cores from the Python thread that tokenises and decodes
    # between runs (and from the server's event loop); DESTILA_ORT_SPIN=1 restores spinning.
    spin = os.environ.get("DESTILA_ORT_SPIN", "0")
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin == "1" else "0")
    return options


class OnnxRunner:
    """Callable like the torch runner: `runner(input_ids, attention_mask, token_type_ids=None)`.

    Inputs the graph does not take are dropped (RoBERTa has no token types); a token-type input the
    caller did not give is fed zeros, which is what the PyTorch models assume when it is missing.
    """

    name = "onnx"

    def __init__(self, folder: str | os.PathLike, threads: int | None = None):
        import onnxruntime as ort

        path = Path(str(folder)).expanduser() / files.ONNX
        if not path.is_file():
            raise ModelError(f"no {files.ONNX} in {str(folder)!r}")
        try:
            self.session = ort.InferenceSession(
                str(path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load {path}: {exc}") from exc
        self.path = path
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        if "input_ids" not in self.input_names or "attention_mask" not in self.input_names:
            raise ModelError(f"{path} does not take input_ids and attention_mask: {self.input_names}")
        if not {"start_logits", "end_logits"} <= set(self.output_names):
            raise ModelError(f"{path} does not output start_logits and end_logits: {self.output_names}")

    @property
    def uses_token_type_ids(self) -> bool:
        """Whether the exported graph has a token-type input (the export decided it once)."""
        return "token_type_ids" in self.input_names

    def __call__(self, input_ids, attention_mask, token_type_ids=None) -> tuple[np.ndarray, np.ndarray]:
        feed = graph_inputs(input_ids, attention_mask, token_type_ids, with_types=self.uses_token_type_ids)
        start, end = self.session.run(["start_logits", "end_logits"], feed)
        return start, end


def holds_graph(folder: Path) -> bool:
    """A local folder holding an exported `model.onnx`."""
    return folder.is_dir() and (folder / files.ONNX).is_file()


def load(folder, threads: int | None = None, device: str = "cpu") -> OnnxRunner:
    if not isinstance(folder, (str, os.PathLike)):
        raise ConfigError("the onnx backend runs exported folders, not in-memory models")
    if device != "cpu":
        raise ConfigError(f"exported ONNX models run on the CPU only (asked for device {device!r})")
    return OnnxRunner(folder, threads=threads)
