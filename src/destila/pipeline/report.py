"""The pipeline's report: report.json and report.md (scores, speed, size, stages) from the stages' results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from destila.pipeline.recipe import PipelineConfig


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
        "models": table,
        "best_student": bench.get("best_student"),
        "stages": [r.__dict__ for r in records],
        "total_minutes": round(sum(r.seconds for r in records if not r.skipped) / 60, 2),
        "plot": str(Path(cfg.output_dir) / "bench" / _plot_file()),
    }


def _plot_file() -> str:
    from destila.bench.report import PLOT_FILE

    return PLOT_FILE


def _plain_cfg(cfg: PipelineConfig) -> dict:
    import dataclasses

    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def write_report(report: dict, out: Path) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), "utf-8")
    datasets = [report["eval_data"], *report["heldout_data"]]
    lines = ["# destila pipeline report", ""]
    v2 = {data for data in datasets if any("has_ans_f1" in row[data] for row in report["models"])}
    header = "| model | parameters | x fewer | q/s | x faster | p50 ms |"
    sep = "|---|---:|---:|---:|---:|---:|"
    for data in datasets:
        header += f" F1 {data} | EM | F1 es | % of teacher F1 |" + (" HasAns F1 | NoAns F1 | threshold |"
                                                                   if data in v2 else "")
        sep += "---:|---:|---:|---:|" + ("---:|---:|---:|" if data in v2 else "")
    lines += [header, sep]
    for row in report["models"]:
        params = row.get("parameters")
        line = (f"| {row['name']} | {_fmt(params / 1e6 if params else None, '.1f')} M "
                f"| {_fmt(row.get('parameter_ratio'), '.1f')} | {_fmt(row.get('throughput_qps'), '.1f')} "
                f"| {_fmt(row.get('speedup'), '.2f')} | {_fmt(row.get('latency_p50_ms'), '.1f')} |")
        for data in datasets:
            s = row[data]
            kept = None if s["f1_kept"] is None else 100 * s["f1_kept"]
            line += f" {s['f1']:.2f} | {s['em']:.2f} | {s['f1_es']:.2f} | {_fmt(kept, '.1f')} |"
            if data in v2:
                threshold = "off" if s.get("null_threshold") is None else f"{s['null_threshold']:.4g}"
                line += f" {_fmt(s.get('has_ans_f1'), '.2f')} | {_fmt(s.get('no_ans_f1'), '.2f')} | {threshold} |"
        lines.append(line)
    best = report.get("best_student")
    if best:
        lines += ["", f"Fastest student here ({best['machine']}): **{best['name']}** on `{best['backend']}`, "
                  f"{best['throughput_qps']:.1f} q/s: {best['vs_student']:.2f}x the fp32 PyTorch student, "
                  f"{best['vs_teacher']:.2f}x the teacher."]
    lines += ["", f"Scores: official SQuAD F1/EM and the Spanish variant (es). Speed: `destila bench` on "
              f"{report['eval_data']}, measured side by side in one run.", ""]
    if v2:
        lines += ["SQuAD v2.0 data: HasAns / NoAns F1 over the answerable / unanswerable questions; a model says "
                  '"no answer" when its null odds exceed the threshold its training run chose on training-fold '
                  "questions (`destila_no_answer.json`; off: a model never trained on unanswerable questions).", ""]
    lines += [f"![F1 vs speed](bench/{_plot_file()})", "", "## Stages", "", "| stage | minutes | |", "|---|---:|---|"]
    for st in report["stages"]:
        lines.append(f"| {st['name']} | {st['seconds'] / 60:.1f} | {'skipped (complete)' if st['skipped'] else ''} |")
    lines += ["", f"Total this run: {report['total_minutes']:.1f} min.", ""]
    (out / "report.md").write_text("\n".join(lines), "utf-8")
