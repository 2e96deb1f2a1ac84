"""A real uvicorn process: a concurrent burst answered exactly like the Predictor (answers trimmed), both request
shapes alike, Hugging Face's own client served, and every bad input refused."""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlparse

import httpx
import pytest

from destila.data import load_dataset
from destila.infer.postprocess import clean_answer, clean_answers
from destila.infer.predictor import Predictor
from serve_helpers import running_server


@pytest.fixture(scope="module")
def server(tiny_qa_model_dir):
    with running_server(
        tiny_qa_model_dir,
        "--max-batch",
        "8",
        "--max-wait-ms",
        "10",
        "--max-in-flight",
        "64",
        "--max-context-chars",
        "5000",
        "--max-body-bytes",
        "20000",
    ) as base:
        yield base


def _pairs(n: int) -> list[dict]:
    examples = load_dataset("sample").examples
    return [{"question": ex.question, "context": ex.context} for ex in (examples * 10)[:n]]


def test_concurrent_burst_is_answered_like_the_predictor(server, tiny_qa_model_dir):
    pairs = _pairs(40)

    async def burst():
        async with httpx.AsyncClient(base_url=server, timeout=30.0) as c:
            return await asyncio.gather(*(c.post("/v1/answer", json=p) for p in pairs))

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * len(pairs)
    predictor = Predictor.from_pretrained(tiny_qa_model_dir, threads=1)
    for pair, response in zip(pairs, responses):
        expected = clean_answer(predictor(question=pair["question"], context=pair["context"]))
        got = response.json()
        assert (got["answer"], got["start"], got["end"]) == (
            expected["answer"],
            expected["start"],
            expected["end"],
        )
        assert got["score"] == pytest.approx(expected["score"], rel=1e-3, abs=1e-6)
        assert pair["context"][got["start"] : got["end"]] == got["answer"]
    batching = httpx.get(server + "/v1/model").json()["batching"]
    assert batching["items"] >= len(pairs) and batching["largest_batch"] > 1
    assert batching["batches"] < batching["items"]


def test_a_list_request_matches_single_requests(server):
    pairs = _pairs(3)
    many = httpx.post(server + "/v1/answer", json=pairs, timeout=30).json()
    singles = [httpx.post(server + "/v1/answer", json=p, timeout=30).json() for p in pairs]
    assert [(a["answer"], a["start"]) for a in many] == [(a["answer"], a["start"]) for a in singles]


def test_the_inference_api_shape_answers_like_todays_shape(server, tiny_qa_model_dir):
    pairs = _pairs(4)
    for top_k in (1, 3):
        ours = httpx.post(server + "/v1/answer", json=[{**p, "top_k": top_k} for p in pairs], timeout=30).json()
        theirs = httpx.post(
            server + "/v1/answer", json={"inputs": pairs, "parameters": {"top_k": top_k}}, timeout=30
        ).json()
        assert theirs == ours
    predictor = Predictor.from_pretrained(tiny_qa_model_dir, threads=1)
    for pair, answers in zip(pairs, ours):
        expected = clean_answers(predictor(question=pair["question"], context=pair["context"], top_k=3))
        assert [(a["answer"], a["start"], a["end"]) for a in answers] == [
            (e["answer"], e["start"], e["end"]) for e in expected
        ]


def test_hugging_face_inference_client_is_served(server):
    inference = pytest.importorskip("huggingface_hub").InferenceClient
    pair = _pairs(1)[0]
    client = inference(model=server + "/v1/answer", token="not-a-real-token")  # nothing is read from disk
    one = client.question_answering(question=pair["question"], context=pair["context"])
    ours = httpx.post(server + "/v1/answer", json=pair, timeout=30).json()
    assert (one.answer, one.start, one.end) == (ours["answer"], ours["start"], ours["end"])
    three = client.question_answering(question=pair["question"], context=pair["context"], top_k=3)
    ours = httpx.post(server + "/v1/answer", json={**pair, "top_k": 3}, timeout=30).json()
    assert [(a.answer, a.start, a.end) for a in three] == [(a["answer"], a["start"], a["end"]) for a in ours]


BAD = [
    (b'{"question": ', 400, "invalid_json"),
    (b"\xc3\x28\xa0\xa1", 400, "invalid_utf8"),
    (b"{}", 422, "missing_field"),
    (json.dumps({"question": None, "context": "x"}).encode(), 422, "wrong_type"),
    (json.dumps({"question": " ", "context": "x"}).encode(), 422, "empty_field"),
    (json.dumps({"question": "¿q?", "context": "x" * 5001}).encode(), 422, "too_long"),
    (json.dumps([{"question": "¿q?", "context": "x"}] * 33).encode(), 422, "too_many_items"),
    (b'{"question": "' + b"a" * 30000 + b'"}', 413, "body_too_large"),
]


@pytest.mark.parametrize("body,status,code", BAD, ids=[b[2] for b in BAD])
def test_bad_input_against_the_real_server(server, body, status, code):
    r = httpx.post(
        server + "/v1/answer", content=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    ok = httpx.post(server + "/v1/answer", json=_pairs(1)[0], timeout=10)
    assert ok.status_code == 200 and ok.json()["answer"]


def test_chunked_oversized_body_is_refused(server):
    def chunks():
        for _ in range(30):
            yield b"x" * 1000

    r = httpx.post(server + "/v1/answer", content=chunks(), timeout=10)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_garbage_http_does_not_stop_the_server(server):
    url = urlparse(server)
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(b"\x00\x01 NOT HTTP\r\n\r\n")
        try:
            s.recv(1024)
        except OSError:
            pass
    assert httpx.get(server + "/healthz", timeout=5).json()["status"] == "ok"
    page = httpx.get(server + "/", timeout=5)
    assert page.status_code == 200 and "Preguntar" in page.text
