"""`destila bench`: one run over two tiny models writes a table, JSON and a readable PNG."""

from __future__ import annotations

import json
import struct

from typer.testing import CliRunner

from destila.cli import app
from destila.models.size import folder_parameters, model_files_bytes


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR" and data[-8:-4] == b"IEND"
    return struct.unpack(">II", data[16:24])


def test_bench_writes_reports_and_plot(tiny_qa_model_dir, tmp_path):
    import shutil

    second = tmp_path / "copia"
    shutil.copytree(tiny_qa_model_dir, second)
    out = tmp_path / "bench"
    result = CliRunner().invoke(
        app,
        [
            "bench", "--model", str(tiny_qa_model_dir), "--model", str(second), "--data", "sample",
            "--max-questions", "12", "--repeats", "2", "--latency-questions", "4", "--threads", "1",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["questions"] == 12 and len(report["models"]) == 2
    params = folder_parameters(tiny_qa_model_dir)
    for row in report["models"]:
        assert row["parameters"] == params > 1000
        assert row["disk_bytes"] == model_files_bytes(tiny_qa_model_dir) > 0
        assert row["throughput_qps"] > 0 and len(row["throughput_runs_qps"]) == 2
        assert 0 < row["latency_p50_ms"] <= row["latency_p95_ms"]
        assert row["latency_samples"] == 8
        assert row["memory_bytes"] > 0
        assert 0.0 <= row["f1"] <= 100.0
    first, other = report["models"]
    assert first["speedup"] == 1.0
    assert other["f1"] == first["f1"]  # same weights, same questions, same answers
    assert other["speedup"] > 0
    md = (out / "report.md").read_text()
    assert "| model | backend | parameters |" in md and first["name"] in md and "f1_vs_throughput.png" in md
    width, height = _png_size(out / "f1_vs_throughput.png")
    assert 600 <= width <= 2000 and 400 <= height <= 1500
    assert 10_000 < (out / "f1_vs_throughput.png").stat().st_size < 1_000_000
    assert "throughput (q/s)" in result.output


def test_bench_reports_a_broken_model_clearly(tmp_path):
    broken = tmp_path / "roto"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    result = CliRunner().invoke(
        app, ["bench", "--model", str(broken), "--data", "sample", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "roto" in str(result.exception) or "roto" in result.output


def test_bench_compares_backends_of_one_model(tiny_qa_model_dir, tmp_path):
    out = tmp_path / "backends"
    result = CliRunner().invoke(
        app,
        [
            "bench", "--model", str(tiny_qa_model_dir), "--backend", "torch", "--backend", "openvino-fp32",
            "--data", "sample", "--max-questions", "6", "--repeats", "1", "--latency-questions", "2",
            "--threads", "1", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    name = tiny_qa_model_dir.name
    assert [(r["name"], r["backend"]) for r in report["models"]] == [
        (f"{name} (torch)", "torch"),
        (f"{name} (openvino-fp32)", "openvino-fp32"),
    ]
    assert report["settings"]["backends"] == ["torch", "openvino-fp32"]
    torch_row, openvino_row = report["models"]
    assert openvino_row["f1"] == torch_row["f1"] and openvino_row["speedup"] > 0
    assert "| backend |" in (out / "report.md").read_text()
