"""Which student recipe keeps most of its teacher's F1 at equal wall-clock time: distilled (logits) vs label-only
vs distilled with augmentation vs distilled with augmentation and intermediate-layer (hidden-state) losses.

Every variant is the pipeline recipe's `student:` body, changed as its definition below says, distilled from the
same finished teacher folder and starting from the same teacher layers:

  distilled         the recipe as is; trained for --steps steps. Its measured training time (the teacher's forward
                    on each window the first time it is seen included) is the budget of every other variant.
  label-only        gold spans only (CE), no teacher.
  augmented         + `augment:` (--copies copies per question): the teacher labels every copy (soft start/end
                    distributions), CE only on the originals. Augmentation time counts against the budget.
  augmented-hidden  augmented + hidden-state MSE between each student layer and its mapped teacher layer (the
                    live teacher runs on every step: no logit cache).

A variant's step count is its budget divided by its own seconds per step, timed on a short probe run of it (the
probe of an augmented variant also times the augmentation, with its neighbour table built from scratch). Each
student is then scored on the eval data and the held-out sets of the recipe (official SQuAD F1/EM, untrimmed,
PyTorch), beside the teacher.

    DESTILA_DATA_DIR=../shared/data python benchmarks/retention.py --teacher runs/demo/teacher --steps 600

Writes docs/benchmarks/retention.md and .json; runs go to runs/retention/ (finished variants are reused).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

from runlogs import run_and_save, score_cells, score_columns, seconds_per_step, total_steps, train_seconds

from destila import files
from destila.config import DistillConfig, build_config
from destila.hardware import cpu_name
from destila.models.prune import DEFAULT_STRUCTURES
from destila.pipeline import load_pipeline
from destila.pipeline.recipe import TeacherSection
from destila.pipeline.stages import _evaluate, _slug
from destila.train.recipe import run_distill

ROOT = Path(__file__).resolve().parents[1]
NO_TERMS = {"ce": 0.0, "kd": 0.0, "hidden": 0.0, "attention": 0.0, "embedding": 0.0}


def variant_body(name: str, student: dict, copies: int, hidden: float) -> dict:
    """The student body of one variant (see the module docstring)."""
    body = copy.deepcopy(student)
    loss = body.setdefault("loss", {})
    if name == "label-only":
        body["loss"] = {**loss, **NO_TERMS, "ce": 1.0}
        body["cache_teacher_logits"] = False
    if name.startswith("augmented"):
        body["augment"] = {"copies": copies}
    if name == "augmented-hidden":
        body["loss"] = {**loss, "hidden": hidden}
    return body


VARIANTS = ("distilled", "label-only", "augmented", "augmented-hidden")


class Bench:
    def __init__(self, args):
        self.args = args
        self.cfg = load_pipeline(args.config, [f"output_dir={args.out_runs}", *args.overrides])
        self.cfg.teacher = TeacherSection(pretrained=args.teacher)
        self.out = Path(args.out_runs)

    def config(self, body: dict, folder: Path, **train) -> DistillConfig:
        body = copy.deepcopy(body)
        body["train"] = {**self.cfg._train_fields(body.get("train"), folder.name), "output_dir": str(folder),
                         "progress": False, **train}
        if not body.get("teachers"):  # a body naming several teachers keeps them
            body["teacher"] = self.args.teacher
        return build_config(DistillConfig, body, folder.name)

    def prune(self, model: str | Path, out: Path, spec: dict, body: dict) -> Path:
        """`destila prune` of `model` into `out` (once), with `spec` (a `student: {prune: ...}` section) on the
        training windows of `body` (a student section of the recipe)."""
        if not (out / files.PRUNE).exists():
            train = self.config(body, out).train
            data = train.train_data if isinstance(train.train_data, list) else [train.train_data]
            destila("prune", "--model", str(model), "--out", str(out),
                    "--target-speedup", str(spec.get("target_speedup", 3.0)),
                    "--structures", ",".join(spec.get("structures", DEFAULT_STRUCTURES)),
                    *(["--layers", ",".join(map(str, spec["layers"]))] if spec.get("layers") else []),
                    "--windows", str(spec.get("windows", 256)), "--seed", str(spec.get("seed", 42)),
                    *[x for d in data for x in ("--data", d)],
                    "--max-length", str(train.max_length), "--doc-stride", str(train.doc_stride),
                    *(["--data-dir", str(train.data_dir)] if train.data_dir else []))
        return out

    def probe(self, name: str, body: dict) -> tuple[float, float]:
        """Seconds per step of a variant on a short run with every teacher call live, and its augmentation time."""
        folder = self.out / f"{name}-probe"
        record = folder.with_suffix(".json")
        if record.exists():
            found = json.loads(record.read_text())
            return found["seconds_per_step"], found["augment_seconds"]
        shutil.rmtree(folder, ignore_errors=True)
        body = {**body, "cache_teacher_logits": False}
        run_distill(self.config(body, folder, max_steps=self.args.probe_steps, log_every=2, save_every=0,
                                eval_data=None))
        found = {"seconds_per_step": seconds_per_step(folder),
                 "augment_seconds": json.loads((folder / "metrics.json").read_text()).get("augment_seconds") or 0.0}
        shutil.rmtree(folder)
        record.write_text(json.dumps(found))
        return found["seconds_per_step"], found["augment_seconds"]

    def train(self, name: str, body: dict, steps: int) -> Path:
        folder = self.out / name
        stamp = folder / "stage.json"
        if stamp.exists() and total_steps(folder) == steps:
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        run_distill(self.config(body, folder, max_steps=steps, eval_data=None))
        stamp.write_text(json.dumps({"steps": steps}))
        return folder

    def scores(self, name: str, model: Path) -> dict:
        result = {}
        for data in (self.cfg.eval_data, *self.cfg.heldout_data):
            folder = self.out / "eval" / _slug(data) / name
            saved = folder / "result.json"
            if saved.exists():
                scored = json.loads(saved.read_text())
            else:
                scored = _evaluate(self.cfg, model, data, folder)
                saved.write_text(json.dumps(scored))
            official = scored["metrics"]["official"]
            result[data] = {"f1": round(official["f1"], 2),
                          "em": round(official.get("exact_match", official.get("exact", 0.0)), 2)}
        return result


def destila(*args: str) -> None:
    """The `destila` command of this environment, as a user runs it."""
    subprocess.run([str(Path(sys.executable).parent / "destila"), *args], check=True)


def run(args) -> dict:
    bench = Bench(args)
    bench.out.mkdir(parents=True, exist_ok=True)
    rows = [{"name": "teacher", **bench.scores("teacher", Path(args.teacher))}]
    reference = bench.train("distilled", variant_body("distilled", bench.cfg.student, args.copies, args.hidden),
                            args.steps)
    budget = train_seconds(reference)
    for name in args.variants:
        body = variant_body(name, bench.cfg.student, args.copies, args.hidden)
        row = {"name": name, "probe_seconds_per_step": None, "augment_seconds": 0.0}
        if name == "distilled":
            folder, steps = reference, args.steps
        else:
            sps, augment = bench.probe(name, body)
            steps = max(1, round((budget - augment) / sps))
            row.update(probe_seconds_per_step=round(sps, 3), augment_seconds=round(augment, 1))
            folder = bench.train(name, body, steps)
        row.update(steps=steps, train_seconds=round(train_seconds(folder), 1),
                   windows=json.loads((folder / "metrics.json").read_text())["train_windows"])
        row["cost_seconds"] = round(row["train_seconds"] + row["augment_seconds"], 1)
        row.update(bench.scores(name, folder))
        rows.append(row)
    return {"script": Path(sys.argv[0]).name, "cpu": cpu_name(), "config": args.config, "overrides": args.overrides,
            "teacher": args.teacher, "steps": args.steps, "copies": args.copies, "hidden": args.hidden,
            "variants": list(args.variants),
            "budget_seconds": round(budget, 1), "eval_data": bench.cfg.eval_data,
            "heldout_data": list(bench.cfg.heldout_data), "rows": rows}


def markdown(result: dict) -> str:
    datasets = [result["eval_data"], *result["heldout_data"]]
    teacher = result["rows"][0]
    lines = [
        "# Retention at equal wall-clock time: distilled, label-only, augmented, augmented + hidden-state losses",
        "",
        f"Command: `DESTILA_DATA_DIR=../shared/data python benchmarks/{result['script']} --teacher "
        f"{result['teacher']} --steps {result['steps']} --copies {result['copies']} --hidden {result['hidden']} "
        f"--variants {' '.join(result['variants'])}"
        + "".join(f" --set {o}" for o in result["overrides"]) + f"` on {result['cpu']} (2 threads).",
        "",
        f"Budget: the distilled student's {result['budget_seconds']:.0f} s of training ({result['steps']} steps); "
        "every other variant gets the same wall-clock time, augmentation included.",
        "",
    ]
    columns, separators = score_columns(datasets)
    lines += ["| student | steps | windows | train s | augment s | total s |" + columns,
              "|---|---:|---:|---:|---:|---:|" + separators]
    for row in result["rows"]:
        if row["name"] == "teacher":
            line = "| teacher | | | | | |"
        else:
            line = (f"| {row['name']} | {row['steps']} | {row['windows']} | {row['train_seconds']:.0f} "
                    f"| {row['augment_seconds']:.0f} | {row['cost_seconds']:.0f} |")
        lines.append(line + score_cells(row, teacher, datasets))
    lines += ["", "windows: training windows of the run (originals plus augmented copies). F1/EM: official SQuAD "
              "scores of the untrimmed student in PyTorch.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"), help="pipeline recipe")
    parser.add_argument("--teacher", required=True, help="a fine-tuned teacher folder (e.g. runs/demo/teacher)")
    parser.add_argument("--steps", type=int, default=600, help="steps of the distilled student: sets the budget")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--copies", type=int, default=4, help="augmented copies per question")
    parser.add_argument("--hidden", type=float, default=1.0, help="hidden-state loss weight (augmented-hidden)")
    parser.add_argument("--probe-steps", type=int, default=16)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="pipeline override")
    parser.add_argument("--out-runs", default="runs/retention")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "retention"))
    print(run_and_save(parser.parse_args(), run, markdown))


if __name__ == "__main__":
    sys.exit(main())
