"""`destila evaluate` and `destila answer` on a tiny model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from destila.cli import app

CONTEXT = "El Museo del Prado abrió sus puertas en 1819 con obras de Velázquez y Goya."


def _squad_file(path, version="v2.0"):
    qas = [
        {"id": "a", "question": "¿Cuándo abrió?", "answers": [{"text": "1819", "answer_start": 40}]},
        {
            "id": "b",
            "question": "¿De quién son las obras?",
            "answers": [{"text": "Velázquez", "answer_start": 58}],
        },
    ]
    if version == "v2.0":
        for q in qas:
            q["is_impossible"] = False
        qas.append({"id": "c", "question": "¿Quién?", "answers": [], "is_impossible": True})
    data = {
        "version": version,
        "data": [{"title": "Prado", "paragraphs": [{"context": CONTEXT, "qas": qas}]}],
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_evaluate_writes_predictions_null_odds_and_metrics(tiny_qa_model_dir, tmp_path):
    from destila.data import load_dataset
    from destila.metrics import score

    data = _squad_file(tmp_path / "v2.json")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tiny_qa_model_dir),
            "--data",
            str(data),
            "--out",
            str(out),
            "--threads",
            "1",
            "--batch-size",
            "2",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    preds = json.loads((out / "predictions.json").read_text())
    odds = json.loads((out / "null_odds.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(preds) == set(odds) == {"a", "b", "c"}
    protocol = {"name": "destila", "first": None, "n_best": 12, "max_answer_length": 15}
    assert metrics == {**json.loads(json.dumps(score(load_dataset(data), preds, odds))), "protocol": protocol}
    assert "HasAns_exact" in result.output and "questions/s" in result.output
    for name, value in (("predictions", preds), ("null_odds", odds), ("metrics", metrics)):
        # the files' exact bytes: one-space indents, UTF-8 text, a final newline
        text = (out / f"{name}.json").read_text(encoding="utf-8")
        assert text == json.dumps(value, ensure_ascii=False, indent=1) + "\n"


def test_evaluate_with_the_papers_protocol(tiny_qa_model_dir, tmp_path):
    data = _squad_file(tmp_path / "v2.json")
    out = tmp_path / "out"
    args = ["evaluate", "--model", str(tiny_qa_model_dir), "--data", str(data), "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--first", "2", "--n-best", "1", "--max-answer-length", "30"])
    assert result.exit_code == 0, result.output
    assert set(json.loads((out / "predictions.json").read_text())) == {"a", "b"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == {"name": "destila", "first": 2, "n_best": 1, "max_answer_length": 30}
    assert metrics["official"]["total"] == 2 and "2 questions" in result.output


def test_evaluate_with_the_authors_protocol(tiny_qa_model_dir, tmp_path):
    data = _squad_file(tmp_path / "v1.json", version="1.1")
    out = tmp_path / "out"
    args = ["evaluate", "--model", str(tiny_qa_model_dir), "--data", str(data), "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--protocol", "authors", "--first", "1", "--partial-batch-slip", "64"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == {"name": "authors", "first": 1, "max_answer_length": 30, "max_length": 384,
                                   "stride": 128, "slip_batch_size": 64}
    assert "authors protocol" in result.output
    refused = CliRunner().invoke(app, [*args, "--protocol", "paper"])
    assert refused.exit_code != 0 and "expected one of destila, authors" in str(refused.exception)


def test_evaluate_v1_has_no_null_odds(tiny_qa_model_dir, tmp_path):
    data = _squad_file(tmp_path / "v1.json", version="1.1")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tiny_qa_model_dir),
            "--data",
            str(data),
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert not (out / "null_odds.json").exists()
    assert set(json.loads((out / "metrics.json").read_text())["official"]) == {"exact_match", "f1"}
    assert all(json.loads((out / "predictions.json").read_text()).values())


def test_answer_prints_span_and_json(tiny_qa_model_dir, tmp_path):
    args = ["answer", "--model", str(tiny_qa_model_dir), "--question", "¿Cuándo abrió el Prado?"]
    result = CliRunner().invoke(app, [*args, "--context", CONTEXT, "--json", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    answers = json.loads(result.output)
    assert len(answers) == 2 and all(CONTEXT[a["start"] : a["end"]] == a["answer"] for a in answers)
    ctx_file = tmp_path / "ctx.txt"
    ctx_file.write_text(CONTEXT, encoding="utf-8")
    table = CliRunner().invoke(app, [*args, "--context-file", str(ctx_file)])
    assert table.exit_code == 0 and "score" in table.output
    first_row = next(line for line in table.output.splitlines() if line.startswith("│ 1 "))
    cells = [c.strip() for c in first_row.strip("│").split("│")]
    assert answers[0]["answer"].startswith(cells[1])  # long answers wrap onto more lines
    assert cells[3:] == [str(answers[0]["start"]), str(answers[0]["end"])]


def test_answer_needs_exactly_one_context(tiny_qa_model_dir):

    from destila.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["answer", "--model", str(tiny_qa_model_dir), "--question", "¿Qué?"])
    assert exc.value.code == 2
