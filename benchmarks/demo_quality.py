"""Does distillation pay on the demo? Teacher, distilled student, label-only student of the same shape and
budget, and the int8 student: parameters, F1/EM on the eval fold and on the held-out sample, questions/s.

It runs the demo pipeline (an earlier run's complete stages in the same output folder are reused) and adds a
label-only baseline: the same student (the same teacher layers as its starting point) trained on the gold labels
alone for the same wall-clock time the distillation took. A label-only step is cheaper (no teacher forward), so
the baseline gets more steps: the comparison is at equal cost, not at equal steps.

    DESTILA_DATA_DIR=../shared/data python benchmarks/demo_quality.py [--config configs/demo.yaml] [--set k=v]

Writes docs/benchmarks/demo_quality.md and .json.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
from pathlib import Path

from runlogs import run_and_save, score_columns, seconds_per_step, total_steps, train_seconds

from destila.pipeline import load_pipeline, run_pipeline

ROOT = Path(__file__).resolve().parents[1]


def reset_baseline(out: Path, steps: int) -> None:
    """Drop an earlier baseline trained for another number of steps (and its scores), so it is trained anew."""
    import yaml

    config = out / "baseline" / "destila_config.yaml"
    if not config.exists():
        return
    if yaml.safe_load(config.read_text())["train"].get("max_steps") == steps:
        return
    shutil.rmtree(out / "baseline")
    for folder in (out / "eval").glob("*/label-only_student"):
        shutil.rmtree(folder)


def label_only_body(student_body: dict) -> dict:
    body = copy.deepcopy(student_body)
    body["loss"] = {**body.get("loss", {}), "ce": 1.0, "kd": 0.0, "hidden": 0.0, "attention": 0.0,
                    "embedding": 0.0}
    body["stages"] = [{"name": "labels"}]
    body["cache_teacher_logits"] = False
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--match", choices=["time", "steps"], default="time",
                        help="give the label-only student the distillation's wall-clock time, or its step count")
    parser.add_argument("--probe-steps", type=int, default=30, help="label-only steps timed to match the time")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "demo_quality"))
    args = parser.parse_args()
    print(run_and_save(args, run, markdown))


def run(args) -> dict:
    def log(msg: str) -> None:
        print(msg, flush=True)

    cfg = load_pipeline(args.config, args.overrides)
    run_pipeline(cfg, log=log)  # teacher, distilled student, int8 student (complete stages are reused)
    student_dir = cfg.out / "student"
    distill_steps = total_steps(student_dir)
    distill_sps = seconds_per_step(student_dir)
    distill_seconds = train_seconds(student_dir)

    body = label_only_body(cfg.student)
    if args.match == "time":
        probe_dir = cfg.out / "baseline-probe"
        shutil.rmtree(probe_dir, ignore_errors=True)
        from destila.config import DistillConfig, build_config

        probe = copy.deepcopy(body)
        probe["teacher"] = cfg.teacher_folder()
        probe["train"] = {**cfg._train_fields(probe.get("train"), "baseline-probe"), "max_steps": args.probe_steps,
                          "log_every": 2, "save_every": 0, "eval_data": None}
        from destila.train.recipe import run_distill

        run_distill(build_config(DistillConfig, probe, "probe"))
        label_sps = seconds_per_step(probe_dir)
        shutil.rmtree(probe_dir, ignore_errors=True)
        baseline_steps = max(1, round(distill_seconds / label_sps))
    else:
        label_sps = None
        baseline_steps = distill_steps
    body.setdefault("train", {})["max_steps"] = baseline_steps
    reset_baseline(cfg.out, baseline_steps)
    cfg.baseline = body
    log(f"label-only baseline: {baseline_steps} steps (distillation: {distill_steps} steps at {distill_sps:.2f} s; "
        f"label-only {label_sps and f'{label_sps:.2f}'} s a step)")
    report = run_pipeline(cfg, log=log)
    baseline_sps = seconds_per_step(cfg.out / "baseline")

    return {
        "script": Path(sys.argv[0]).name,
        "config": str(Path(args.config).resolve().relative_to(ROOT)) if Path(args.config).resolve().is_relative_to(ROOT)
        else args.config,
        "overrides": args.overrides,
        "match": args.match,
        "distill_steps": distill_steps,
        "distill_seconds_per_step": distill_sps,
        "baseline_steps": baseline_steps,
        "baseline_seconds_per_step": baseline_sps,
        "cost_per_step_ratio": distill_sps / baseline_sps,
        "distill_train_seconds": round(distill_seconds, 1),
        "baseline_train_seconds": round(train_seconds(cfg.out / "baseline"), 1),
        "report": report,
    }


def markdown(result: dict) -> str:
    report = result["report"]
    datasets = [report["eval_data"], *report["heldout_data"]]
    title = {"time": "at equal wall-clock time", "steps": "at equal steps"}[result["match"]]
    lines = [
        f"# Distilled vs label-only student {title}: teacher, distilled student, label-only student, int8 student",
        "",
        f"Command: `DESTILA_DATA_DIR=../shared/data python benchmarks/{result['script']} --config {result['config']}"
        + "".join(f" --set {o}" for o in result["overrides"]) + "`",
        "",
        f"Distillation: {result['distill_steps']} steps at {result['distill_seconds_per_step']:.2f} s a step. "
        f"Label-only baseline: {result['baseline_steps']} steps at {result['baseline_seconds_per_step']:.2f} s a "
        f"step (matched on {result['match']}): a distillation step costs {result['cost_per_step_ratio']:.2f}x a "
        "label-only step.",
        "",
        f"Training time (sum of logged step times): distillation {result['distill_train_seconds']:.0f} s, "
        f"label-only {result['baseline_train_seconds']:.0f} s.",
        "",
    ]
    columns, separators = score_columns(datasets)
    lines += ["| model | parameters | x fewer than teacher | q/s | x teacher speed |" + columns,
              "|---|---:|---:|---:|---:|" + separators]
    for row in report["models"]:
        line = (f"| {row['name']} | {row['parameters'] / 1e6:.1f} M | {row['parameter_ratio']:.1f} "
                f"| {row['throughput_qps']:.1f} | {row['speedup']:.2f} |")
        for d in datasets:
            s = row[d]
            line += f" {s['f1']:.2f} | {s['em']:.2f} | {100 * s['f1_kept']:.1f} |"
        lines.append(line)
    lines += ["", "F1/EM: official SQuAD scores. Speed: `destila bench`, all models side by side in one run. The "
              "label-only student starts from the same teacher layers and is not vocabulary-trimmed (trimming "
              "changes its input on about 0.6% of eval-fold tokens).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
