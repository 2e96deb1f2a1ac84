"""The backends (torch-bf16, torch-compile, OpenVINO) and the export targets (static int8, OpenVINO IR, auto)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from destila.cli import app
from destila.errors import ConfigError
from destila.export.options import MIN_AGREEMENT, ExportOptions
from destila.export.targets import candidates, export_model
from destila.infer.predictor import Predictor
from destila.infer.runners import backend_names, detect_backend, make_runner
from destila.infer.runners.torch import native_bf16

LOOSE = ["--parity-questions", "10", "--min-agreement", "0", "--max-f1-drop", "100", "--threads", "1"]


def _padded_batch(vocab: int):
    rng = np.random.default_rng(0)
    ids = rng.integers(5, vocab, size=(3, 40), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1, 25:] = 0
    return ids, mask


def test_every_backend_is_registered():
    names = {"torch", "torch-bf16", "torch-compile", "onnx", "openvino", "openvino-fp32", "openvino-bf16"}
    assert names <= set(backend_names())


def test_torch_compile_answers_like_torch_for_every_batch_shape(tiny_qa_model_dir, monkeypatch):
    from destila.models import compiled

    graphs = []  # a counting backend: dynamo's tracing, without inductor's minute of compiling
    monkeypatch.setattr(compiled, "compile_backend", lambda: lambda graph, inputs: graphs.append(graph) or graph)
    reference = make_runner(tiny_qa_model_dir, backend="torch")
    runner = make_runner(tiny_qa_model_dir, backend="torch-compile", threads=1)
    assert runner.name == "torch-compile"
    ids, mask = _padded_batch(300)
    for rows, width in ((3, 40), (2, 32), (3, 16)):  # the Predictor's widths and a smaller last batch
        batch = [np.ascontiguousarray(a[:rows, :width]) for a in (ids, mask)]  # as the Predictor feeds them
        expected, got = reference(*batch), runner(*batch)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, atol=1e-5)
        if rows == 3 and width == 40:
            first = len(graphs)
    assert first >= 1 and len(graphs) == first  # traced once, with dynamic shapes


def test_openvino_runs_a_pytorch_folder_like_pytorch(tiny_qa_model_dir):
    ids, mask = _padded_batch(300)
    ref_start, ref_end = make_runner(tiny_qa_model_dir, backend="torch")(ids, mask)
    runner = make_runner(tiny_qa_model_dir, backend="openvino-fp32", threads=1)
    assert runner.name == "openvino-fp32" and runner.precision == "fp32" and runner.uses_token_type_ids
    start, end = runner(ids, mask)
    keep = mask.astype(bool)
    np.testing.assert_allclose(start[keep], ref_start[keep], atol=1e-4)
    np.testing.assert_allclose(end[keep], ref_end[keep], atol=1e-4)
    with pytest.raises(ConfigError, match="CPU only"):
        make_runner(tiny_qa_model_dir, backend="openvino", device="cuda")


def test_bf16_only_where_the_cpu_computes_it(tiny_qa_model_dir, monkeypatch):
    import destila.hardware as hardware

    if native_bf16():
        ids, mask = _padded_batch(300)
        ref = make_runner(tiny_qa_model_dir, backend="torch")(ids, mask)[0]
        runner = make_runner(tiny_qa_model_dir, backend="torch-bf16")
        assert runner.name == "torch-bf16"
        keep = mask.astype(bool)
        assert np.abs(runner(ids, mask)[0] - ref)[keep].max() < 0.05  # bf16 rounding, not another model
        assert make_runner(tiny_qa_model_dir, backend="openvino", threads=1).precision == "bf16"
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(ConfigError, match="does not compute bf16 natively"):
        make_runner(tiny_qa_model_dir, backend="torch-bf16")
    with pytest.raises(ConfigError, match="bf16 natively"):
        make_runner(tiny_qa_model_dir, backend="openvino-bf16")
    assert make_runner(tiny_qa_model_dir, backend="openvino", threads=1).precision == "fp32"  # the fallback
    assert ExportOptions(target="openvino").kind == "fp32"


def test_export_options_targets_and_the_int8_alias():
    assert ExportOptions(int8=True).target == "onnx-int8-dynamic"
    assert ExportOptions(target="onnx-int8-dynamic").int8 is True
    assert ExportOptions(target="onnx-int8-static").int8 is False  # `int8` names the dynamic alias only
    assert ExportOptions(target="onnx-int8-static").agreement_needed == MIN_AGREEMENT["int8"]
    with pytest.raises(ConfigError, match="does not combine"):
        ExportOptions(target="openvino", int8=True)
    with pytest.raises(ConfigError, match="target must be one of"):
        ExportOptions(target="tflite")
    assert set(candidates()) == {"onnx", "onnx-int8-static", "openvino", "openvino-int8"}


def test_static_int8_is_calibrated_on_training_questions(tiny_qa_model_dir, tmp_path):
    out = tmp_path / "static"
    result = CliRunner().invoke(
        app, ["export", "-m", str(tiny_qa_model_dir), "-o", str(out), "--target", "onnx-int8-static",
              "--calibration-questions", "12", *LOOSE],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads((out / "export.json").read_text())
    assert info["target"] == "onnx-int8-static" and info["int8"] is True and info["batch_independent"] is True
    assert info["quantization"] == {"mode": "static", "per_channel": True, "calibration_windows": 12,
                                    "calibration_data": "squad-es-v1.1:dev-small@train"}
    import onnx

    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    assert "QuantizeLinear" in ops and "DynamicQuantizeLinear" not in ops  # fixed scales, none measured per batch
    assert "## Export" in (out / "README.md").read_text()


def test_openvino_export_loads_everywhere(tiny_qa_model_dir, tmp_path):
    from fastapi.testclient import TestClient

    from destila.serve.app import build_app

    out = tmp_path / "ov"
    (out).mkdir()
    (out / "model.onnx").write_bytes(b"stale")  # an earlier export into the same folder
    info = export_model(tiny_qa_model_dir, out, ExportOptions(target="openvino", parity_max_questions=10, threads=1,
                                                              min_agreement=0.0, max_f1_drop=100.0))
    assert not (out / "model.onnx").exists() and (out / "openvino_model.bin").is_file()
    assert info["target"] == "openvino" and info["int8"] is False and detect_backend(out) == "openvino"
    parity = json.loads((out / "parity.json").read_text())
    assert parity["backend"] == "openvino" and "openvino" in parity and parity["questions"] == 10
    predictor = Predictor.from_pretrained(out, threads=1)
    torch_predictor = Predictor.from_pretrained(tiny_qa_model_dir, threads=1, backend="openvino-fp32")
    question, context = "¿Dónde está el museo?", "El museo está en Madrid, junto al parque del Retiro."
    assert predictor.runner.name == "openvino"
    assert Predictor.from_pretrained(out, threads=1, backend="openvino-fp32")(question=question, context=context) == (
        torch_predictor(question=question, context=context)
    )  # the IR computes what the converted PyTorch model computes
    with TestClient(build_app(str(out), threads=1)) as client:
        model = client.get("/v1/model").json()
        assert model["format"] == "openvino" and model["parameters"] == info["parameters"]
        assert client.post("/v1/answer", json={"question": question, "context": context}).status_code == 200


def test_auto_keeps_the_fastest_candidate_that_passes(tiny_qa_model_dir, tmp_path):
    out = tmp_path / "auto"
    result = CliRunner().invoke(
        app, ["export", "-m", str(tiny_qa_model_dir), "-o", str(out), "--target", "auto",
              "--calibration-questions", "8", *LOOSE],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads((out / "export.json").read_text())
    auto = info["auto"]
    assert [c["target"] for c in auto["candidates"]] == candidates()
    passed = [c for c in auto["candidates"] if c["passed"]]
    assert passed and all(c["questions_per_second"] > 0 for c in passed)
    fastest = max(passed, key=lambda c: c["questions_per_second"])
    assert auto["chosen"] == fastest["target"] == info["target"]
    assert "fastest of the" in auto["reason"] and auto["machine"]["cores"] >= 1
    assert detect_backend(out) == fastest["backend"].split("-")[0]
    assert "auto: fastest" in result.output


def test_auto_refuses_to_choose_without_a_parity_check(tiny_qa_model_dir, tmp_path):
    result = CliRunner().invoke(
        app, ["export", "-m", str(tiny_qa_model_dir), "-o", str(tmp_path / "x"), "--target", "auto", "--no-parity"]
    )
    assert result.exit_code != 0 and "parity" in str(result.exception)
    bad = CliRunner().invoke(app, ["export", "-m", str(tiny_qa_model_dir), "-o", str(tmp_path / "y"), "--target", "x"])
    assert bad.exit_code != 0 and "--target" in bad.output


def test_pipeline_export_section_and_best_student():
    from destila.pipeline import best_student, export_target

    assert export_target({}) == "auto" and export_target({"target": "openvino"}) == "openvino"
    assert export_target({"int8": True}) == "onnx-int8-dynamic" and export_target({"onnx": True}) == "onnx"
    assert export_target({"int8": False}) is None and export_target({"target": "none"}) is None
    rows = [
        {"name": "teacher", "backend": "torch", "throughput_qps": 2.0},
        {"name": "student", "backend": "torch", "throughput_qps": 6.0},
        {"name": "student exported", "backend": "openvino", "throughput_qps": 18.0},
        {"name": "student (torch-bf16)", "backend": "torch-bf16", "throughput_qps": 12.0},
    ]
    best = best_student(rows)
    assert best["name"] == "student exported" and best["backend"] == "openvino"
    assert best["vs_student"] == 3.0 and best["vs_teacher"] == 9.0


def test_the_pipeline_exports_auto_by_default_and_reports_the_fastest_student(tmp_path, tiny_qa_model_dir):
    import yaml

    from destila import pipeline as pl
    from test_pipeline import _recipe

    path = _recipe(tmp_path, tiny_qa_model_dir)
    doc = yaml.safe_load(path.read_text())
    for part in ("baseline", "trim"):
        doc.pop(part)
    doc["export"] = {"parity_max_questions": 8, "min_agreement": 0.0, "max_f1_drop": 100.0, "calibration_questions": 8}
    doc["bench"]["backends"] = ["openvino-fp32"]
    path.write_text(yaml.safe_dump(doc))
    report = pl.run_pipeline(pl.load_pipeline(path), log=lambda m: None)
    out = tmp_path / "run"
    info = json.loads((out / "student-export" / "export.json").read_text())
    assert info["auto"]["chosen"] == info["target"] and info["batch_independent"] is True
    assert info["quantization"] is None or info["quantization"]["calibration_data"] == "sample"  # train_data
    best = report["best_student"]
    assert best["name"] in {"student", "student exported", "student (openvino-fp32)"}
    assert best["vs_student"] >= 1.0 and best["vs_teacher"] > 0 and best["machine"]
    assert "Fastest student here" in (out / "report.md").read_text()
