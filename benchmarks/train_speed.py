"""How fast destila trains and predicts on this machine, against the machine's own matmul peak.

Four step kinds, each through destila's real code path (the training run's own log, the Predictor), on the demo's
shapes and data (the offline e5-small teacher, 12 x 384; a 4-layer student of its layers 3, 6, 9, 12; windows of up
to 256 tokens from the train fold, batches of 16):

  teacher     a fine-tuning step of the teacher (frozen embeddings, bf16 where native, no attention dropout)
  live        a distillation step with the live teacher (CE + KD, the teacher's forward included)
  cached      a distillation step whose teacher logits come from the cache (second epoch of a short run)
  predict     prediction on eval-fold questions (Predictor, batches of 16)

Each kind's tokens/s (non-padding tokens) is turned into GFLOP/s (multiply-adds of the dense layers and the
attention, x3 for a training step's forward and backward) and into a fraction of the matmul peak measured in the
same run (a 2048-wide GEMM in bf16 and in fp32, 2 threads). Variants run one after another in fresh processes:
`--baseline REF` also runs the same kinds on the code of git revision REF (checked out into a temporary folder), so
"before" and "after" are measured side by side in one run.

    DESTILA_DATA_DIR=../shared/data python benchmarks/train_speed.py --baseline 87aae68 [--steps 30]

Each training kind also reports its steady step time and its warm-up apart (what the first steps took beyond
steady ones), and when a variant's run, warm-up included, gets ahead of the first variant's: torch.compile against
eager is

    DESTILA_DATA_DIR=../shared/data python benchmarks/train_speed.py --kinds teacher,live,cached --steps 30 \
        --warmup 3 --set compile=off --variant compile:compile=on

Writes docs/benchmarks/train_speed.md and .json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("teacher", "live", "cached", "predict")
TEACHER = "offline:multilingual-e5-small"
STUDENT_LAYERS = [3, 6, 9, 12]
COMMON = dict(train_data="squad-es-v1.1:dev-small@train", max_length=256, doc_stride=128, batch_size=16,
              learning_rate=2e-4, warmup_ratio=0.1, mixed_precision="auto", attention_dropout=0.0,
              freeze_embeddings=True, group_by_length=True, log_every=1, save_every=0, progress=False, threads=2)


# ---------------------------------------------------------------------------------------------------------------
# Worker: one kind, in a fresh process, on whichever destila is first on sys.path


def _run_functions():
    try:
        from destila.train.recipe import run_distill, run_train
    except ImportError:  # older trees kept the run in train/loop.py
        from destila.train.loop import run_distill, run_train
    return run_train, run_distill


def _train_config(fields: dict, out: Path, extra: dict):
    import dataclasses

    from destila.config import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {**COMMON, **fields, **{k: v for k, v in extra.items() if k in known}, "output_dir": str(out)}
    return TrainConfig(**{k: v for k, v in values.items() if k in known})


def _step_records(out: Path) -> list[dict]:
    """The run's per-step log lines (log_every is 1)."""
    records = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines() if line]
    return [r for r in records if r.get("type") == "train"]


def _timing(out: Path, warm: list[dict], measured: list[dict]) -> dict:
    """Tokens/s and step time (medians over the measured steps) and the warm-up: the seconds the steps left out at
    the start took beyond as many steady steps (with `compile: on`, where the graphs are compiled); and whether the
    run compiled (older trees record nothing)."""
    step_s = statistics.median(r["seconds_per_step"] for r in measured)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in measured), "steps_measured": len(measured),
            "seconds_per_step": step_s, "warmup_steps_s": [round(r["seconds_per_step"], 3) for r in warm],
            "warmup_s": sum(r["seconds_per_step"] for r in warm) - len(warm) * step_s,
            "compile": metrics.get("compile"), "compile_fallback": metrics.get("compile_fallback")}


