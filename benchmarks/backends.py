"""Which backend answers fastest on this machine: every destila backend and export target, four model shapes.

Rows: the demo teacher (12 x 384) and student (4 x 384), trained ones from --demo-dir when they exist, else
random-weight models of those shapes (multilingual-e5-small's configuration); the paper's teacher (24 x 1024) and
student (6 x 512), random weights (benchmarks/student_vs_teacher.py builds them). Columns: PyTorch fp32 and bf16
autocast, ONNX Runtime fp32, dynamic int8 (`--int8`) and static int8, OpenVINO fp32, bf16 and int8. Exports are
made for the students only (the teachers stay PyTorch models; OpenVINO converts them on load).

Speed is measured as `destila evaluate` answers (the Predictor, 2 threads): the first N eval-fold questions, after a
warm-up, fastest of R passes, in questions/s. Beside it: the machine's fp32 and bf16 matrix-product peaks
(4096 x 2048 by 2048 x 2048) and each backend's achieved GFLOP/s as a fraction of the peak of its precision, and
for the demo student whether every answer is the same asked alone as in a batch. Writes
docs/benchmarks/backends.md and .json.

    DESTILA_DATA_DIR=../shared/data .venv/bin/python benchmarks/backends.py --questions 32 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from student_vs_teacher import STUDENT, TEACHER, build_model, build_tokenizer, log  # noqa: E402

PAPER_RATIO = 4.2  # SpanishTinyRoBERTa: student speed over its teacher's, in the paper
BACKENDS = ["torch", "torch-bf16", "onnx", "onnx-int8-dynamic", "onnx-int8-static", "openvino-fp32",
            "openvino-bf16", "openvino-int8"]
EXPORTS = {"onnx": "onnx", "onnx-int8-dynamic": "onnx-int8-dynamic", "onnx-int8-static": "onnx-int8-static",
           "openvino-int8": "openvino-int8"}  # column -> export target (students only)
PRECISION = {"torch": "fp32", "torch-bf16": "bf16", "onnx": "fp32", "openvino-fp32": "fp32", "openvino-bf16": "bf16"}


def matmul_peaks(threads: int, seconds: float = 2.0) -> dict:
    """GFLOP/s of a 4096 x 2048 by 2048 x 2048 matrix product in fp32 and in bf16, on `threads` threads."""
    import torch

    torch.set_num_threads(threads)
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(4096, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
        for _ in range(3):
            a @ b
        runs, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            a @ b
            runs += 1
        peaks[name] = 2 * 4096 * 2048 * 2048 * runs / (time.perf_counter() - started) / 1e9
    return peaks


def encoder_gflop(config, lengths) -> float:
    """Multiply-adds x 2 of the encoder over windows of `lengths` tokens (projections, feed-forward, attention)."""
    h, i, n = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return sum(n * (2 * 4 * t * h * h + 2 * 2 * t * h * i + 2 * 2 * t * t * h) for t in map(int, lengths)) / 1e9


def demo_models(work: Path, demo_dir: Path) -> dict:
    """The demo's trained teacher and student when they exist, else random-weight models of their shapes."""
    teacher, student = demo_dir / "teacher", demo_dir / "student-trimmed"
    if (teacher / "model.safetensors").exists() and (student / "model.safetensors").exists():
        return {"demo teacher (12 x 384)": (teacher, "trained"), "demo student (4 x 384)": (student, "trained")}
    import torch
    from transformers import AutoConfig, AutoModelForQuestionAnswering

    from destila.models.hub import load_tokenizer, resolve_model

    base = resolve_model("offline:multilingual-e5-small")
    found = {}
    for label, layers in (("demo teacher (12 x 384)", 12), ("demo student (4 x 384)", 4)):
        folder = work / f"demo-{layers}x384"
        if not (folder / "model.safetensors").exists():
            config = AutoConfig.from_pretrained(base)
            config.num_hidden_layers = layers
            torch.manual_seed(layers)
            AutoModelForQuestionAnswering.from_config(config).save_pretrained(folder)
            load_tokenizer(base).save_pretrained(folder)
        found[label] = (folder, "random weights")
    return found


