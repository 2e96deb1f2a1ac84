"""Distil one student variant from an already fine-tuned teacher and score it: the settings search of docs/demo.md.

The student recipe is the pipeline recipe's `student:` body with `--set` overrides (pipeline dotted paths); the
teacher is a finished teacher folder, so variants are compared against the same teacher without retraining it.
Each run appends a line (overrides, training minutes, official F1/EM on the eval data and on each held-out set)
to the results file.

    DESTILA_DATA_DIR=../shared/data python benchmarks/student_variants.py NAME --teacher runs/demo/teacher \\
        --set "student.student={layers: [3, 6, 9, 12]}" --set student.train.learning_rate=4e-4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from destila.pipeline import load_pipeline
from destila.pipeline.recipe import TeacherSection
from destila.pipeline.stages import _evaluate, _slug
from destila.train.recipe import run_distill

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="variant name: output goes to runs/variants/NAME")
    parser.add_argument("--teacher", required=True, help="a fine-tuned teacher folder")
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"), help="pipeline recipe")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="dotted override")
    parser.add_argument("--results", default="runs/variants/results.jsonl")
    args = parser.parse_args()

    cfg = load_pipeline(args.config, [f"output_dir=runs/variants/{args.name}", *args.overrides])
    cfg.teacher = TeacherSection(pretrained=args.teacher)
    started = time.perf_counter()
    folder = run_distill(cfg.student_config(), resume=True)
    result = {"name": args.name, "teacher": args.teacher, "overrides": args.overrides,
              "train_minutes": round((time.perf_counter() - started) / 60, 2)}
    for data in (cfg.eval_data, *cfg.heldout_data):
        scored = _evaluate(cfg, Path(folder), data, cfg.out / "eval" / _slug(data))
        official = scored["metrics"]["official"]
        result[data] = {"f1": round(official["f1"], 2),
                        "em": round(official.get("exact_match", official.get("exact", 0.0)), 2)}
    print(json.dumps(result, ensure_ascii=False), flush=True)
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
