"""Does training stay as fast and as small at the end of a stage as at its start? Tokens/s of each stage's first and
last 100 optimiser steps, and resident memory at its start, at 20% of its steps and at its end, read from finished
runs' logs (`training_log.jsonl`).

A stage whose last 100 steps run below 90% of its first 100 is marked "slower", one whose memory at its end is
above 1.1x its memory at 20% of its steps "grows"; either makes the script exit with 1. A distillation stage with
the logit cache runs faster after its first epoch (the teacher no longer runs), so its ratio is above 1 by design.
The start column shows where each stage began: in a pipeline the student's starts near its teacher's, the teacher's
memory having been given back.

    python benchmarks/throughput_drift.py runs/demo/teacher runs/demo/student [--out docs/benchmarks/throughput_drift]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from destila.hardware import cpu_name
from destila.train.runlog import MAX_MEMORY_GROWTH, read_log, throughput_drift

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
    lines = [f"# Throughput and memory over a run: first vs last {args.window} steps", "",
             f"Command: `python benchmarks/throughput_drift.py {' '.join(args.runs)}`; runs measured on "
             f"{cpu_name()}. Memory is resident MB; growth is end / at 20% of the steps (at most "
             f"{MAX_MEMORY_GROWTH:.1f}).", "",
             "| run | stage | steps | tokens/s first | tokens/s last | last / first | RSS MB start "
             "| RSS MB at 20% | RSS MB end | growth |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        flag = " (slower)" if r["slower"] else ""
        grows = " (grows)" if r["memory_grows"] else ""
        growth = "" if r["rss_growth"] is None else f"{r['rss_growth']:.2f}{grows}"
        lines.append(f"| {r['run']} | {r['stage']} | {r['steps']} | {r['first_tokens_per_s']:,.0f} "
                     f"| {r['last_tokens_per_s']:,.0f} | {r['ratio']:.2f}{flag} | {_mb(r['rss_mb_start'])} "
                     f"| {_mb(r['rss_mb_at_20pct'])} | {_mb(r['rss_mb_end'])} | {growth} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        out = Path(args.out)
        out.with_suffix(".md").write_text(text, "utf-8")
        out.with_suffix(".json").write_text(json.dumps(rows, indent=2), "utf-8")
    return 1 if any(r["slower"] or r["memory_grows"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