def paper_models(work: Path, data_dir: Path) -> dict:
    tokenizer = build_tokenizer(work / "paper-tokenizer", data_dir)
    teacher = build_model(work / "paper-teacher", tokenizer, TEACHER, seed=0)
    student = build_model(work / "paper-student", tokenizer, STUDENT, seed=1)
    return {
        "paper teacher (24 x 1024)": (teacher, "random weights"),
        "paper student (6 x 512)": (student, "random weights"),
    }


def export_student(folder: Path, work: Path, target: str, threads: int) -> Path:
    from destila.export.options import ExportOptions
    from destila.export.targets import export_model

    out = work / f"{folder.name}-{target}"
    if not (out / "export.json").exists():
        export_model(str(folder), out, ExportOptions(target=target, parity_data=None, threads=threads))
    return out


def measure(folder: Path, backend: str, questions, config, args, check: bool) -> dict:
    """questions/s of the Predictor on `questions` (fastest of `args.repeats` passes), the encoder's GFLOP/s over
    the padded windows, and (with `check`) how many answers are the same asked alone as in the batch."""
    import numpy as np

    from destila.infer.features import encode_windows
    from destila.infer.predictor import Predictor

    predictor = Predictor.from_pretrained(folder, threads=args.threads, backend=backend)
    qs, cs = [ex.question for ex in questions], [ex.context for ex in questions]
    predictor.predict_pairs(qs[:2], cs[:2])  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        started = time.perf_counter()
        batched = predictor.predict_pairs(qs, cs)
        best = min(best, time.perf_counter() - started)
    windows = encode_windows(qs, cs, predictor.tokenizer, predictor.max_seq_len, predictor.doc_stride,
                             predictor.max_question_len)
    widths = predictor.widths(np.array([len(w) for w in windows.input_ids]), predictor.max_seq_len)
    row = {"backend": predictor.runner.name, "qps": len(qs) / best, "gflops": encoder_gflop(config, widths) / best}
    if check:
        alone = [_span(predictor.predict_pairs([q], [c])[0]) for q, c in zip(qs, cs)]
        row["same_alone"] = sum(a == _span(b) for a, b in zip(alone, batched))
    return row


def _span(prediction) -> tuple:
    best = prediction.answers[0]
    return best["answer"], best["start"], best["end"]


def run(args) -> dict:
    from transformers import AutoConfig

    from destila.data import load_dataset
    from destila.hardware import machine
    from destila.infer.runners.torch import native_bf16

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data_dir = Path(os.environ.get("DESTILA_DATA_DIR", ROOT.parent / "shared" / "data"))
    eval_fold = load_dataset(args.data, data_dir=data_dir)
    load_before = os.getloadavg()
    log("matrix-product peaks")
    peaks = matmul_peaks(args.threads)
    models = {**demo_models(work, Path(args.demo_dir)), **paper_models(work, data_dir)}
    rows = []
    for label, (folder, weights) in models.items():
        is_teacher = "teacher" in label
        questions = eval_fold.head(args.teacher_questions if "24" in label else args.questions).examples
        config = AutoConfig.from_pretrained(folder)
        row = {"model": label, "weights": weights, "folder": str(folder), "questions": len(questions), "cells": {}}
        for column in BACKENDS:
            if (column == "torch-bf16" or column == "openvino-bf16") and not native_bf16():
                continue
            if column in EXPORTS and is_teacher:
                continue
            log(f"{label}: {column}")
            target = export_student(folder, work, EXPORTS[column], args.threads) if column in EXPORTS else folder
            backend = "auto" if column in EXPORTS else column
            cell = measure(target, backend, questions, config, args, check=label.startswith("demo s"))
            precision = PRECISION.get(column)
            cell["peak_fraction"] = cell["gflops"] / peaks[precision] if precision else None
            row["cells"][column] = cell
        rows.append(row)
    by_model = {r["model"]: r for r in rows}
    student = by_model["paper student (6 x 512)"]["cells"]
    best = max(student, key=lambda c: student[c]["qps"])
    teacher_fp32 = by_model["paper teacher (24 x 1024)"]["cells"]["torch"]["qps"]
    return {
        "machine": machine(),
        "threads": args.threads,
        "peaks_gflops": peaks,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "data": args.data,
        "repeats": args.repeats,
        "rows": rows,
        "paper_shape": {"best_student_backend": best, "best_student_qps": student[best]["qps"],
                        "teacher_fp32_qps": teacher_fp32, "ratio": student[best]["qps"] / teacher_fp32,
                        "student_fp32_ratio": student[best]["qps"] / student["torch"]["qps"],
                        "paper_ratio": PAPER_RATIO},
    }


