"""The HTTP app in-process: every route, every kind of bad input, micro-batching and overload."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from destila.errors import ConfigError
from destila.serve.app import Limits, create_app, detect_no_answer, to_response


def fake_predict(questions, contexts):
    """Answers with the context's first word; "nada" in the question means no answer."""
    out = []
    for q, c in zip(questions, contexts):
        if "nada" in q:
            out.append({"answer": "", "score": 0.9, "start": 0, "end": 0})
        else:
            end = c.find(" ") if " " in c else len(c)
            out.append({"answer": c[:end], "score": 0.5, "start": 0, "end": end})
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
    assert body[1] == {"answer": None, "score": 0.9, "start": None, "end": None, "id": 7}


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

    def flaky(questions, contexts):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return fake_predict(questions, contexts)

    with TestClient(create_app(flaky, limits=LIMITS)) as c:
        r = c.post("/v1/answer", json=GOOD)
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        assert c.post("/v1/answer", json=GOOD).status_code == 200


def test_no_answer_mapping_and_detection(tmp_path):
    assert to_response({"answer": "", "score": 0.7, "start": 0, "end": 0}, {})["answer"] is None
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

    def slow(questions, contexts):
        sizes.append(len(questions))
        time.sleep(0.05)
        return fake_predict(questions, contexts)

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

    def blocked(questions, contexts):
        release.wait(10)
        return fake_predict(questions, contexts)

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
