"""Models that learn to say "no answer": the threshold chosen on training-fold questions after training, stored in
the model folder, and used by `destila evaluate` (v2.0 data only), `destila serve` and the pipeline's report."""

# ruff: noqa: F811  (test functions take the imported teacher_dir and qa_file fixtures by name)
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from destila import files, no_answer
from destila.data import load_dataset
from destila.evaluation import evaluate
from destila.metrics import score
from destila.train.recipe import run_train
from test_train_loop import QUESTIONS, qa_file, teacher_dir, train_cfg  # noqa: F401  (tiny teacher, v1.1 file)
from tiny import SPANISH_TEXT

UNANSWERABLE = ["¿Quién escribió la carta?", "¿Cuánto costó el billete?"]


def squad_v2(path: Path, copies: int = 2) -> Path:
    """SQuAD v2.0 questions over the tiny tokenizer's sentences, one article per sentence: an answerable question
    and an unanswerable one per paragraph."""
    articles = []
    for i, question, answer in QUESTIONS:
        paragraphs = []
        for copy in range(copies):
            context = SPANISH_TEXT[i] + " " + SPANISH_TEXT[(i + 1 + copy) % len(SPANISH_TEXT)]
            paragraphs.append({"context": context, "qas": [
                {"id": f"a{copy}-{i}", "question": question,
                 "answers": [{"text": answer, "answer_start": context.index(answer)}]},
                {"id": f"u{copy}-{i}", "question": UNANSWERABLE[copy % 2], "answers": [], "is_impossible": True},
            ]})
        articles.append({"title": f"artículo {i}", "paragraphs": paragraphs})
    path.write_text(json.dumps({"version": "v2.0", "data": articles}, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def v2_file(tmp_path_factory) -> Path:
    return squad_v2(tmp_path_factory.mktemp("v2") / "tiny_v2.json")


@pytest.fixture(scope="module")
def trained(teacher_dir, v2_file, qa_file, tmp_path_factory) -> Path:
    """The tiny teacher fine-tuned on v2.0 data; eval_data (v1.1) is scored during training, never for the
    threshold."""
    out = tmp_path_factory.mktemp("v2run") / "run"
    return run_train(train_cfg(v2_file, out, model=str(teacher_dir), eval_data=str(qa_file),
                               no_answer_questions=20))


def best_f1_over_every_threshold(dataset, predictions, null_odds) -> float:
    candidates = [min(null_odds.values()) - 1.0, *null_odds.values()]
    return max(score(dataset, predictions, null_odds, na_prob_thresh=t)["official"]["f1"] for t in candidates)


# ---------------------------------------------------------------------------------------------------------------
# Chosen after training, on training-fold questions


def test_the_threshold_is_chosen_on_training_questions_and_stored(trained, v2_file):
    record = no_answer.read(trained)
    assert record["chosen_on"]["kind"] == "train"
    assert record["chosen_on"]["data"] == f"{v2_file} (training questions: 20)"  # never eval_data
    assert record["chosen_on"]["questions"] == 20 and 0 < record["chosen_on"]["unanswerable"] < 20
    assert record["search"] == no_answer.SEARCH
    # the same 20 questions answered again: the stored threshold is the best one there, with the F1 recorded
    questions = no_answer.threshold_questions(load_dataset(str(v2_file)), None, 20, seed=42)
    assert questions.name == record["chosen_on"]["data"]
    result = evaluate(str(trained), questions, handle_impossible_answer=False, max_seq_len=64, doc_stride=32,
                      max_question_len=16)
    at = score(questions, result.predictions, result.null_odds, na_prob_thresh=record["threshold"])["official"]
    assert record["f1"] == pytest.approx(at["f1"]) and record["NoAns_f1"] == pytest.approx(at["NoAns_f1"])
    assert record["HasAns_f1"] == pytest.approx(at["HasAns_f1"])
    assert record["f1"] == pytest.approx(best_f1_over_every_threshold(questions, result.predictions,
                                                                      result.null_odds))
    metrics = json.loads((trained / files.METRICS).read_text(encoding="utf-8"))
    assert metrics["no_answer"] == record
    assert metrics["train_data"] == {"data": str(v2_file), "questions": 32, "unanswerable": 16,
                                     "dropped_duplicates": 0}
    card = (trained / files.MODEL_CARD).read_text(encoding="utf-8")
    assert f"- **No answer**: answers \"\" when the null odds exceed {record['threshold']:.4f}" in card


def test_with_validation_articles_the_threshold_is_chosen_on_them(teacher_dir, v2_file, qa_file, tmp_path):
    out = run_train(train_cfg(qa_file, tmp_path / "run", train_data=[str(qa_file), str(v2_file)],
                              model=str(teacher_dir), validation_fraction=0.25, max_steps=2))
    record = no_answer.read(out)
    on = record["chosen_on"]
    assert on["kind"] == "validation" and "(validation: " in on["data"] and on["data"].startswith(f"{qa_file} + ")
    metrics = json.loads((out / files.METRICS).read_text(encoding="utf-8"))
    assert on["questions"] == metrics["eval"]["official"]["total"]  # the questions held out and scored there
    assert metrics["train_data"]["questions"] == 24 + 32


def test_training_without_unanswerable_questions_stores_no_threshold(teacher_dir, qa_file, v2_file, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / files.NO_ANSWER).write_text('{"threshold": 1.0}', encoding="utf-8")  # left by an earlier run
    run_train(train_cfg(qa_file, out, train_data=[str(qa_file), f"{v2_file}#answerable"], model=str(teacher_dir),
                        max_steps=2))
    assert not (out / files.NO_ANSWER).exists()
    metrics = json.loads((out / files.METRICS).read_text(encoding="utf-8"))
    assert metrics["no_answer"] is None and metrics["train_data"]["unanswerable"] == 0


# ---------------------------------------------------------------------------------------------------------------
# Used by evaluate, serve and the pipeline


@pytest.fixture(scope="module")
def with_threshold(trained, v2_file, tmp_path_factory) -> tuple[Path, float]:
    """A copy of the trained model whose stored threshold sends about half of the v2.0 questions to "no answer"."""
    folder = tmp_path_factory.mktemp("copy") / "model"
    shutil.copytree(trained, folder)
    odds = sorted(evaluate(str(folder), load_dataset(str(v2_file)), max_seq_len=64).null_odds.values())
    threshold = (odds[len(odds) // 2 - 1] + odds[len(odds) // 2]) / 2
    record = {**no_answer.read(folder), "threshold": threshold}
    no_answer.write(folder, record)
    return folder, threshold


def test_evaluate_uses_the_stored_threshold_on_v2_data_only(with_threshold, v2_file, qa_file, tmp_path):
    from typer.testing import CliRunner

    from destila.cli import app

    folder, threshold = with_threshold
    out = tmp_path / "eval"
    args = ["evaluate", "--model", str(folder), "--data", str(v2_file), "--max-seq-len", "64", "--threads", "1",
            "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    predictions = json.loads((out / files.PREDICTIONS).read_text(encoding="utf-8"))
    null_odds = json.loads((out / files.NULL_ODDS).read_text(encoding="utf-8"))
    assert all((predictions[q] == "") == (null_odds[q] > threshold) for q in predictions)
    assert 0 < sum(p == "" for p in predictions.values()) < len(predictions)
    metrics = json.loads((out / files.METRICS).read_text(encoding="utf-8"))
    assert metrics["null_threshold"] == {"value": threshold, "from": files.NO_ANSWER}

    given = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "given"), "--null-threshold", "0"])
    assert given.exit_code == 0, given.output
    predictions = json.loads((tmp_path / "given" / files.PREDICTIONS).read_text(encoding="utf-8"))
    assert all((predictions[q] == "") == (null_odds[q] > 0) for q in predictions)

    v1 = evaluate(str(folder), load_dataset(str(qa_file)), null_threshold=None, max_seq_len=64)
    assert v1.null_threshold is None and "" not in v1.predictions.values()  # v1.1: always a span, as the paper


def test_serve_turns_no_answer_on_with_the_stored_threshold(with_threshold, v2_file, tiny_qa_model_dir):
    from fastapi.testclient import TestClient

    from destila.infer.predictor import Predictor
    from destila.serve.app import build_app, detect_no_answer

    folder, threshold = with_threshold
    assert detect_no_answer(folder) and not detect_no_answer(tiny_qa_model_dir)
    examples = load_dataset(str(v2_file)).examples
    items = [{"question": ex.question, "context": ex.context} for ex in examples[:16]]
    predictor = Predictor.from_pretrained(folder, threads=1)
    odds = [p.null_odds for p in predictor.predict_pairs([i["question"] for i in items],
                                                         [i["context"] for i in items])]
    with TestClient(build_app(str(folder), threads=1)) as client:
        info = client.get("/v1/model").json()
        assert info["no_answer"] is True and info["null_threshold"] == threshold
        answers = client.post("/v1/answer", json=items).json()
        assert [a["answer"] == "" for a in answers] == [o > threshold for o in odds]
        assert any(a["answer"] == "" for a in answers) and not all(a["answer"] == "" for a in answers)
    with TestClient(build_app(str(folder), threads=1, no_answer="off")) as client:
        assert all(a["answer"] for a in client.post("/v1/answer", json=items).json())
    with TestClient(build_app(str(tiny_qa_model_dir), threads=1)) as client:
        info = client.get("/v1/model").json()
        assert info["no_answer"] is False and info["null_threshold"] == 0.0


def test_trimmed_and_exported_folders_carry_the_threshold(with_threshold, tmp_path):
    from destila.export.options import ExportOptions
    from destila.export.targets import export_model
    from destila.models.trim import trim_vocabulary

    folder, threshold = with_threshold
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SPANISH_TEXT), encoding="utf-8")
    trim_vocabulary(str(folder), [str(corpus)], tmp_path / "trimmed")
    assert no_answer.stored_threshold(tmp_path / "trimmed") == threshold
    export_model(str(tmp_path / "trimmed"), tmp_path / "onnx", ExportOptions(target="onnx", parity_data=None))
    assert no_answer.stored_threshold(tmp_path / "onnx") == threshold


