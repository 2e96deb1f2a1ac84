"""What every export step shares: its options, and a way to silence the exporting libraries."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass

from destila.errors import ConfigError

DEFAULT_OPSET = 18
# Least share of answers identical to PyTorch's: fp32 graphs match to float rounding; int8 weights move a few
# close answers.
MIN_AGREEMENT = {"fp32": 0.98, "int8": 0.85}


@dataclass
class ExportOptions:
    """How to export, quantise and check a model (`destila export`'s options)."""

    int8: bool = False  # dynamic int8 weights (MatMul, Gemm and the embedding Gathers)
    opset: int = DEFAULT_OPSET
    optimize: bool = True  # onnxruntime's offline transformer fusions
    per_channel: bool = True  # int8 scales per output channel (else one per matrix)
    reduce_range: bool = False  # 7-bit int8 weights, for CPUs without VNNI
    parity_data: str | None = "sample"  # held-out questions for the parity check; None skips it
    parity_max_questions: int = 200  # the first N of them are checked
    min_agreement: float | None = None  # None: MIN_AGREEMENT of the kind (0.98 fp32, 0.85 int8)
    max_f1_drop: float = 2.0  # largest allowed drop of the official F1, in points
    data_dir: str | os.PathLike | None = None
    threads: int | None = None  # threads of the parity check

    def __post_init__(self) -> None:
        if not 7 <= int(self.opset) <= 23:
            raise ConfigError(f"--opset must be between 7 and 23, got {self.opset}")
        if self.min_agreement is not None and not 0.0 <= self.min_agreement <= 1.0:
            raise ConfigError(f"min_agreement must be within [0, 1], got {self.min_agreement}")
        if self.max_f1_drop < 0:
            raise ConfigError(f"max_f1_drop must not be negative, got {self.max_f1_drop}")
        if self.parity_max_questions < 1:
            raise ConfigError(f"parity_max_questions must be at least 1, got {self.parity_max_questions}")

    @property
    def kind(self) -> str:
        return "int8" if self.int8 else "fp32"

    @property
    def agreement_needed(self) -> float:
        return MIN_AGREEMENT[self.kind] if self.min_agreement is None else self.min_agreement


@contextlib.contextmanager
def quiet():
    """Silence the exporter's and quantiser's chatter (stdout prints, warnings, log lines) for one step."""
    loggers = [logging.getLogger(), logging.getLogger("torch.onnx"), logging.getLogger("onnxruntime")]
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
