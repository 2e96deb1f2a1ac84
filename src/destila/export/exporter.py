"""Export a QA model to a self-contained ONNX folder: graph, optional int8 weights, tokenizer, config, card.

The folder loads wherever a model folder does (`Predictor`, `evaluate`, `answer`, `serve`, `bench`): the
predictor sees `model.onnx` and runs it with onnxruntime instead of PyTorch.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from destila.errors import ConfigError, ModelError
from destila.export.runner import ONNX_FILE, is_onnx_folder

EXPORT_INFO = "export.json"
DEFAULT_OPSET = 18
# Weight files never copied into the exported folder: the ONNX graph replaces them.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".data", ".ckpt", ".h5", ".msgpack")
_MAX_COPIED_FILE = 20 * 1024 * 1024


@contextlib.contextmanager
def _quiet():
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


class _LogitsOnly:
    """Wraps a transformers QA model so the exporter sees plain tensors in and (start, end) logits out."""

    @staticmethod
    def wrap(model, with_token_types: bool):
        import torch

        class QALogits(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask, token_type_ids=None):
                kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
                if token_type_ids is not None:
                    kwargs["token_type_ids"] = token_type_ids
                out = self.inner(**kwargs)
                return out.start_logits, out.end_logits

        return QALogits(model).eval()


def uses_token_type_ids(tokenizer, config) -> bool:
    """BERT-style models take token types; RoBERTa-style ones (one type) do not."""
    return (
        "token_type_ids" in getattr(tokenizer, "model_input_names", [])
        and (getattr(config, "type_vocab_size", 1) or 1) > 1
    )


def count_parameters(model) -> int:
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


def export_graph(model, tokenizer, path: Path, opset: int = DEFAULT_OPSET) -> list[str]:
    """torch.onnx's dynamo exporter with dynamic batch and sequence axes; returns the input names.

    The TorchScript exporter traces transformers 5's mask code into constants (its logits drift once a
    batch holds padding), so the torch.export-based one is used.
    """
    import torch

    with_tt = uses_token_type_ids(tokenizer, model.config)
    names, args = _example_inputs(tokenizer, with_tt)
    wrapped = _LogitsOnly.wrap(model, with_tt)
    dynamic = {n: {0: "batch", 1: "sequence"} for n in names}
    too_big = count_parameters(model) * 4 > 1_800_000_000  # protobuf's 2 GB cap
    log = io.StringIO()
    try:
        with _quiet(), contextlib.redirect_stdout(log), torch.no_grad():
            torch.onnx.export(
                wrapped,
                args,
                str(path),
                input_names=names,
                output_names=["start_logits", "end_logits"],
                dynamic_shapes=dynamic,
                opset_version=opset,
                dynamo=True,
                external_data=too_big,
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

        with _quiet():
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


def quantize_int8(src: Path, dst: Path, per_channel: bool = True, reduce_range: bool = False) -> None:
    """Dynamic int8 weights for MatMul/Gemm (activations quantised at run time) and for the embedding
    Gathers: the embedding matrix is most of a small model's bytes (a 6-layer, 512-wide student with a
    50k vocabulary: 129 MB with fp32 embeddings, 51 MB with int8 ones, at the same speed and logit error)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(
            str(src),
            str(dst),
            per_channel=per_channel,
            reduce_range=reduce_range,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "Gather"],
        )


def _copy_side_files(source: Path, out_dir: Path) -> list[str]:
    """Card, metrics, recipe and other small files that describe the model (no weights)."""
    copied = []
    for f in sorted(source.iterdir()):
        if not f.is_file() or f.name.endswith(_WEIGHT_SUFFIXES) or f.stat().st_size > _MAX_COPIED_FILE:
            continue
        if f.name in (EXPORT_INFO, "parity.json"):
            continue
        shutil.copy2(f, out_dir / f.name)
        copied.append(f.name)
    return copied


