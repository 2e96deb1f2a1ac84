"""One teacher, two teachers, a teacher with another tokenizer, or none: the same pruned student distilled at equal
student steps.

Every run starts from the same student (the first teacher pruned once by `destila prune`, all 12 layers kept,
saved as a plain folder and given as `student: {pretrained: ...}`), with the recipe's student body, the same
batches, seed and number of steps:

  labels           gold spans only (CE), no teacher
  one-teacher      the first teacher (the recipe's loss: CE + KD, teacher logits cached)
  two-teachers     the first and the second teacher, weights 0.5 / 0.5 (their soft targets mixed)
  cross-tokenizer  the first teacher with its vocabulary trimmed to the --cross-words most frequent Spanish words
                   (`destila trim-vocab`): the same weights, another tokenizer (every other word falls back to
                   smaller pieces), so its start/end distributions reach the student through character offsets

Cost: the student's training seconds (the teachers' forward passes and the logit cache included) plus the seconds
its teachers' own fine-tuning took (from their training logs). Each student is scored on the recipe's eval data and
held-out sets (official SQuAD F1/EM, PyTorch).

    DESTILA_DATA_DIR=../shared/data python benchmarks/teachers.py --teacher runs/demo/teacher \\
        --second-teacher OTHER_TEACHER --steps 300 --set 'heldout_data=[sample]'

Writes docs/benchmarks/teachers.md and .json; runs go to runs/teachers-bench/ (finished runs are reused).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from retention import NO_TERMS, Bench, destila
from runlogs import run_and_save, score_cells, score_columns, train_seconds

from destila.hardware import cpu_name

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("labels", "one-teacher", "two-teachers", "cross-tokenizer")


def pruned_start(bench: Bench) -> Path:
    """The first teacher pruned to the recipe's prune spec, once (a plain folder every run starts from)."""
    spec = bench.cfg.student.get("student", {}).get("prune", {})
    return bench.prune(bench.args.teacher, bench.out / "pruned-start", spec, bench.cfg.student)


def small_vocab_teacher(bench: Bench) -> Path:
    folder = bench.out / f"teacher-wordfreq-{bench.args.cross_words}"
    if not (folder / "model.safetensors").exists():
        destila("trim-vocab", "--model", bench.args.teacher, "--out", str(folder),
                "--corpus", f"wordfreq:es:{bench.args.cross_words}")
    return folder


def bodies(bench: Bench, start: Path, cross: Path) -> dict[str, dict]:
    base = copy.deepcopy(bench.cfg.student)
    base["student"] = {"pretrained": str(start)}
    base.pop("teachers", None)
    labels = {**base, "loss": {**base.get("loss", {}), **NO_TERMS, "ce": 1.0}, "cache_teacher_logits": False}
    two = {**base, "teachers": [{"model": bench.args.teacher, "weight": 0.5},
                                {"model": bench.args.second_teacher, "weight": 0.5}]}
    cross_body = {**base, "teachers": [{"model": str(cross), "weight": 1.0, "internals": False}]}
    return {"labels": labels, "one-teacher": base, "two-teachers": two, "cross-tokenizer": cross_body}


def teacher_seconds(folder: str) -> float:
    try:
        return train_seconds(Path(folder))
    except (FileNotFoundError, ValueError, KeyError):
        return 0.0


def run(args) -> dict:
    bench = Bench(args)
    bench.out.mkdir(parents=True, exist_ok=True)
    start, cross = pruned_start(bench), small_vocab_teacher(bench)
    own = {args.teacher: teacher_seconds(args.teacher), args.second_teacher: teacher_seconds(args.second_teacher)}
    rows = [{"name": "teacher", **bench.scores("teacher", Path(args.teacher))},
            {"name": "second teacher", **bench.scores("second-teacher", Path(args.second_teacher))},
            {"name": f"teacher, {args.cross_words}-word vocabulary", **bench.scores("teacher-small-vocab", cross)}]
    uses = {"labels": [], "one-teacher": [args.teacher], "two-teachers": [args.teacher, args.second_teacher],
            "cross-tokenizer": [args.teacher]}
    for name, body in bodies(bench, start, cross).items():
        if name not in args.variants:
            continue
        folder = bench.train(name, body, args.steps)
        seconds = train_seconds(folder)
        teachers = sum(own[t] for t in uses[name])
        rows.append({"name": name, "steps": args.steps, "student_seconds": round(seconds, 1),
                     "teacher_seconds": round(teachers, 1), "cost_seconds": round(seconds + teachers, 1),
                     "folder": str(folder), **bench.scores(name, folder)})
    return {"script": Path(sys.argv[0]).name, "cpu": cpu_name(), "config": args.config, "overrides": args.overrides,
            "teacher": args.teacher, "second_teacher": args.second_teacher, "cross_words": args.cross_words,
            "steps": args.steps, "eval_data": bench.cfg.eval_data, "heldout_data": list(bench.cfg.heldout_data),
            "rows": rows}


def markdown(result: dict) -> str:
    datasets = [result["eval_data"], *result["heldout_data"]]
    teacher = result["rows"][0]
    lines = [
        "# One teacher, two, another tokenizer, or none: the same pruned student at equal steps",
        "",
        f"Command: `DESTILA_DATA_DIR=../shared/data python benchmarks/{result['script']} --teacher "
        f"{result['teacher']} --second-teacher {result['second_teacher']} --steps {result['steps']} "
        f"--cross-words {result['cross_words']}" + "".join(f" --set {o}" for o in result["overrides"])
        + f"` on {result['cpu']} (2 threads).",
        "",
        f"Every student starts from the first teacher pruned once (`destila prune`, the recipe's prune spec) and "
        f"trains {result['steps']} steps on the same batches. Cost: the student's training seconds plus its "
        "teachers' own fine-tuning seconds. % teacher: of the first teacher's F1.",
        "",
    ]
    columns, separators = score_columns(datasets)
    lines += ["| model | student s | teachers' s | cost s |" + columns, "|---|---:|---:|---:|" + separators]
    for row in result["rows"]:
        if "steps" in row:
            head = f"| {row['name']} | {row['student_seconds']:.0f} | {row['teacher_seconds']:.0f} | " \
                   f"{row['cost_seconds']:.0f} |"
        else:
            head = f"| {row['name']} | | | |"
        lines.append(head + score_cells(row, teacher, datasets))
    lines += ["", "F1/EM: official SQuAD scores of the untrimmed students in PyTorch.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"), help="pipeline recipe")
    parser.add_argument("--teacher", required=True, help="the first fine-tuned teacher folder")
    parser.add_argument("--second-teacher", required=True, help="a second fine-tuned teacher folder (same tokenizer)")
    parser.add_argument("--steps", type=int, default=300, help="student steps of every run")
    parser.add_argument("--cross-words", type=int, default=2000,
                        help="the cross-tokenizer teacher keeps the pieces of this many frequent Spanish words")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="pipeline override")
    parser.add_argument("--out-runs", default="runs/teachers-bench")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "teachers"))
    print(run_and_save(parser.parse_args(), run, markdown))


if __name__ == "__main__":
    main()