def test_the_pipeline_uses_the_threshold_on_v2_data_and_reports_it(with_threshold, v2_file, qa_file, tmp_path):
    from destila import pipeline as pl
    from destila.pipeline.stages import _evaluate, _slug

    folder, threshold = with_threshold
    cfg = pl.PipelineConfig(output_dir=str(tmp_path / "run"), train_data=[str(qa_file), f"{v2_file}#unanswerable"],
                            eval_data=str(qa_file), heldout_data=[str(v2_file)], teacher={"pretrained": str(folder)},
                            student={"loss": {"ce": 0.5, "kd": 0.5}})
    scores = {}
    for data in (cfg.eval_data, *cfg.heldout_data):
        info = _evaluate(cfg, folder, data, tmp_path / "eval" / _slug(data))
        scores[data] = {"teacher": info, "student": info}
    assert scores[str(qa_file)]["teacher"]["no_answer"] is False  # v1.1 eval data: never "no answer"
    v2 = scores[str(v2_file)]["teacher"]
    assert v2["no_answer"] is True and v2["null_threshold"] == {"value": threshold, "from": files.NO_ANSWER}
    report = pl.build_report(cfg, {"teacher": folder, "student": folder}, scores, {}, [])
    cell = report["models"][0][str(v2_file)]
    official = v2["metrics"]["official"]
    assert (cell["has_ans_f1"], cell["no_ans_f1"], cell["null_threshold"]) == (
        official["HasAns_f1"], official["NoAns_f1"], threshold)
    assert "has_ans_f1" not in report["models"][0][str(qa_file)]
    pl.write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    headers = [line for line in md.splitlines() if line.startswith("| model")]
    assert [h.count("HasAns F1 | NoAns F1 | threshold") for h in headers] == [0, 1]  # the v1.1 table, the v2.0
    assert f"| {official['HasAns_f1']:.2f} | {official['NoAns_f1']:.2f} | {threshold:.4g} |" in md


