"""The HTTP app in-process: every route, every request shape, every kind of bad input, micro-batching and
overload."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from destila.errors import ConfigError
from destila.serve.app import Limits, create_app, detect_no_answer
from destila.serve.schemas import ERROR_CODES


def fake_predict(questions, contexts, options):
    """Answers with the context's words, as a SentencePiece pipeline gives them (the space before, the punctuation
    after); "nada" in the question means no answer."""
    out = []
    for q, c in zip(questions, contexts):
        if "nada" in q:
            out.append([{"answer": "", "score": 0.9, "start": 0, "end": 0}])
            continue
        answers, start = [], 0
        for rank, word in enumerate(c.split(" ")[: options.top_k]):
            begin, end = max(start - 1, 0), start + len(word)  # with the space before the word
            answers.append({"answer": c[begin:end], "score": 0.5 / (rank + 1), "start": begin, "end": end})
            start = end + 1
        out.append(answers)
    return out


LIMITS = Limits(
    max_question_chars=50, max_context_chars=200, max_items=4, max_body_bytes=2_000, max_in_flight=8
)


@pytest.fixture()
def client():
    app = create_app(fake_predict, info={"name": "falso", "parameters": 123}, limits=LIMITS)
    with TestClient(app) as c:
        yield c


def test_page_is_spanish_and_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert 'lang="es"' in html and "Preguntar" in html and "<mark" not in html.split("<script>")[0]
    assert 'src="http' not in html and 'href="http' not in html and "@import" not in html
    assert "/v1/answer" in html


def test_health_and_model_routes(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    info = client.get("/v1/model").json()
    assert info["name"] == "falso" and info["parameters"] == 123
    assert info["limits"]["max_items"] == 4 and "batching" in info


def test_answer_one_and_many(client):
    r = client.post("/v1/answer", json={"question": "¿Quién?", "context": "Cervantes escribió el Quijote."})
    assert r.status_code == 200
    assert r.json() == {"answer": "Cervantes", "score": 0.5, "start": 0, "end": 9}
    r = client.post(
        "/v1/answer",
        json=[
            {"question": "¿Qué?", "context": "Madrid es la capital.", "id": "a"},
            {"question": "¿nada?", "context": "Sin respuesta aquí.", "id": 7},
        ],
    )
    assert r.status_code == 200
    body = r.json()
    assert body[0] == {"answer": "Madrid", "score": 0.5, "start": 0, "end": 6, "id": "a"}
    assert body[1] == {"answer": "", "score": 0.9, "start": 0, "end": 0, "id": 7}  # no answer, as the Predictor


CONTEXT = "Cervantes escribió el Quijote."


def test_answers_are_trimmed_with_their_offsets(client):
    r = client.post("/v1/answer", json={"question": "¿Qué?", "context": CONTEXT, "top_k": 4})
    assert r.status_code == 200
    answers = r.json()
    assert [a["answer"] for a in answers] == ["Cervantes", "escribió", "el", "Quijote"]
    assert all(CONTEXT[a["start"] : a["end"]] == a["answer"] for a in answers)


def test_the_inference_api_shape_answers_like_todays(client):
    pairs = [{"question": "¿Qué?", "context": CONTEXT}, {"question": "¿nada?", "context": "Sin respuesta aquí."}]
    for top_k in (1, 3):
        ours = [client.post("/v1/answer", json={**p, "top_k": top_k}).json() for p in pairs]
        single = [
            client.post("/v1/answer", json={"inputs": p, "parameters": {"top_k": top_k}}).json() for p in pairs
        ]
        many = client.post("/v1/answer", json={"inputs": pairs, "parameters": {"top_k": top_k}}).json()
        listed = client.post("/v1/answer", json=[{**p, "top_k": top_k} for p in pairs]).json()
        assert single == many == listed == ours
        assert isinstance(ours[0], dict) == (top_k == 1)  # a list of answers when top_k > 1
    first = ours[0][0]
    assert client.post("/v1/answer", json={"inputs": pairs[0]}).json() == first
    nulls = {"top_k": None, "handle_impossible_answer": None, "max_answer_len": None, "doc_stride": None}
    assert client.post("/v1/answer", json={"inputs": pairs[0], "parameters": nulls}).json() == first
    assert client.post("/v1/answer", json={"inputs": pairs[0], "parameters": None}).json() == first


def test_parameters_reach_the_model_and_group_the_batch():
    calls = []

    def recording(questions, contexts, options):
        calls.append((len(questions), options))
        return fake_predict(questions, contexts, options)

    app = create_app(recording, limits=Limits(max_batch=8, max_wait_ms=200, max_in_flight=64))
    parameters = {"top_k": 2, "handle_impossible_answer": True, "max_answer_len": 30, "doc_stride": 64}

    async def burst(c):
        plain = {"question": "¿Qué?", "context": CONTEXT}
        return await asyncio.gather(
            c.post("/v1/answer", json=plain),
            c.post("/v1/answer", json={"inputs": plain, "parameters": parameters}),
            c.post("/v1/answer", json=plain),
        )

    responses = asyncio.run(_with_app(app, burst))
    assert [r.status_code for r in responses] == [200] * 3
    assert sorted((n, o.model_dump()) for n, o in calls) == sorted(
        [
            (2, {"top_k": 1, "handle_impossible_answer": None, "max_answer_len": None, "doc_stride": None}),
            (1, parameters),
        ]
    )
    assert len(responses[1].json()) == 2


def test_openapi_describes_the_request_the_answers_and_every_error(client):
    doc = client.get("/openapi.json").json()
    operation = doc["paths"]["/v1/answer"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    refs = json.dumps(body)
    for name in ("Item", "InferenceRequest"):
        assert f"#/components/schemas/{name}" in refs
    schemas = doc["components"]["schemas"]
    assert set(schemas["Item"]["properties"]) == {"question", "context", "id", "top_k"}
    assert set(schemas["Item"]["required"]) == {"question", "context"}
    assert set(schemas["Parameters"]["properties"]) == {
        "top_k",
        "handle_impossible_answer",
        "max_answer_len",
        "doc_stride",
    }
    assert "Pair" in json.dumps(schemas["InferenceRequest"]) and "Parameters" in json.dumps(schemas["InferenceRequest"])
    for model in ("Item", "Pair", "Parameters", "Answer"):
        assert all(p.get("description") for p in schemas[model]["properties"].values()), model
    assert set(operation["responses"]) == {"200", "400", "413", "422", "500", "503"}
    assert "Answer" in json.dumps(operation["responses"]["200"])
    for status, codes in ERROR_CODES.items():
        assert set(codes) <= set(schemas["ErrorDetail"]["properties"]["code"]["enum"])
        if str(status) in operation["responses"]:
            assert all(code in operation["responses"][str(status)]["description"] for code in codes)
    assert client.get("/docs").status_code == 200


def _post_raw(client, content: bytes, **headers):
    return client.post("/v1/answer", content=content, headers={"Content-Type": "application/json", **headers})


GOOD = {"question": "¿Quién?", "context": "Cervantes escribió."}
BAD_BODIES = [
    (b"{not json", 400, "invalid_json"),
    (b"", 400, "empty_body"),
    (b'{"question": "\xff\xfe", "context": "x"}', 400, "invalid_utf8"),
    (b"42", 422, "invalid_body"),
    (b'"texto"', 422, "invalid_body"),
    (b"[]", 422, "empty_list"),
    (json.dumps([GOOD] * 5).encode(), 422, "too_many_items"),
    (b"[1, 2]", 422, "invalid_item"),
    (json.dumps({"context": "algo"}).encode(), 422, "missing_field"),
    (json.dumps({"question": "¿qué?"}).encode(), 422, "missing_field"),
    (json.dumps({"question": 3, "context": "algo"}).encode(), 422, "wrong_type"),
    (json.dumps({"question": "¿qué?", "context": ["a"]}).encode(), 422, "wrong_type"),
    (json.dumps({"question": "", "context": "algo"}).encode(), 422, "empty_field"),
    (json.dumps({"question": "¿qué?", "context": "   \n"}).encode(), 422, "empty_field"),
    (json.dumps({"question": "q" * 51, "context": "algo"}).encode(), 422, "too_long"),
    (json.dumps({"question": "¿qué?", "context": "c" * 201}).encode(), 422, "too_long"),
    (json.dumps({**GOOD, "extra": 1}).encode(), 422, "unknown_field"),
    (json.dumps({**GOOD, "id": [1]}).encode(), 422, "wrong_type"),
    (b'{"question": "\\ud800", "context": "algo"}', 422, "invalid_text"),
    (b"[" * 5000 + b"]" * 5000, 413, "body_too_large"),
    (json.dumps({**GOOD, "top_k": 0}).encode(), 422, "out_of_range"),
    (json.dumps({**GOOD, "top_k": "3"}).encode(), 422, "wrong_type"),
    (json.dumps({"inputs": "texto"}).encode(), 422, "invalid_body"),
    (json.dumps({"inputs": []}).encode(), 422, "empty_list"),
    (json.dumps({"inputs": [GOOD] * 5}).encode(), 422, "too_many_items"),
    (json.dumps({"inputs": [GOOD, 1]}).encode(), 422, "invalid_item"),
    (json.dumps({"inputs": {"question": "¿qué?"}}).encode(), 422, "missing_field"),
    (json.dumps({"inputs": {**GOOD, "id": 1}}).encode(), 422, "unknown_field"),
    (json.dumps({"inputs": GOOD, "extra": 1}).encode(), 422, "unknown_field"),
    (json.dumps({"inputs": GOOD, "parameters": []}).encode(), 422, "wrong_type"),
    (json.dumps({"inputs": GOOD, "parameters": {"top_k": 21}}).encode(), 422, "out_of_range"),
    (json.dumps({"inputs": GOOD, "parameters": {"top_k": True}}).encode(), 422, "wrong_type"),
    (json.dumps({"inputs": GOOD, "parameters": {"doc_stride": -1}}).encode(), 422, "out_of_range"),
    (json.dumps({"inputs": GOOD, "parameters": {"handle_impossible_answer": 1}}).encode(), 422, "wrong_type"),
    (json.dumps({"inputs": GOOD, "parameters": {"max_seq_len": 384}}).encode(), 422, "unknown_field"),
    (json.dumps({"inputs": {"question": "q" * 51, "context": "algo"}}).encode(), 422, "too_long"),
]


@pytest.mark.parametrize(
    "content,status,code", BAD_BODIES, ids=[b[2] + str(i) for i, b in enumerate(BAD_BODIES)]
)
def test_bad_input_is_a_clear_4xx_and_serving_goes_on(client, content, status, code):
    r = _post_raw(client, content)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and isinstance(err["message"], str) and len(err["message"]) > 5
    ok = client.post("/v1/answer", json=GOOD)
    assert ok.status_code == 200 and ok.json()["answer"] == "Cervantes"


def test_declared_body_size_is_refused_before_reading(client):
    r = _post_raw(client, b"x" * 10, **{"Content-Length": "999999"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_unknown_route_and_method_are_json(client):
    r = client.get("/nada")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/v1/answer")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_limits_are_validated():
    with pytest.raises(ConfigError, match="max-items"):
        Limits(max_items=10, max_in_flight=5)
    with pytest.raises(ConfigError, match="max-batch"):
        Limits(max_batch=0)


def test_model_failure_is_a_500_and_serving_goes_on():
    calls = {"n": 0}

    def flaky(questions, contexts, options):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return fake_predict(questions, contexts, options)

    with TestClient(create_app(flaky, limits=LIMITS)) as c:
        r = c.post("/v1/answer", json=GOOD)
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        assert c.post("/v1/answer", json=GOOD).status_code == 200


def test_error_messages_name_the_item_and_field(client):
    r = client.post("/v1/answer", json={"inputs": [GOOD, {"question": "¿qué?", "context": 3}]})
    assert r.json()["error"] == {
        "code": "wrong_type",
        "message": "input 1: 'context' must be a string, got a number",
        "item": 1,
        "field": "context",
    }
    r = client.post("/v1/answer", json={"inputs": GOOD, "parameters": {"top_k": 0}})
    assert r.json()["error"]["field"] == "parameters.top_k" and "at least 1" in r.json()["error"]["message"]


def test_no_answer_detection(tmp_path):
    assert not detect_no_answer(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"official": {"HasAns_exact": 50.0}}))
    assert detect_no_answer(tmp_path)


async def _with_app(app, fn):
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await fn(c)


def test_concurrent_requests_share_batches():
    sizes = []

    def slow(questions, contexts, options):
        sizes.append(len(questions))
        time.sleep(0.05)
        return fake_predict(questions, contexts, options)

    app = create_app(slow, limits=Limits(max_batch=8, max_wait_ms=20, max_in_flight=64))

    async def burst(c):
        bodies = [{"question": f"¿{i}?", "context": f"palabra{i} y más"} for i in range(24)]
        return await asyncio.gather(*(c.post("/v1/answer", json=b) for b in bodies))

    responses = asyncio.run(_with_app(app, burst))
    assert [r.json()["answer"] for r in responses] == [f"palabra{i}" for i in range(24)]
    assert sum(sizes) == 24 and max(sizes) > 1 and max(sizes) <= 8
    assert len(sizes) < 24


def test_overload_is_refused_quickly_then_recovers():
    release = threading.Event()

    def blocked(questions, contexts, options):
        release.wait(10)
        return fake_predict(questions, contexts, options)

    app = create_app(blocked, limits=Limits(max_batch=4, max_wait_ms=0, max_items=2, max_in_flight=2))

    async def scenario(c):
        first = asyncio.create_task(c.post("/v1/answer", json=[GOOD, GOOD]))
        for _ in range(200):  # until the two questions are admitted
            if app.state.batcher.in_flight == 2:
                break
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        refused = await c.post("/v1/answer", json=GOOD)
        elapsed = time.perf_counter() - started
        release.set()
        done = await first
        after = await c.post("/v1/answer", json=GOOD)
        return refused, elapsed, done, after

    refused, elapsed, done, after = asyncio.run(_with_app(app, scenario))
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "overloaded"
    assert refused.headers.get("retry-after") == "1"
    assert elapsed < 1.0
    assert done.status_code == 200 and len(done.json()) == 2
    assert after.status_code == 200
