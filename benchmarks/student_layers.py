"""Which teacher layers make the best starting student: the same distillation recipe from different layer choices.

Every student is the pipeline recipe's `student:` body with `student.layers` set to one choice, distilled from the
same finished teacher folder for the same number of steps (the same windows in the same order), then scored on the
eval data and the held-out sets of the recipe (official SQuAD F1/EM, untrimmed, PyTorch). Each run computes its
own teacher logits (a finished run deletes its cache), so the runs cost the same time but for the students' own
steps.

    DESTILA_DATA_DIR=../shared/data python benchmarks/student_layers.py --teacher runs/demo/teacher --steps 600 \\
        --layers 3,6,9,12 1,2,3,4 1,2,3,12

Writes docs/benchmarks/student_layers.md and .json; runs go to runs/student_layers/ (finished choices are reused).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from retention import Bench
from runlogs import run_and_save, score_cells, score_columns, train_seconds

from destila.hardware import cpu_name

ROOT = Path(__file__).resolve().parents[1]


def layer_body(student: dict, layers: list[int]) -> dict:
    body = copy.deepcopy(student)
    body["student"] = {**body.get("student", {}), "layers": layers}
    return body


def run(args) -> dict:
    bench = Bench(args)
    bench.out.mkdir(parents=True, exist_ok=True)
    rows = [{"name": "teacher", **bench.scores("teacher", Path(args.teacher))}]
    for choice in args.layers:
        layers = [int(x) for x in choice.split(",")]
        name = "layers-" + "-".join(map(str, layers))
        folder = bench.train(name, layer_body(bench.cfg.student, layers), args.steps)
        rows.append({"name": name, "layers": layers, "steps": args.steps,
                     "train_seconds": round(train_seconds(folder), 1), **bench.scores(name, folder)})
    return {"script": Path(sys.argv[0]).name, "cpu": cpu_name(), "config": args.config, "overrides": args.overrides,
            "teacher": args.teacher, "steps": args.steps, "layers": list(args.layers),
            "eval_data": bench.cfg.eval_data, "heldout_data": list(bench.cfg.heldout_data), "rows": rows}


def markdown(result: dict) -> str:
    datasets = [result["eval_data"], *result["heldout_data"]]
    teacher = result["rows"][0]
    lines = [
        "# Which teacher layers start the student: the same distillation from different layer choices",
        "",
        f"Command: `DESTILA_DATA_DIR=../shared/data python benchmarks/{result['script']} --teacher "
        f"{result['teacher']} --steps {result['steps']} --layers {' '.join(result['layers'])}"
        + "".join(f" --set {o}" for o in result["overrides"]) + f"` on {result['cpu']} (2 threads).",
        "",
        "Every student: the recipe's student body with `student.layers` changed, the same steps over the same windows "
        "in the same order, from the same teacher.",
        "",
    ]
    columns, separators = score_columns(datasets)
    lines += ["| student layers | steps | train s |" + columns, "|---|---:|---:|" + separators]
    for row in result["rows"]:
        if row["name"] == "teacher":
            line = "| teacher (all 12) | | |"
        else:
            line = f"| {', '.join(map(str, row['layers']))} | {row['steps']} | {row['train_seconds']:.0f} |"
        lines.append(line + score_cells(row, teacher, datasets))
    lines += ["", "F1/EM: official SQuAD scores of the untrimmed student in PyTorch.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"), help="pipeline recipe")
    parser.add_argument("--teacher", required=True, help="a fine-tuned teacher folder (e.g. runs/demo/teacher)")
    parser.add_argument("--steps", type=int, default=600, help="steps of every student")
    parser.add_argument("--layers", nargs="+", default=["3,6,9,12", "1,2,3,4", "1,2,3,12"],
                        help="layer choices, 1-based, comma-separated")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="pipeline override")
    parser.add_argument("--out-runs", default="runs/student_layers")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "student_layers"))
    args = parser.parse_args()
    run_and_save(args, run, markdown)


if __name__ == "__main__":
    main()