def write_doc(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "backends.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    m, peaks, paper = result["machine"], result["peaks_gflops"], result["paper_shape"]
    columns = [c for c in BACKENDS if any(c in r["cells"] for r in result["rows"])]
    lines = [
        "# Backends: questions/s of every destila backend on this machine",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {result['threads']} threads; native bf16: "
        f"{'yes' if m['native_bf16'] else 'no'}, AMX: {'yes' if m['amx'] else 'no'}. Matrix-product peaks "
        f"(4096 x 2048 by 2048 x 2048): fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s. "
        f"Load average (1/5/15 min) before {_load(result['load_average_before'])}, after "
        f"{_load(result['load_average_after'])}: {_busy(result)}",
        "",
        f"Questions/s through the Predictor (`destila evaluate`'s path) on the first questions of {result['data']}, "
        f"fastest of {result['repeats']} passes after a warm-up; – where the backend does not apply (bf16 on a "
        "CPU without it; exports of the teachers).",
        "",
        "| model | weights | questions | " + " | ".join(columns) + " |",
        "|---|---|---:|" + "---:|" * len(columns),
    ]
    for r in result["rows"]:
        cells = [f"{r['cells'][c]['qps']:.1f}" if c in r["cells"] else "–" for c in columns]
        lines.append(f"| {r['model']} | {r['weights']} | {r['questions']} | " + " | ".join(cells) + " |")
    lines += ["", "Achieved GFLOP/s (encoder, padded tokens) and, for float backends, the fraction of the peak of "
              "their precision (int8 backends have no measured peak here):", "",
              "| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for r in result["rows"]:
        cells = [_gflops(r["cells"].get(c)) for c in columns]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    demo = next(r for r in result["rows"] if r["model"].startswith("demo student"))
    same = ", ".join(f"{c} {demo['cells'][c]['same_alone']}/{demo['questions']}" for c in columns if c in demo["cells"])
    lines += [
        "",
        f"Paper shapes: the fastest student backend, **{paper['best_student_backend']}**, answers "
        f"{paper['best_student_qps']:.1f} questions/s: **{paper['ratio']:.1f}x** the fp32 PyTorch teacher "
        f"({paper['teacher_fp32_qps']:.2f} questions/s) and {paper['student_fp32_ratio']:.1f}x the fp32 PyTorch "
        f"student; the paper reports {paper['paper_ratio']}x (student over teacher, same precision).",
        "",
        f"Same answer and span asked alone as in the batch (demo student): {same}. Fractions above 100%: "
        "OpenVINO's kernels outrun the PyTorch matrix product that sets the peak.",
        "",
        "Reproduce: `DESTILA_DATA_DIR=../shared/data .venv/bin/python benchmarks/backends.py`",
        "",
    ]
    (out / "backends.md").write_text("\n".join(lines), encoding="utf-8")


def _gflops(cell: dict | None) -> str:
    if cell is None:
        return "–"
    share = f" ({cell['peak_fraction']:.0%})" if cell.get("peak_fraction") is not None else ""
    return f"{cell['gflops']:.0f}{share}"


def _load(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def _busy(result: dict) -> str:
    cores = result["machine"]["cores"] or 1
    if max(result["load_average_before"][0], result["load_average_after"][0]) > 0.5 * cores:
        return "other work was running on the machine, so absolute speeds are lower than on an idle one."
    return "the machine was otherwise idle."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="squad-es-v1.1:dev-small@eval")
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--teacher-questions", type=int, default=12, help="questions of the 24 x 1024 teacher")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--demo-dir", default=str(ROOT / "runs" / "demo"))
    parser.add_argument("--work", default="/tmp/destila-backends")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args)
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_doc(result, Path(args.out))
    log(f"wrote {args.out}/backends.md in {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
