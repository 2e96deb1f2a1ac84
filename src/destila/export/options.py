"""What every export step shares: its options, and a way to silence the exporting libraries."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from enum import Enum

from destila.errors import ConfigError

DEFAULT_OPSET = 18
# What `destila export --target` makes. Every target but the dynamic int8 one answers each question as it would
# alone: dynamic int8 takes one activation scale over a whole batch (`--int8` is its alias; not a default).
TARGETS = {
    "onnx": "fp32 ONNX graph (onnxruntime)",
    "onnx-int8-static": "ONNX graph with int8 matrix products, scales calibrated once on training questions",
    "openvino": "OpenVINO IR, fp32 weights, computed in bf16 where the CPU has it natively",
    "openvino-int8": "OpenVINO IR with int8 matrix products, scales calibrated once on training questions (NNCF)",
    "auto": "every candidate above built, checked and timed on this machine; the fastest that passes is kept",
    "onnx-int8-dynamic": "ONNX graph with int8 weights, activations scaled per batch (answers depend on the batch)",
}
INT8_TARGETS = ("onnx-int8-static", "openvino-int8", "onnx-int8-dynamic")


class ExportTarget(str, Enum):
    """One export target of TARGETS, parsed once from a recipe or an option; compares equal to its name."""

    ONNX = "onnx"
    ONNX_INT8_STATIC = "onnx-int8-static"
    OPENVINO = "openvino"
    OPENVINO_INT8 = "openvino-int8"
    AUTO = "auto"
    ONNX_INT8_DYNAMIC = "onnx-int8-dynamic"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value, where: str = "target") -> ExportTarget:
        """`value` as a target; anything else is a ConfigError naming `where` and the allowed names."""
        try:
            return cls(str(value) if isinstance(value, str) else value)
        except ValueError:
            raise ConfigError(f"{where} must be one of {', '.join(TARGETS)}, got {value!r}") from None

    @property
    def int8(self) -> bool:
        return self.value in INT8_TARGETS

    @property
    def batch_independent(self) -> bool:
        """Whether each question's answer is the one it gets alone (every target but dynamic int8)."""
        return self is not ExportTarget.ONNX_INT8_DYNAMIC

# Least share of answers identical to PyTorch's: fp32 graphs match to float rounding; bf16 moves a few close
# answers; int8 moves more.
MIN_AGREEMENT = {"fp32": 0.98, "bf16": 0.95, "int8": 0.85}
# Training-fold questions calibrate static int8 scales (never the eval fold); the embedded sample when they are
# missing.
CALIBRATION_DATA = ("squad-es-v1.1:dev-small@train", "sample")


@dataclass
class ExportOptions:
    """How to export, quantise and check a model (`destila export`'s options)."""

    target: ExportTarget | str = "onnx"  # one of TARGETS, parsed into an ExportTarget
    int8: bool = False  # dynamic int8 weights: the alias of target onnx-int8-dynamic (not batch-independent)
    opset: int = DEFAULT_OPSET
    optimize: bool = True  # onnxruntime's offline transformer fusions
    per_channel: bool = True  # int8 scales per output channel (else one per matrix)
    reduce_range: bool = False  # 7-bit int8 weights, for CPUs without VNNI (dynamic int8)
    calibration_data: str | list | None = None  # a spec or a list; None: CALIBRATION_DATA, the first that loads
    calibration_questions: int = 128  # the first window of each of the first N questions calibrates
    parity_data: str | None = "sample"  # held-out questions for the parity check; None skips it
    parity_max_questions: int = 200  # the first N of them are checked
    min_agreement: float | None = None  # None: MIN_AGREEMENT of the kind (0.98 fp32, 0.95 bf16, 0.85 int8)
    max_f1_drop: float = 2.0  # largest allowed drop of the official F1, in points
    data_dir: str | os.PathLike | None = None
    threads: int | None = None  # threads of the parity check and of auto's timing

    def __post_init__(self) -> None:
        self.target = ExportTarget.parse(self.target)
        if self.int8:
            if self.target not in ("onnx", "onnx-int8-dynamic"):
                raise ConfigError(f"--int8 is dynamic int8 ONNX: it does not combine with target {self.target.value!r}")
            self.target = ExportTarget.ONNX_INT8_DYNAMIC
        self.int8 = self.target == "onnx-int8-dynamic"
        if not 7 <= int(self.opset) <= 23:
            raise ConfigError(f"--opset must be between 7 and 23, got {self.opset}")
        if self.min_agreement is not None and not 0.0 <= self.min_agreement <= 1.0:
            raise ConfigError(f"min_agreement must be within [0, 1], got {self.min_agreement}")
        if self.max_f1_drop < 0:
            raise ConfigError(f"max_f1_drop must not be negative, got {self.max_f1_drop}")
        if self.parity_max_questions < 1:
            raise ConfigError(f"parity_max_questions must be at least 1, got {self.parity_max_questions}")
        if self.calibration_questions < 1:
            raise ConfigError(f"calibration_questions must be at least 1, got {self.calibration_questions}")

    @property
    def kind(self) -> str:
        """fp32, bf16 or int8: what the exported model computes in on this machine (it sets the agreement needed)."""
        if self.target in INT8_TARGETS:
            return "int8"
        if self.target == "openvino":
            from destila.infer.runners.openvino import native_precision

            return native_precision()
        return "fp32"

    @property
    def agreement_needed(self) -> float:
        return MIN_AGREEMENT[self.kind] if self.min_agreement is None else self.min_agreement


@contextlib.contextmanager
def quiet():
    """Silence the exporter's and quantiser's chatter (stdout prints, warnings, log lines) for one step."""
    loggers = [logging.getLogger(), logging.getLogger("torch.onnx"), logging.getLogger("onnxruntime")]
    loggers.append(logging.getLogger("nncf"))
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