def test_when_answering_nothing_is_best_the_threshold_is_below_every_null_odds(monkeypatch):
    """The official sweep reports threshold 0 when no threshold beats answering nothing; the stored one must
    then really answer nothing."""
    from destila import evaluation
    from destila.data.types import Answer, QADataset, QAExample

    context = "El río Amazonas atraviesa Perú."
    dataset = QADataset([QAExample("a", "¿Qué río?", context, [Answer("Amazonas", 7)]),
                         QAExample("u1", "¿Quién?", context, is_impossible=True),
                         QAExample("u2", "¿Cuándo?", context, is_impossible=True)], "2.0", "tres")
    predictions = {"a": "Perú", "u1": "Perú", "u2": "río"}  # every span wrong
    null_odds = {"a": -0.5, "u1": -0.2, "u2": 0.3}

    def fake(source, data, **kwargs):
        return evaluation.EvalResult(data, predictions, null_odds, score(data, predictions, null_odds), 0.1)

    monkeypatch.setattr(evaluation, "evaluate", fake)
    assert score(dataset, predictions, null_odds)["official"]["best_f1_thresh"] == 0.0
    record = evaluation.choose_null_threshold("model", dataset, kind="train")
    assert record["threshold"] < -0.5 and record["f1"] == pytest.approx(200 / 3)
    assert (record["HasAns_f1"], record["NoAns_f1"]) == (0.0, 100.0)


def test_answer_cli_uses_the_stored_threshold(with_threshold, v2_file):
    from typer.testing import CliRunner

    from destila.cli import app
    from destila.infer.predictor import Predictor

    folder, threshold = with_threshold
    examples = load_dataset(str(v2_file)).examples[:16]
    predictor = Predictor.from_pretrained(folder, threads=1)
    odds = [p.null_odds for p in predictor.predict_pairs([ex.question for ex in examples],
                                                         [ex.context for ex in examples])]
    said = []
    for ex in examples:
        result = CliRunner().invoke(app, ["answer", "--model", str(folder), "--question", ex.question, "--context",
                                          ex.context, "--allow-no-answer", "--json", "--threads", "1"])
        assert result.exit_code == 0, result.output
        said.append(json.loads(result.stdout)["answer"] == "")
    assert said == [o > threshold for o in odds]
    assert said != [o > 0 for o in odds]  # the stored threshold, not 0, decided
