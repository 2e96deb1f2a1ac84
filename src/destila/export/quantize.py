"""Step 2 of the export: int8 matrix products for an ONNX graph, with scales fixed at export (static) or measured
on every batch at run time (dynamic)."""

from __future__ import annotations

from pathlib import Path

from destila.export.options import ExportOptions, quiet


def quantize(src: Path, dst: Path, options: ExportOptions) -> dict:
    """Dynamic int8 weights for MatMul/Gemm (activations quantised at run time) and for the embedding
    Gathers: the embedding matrix is most of a small model's bytes (a 6-layer, 512-wide student with a
    50k vocabulary: 129 MB with fp32 embeddings, 51 MB with int8 ones, at the same speed and logit error).
    Scales per output channel or per matrix (`options.per_channel`), 7-bit weights with `options.reduce_range`.

    The activation scale is taken over the whole batch, so a question's answer can change with the questions
    batched beside it. Returns export.json's "quantization" record."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet():
        quantize_dynamic(
            str(src),
            str(dst),
            per_channel=options.per_channel,
            reduce_range=options.reduce_range,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "Gather"],
        )
    return {"mode": "dynamic", "per_channel": options.per_channel, "reduce_range": options.reduce_range}


def quantize_static(src: Path, dst: Path, windows: list[dict], options: ExportOptions) -> dict:
    """Static int8 (QDQ) for the matrix products with a weight: int8 weights (per output channel with
    `options.per_channel`), uint8 activations whose ranges the calibration `windows` fixed once (min/max).
    The attention products of two activations stay in float: their ranges vary most from question to question.
    Returns export.json's "quantization" record (without the calibration data's name)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
    )
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    class Windows(CalibrationDataReader):
        def __init__(self):
            self.items = iter(windows)

        def get_next(self):
            return next(self.items, None)

    graph = onnx.load(str(src), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    between_activations = [
        node.name for node in graph.node if node.op_type == "MatMul" and not any(i in weights for i in node.input)
    ]
    with quiet():
        ort_quantize_static(
            str(src),
            str(dst),
            Windows(),
            quant_format=QuantFormat.QDQ,
            per_channel=options.per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm"],
            nodes_to_exclude=between_activations,
            calibrate_method=CalibrationMethod.MinMax,
        )
    return {"mode": "static", "per_channel": options.per_channel, "calibration_windows": len(windows)}
