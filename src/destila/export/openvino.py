"""The OpenVINO targets: a QA model as an IR folder (`openvino_model.xml` + `.bin`, fp32 weights), optionally with
int8 matrix products calibrated once by NNCF on training-fold questions (`openvino-int8`).

The folder is run by the `openvino` backend of `destila.infer.runners`, in bf16 where the CPU computes it natively
and in fp32 elsewhere. Needs the optional extra `destila[openvino]` (openvino, and nncf for int8).
"""

from __future__ import annotations

import logging
import os
import time

from destila import files
from destila.errors import ConfigError
from destila.export.calibration import calibration_windows
from destila.export.exporter import finish_folder, load_source
from destila.export.options import ExportOptions, quiet
from destila.infer.runners.openvino import OUTPUTS, convert, native_precision


def _nncf():
    try:
        import nncf
    except ImportError as exc:
        raise ConfigError("target openvino-int8 needs NNCF: pip install 'destila[openvino]'") from exc
    return nncf


def quantize_ir(model, windows: list[dict]):
    """NNCF's static int8 for transformers (int8 weights per output channel, activation ranges from `windows`,
    SmoothQuant on the matrix products that follow a normalisation)."""
    nncf = _nncf()
    nncf.set_log_level(logging.ERROR)
    with quiet():
        return nncf.quantize(
            model, nncf.Dataset(windows), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(windows)
        )


def export_openvino(model: str | os.PathLike, out_dir: str | os.PathLike, options: ExportOptions | None = None) -> dict:
    """Write `out_dir` (openvino_model.xml/.bin + tokenizer + config + card + export.json [+ parity.json]) for the
    targets openvino and openvino-int8; returns export.json's record (with "parity" when checked)."""
    import openvino as ov
    import torch

    options = options or ExportOptions(target="openvino")
    if options.target not in ("openvino", "openvino-int8"):
        raise ConfigError(f"export_openvino makes the OpenVINO targets, not {options.target!r}")
    started = time.perf_counter()
    resolved, out, tokenizer, qa = load_source(model, out_dir)
    with quiet():
        ir = convert(qa)
    inputs = [port.get_any_name() for port in ir.inputs]
    quantization = None
    if options.target == "openvino-int8":
        spec, windows = calibration_windows(tokenizer, options, inputs)
        ir = quantize_ir(ir, windows)
        quantization = {"mode": "static", "tool": "nncf", "calibration_data": spec, "calibration_windows": len(windows)}
    ov.save_model(ir, str(out / files.OPENVINO), compress_to_fp16=False)
    info = {
        "openvino_file": files.OPENVINO,
        "openvino_bytes": sum((out / name).stat().st_size for name in (files.OPENVINO, files.OPENVINO_WEIGHTS)),
        "int8": quantization is not None,
        "quantization": quantization,
        "precision_here": native_precision(),
        "exporter": "openvino.convert_model (TorchScript trace)",
        "inputs": inputs,
        "outputs": list(OUTPUTS),
        "dynamic_axes": {"0": "batch", "1": "sequence"},
        "torch": torch.__version__,
        "openvino": ov.__version__,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return finish_folder(model, resolved, out, qa=qa, tokenizer=tokenizer, info=info, options=options)
