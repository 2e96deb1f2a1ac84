"""Step 1 of the export: a QA model as a self-contained ONNX folder (graph, tokenizer, config, card, export.json).

The folder loads wherever a model folder does (`Predictor`, `evaluate`, `answer`, `serve`, `bench`): the
runner registry sees `model.onnx` and runs it with onnxruntime instead of PyTorch. `export_onnx` also runs the
other two steps when its options ask for them: int8 matrix products (`quantize`) and the parity check (`parity`).
`finish_folder` completes the folder of any target (the OpenVINO one too).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from destila import files
from destila.card import relocated_card
from destila.errors import ConfigError, ModelError
from destila.export.calibration import calibration_windows
from destila.export.options import INT8_TARGETS, TARGETS, ExportOptions, quiet
from destila.export.parity import check_parity
from destila.export.quantize import quantize, quantize_static
from destila.models.inputs import logits_module, uses_token_type_ids

# Weight files never copied into the exported folder: the ONNX graph replaces them.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".data", ".ckpt", ".h5", ".msgpack")
_MAX_COPIED_FILE = 20 * 1024 * 1024
_PROTOBUF_LIMIT = 1_800_000_000  # bytes of fp32 weights one ONNX file holds (protobuf caps a message at 2 GB)


def model_parameters(model) -> int:
    """Parameters of an in-memory PyTorch model."""
    return int(sum(p.numel() for p in model.parameters()))


def _example_inputs(tokenizer, with_token_types: bool):
    """Two padded question/context pairs of different lengths: real ids, a real padding mask."""
    enc = tokenizer(
        ["¿Dónde está el museo?", "¿Cuándo se fundó la ciudad que visitamos ayer por la tarde?"],
        ["El museo está en Madrid, junto al parque.", "La ciudad se fundó en 1492 según los archivos."],
        padding=True,
        return_tensors="pt",
    )
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_token_types else [])
    return names, tuple(enc[n] for n in names)


def export_graph(model, tokenizer, path: Path, opset: int) -> list[str]:
    """torch.onnx's dynamo exporter with dynamic batch and sequence axes; returns the input names.

    The TorchScript exporter traces transformers 5's mask code into constants (its logits drift once a
    batch holds padding), so the torch.export-based one is used.
    """
    import torch

    names, args = _example_inputs(tokenizer, uses_token_type_ids(tokenizer, model.config))
    dynamic = {n: {0: "batch", 1: "sequence"} for n in names}
    log = io.StringIO()
    try:
        with quiet(), contextlib.redirect_stdout(log), torch.no_grad():
            torch.onnx.export(
                logits_module(model),
                args,
                str(path),
                input_names=names,
                output_names=["start_logits", "end_logits"],
                dynamic_shapes=dynamic,
                opset_version=opset,
                dynamo=True,
                external_data=model_parameters(model) * 4 > _PROTOBUF_LIMIT,
                verify=False,
            )
    except Exception as exc:
        raise ModelError(f"ONNX export failed: {exc}\n{log.getvalue()[-2000:]}") from exc
    return names


def optimize_graph(src: Path, dst: Path, config) -> bool:
    """Offline transformer fusions (LayerNorm, Gelu, SkipLayerNorm, bias adds) from onnxruntime.

    Returns False (and copies the graph unchanged) when the optimiser does not handle this graph;
    onnxruntime still applies its own optimisations when the session is created.
    """
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with quiet():
            optimized = optimize_model(
                str(src),
                model_type="bert",
                num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
                hidden_size=int(getattr(config, "hidden_size", 0) or 0),
            )
            optimized.save_model_to_file(str(dst))
        return True
    except Exception:  # noqa: BLE001  any failure in the optional optimiser leaves the plain graph
        shutil.copyfile(src, dst)
        return False


def _copy_side_files(source: Path, out_dir: Path) -> list[str]:
    """Card, metrics, recipe and other small files that describe the model (no weights)."""
    copied = []
    for f in sorted(source.iterdir()):
        if not f.is_file() or f.name.endswith(_WEIGHT_SUFFIXES) or f.stat().st_size > _MAX_COPIED_FILE:
            continue
        if f.name in (files.EXPORT_INFO, files.PARITY):
            continue
        shutil.copy2(f, out_dir / f.name)
        copied.append(f.name)
    return copied


def _write_card(out_dir: Path, info: dict) -> None:
    card = out_dir / files.MODEL_CARD
    text = (
        card.read_text(encoding="utf-8") if card.exists() else f"# {info['name']}\n\nExtractive QA model.\n"
    )
    marker = "\n## Export\n"
    text = relocated_card(text, out_dir, export=info)
    text = text.split(marker)[0].split("\n## ONNX export\n")[0].rstrip() + "\n" + marker
    text += (
        f"\n`{info['file']}` exported by destila from `{info['source']}` (target {info['target']}: "
        f"{TARGETS[info['target']]}; {info['parameters']:,} parameters, {info['bytes'] / 1e6:.1f} MB). Load the "
        f"folder with `destila answer|evaluate|serve --model <folder>`; `{files.PARITY}` compares its answers "
        "with the PyTorch model's.\n"
    )
    card.write_text(text, encoding="utf-8")


# What an export writes besides the tokenizer and config: removed from the output folder first, so that it holds
# the artifact of one export only (a stale graph of another target would be picked up by `auto`).
_ARTIFACTS = (files.ONNX, files.ONNX + ".data", files.OPENVINO, files.OPENVINO_WEIGHTS, files.EXPORT_INFO, files.PARITY)


def output_folder(model: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[str, Path]:
    """The resolved source and the emptied-of-artifacts output folder, refusing exports of exports and writes over
    the source."""
    from destila.infer.runners import detect_backend
    from destila.models.hub import resolve_model

    resolved = resolve_model(model)
    backend = detect_backend(resolved)
    if backend != "torch":
        raise ModelError(f"{str(model)!r} is already an exported model ({backend}); export its PyTorch source instead")
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file")
    if out.resolve() == Path(resolved).expanduser().resolve():
        raise ConfigError("--out must differ from the model folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in _ARTIFACTS:
        (out / name).unlink(missing_ok=True)
    return resolved, out


def _write_graph(qa, tokenizer, final: Path, options: ExportOptions) -> tuple[list[str], bool, dict | None]:
    """Export, fuse and (int8 targets) quantise into `final`; returns the input names, whether fused, and the
    quantisation record."""
    with tempfile.TemporaryDirectory(prefix="destila-export-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        inputs = export_graph(qa, tokenizer, raw, opset=options.opset)
        graph, fused = raw, False
        if options.optimize:
            graph = Path(tmp) / "optimized.onnx"
            fused = optimize_graph(raw, graph, qa.config)
        quantization = None
        if options.target == "onnx-int8-dynamic":
            quantization = quantize(graph, final, options)
        elif options.target == "onnx-int8-static":
            spec, windows = calibration_windows(tokenizer, options, inputs)
            quantization = {**quantize_static(graph, final, windows, options), "calibration_data": spec}
        else:
            shutil.copyfile(graph, final)
            if (raw.parent / (raw.name + ".data")).exists():
                raise ModelError("models over 2 GB are not supported by the single-file export")
    return inputs, fused, quantization


def load_source(model: str | os.PathLike, out_dir: str | os.PathLike):
    """(resolved source, output folder, tokenizer, PyTorch model in eval mode) of an export."""
    from destila.models.hub import load_qa_model, load_tokenizer

    resolved, out = output_folder(model, out_dir)
    return resolved, out, load_tokenizer(resolved), load_qa_model(resolved).eval()


def finish_folder(model, resolved: str, out: Path, *, qa, tokenizer, info: dict, options: ExportOptions) -> dict:
    """Complete an exported folder around its artifact: side files, tokenizer, config, export.json, card, and
    the parity check when the options ask for it. `info` holds the artifact's own fields; returns export.json's
    record (with "parity" when checked)."""
    info = {
        "name": Path(str(model)).name or str(model),
        "source": str(model),
        "target": options.target,
        "batch_independent": options.target != "onnx-int8-dynamic",
        **info,
        "parameters": model_parameters(qa),
        "architecture": (qa.config.architectures or [type(qa).__name__])[0],
        "copied_files": _copy_side_files(Path(resolved), out) if Path(resolved).is_dir() else [],
    }
    tokenizer.save_pretrained(out)
    qa.config.save_pretrained(out)
    write_info(out, info)
    _write_card(out, {**info, "file": info.get("onnx_file") or info.get("openvino_file"), "bytes": _bytes(info)})
    if options.parity_data:
        info["parity"] = check_parity(resolved, out, options)
    return info


def write_info(out: Path, info: dict) -> None:
    """export.json (without the parity report, which parity.json holds)."""
    record = {k: v for k, v in info.items() if k != "parity"}
    (out / files.EXPORT_INFO).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _bytes(info: dict) -> int:
    return int(info.get("onnx_bytes") or info.get("openvino_bytes") or 0)


def export_onnx(model: str | os.PathLike, out_dir: str | os.PathLike, options: ExportOptions | None = None) -> dict:
    """Write `out_dir` (model.onnx + tokenizer + config + card + export.json [+ parity.json]) for the ONNX targets
    (onnx, onnx-int8-static, onnx-int8-dynamic); returns export.json's record, with the parity report under
    "parity" when the check ran (`ParityError` when it failed)."""
    import onnxruntime
    import torch

    options = options or ExportOptions()
    if not options.target.startswith("onnx"):
        raise ConfigError(f"export_onnx makes the ONNX targets, not {options.target!r}")
    started = time.perf_counter()
    resolved, out, tokenizer, qa = load_source(model, out_dir)
    final = out / files.ONNX
    inputs, fused, quantization = _write_graph(qa, tokenizer, final, options)
    info = {
        "onnx_file": files.ONNX,
        "onnx_bytes": final.stat().st_size,
        "int8": options.target in INT8_TARGETS,
        "quantization": quantization,
        "opset": int(options.opset),
        "exporter": "torch.onnx (dynamo)",
        "transformer_fusions": fused,
        "inputs": inputs,
        "outputs": ["start_logits", "end_logits"],
        "dynamic_axes": {"0": "batch", "1": "sequence"},
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return finish_folder(model, resolved, out, qa=qa, tokenizer=tokenizer, info=info, options=options)