def worker(kind: str, steps: int, warmup: int, extra: dict, work: Path) -> dict:
    """Run one kind; returns tokens/s and seconds per step (medians over the measured steps) and the warm-up.

    The warm-up steps are the first `warmup` steps of the run; for the cached kind the first step of each epoch
    (the first also runs the live teacher, the second is the first to read the cache: a new input to compile for)."""
    import torch

    from destila.config import DistillConfig

    torch.set_num_threads(2)
    run_train, run_distill = _run_functions()
    if kind == "predict":
        return _predict(extra)
    if kind == "teacher":
        out = run_train(_train_config({"model": TEACHER, "max_steps": steps + warmup, "max_train_examples": 800},
                                      work / "teacher", extra))
        records = _step_records(out)
        return _timing(out, records[:warmup], records[warmup:])
    else:
        cached = kind == "cached"
        # The cached kind runs two epochs of a small set: the first fills the cache, the second is measured.
        n_examples = 120 if cached else 800
        train = _train_config({"max_steps": None if cached else steps + warmup, "epochs": 2.0 if cached else 1.0,
                               "max_train_examples": n_examples}, work / kind, extra)
        loss = {"ce": 0.5, "kd": 0.5, "hidden": 0.0, "attention": 0.0, "embedding": 0.0, "temperature": 2.0,
                "projection": "none"}
        cfg = DistillConfig(teacher=TEACHER, student={"layers": STUDENT_LAYERS}, loss=loss,
                            cache_teacher_logits=cached, train=train)
        out = run_distill(cfg)
        records = _step_records(out)
        if not cached:
            return _timing(out, records[:warmup], records[warmup:])
        second = [r for r in records if r["epoch"] > 1.0]
        return _timing(out, [records[0], second[0]], second[1:])


def _predict(extra: dict) -> dict:
    import dataclasses

    from destila.data import load_dataset
    from destila.infer.predictor import Predictor

    data = load_dataset("squad-es-v1.1:dev-small@eval")
    data = dataclasses.replace(data, examples=data.examples[:160])
    kwargs = {"threads": 2, "batch_size": 16, "max_seq_len": 256, "doc_stride": 128}
    predictor = Predictor.from_pretrained(TEACHER, **kwargs)
    predictor.predict_dataset(dataclasses.replace(data, examples=data.examples[:16]), progress=False)  # warm-up
    started = time.perf_counter()
    predictor.predict_dataset(data, progress=False)
    seconds = time.perf_counter() - started
    tokens = sum(len(predictor.tokenizer(ex.question, ex.context, truncation="only_second", max_length=256)
                     ["input_ids"]) for ex in data.examples)
    return {"tokens_per_s": tokens / seconds, "questions_per_s": len(data.examples) / seconds}


# ---------------------------------------------------------------------------------------------------------------
# Driver


def matmul_peaks(size: int = 2048, repeats: int = 10) -> dict:
    """GFLOP/s of a size x size GEMM on 2 threads, fp32 and bf16."""
    import torch

    torch.set_num_threads(2)
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        for _ in range(2):
            a @ b
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - started)
        peaks[name] = 2 * size**3 / best / 1e9
    return peaks


def flops_per_token(layers: int, hidden: int, ffn: int, length: float) -> float:
    """Forward multiply-adds x 2 per token: Q, K, V, output and the two FFN matrices, plus attention scores and mix."""
    dense = 2 * (4 * hidden * hidden + 2 * hidden * ffn)
    attention = 2 * 2 * length * hidden
    return layers * (dense + attention)


def kind_flops(kind: str, length: float) -> float:
    teacher = flops_per_token(12, 384, 1536, length)
    student = flops_per_token(len(STUDENT_LAYERS), 384, 1536, length)
    return {"teacher": 3 * teacher, "live": 3 * student + teacher, "cached": 3 * student, "predict": teacher}[kind]


def run_variant(name: str, source: Path, kinds, steps: int, warmup: int, extra: dict) -> dict:
    results = {}
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"train-speed-{kind}-") as tmp:
            env = {**os.environ, "PYTHONPATH": str(source / "src")}
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--steps", str(steps),
                   "--warmup", str(warmup), "--work", tmp, "--extra", json.dumps(extra)]
            print(f"[{name}] {kind} ...", flush=True)
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"[{name}] {kind} failed:\n{done.stderr[-3000:]}")
            results[kind] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"[{name}] {kind}: {results[kind]}", flush=True)
    return results


