"""Does training stay as fast at the end of a stage as at its start? Tokens/s of each stage's first and last 100
optimiser steps, and resident memory after the first epoch and at the end, read from finished runs' logs
(`training_log.jsonl`; memory is logged from this version on).

A stage whose last 100 steps run below 90% of its first 100 is marked "slower" and the script exits with 1. A
distillation stage with the logit cache runs faster after its first epoch (the teacher no longer runs), so its ratio
is above 1 by design.

    python benchmarks/throughput_drift.py runs/demo/teacher runs/demo/student [--out docs/benchmarks/throughput_drift]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from destila.train.precision import cpu_name
from destila.train.runlog import read_log, throughput_drift

ROOT = Path(__file__).resolve().parents[1]


def _mb(value) -> str:
    return "" if value is None else f"{value:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="finished training folders")
    parser.add_argument("--window", type=int, default=100, help="optimiser steps at each end")
    parser.add_argument("--out", default=None, help="write OUT.md and OUT.json (e.g. docs/benchmarks/throughput_drift)")
    args = parser.parse_args()
    rows = []
    for run in args.runs:
        for stage in throughput_drift(read_log(Path(run)), args.window):
            rows.append({"run": run, **stage, "slower": stage["ratio"] is not None and stage["ratio"] < 0.9})
    lines = [f"# Throughput over a run: first vs last {args.window} steps", "",
             f"Command: `python benchmarks/throughput_drift.py {' '.join(args.runs)}`; runs measured on "
             f"{cpu_name()}.", "",
             "| run | stage | steps | tokens/s first | tokens/s last | last / first | RSS MB after epoch 1 "
             "| RSS MB end |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        flag = " (slower)" if r["slower"] else ""
        lines.append(f"| {r['run']} | {r['stage']} | {r['steps']} | {r['first_tokens_per_s']:,.0f} "
                     f"| {r['last_tokens_per_s']:,.0f} | {r['ratio']:.2f}{flag} | {_mb(r['rss_mb_after_first_epoch'])} "
                     f"| {_mb(r['rss_mb_end'])} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        out = Path(args.out)
        out.with_suffix(".md").write_text(text, "utf-8")
        out.with_suffix(".json").write_text(json.dumps(rows, indent=2), "utf-8")
    return 1 if any(r["slower"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
