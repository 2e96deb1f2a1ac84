"""The pipeline's report from given scores and bench rows: a short first table, one table per other data set, the
stages; report.json keeps everything; the plot shows the first table's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from destila import pipeline as pl
from destila.pipeline.report import PLOT_FILE, plot_points
from destila.pipeline.stages import StageRecord
from test_pipeline import _recipe

V11, V2, SAMPLE = "squad-es-v1.1:dev-small@eval", "squad-es-v2.0:dev-small@eval", "sample"


def _evaluated(f1: float, em: float, questions: int, v2: bool = False, threshold: float | None = None) -> dict:
    official = {"f1": f1, "exact": em} if v2 else {"f1": f1, "exact_match": em}
    if v2:
        official.update(HasAns_f1=f1 - 20, NoAns_f1=f1 + 30)
    return {"metrics": {"official": official, "es": {**official, "f1": f1 + 1}}, "questions": questions,
            "no_answer": v2, "null_threshold": None if threshold is None else {"value": threshold}}


@pytest.fixture
def report(tmp_path, tiny_qa_model_dir):
    cfg = pl.load_pipeline(_recipe(tmp_path, tiny_qa_model_dir), ["max_eval_questions=null"])
    models = {"teacher": Path("t"), "student": Path("s"), "student exported": Path("e")}
    scores = {
        V11: {"teacher": _evaluated(56.18, 37.0, 1402), "student": _evaluated(45.10, 28.6, 1402),
              "student exported": _evaluated(44.94, 28.7, 1402)},
        SAMPLE: {"teacher": _evaluated(60.3, 54.5, 290), "student": _evaluated(56.4, 46.2, 290),
                 "student exported": _evaluated(57.6, 46.2, 290)},
        V2: {"teacher": _evaluated(45.6, 43.2, 1912, True, -0.126),
             "student": _evaluated(45.3, 41.7, 1912, True, -0.04),
             "student exported": _evaluated(45.0, 41.3, 1912, True, -0.04)},
    }
    bench = {"questions": 200, "models": [
        {"name": "teacher", "parameters": 117_500_000, "throughput_qps": 12.1, "speedup": 1.0},
        {"name": "student", "parameters": 22_300_000, "throughput_qps": 38.7, "speedup": 38.7 / 12.1},
        {"name": "student exported", "parameters": 22_300_000, "throughput_qps": 140.0, "speedup": 140.0 / 12.1}]}
    cfg.eval_data, cfg.heldout_data = V11, [SAMPLE, V2]
    records = [StageRecord("teacher", "t", 600.0, False), StageRecord("bench", "b", 60.0, False)]
    report = pl.build_report(cfg, models, scores, bench, records)
    out = tmp_path / "out"
    out.mkdir()
    pl.write_report(report, out)
    return report, out


def _tables(md: str) -> list[list[str]]:
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_report_opens_with_one_short_table_then_one_per_data_set(report):
    _, out = report
    md = (out / "report.md").read_text(encoding="utf-8")
    main, sample, v2, stages = _tables(md)
    assert main[0] == "| model | parameters | q/s | x faster | F1 | EM | % of teacher |"
    assert main[3] == "| student | 22.3 M | 38.7 | 3.20 | 45.10 | 28.60 | 80.3 |"
    assert sample[0] == "| model | F1 | EM | % of teacher |"
    assert v2[0] == "| model | F1 | EM | % of teacher | HasAns F1 | NoAns F1 | threshold |"
    assert v2[2].startswith("| teacher | 45.60 | 43.20 | 100.0 | 25.60 | 75.60 | -0.126 |")
    assert stages[0].startswith("| stage | minutes |")
    assert md.index(f"## {V11}") < md.index(main[0]) < md.index(f"## {SAMPLE}") < md.index(f"## {V2}")
    assert "1,402 questions." in md and "max_eval_questions" not in md
    assert "f1_vs_speed.png" in md
    assert max(len(line) for line in main + sample + v2) < 120  # readable in a terminal


def test_report_json_keeps_everything(report):
    built, out = report
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    student = next(r for r in saved["models"] if r["name"] == "student")
    assert student[V11]["f1_es"] == pytest.approx(46.10)
    assert student[V2]["null_threshold"] == -0.04
    assert saved["questions"] == {V11: 1402, SAMPLE: 290, V2: 1912} and saved["bench_questions"] == 200


def test_plot_shows_the_first_tables_numbers(report):
    built, out = report
    points = plot_points(built)
    assert points == {"teacher": (56.18, 12.1), "student": (45.10, 38.7), "student exported": (44.94, 140.0)}
    assert (out / PLOT_FILE).stat().st_size > 10_000
    assert built["plot"].endswith(PLOT_FILE)


def test_a_subset_is_said_in_the_report(tmp_path, report):
    built, _ = report
    built["max_eval_questions"] = 100
    built["questions"] = {k: 100 for k in built["questions"]}
    out = tmp_path / "quick"
    out.mkdir()
    pl.write_report(built, out)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.count("The first 100 questions only (`max_eval_questions: 100`") == 3


def test_the_report_names_its_evaluation_protocol(tmp_path, report):
    built, out = report
    assert built["eval_protocol"] == "destila"
    assert "Evaluation protocol: **destila**: each answer the best valid span" in (out / "report.md").read_text("utf-8")
    built["eval_protocol"] = "authors"
    again = tmp_path / "authors"
    again.mkdir()
    pl.write_report(built, again)
    assert json.loads((again / "report.json").read_text(encoding="utf-8"))["eval_protocol"] == "authors"
    assert "Evaluation protocol: **authors**: SpanishTinyRoBERTa's evaluation.py" in (again / "report.md").read_text(
        "utf-8")