def _write_card(out_dir: Path, info: dict) -> None:
    card = out_dir / "README.md"
    text = (
        card.read_text(encoding="utf-8") if card.exists() else f"# {info['name']}\n\nExtractive QA model.\n"
    )
    marker = "\n## ONNX export\n"
    text = text.split(marker)[0].rstrip() + "\n" + marker
    text += (
        f"\n`{ONNX_FILE}` exported by destila from `{info['source']}` (opset {info['opset']}, "
        f"{'int8 dynamic quantisation' if info['int8'] else 'fp32'}, {info['parameters']:,} parameters, "
        f"{info['onnx_bytes'] / 1e6:.1f} MB). Load the folder with `destila answer|evaluate|serve --model "
        f"<folder>`; `parity.json` compares its answers with the PyTorch model's.\n"
    )
    card.write_text(text, encoding="utf-8")


def export_model(
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    int8: bool = False,
    opset: int = DEFAULT_OPSET,
    optimize: bool = True,
    per_channel: bool = True,
    reduce_range: bool = False,
    parity_data: str | None = "sample",
    data_dir: str | os.PathLike | None = None,
    parity_max_questions: int = 200,
    min_agreement: float = 0.9,
    max_f1_drop: float = 2.0,
    threads: int | None = None,
) -> dict:
    """Write `out_dir` (model.onnx + tokenizer + config + card + export.json [+ parity.json]).

    With `parity_data` (a dataset spec; None skips the check) the exported model answers the first
    `parity_max_questions` questions beside the PyTorch model; `ParityError` is raised, after
    `parity.json` is written, when fewer than `min_agreement` of the answers are identical or the
    official F1 falls by more than `max_f1_drop` points.
    """
    from destila.models.hub import load_qa_model, load_tokenizer, resolve_model

    if not 7 <= int(opset) <= 23:
        raise ConfigError(f"--opset must be between 7 and 23, got {opset}")
    if not 0.0 <= min_agreement <= 1.0:
        raise ConfigError(f"min_agreement must be within [0, 1], got {min_agreement}")
    resolved = resolve_model(model)
    if is_onnx_folder(resolved):
        raise ModelError(f"{str(model)!r} is already an ONNX export; export its PyTorch source instead")
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file")
    if out.resolve() == Path(resolved).expanduser().resolve():
        raise ConfigError("--out must differ from the model folder")
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    tokenizer = load_tokenizer(resolved)
    qa = load_qa_model(resolved).eval()
    with tempfile.TemporaryDirectory(prefix="destila-export-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        inputs = export_graph(qa, tokenizer, raw, opset=opset)
        graph = raw
        fused = False
        if optimize:
            graph = Path(tmp) / "optimized.onnx"
            fused = optimize_graph(raw, graph, qa.config)
        final = out / ONNX_FILE
        for stale in (final, out / (ONNX_FILE + ".data")):
            stale.unlink(missing_ok=True)
        if int8:
            quantize_int8(graph, final, per_channel=per_channel, reduce_range=reduce_range)
        else:
            shutil.copyfile(graph, final)
            if (raw.parent / (raw.name + ".data")).exists():
                raise ModelError("models over 2 GB are not supported by the single-file export")

    copied = _copy_side_files(Path(resolved), out) if Path(resolved).is_dir() else []
    tokenizer.save_pretrained(out)
    qa.config.save_pretrained(out)
    import onnxruntime
    import torch

    info = {
        "name": Path(str(model)).name or str(model),
        "source": str(model),
        "onnx_file": ONNX_FILE,
        "onnx_bytes": final.stat().st_size,
        "int8": bool(int8),
        "quantization": {"per_channel": per_channel, "reduce_range": reduce_range} if int8 else None,
        "opset": int(opset),
        "exporter": "torch.onnx (dynamo)",
        "transformer_fusions": fused,
        "inputs": inputs,
        "outputs": ["start_logits", "end_logits"],
        "dynamic_axes": {"0": "batch", "1": "sequence"},
        "parameters": count_parameters(qa),
        "architecture": (qa.config.architectures or [type(qa).__name__])[0],
        "copied_files": copied,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / EXPORT_INFO).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _write_card(out, info)
    del qa

    if parity_data:
        from destila.export.parity import check_parity

        report = check_parity(
            resolved,
            out,
            parity_data,
            data_dir=data_dir,
            max_questions=parity_max_questions,
            min_agreement=min_agreement,
            max_f1_drop=max_f1_drop,
            threads=threads,
        )
        info["parity"] = report
    return info
