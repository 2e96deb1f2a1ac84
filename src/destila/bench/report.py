"""Bench results as report.json, a Markdown table (report.md) and a plot of F1 against throughput."""

from __future__ import annotations

import json
import os
from pathlib import Path

from destila import files

PLOT_FILE = "f1_vs_throughput.png"


def _mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:,.1f}"


def _params(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:,.1f} M"


def markdown_table(result: dict) -> str:
    header = (
        "| model | backend | parameters | disk (MB) | memory (MB) | latency p50 (ms) | latency p95 (ms) "
        "| throughput (q/s) | speedup | EM | F1 |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for r in result["models"]:
        speedup = "—" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        lines.append(
            f"| {r['name']} | {r['backend']} | {_params(r['parameters'])} | {_mb(r['disk_bytes'])} "
            f"| {_mb(r['memory_bytes'])} "
            f"| {r['latency_p50_ms']:.1f} | {r['latency_p95_ms']:.1f} | {r['throughput_qps']:.1f} "
            f"| {speedup} | {r['exact']:.2f} | {r['f1']:.2f} |"
        )
    return header + "\n".join(lines) + "\n"


def markdown_report(result: dict) -> str:
    s = result["settings"]
    models = "\n".join(f"- **{r['name']}**: `{r['model']}`" for r in result["models"])
    return (
        f"# Bench: {result['dataset']}\n\n"
        f"{result['questions']} questions (SQuAD v{result['version']}), the same for every model. "
        f"Latency: one question at a time over the first {s['latency_questions']} questions, "
        f"{s['repeats']} rounds. Throughput: all questions with batches of {s['batch_size']}, median of "
        f"{s['repeats']} rounds; rounds interleave the models. Memory: peak RSS growth of the model's own "
        f"process from loading to the end of the run. Disk: weight files. Speedup: throughput over the "
        f"first row's. Backend: the runner that ran the model. EM/F1: official SQuAD scores. "
        f"Threads: {s['threads'] or 'default'} "
        f"({s['cpu_count']} cores).\n\n"
        + markdown_table(result)
        + f"\n{models}\n\n![F1 against throughput]({PLOT_FILE})\n"
    )


def plot_f1_vs_throughput(result: dict, path: str | os.PathLike) -> None:
    """The bench's own picture: each row's F1 and throughput on the bench's questions, the first row the
    reference (`destila.bench.plot`)."""
    from destila.bench.plot import plot_speed_quality

    points = {r["name"]: (r["f1"], r["throughput_qps"]) for r in result["models"]}
    plot_speed_quality(points, path, title=f"{result['dataset']} ({result['questions']} questions)",
                       speed_note=f"batch {result['settings']['batch_size']}")


def write_reports(result: dict, out_dir: str | os.PathLike) -> dict:
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    written = {
        "json": str(out / files.REPORT_JSON),
        "markdown": str(out / files.REPORT_MD),
        "plot": str(out / PLOT_FILE),
    }
    plot_f1_vs_throughput(result, written["plot"])
    (out / files.REPORT_MD).write_text(markdown_report(result), encoding="utf-8")
    (out / files.REPORT_JSON).write_text(
        json.dumps({**result, "files": written}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return written
