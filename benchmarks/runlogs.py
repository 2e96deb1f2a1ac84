"""Reading a finished training run's log for the benchmarks: step times, training time, step count."""

from __future__ import annotations

import json
from pathlib import Path

from destila.train.runlog import read_log


def timed_records(folder: Path) -> list[dict]:
    """The training-log records of a finished run that carry a step time."""
    return [r for r in read_log(folder) if r.get("type") == "train" and "seconds_per_step" in r]


def seconds_per_step(folder: Path) -> float:
    """Mean optimiser-step time of a finished run, from its training log (the first record, warm-up, left out)."""
    times = [r["seconds_per_step"] for r in timed_records(folder)]
    if len(times) > 1:
        times = times[1:]
    if not times:
        raise SystemExit(f"{folder}: no step times in training_log.jsonl")
    return sum(times) / len(times)


def train_seconds(folder: Path) -> float:
    """Wall-clock time of a finished run's optimiser steps, from its training log (step counts times step times)."""
    total, previous = 0.0, 0
    for r in timed_records(folder):
        total += (r["global_step"] - previous) * r["seconds_per_step"]
        previous = r["global_step"]
    return total


def total_steps(folder: Path) -> int:
    metrics = json.loads((folder / "metrics.json").read_text())
    return int(sum(metrics["steps"].values()))


def score_columns(datasets: list[str]) -> tuple[str, str]:
    """The F1 / EM / % of teacher F1 columns of a results table, one triple per data set: (header, separator)."""
    return ("".join(f" F1 {d} | EM {d} | % teacher F1 |" for d in datasets),
            "".join("---:|---:|---:|" for _ in datasets))


def score_cells(row: dict, teacher: dict, datasets: list[str]) -> str:
    """The cells under `score_columns` for one row: F1, EM and F1 as a share of the teacher's, per data set."""
    return "".join(f" {row[d]['f1']:.2f} | {row[d]['em']:.2f} | {100 * row[d]['f1'] / teacher[d]['f1']:.1f} |"
                   for d in datasets)


def save_result(out: Path, result: dict, markdown) -> str:
    """Write `result` as out.json and its table `markdown(result)` as out.md; returns the table."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = markdown(result)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
    out.with_suffix(".md").write_text(table, "utf-8")
    return table


def run_and_save(args, run, markdown) -> str:
    """`run(args)` timed (its minutes in the result as benchmark_minutes), saved by `save_result` to args.out;
    returns the table."""
    import time

    started = time.perf_counter()
    result = run(args)
    result["benchmark_minutes"] = round((time.perf_counter() - started) / 60, 1)
    return save_result(Path(args.out), result, markdown)
