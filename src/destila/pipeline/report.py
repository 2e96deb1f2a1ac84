"""The pipeline's report: report.json and report.md (scores, speed, size, stages) from the stages' results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from destila.pipeline.recipe import PipelineConfig

# The report's plot, beside report.md: the report's own eval-fold scores against the bench's speed.
PLOT_FILE = "f1_vs_speed.png"


def _f1(metrics: dict, variant: str) -> tuple[float, float]:
    m = metrics[variant]
    return float(m["f1"]), float(m.get("exact_match", m.get("exact")))


def _score_cell(evaluated: dict, teacher_f1: float) -> dict:
    """One model's scores on one data set; on v2.0 data also F1 over the answerable (HasAns) and unanswerable
    (NoAns) questions and the no-answer threshold used (None: "no answer" was off)."""
    metrics = evaluated["metrics"]
    f1, em = _f1(metrics, "official")
    f1_es, em_es = _f1(metrics, "es")
    cell = {"f1": f1, "em": em, "f1_es": f1_es, "em_es": em_es, "f1_kept": f1 / teacher_f1 if teacher_f1 else None}
    if "HasAns_f1" in metrics["official"] or "NoAns_f1" in metrics["official"]:
        # a stage recorded before thresholds were stored used 0
        used = (evaluated.get("null_threshold") or {"value": 0.0})["value"] if evaluated.get("no_answer") else None
        cell.update(has_ans_f1=metrics["official"].get("HasAns_f1"), no_ans_f1=metrics["official"].get("NoAns_f1"),
                    null_threshold=used)
    return cell


def build_report(cfg: PipelineConfig, models: dict[str, Path], scores: dict, bench: dict, records) -> dict:
    """Everything measured, by model: the bench's speed, size and memory joined by name with each data set's
    scores (`_score_cell`); the plot's points come from the same rows."""
    rows = {r["name"]: r for r in bench.get("models", [])}
    table = []
    teacher_f1 = {}
    for data, result in scores.items():
        teacher_f1[data] = _f1(result["teacher"]["metrics"], "official")[0]
    for name, folder in models.items():
        row: dict[str, Any] = {"name": name, "folder": str(folder)}
        b = rows.get(name, {})
        for key in ("parameters", "disk_bytes", "memory_bytes", "throughput_qps", "latency_p50_ms",
                    "latency_p95_ms", "speedup"):
            row[key] = b.get(key)
        for data, result in scores.items():
            row[data] = _score_cell(result[name], teacher_f1[data])
        table.append(row)
    teacher_params = table[0].get("parameters")
    for row in table:
        p = row.get("parameters")
        row["parameter_ratio"] = teacher_params / p if p and teacher_params else None
    return {
        "config": _plain_cfg(cfg),
        "eval_data": cfg.eval_data,
        "heldout_data": cfg.heldout_data,
        "max_eval_questions": cfg.max_eval_questions,
        "eval_protocol": cfg.eval_protocol,
        "questions": {data: result["teacher"].get("questions") for data, result in scores.items()},
        "bench_questions": bench.get("questions"),
        "models": table,
        "best_student": bench.get("best_student"),
        "stages": [r.__dict__ for r in records],
        "total_minutes": round(sum(r.seconds for r in records if not r.skipped) / 60, 2),
        "plot": str(Path(cfg.output_dir) / PLOT_FILE),
    }


def plot_points(report: dict) -> dict[str, tuple[float, float | None]]:
    """{model: (F1 on the eval data, the bench's questions/s)}: the numbers of report.md's first table."""
    data = report["eval_data"]
    return {row["name"]: (row[data]["f1"], row.get("throughput_qps")) for row in report["models"]}