def checkout(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def break_even(result: dict, first: dict) -> str:
    """After how many steps a variant's run is ahead of the first variant's, its warm-up included."""
    if result is first or "warmup_s" not in result or "warmup_s" not in first:
        return "-"
    extra = result["warmup_s"] - first["warmup_s"]
    saving = first["seconds_per_step"] - result["seconds_per_step"]
    if saving <= 0:
        return "never"
    return "at once" if extra <= 0 else f"{math.ceil(extra / saving):,} steps"


def table(variants: dict, peaks: dict, length: float, precision: str) -> list[str]:
    """One row per step kind and variant: tokens/s, GFLOP/s, share of the peak, the ratio to the first variant, the
    steady step time, the warm-up apart from it, and when the variant's run gets ahead of the first's."""
    first = next(iter(variants))
    lines = [f"| step kind | variant | tokens/s | GFLOP/s | % of peak | vs {first} | s/step | warm-up s | "
             f"ahead of {first} after |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        # Training runs in the run's precision; the Predictor's PyTorch runner in fp32.
        peak = peaks["bf16" if precision == "bf16" and kind != "predict" else "fp32"]
        for name, results in variants.items():
            if kind not in results:
                continue
            tps = results[kind]["tokens_per_s"]
            gflops = tps * kind_flops(kind, length) / 1e9
            ratio = tps / variants[first][kind]["tokens_per_s"]
            step = results[kind].get("seconds_per_step")
            warm = results[kind].get("warmup_s")
            shown = f"{name} (compile failed: eager)" if results[kind].get("compile_fallback") else name
            lines.append(f"| {kind} | {shown} | {tps:,.0f} | {gflops:,.0f} | {100 * gflops / peak:.1f}% | "
                         f"{ratio:.2f}x | {'-' if step is None else f'{step:.3f}'} | "
                         f"{'-' if warm is None else f'{warm:.1f}'} | "
                         f"{break_even(results[kind], variants[first][kind])} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", help="git revision to measure side by side (its src/ checked out to a temp folder)")
    ap.add_argument("--steps", type=int, default=30, help="measured optimiser steps per training kind")
    ap.add_argument("--warmup", type=int, default=5, help="steps left out of the measurement at the start")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--set", action="append", default=[], help="TrainConfig field=value for the current code only")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME:field=value[,field=value]: one more run of the current code with these settings")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "train_speed"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--extra", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.warmup, json.loads(args.extra), Path(args.work))))
        return

    import yaml

    extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    kinds = [k for k in args.kinds.split(",") if k]
    peaks = matmul_peaks()
    print(f"matmul peaks (2 threads): fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")
    variants = {}
    with tempfile.TemporaryDirectory(prefix="train-speed-src-") as tmp:
        if args.baseline:
            variants[f"at {args.baseline}"] = run_variant(f"at {args.baseline}", checkout(args.baseline, Path(tmp)),
                                                          kinds, args.steps, args.warmup, {})
        variants["now"] = run_variant("now", ROOT, kinds, args.steps, args.warmup, extra)
        for spec in args.variant:
            name, _, fields = spec.partition(":")
            settings = {**extra, **{k: yaml.safe_load(v) for k, v in (f.split("=", 1) for f in fields.split(","))}}
            variants[name] = run_variant(name, ROOT, kinds, args.steps, args.warmup, settings)
    from destila.hardware import cpu_name
    from destila.train.precision import resolve_mixed_precision

    precision = resolve_mixed_precision("auto")
    length = 190.0  # mean non-padding window length of the demo's train-fold windows at max_length 256
    report = {"cpu": cpu_name(), "threads": 2, "precision": precision, "matmul_peak_gflops": peaks,
              "steps": args.steps, "warmup": args.warmup, "settings": extra, "variants": variants}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Training and prediction speed against the machine's peak",
        "",
        f"CPU: {report['cpu']}, 2 threads, training precision `{precision}` (`mixed_precision: auto`). Matmul peak "
        f"measured in the same run: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s; training "
        f"kinds are a fraction of the {precision if precision == 'bf16' else 'fp32'} peak, prediction (PyTorch "
        "fp32) of the fp32 peak.",
        "",
        *table(variants, peaks, length, precision),
        "",
        f"`{' '.join(['python benchmarks/train_speed.py', *sys.argv[1:]])}`; medians over {args.steps} steps after "
        f"{args.warmup} warm-up steps (the cached kind: its second epoch). GFLOP/s assume windows of {length:.0f} "
        "tokens on average. s/step is the median measured step; warm-up s what the steps left out at the start took "
        "beyond as many such steps (compiling, with `compile: on`); the last column says after how many steps a "
        "variant's run, its warm-up included, is ahead of the first variant's.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
