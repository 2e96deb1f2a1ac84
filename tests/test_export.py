"""ONNX export: logits and answers equal to PyTorch's, dynamic axes, int8 through answer/evaluate/serve."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from destila.cli import app
from destila.data import load_dataset
from destila.errors import ConfigError, ModelError
from destila.export.exporter import export_onnx
from destila.export.options import ExportOptions
from destila.export.parity import ParityError, check_parity
from destila.infer.postprocess import clean_answer
from destila.infer.predictor import Predictor
from destila.infer.runners.onnx import OnnxRunner
from destila.serve.app import build_app
from tiny import build_tiny_bert_qa


@pytest.fixture(scope="module")
def onnx_dir(tiny_qa_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_onnx")
    export_onnx(
        tiny_qa_model_dir,
        out,
        ExportOptions(parity_data="sample", parity_max_questions=30, min_agreement=1.0, threads=1),
    )
    return out


@pytest.fixture(scope="module")
def int8_dir(tiny_qa_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_int8")
    result = CliRunner().invoke(
        app,
        [
            "export", "--model", str(tiny_qa_model_dir), "--out", str(out), "--int8", "--parity-data", "sample",
            "--parity-questions", "20", "--min-agreement", "0", "--max-f1-drop", "100", "--threads", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "identical answers" in result.output and "int8" in result.output
    return out


def test_export_folder_is_self_contained(onnx_dir, tiny_qa_model_dir):
    names = {p.name for p in onnx_dir.iterdir()}
    assert {"model.onnx", "config.json", "tokenizer.json", "export.json", "parity.json", "README.md"} <= names
    assert not any(n.endswith(".safetensors") for n in names)
    info = json.loads((onnx_dir / "export.json").read_text())
    assert info["int8"] is False and info["inputs"][:2] == ["input_ids", "attention_mask"]
    assert info["parameters"] > 1000
    assert "## Export" in (onnx_dir / "README.md").read_text()
    parity = json.loads((onnx_dir / "parity.json").read_text())
    assert parity["passed"] and parity["agreement"] == 1.0 and parity["questions"] == 30
    # Same answers, so the same scores; the best no-answer thresholds are null-score differences, which the two
    # runtimes round apart in the 8th digit (-0.00024873471 against -0.00024873469 on a fresh clone).
    assert parity["onnx"] == pytest.approx(parity["pytorch"], rel=1e-6, abs=1e-9)
    assert parity["logits"]["max_abs_start_logit_diff"] < 1e-4


def test_logits_match_pytorch_for_any_batch_and_length(onnx_dir, tiny_qa_model_dir):
    import torch

    from destila.models.hub import load_qa_model

    model = load_qa_model(tiny_qa_model_dir).eval()
    runner = OnnxRunner(onnx_dir, threads=1)
    rng = np.random.default_rng(0)
    for batch, length in [(1, 5), (3, 40), (7, 130)]:
        ids = rng.integers(5, model.config.vocab_size, size=(batch, length), dtype=np.int64)
        mask = np.ones_like(ids)
        mask[0, length // 2 :] = 0  # one padded row
        start, end = runner(ids, mask)
        with torch.no_grad():
            ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        keep = mask.astype(bool)
        assert start.shape == end.shape == (batch, length)
        np.testing.assert_allclose(start[keep], ref.start_logits.numpy()[keep], atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(end[keep], ref.end_logits.numpy()[keep], atol=1e-4, rtol=1e-4)


def test_predictor_answers_equal_on_the_export(onnx_dir, tiny_qa_model_dir):
    examples = load_dataset("sample").examples[:10]
    torch_pred = Predictor.from_pretrained(tiny_qa_model_dir, threads=1)
    onnx_pred = Predictor.from_pretrained(onnx_dir, threads=1)
    assert isinstance(onnx_pred.runner, OnnxRunner)
    for ex in examples:
        a = torch_pred(question=ex.question, context=ex.context)
        b = onnx_pred(question=ex.question, context=ex.context)
        assert (a["answer"], a["start"], a["end"]) == (b["answer"], b["start"], b["end"])
        assert a["score"] == pytest.approx(b["score"], rel=1e-3, abs=1e-6)


def test_int8_export_is_smaller_and_serves_everywhere(int8_dir, onnx_dir, tmp_path):
    info = json.loads((int8_dir / "export.json").read_text())
    assert info["int8"] is True and info["quantization"]["per_channel"] is True
    assert (int8_dir / "model.onnx").stat().st_size < (onnx_dir / "model.onnx").stat().st_size
    parity = json.loads((int8_dir / "parity.json").read_text())
    assert parity["questions"] == 20 and 0.0 <= parity["agreement"] <= 1.0

    ex = load_dataset("sample").examples[0]
    expected = clean_answer(Predictor.from_pretrained(int8_dir, threads=1)(question=ex.question, context=ex.context))
    runner = CliRunner()
    answered = runner.invoke(
        app,
        ["answer", "--model", str(int8_dir), "--question", ex.question, "--context", ex.context, "--json"],
    )
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.output)["answer"] == expected["answer"]

    evaluated = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(int8_dir),
            "--data",
            "sample",
            "--out",
            str(tmp_path / "ev"),
            "--no-progress",
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert "official" in metrics
    predictions = json.loads((tmp_path / "ev" / "predictions.json").read_text())
    assert len(predictions) == len(load_dataset("sample"))

    with TestClient(build_app(str(int8_dir), threads=1)) as client:
        r = client.post("/v1/answer", json={"question": ex.question, "context": ex.context})
        assert r.status_code == 200
        assert r.json()["answer"] == expected["answer"]
        model = client.get("/v1/model").json()
        assert (
            model["format"] == "onnx" and model["int8"] is True and model["parameters"] == info["parameters"]
        )


def test_drift_beyond_the_threshold_fails_clearly(onnx_dir, tmp_path):
    other = tmp_path / "otro"
    build_tiny_bert_qa(other, seed=7)  # different weights: the "export" no longer matches its source
    with pytest.raises(ParityError, match="identical answers"):
        check_parity(
            str(other), onnx_dir, ExportOptions(parity_data="sample", parity_max_questions=20, threads=1)
        )
    saved = json.loads((onnx_dir / "parity.json").read_text())
    assert saved["passed"] is False and saved["differing_examples"]
    assert saved["thresholds"] == {"min_agreement": 0.98, "max_f1_drop": 2.0}  # the fp32 defaults


def test_export_refuses_bad_requests(onnx_dir, tiny_qa_model_dir, tmp_path):
    with pytest.raises(ModelError, match=r"already an exported model \(onnx\)"):
        export_onnx(onnx_dir, tmp_path / "x", ExportOptions(parity_data=None))
    with pytest.raises(ConfigError, match="opset"):
        ExportOptions(opset=3)
    with pytest.raises(ConfigError, match="min_agreement"):
        ExportOptions(min_agreement=1.5)
    assert ExportOptions(int8=True).agreement_needed == 0.85 and ExportOptions().agreement_needed == 0.98
    result = CliRunner().invoke(
        app, ["export", "--model", str(tmp_path / "nada"), "--out", str(tmp_path / "z")]
    )
    assert result.exit_code != 0


def test_each_step_runs_alone(onnx_dir, tiny_qa_model_dir, tmp_path):
    import shutil

    from destila.export.quantize import quantize

    folder = tmp_path / "int8-later"
    shutil.copytree(onnx_dir, folder)
    options = ExportOptions(int8=True, parity_max_questions=10, threads=1, min_agreement=0.0, max_f1_drop=100.0)
    quantize(onnx_dir / "model.onnx", folder / "model.onnx", options)
    assert (folder / "model.onnx").stat().st_size < (onnx_dir / "model.onnx").stat().st_size
    report = check_parity(str(tiny_qa_model_dir), folder, options)
    assert report["passed"] and report["questions"] == 10 and report["thresholds"]["min_agreement"] == 0.0