def _plain_cfg(cfg: PipelineConfig) -> dict:
    import dataclasses

    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def write_report(report: dict, out: Path) -> None:
    """report.json (everything), report.md (one short table for the eval data, one per other data set, then the
    stages) and the plot of the first table's numbers."""
    from destila.bench.plot import plot_speed_quality

    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), "utf-8")
    data = report["eval_data"]
    questions = report.get("questions", {}).get(data)
    points = plot_points(report)
    plotted = any(qps for _, qps in points.values())  # no bench speeds (a report of scores only): no plot
    if plotted:
        plot_speed_quality(points, out / PLOT_FILE,
                           title=f"{data}: F1 on {_count(questions)} questions, speed from the bench",
                           speed_note=f"bench, {_count(report.get('bench_questions'))} questions")
    lines = ["# destila pipeline report", "", _protocol_note(report.get("eval_protocol", "destila")), "",
             f"## {data}", "", _subset_note(report, data), "",
             *_score_table(report, data, speed=True)]
    best = report.get("best_student")
    if best:
        lines += ["", f"Fastest student here ({best['machine']}): **{best['name']}** on `{best['backend']}`, "
                  f"{best['throughput_qps']:.1f} q/s: {best['vs_student']:.2f}x the fp32 PyTorch student, "
                  f"{best['vs_teacher']:.2f}x the teacher."]
    if plotted:
        lines += ["", f"![% of the teacher's F1 kept against x faster; F1 against q/s]({PLOT_FILE})", ""]
    else:
        lines += [""]
    for other in report["heldout_data"]:
        lines += [f"## {other}", "", _subset_note(report, other), "", *_score_table(report, other, speed=False), ""]
    lines += ["Scores: official SQuAD F1 / EM; % of teacher: F1 over the teacher's. Speed: `destila bench` on "
              f"{_count(report.get('bench_questions'))} questions of {data}, the models side by side in one run; "
              "x faster: q/s over the teacher's. report.json also holds the Spanish-variant scores, latency, disk "
              "and memory.", ""]
    if any(s.get("has_ans_f1") is not None for row in report["models"] for s in _cells(row, report)):
        lines += ["SQuAD v2.0 data: HasAns / NoAns F1 over the answerable / unanswerable questions; a model says "
                  '"no answer" when its null odds exceed the threshold its training run chose on training-fold '
                  "questions (`destila_no_answer.json`; off: a model never trained on unanswerable questions).", ""]
    lines += ["## Stages", "", "| stage | minutes | |", "|---|---:|---|"]
    for st in report["stages"]:
        lines.append(f"| {st['name']} | {st['seconds'] / 60:.1f} | {'skipped (complete)' if st['skipped'] else ''} |")
    lines += ["", f"Total this run: {report['total_minutes']:.1f} min.", ""]
    (out / "report.md").write_text("\n".join(lines), "utf-8")


def _count(n) -> str:
    return "?" if n is None else f"{n:,}"


def _cells(row: dict, report: dict) -> list[dict]:
    return [row[data] for data in [report["eval_data"], *report["heldout_data"]]]


PROTOCOL_NOTES = {
    "destila": "each answer the best valid span inside the context, as `destila evaluate` picks it",
    "authors": ("SpanishTinyRoBERTa's evaluation.py rule for rule (`destila evaluate --protocol authors`): the arg-max "
                "start and the arg-max end of each window, \"\" when no window gives a valid pair; no no-answer "
                "threshold"),
}


def _protocol_note(protocol: str) -> str:
    return f"Evaluation protocol: **{protocol}**: {PROTOCOL_NOTES[protocol]}. The model cards carry the same scores."


def _subset_note(report: dict, data: str) -> str:
    n = report.get("questions", {}).get(data)
    if report.get("max_eval_questions"):
        return (f"The first {_count(n)} questions only (`max_eval_questions: {report['max_eval_questions']}`, as "
                "`--quick` sets): a first look, not comparable with a full run.")
    return f"{_count(n)} questions."


def _score_table(report: dict, data: str, speed: bool) -> list[str]:
    """One data set's table: model, (parameters, q/s, x faster,) F1, EM, % of teacher, and on v2.0 data HasAns
    F1, NoAns F1 and the no-answer threshold."""
    v2 = any("has_ans_f1" in row[data] for row in report["models"])
    header = "| model |" + (" parameters | q/s | x faster |" if speed else "") + " F1 | EM | % of teacher |"
    header += " HasAns F1 | NoAns F1 | threshold |" if v2 else ""
    lines = [header, "|---|" + "---:|" * (header.count("|") - 2)]
    for row in report["models"]:
        s = row[data]
        line = f"| {row['name']} |"
        if speed:
            params = row.get("parameters")
            line += (f" {_fmt(params / 1e6 if params else None, '.1f')} M | {_fmt(row.get('throughput_qps'), '.1f')} "
                     f"| {_fmt(row.get('speedup'), '.2f')} |")
        kept = None if s["f1_kept"] is None else 100 * s["f1_kept"]
        line += f" {s['f1']:.2f} | {s['em']:.2f} | {_fmt(kept, '.1f')} |"
        if v2:
            threshold = "off" if s.get("null_threshold") is None else f"{s['null_threshold']:.4g}"
            line += f" {_fmt(s.get('has_ans_f1'), '.2f')} | {_fmt(s.get('no_ans_f1'), '.2f')} | {threshold} |"
        lines.append(line)
    return lines
