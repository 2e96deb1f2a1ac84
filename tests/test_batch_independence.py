"""Batch independence as a contract: for every backend and export destila offers as a default, a question's answer
is the same whether it is asked alone or beside any others, through the Predictor and through `destila serve`
under a concurrent burst. Dynamic int8 (`--int8`) is the documented exception."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest

from destila.data import load_dataset
from destila.export.exporter import export_onnx
from destila.export.options import ExportOptions
from destila.export.targets import export_model
from destila.infer.predictor import Predictor
from destila.infer.runners import make_runner
from destila.infer.runners.torch import native_bf16
from serve_helpers import running_server

LOOSE = {"parity_max_questions": 10, "min_agreement": 0.0, "max_f1_drop": 100.0, "threads": 1}


@pytest.fixture(scope="module")
def exported(tiny_qa_model_dir, tmp_path_factory) -> dict:
    """The tiny model exported to every batch-independent target (calibrated on a few training questions)."""
    folders = {}
    for target in ("onnx", "onnx-int8-static", "openvino", "openvino-int8"):
        folders[target] = tmp_path_factory.mktemp(target)
        options = ExportOptions(target=target, calibration_questions=16, **LOOSE)
        export_model(tiny_qa_model_dir, folders[target], options)
    return folders


def _questions() -> tuple[list[str], list[str]]:
    """Questions of mixed lengths: short and long contexts, and one context long enough for several windows."""
    examples = load_dataset("sample").examples[:14]
    questions = [ex.question for ex in examples]
    contexts = [ex.context for ex in examples]
    questions.append("¿Qué ciudades se nombran?")
    contexts.append(" ".join(ex.context for ex in examples[:6]))
    return questions, contexts


def _key(prediction) -> tuple:
    best = prediction.answers[0]
    return best["answer"], best["start"], best["end"], best["score"]


def _alone_and_together(predictor: Predictor) -> tuple[list, list, list]:
    questions, contexts = _questions()
    alone = [_key(predictor.predict_pairs([q], [c])[0]) for q, c in zip(questions, contexts)]
    together = [_key(p) for p in predictor.predict_pairs(questions, contexts)]
    order = np.random.default_rng(0).permutation(len(questions))
    shuffled = predictor.predict_pairs([questions[i] for i in order], [contexts[i] for i in order])
    reordered = [None] * len(questions)
    for i, p in zip(order, shuffled):
        reordered[i] = _key(p)
    return alone, together, reordered


def _backends() -> list[str]:
    return ["torch"] + (["torch-bf16"] if native_bf16() else []) + ["openvino", "openvino-fp32"]


@pytest.mark.parametrize("backend", _backends())
def test_a_pytorch_folder_answers_alike_alone_or_batched(tiny_qa_model_dir, backend):
    predictor = Predictor.from_pretrained(tiny_qa_model_dir, threads=1, backend=backend)
    assert predictor.runner.name == backend
    alone, together, reordered = _alone_and_together(predictor)
    assert alone == together == reordered  # answer, span and score: the same computation, bit for bit


@pytest.mark.parametrize("target", ["onnx", "onnx-int8-static", "openvino", "openvino-int8"])
def test_every_default_export_answers_alike_alone_or_batched(exported, target):
    predictor = Predictor.from_pretrained(exported[target], threads=1)
    alone, together, reordered = _alone_and_together(predictor)
    assert alone == together == reordered
    assert json.loads((exported[target] / "export.json").read_text())["batch_independent"] is True


def test_windows_are_padded_by_their_own_length_only(tiny_qa_model_dir):
    predictor = Predictor.from_pretrained(tiny_qa_model_dir, threads=1)
    predictor.pad_to_multiple_of = 32
    lengths = np.array([5, 31, 32, 33, 200, 384])
    assert predictor.widths(lengths, 384).tolist() == [32, 32, 32, 64, 224, 384]
    assert predictor.widths(np.array([370]), 380).tolist() == [380]  # never wider than a window may be
    widths = np.array([64, 64, 64, 32, 32, 32])
    predictor.batch_size = 2
    assert predictor._batches(widths) == [(0, 2), (2, 3), (3, 5), (5, 6)]  # one width per batch


def test_dynamic_int8_scales_each_batch_so_it_is_no_default(tiny_qa_model_dir, tmp_path):
    folder = tmp_path / "dynamic"
    info = export_onnx(tiny_qa_model_dir, folder, ExportOptions(int8=True, parity_data=None))
    assert info["target"] == "onnx-int8-dynamic" and info["batch_independent"] is False
    runner = make_runner(folder)
    rng = np.random.default_rng(1)
    ids = rng.integers(5, 300, size=(2, 24), dtype=np.int64)
    mask = np.ones_like(ids)
    alone = runner(ids[:1], mask[:1])[0]
    beside = runner(ids, mask)[0][:1]
    assert not np.array_equal(alone, beside)  # the other row moved this row's activation scale
    from destila.export.targets import CANDIDATES

    assert "onnx-int8-dynamic" not in CANDIDATES


def _burst(base: str, pairs: list[dict]) -> list[dict]:
    async def go():
        async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
            return await asyncio.gather(*(client.post("/v1/answer", json=p) for p in pairs))

    responses = asyncio.run(go())
    assert [r.status_code for r in responses] == [200] * len(pairs)
    return [r.json() for r in responses]


@pytest.mark.parametrize("target", ["onnx-int8-static", "openvino"])
def test_serve_answers_a_burst_as_it_answers_one_at_a_time(exported, target):
    questions, contexts = _questions()
    pairs = [{"question": q, "context": c} for q, c in zip(questions, contexts)] * 4
    with running_server(exported[target], "--max-batch", "16", "--max-wait-ms", "20") as base:
        one_by_one = [httpx.post(base + "/v1/answer", json=p, timeout=60).json() for p in pairs[: len(questions)]]
        burst = _burst(base, pairs)
        batching = httpx.get(base + "/v1/model").json()["batching"]
    assert batching["largest_batch"] > 1  # the burst did share model batches
    for i, got in enumerate(burst):
        assert got == one_by_one[i % len(questions)]
