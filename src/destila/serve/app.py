"""The HTTP service: `POST /v1/answer`, `GET /v1/model`, `GET /healthz` and a small Spanish page at `/`.

Requests are read and checked by `parsing.py` against the shapes of `schemas.py` (destila's own items and the
Hugging Face Inference API's request), so every refusal is a 4xx JSON body that says what to fix and
`/openapi.json` describes every field and error. Questions of concurrent requests are micro-batched (see
`batcher.py`); past `max_in_flight` questions the service answers 503 at once. Answers are shown as a person reads
them (`destila.infer.postprocess.clean_answers`), and no answer is `""` as in the Predictor.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException

from destila import __version__, files
from destila.errors import ConfigError
from destila.infer.postprocess import clean_answers
from destila.no_answer import stored_threshold
from destila.serve.batcher import MicroBatcher, Overloaded
from destila.serve.parsing import ApiError, ParsedRequest, decode_json, parse_request, read_body
from destila.serve.schemas import AnswerRequest, Answers, Health, Limits, ModelInfo, Parameters, error_responses

log = logging.getLogger("destila.serve")
STATIC = Path(__file__).parent / "static"
DEFAULT_MODEL_BATCH = 4
NO_ANSWER = {"answer": "", "score": 0.0, "start": 0, "end": 0}
PredictBatch = Callable[[list[str], list[str], Parameters], list[list[dict]]]


def shape_answers(request: ParsedRequest, results: list[list[dict]]) -> Any:
    """The response body: per question its answers cleaned and cut to `top_k` (one answer when `top_k` is 1, else a
    list), the item's id echoed; a list of those for a list request."""
    out = []
    for question, answers in zip(request.questions, results):
        top_k = question.options.top_k
        shown = []
        for a in clean_answers(answers)[:top_k] or [NO_ANSWER]:
            answer = {"answer": a["answer"], "score": float(a["score"]), "start": int(a["start"]), "end": int(a["end"])}
            if question.id is not None:
                answer["id"] = question.id
            shown.append(answer)
        out.append(shown[0] if top_k == 1 else shown)
    return out if request.many else out[0]


def _error(status: int, code: str, message: str, headers: dict | None = None, **extra):
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request, exc: Exception):
        log.exception("unexpected error")
        return _error(500, "internal_error", f"the model failed on this request: {type(exc).__name__}")


def _document_request_body(app: FastAPI, path: str) -> None:
    """Put the request shapes into `/openapi.json`: the body is read by hand (size limit, the API's own error
    codes), so FastAPI does not see a body parameter to describe."""
    schema = TypeAdapter(AnswerRequest).json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs")
    generate = app.openapi

    def openapi() -> dict:
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {}).update(definitions)
        operation = document["paths"][path]["post"]
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        return document

    app.openapi = openapi


def _add_answer_route(app: FastAPI, batcher: MicroBatcher, limits: Limits) -> None:
    @app.post(
        "/v1/answer",
        response_model=None,
        responses={200: {"model": Answers, "description": "The answers"}, **error_responses(400, 413, 422, 500, 503)},
        summary="Answer questions about texts",
    )
    async def answer(request: Request):
        """One item `{"question", "context", "id"?, "top_k"?}`, a list of them, or the Hugging Face Inference API's
        `{"inputs": {"question", "context"} | [...], "parameters": {"top_k", "handle_impossible_answer",
        "max_answer_len", "doc_stride"}}`. No answer is `{"answer": "", "start": 0, "end": 0}`."""
        body = await read_body(request, limits.max_body_bytes)
        parsed = parse_request(decode_json(body), limits)
        try:
            results = await batcher.submit([(q.question, q.context, q.options) for q in parsed.questions])
        except Overloaded as exc:
            return _error(503, "overloaded", str(exc), headers={"Retry-After": "1"})
        except Exception as exc:  # noqa: BLE001  the batch failed in the model; the worker goes on with the next one
            return _error(500, "internal_error", f"the model failed on this request: {type(exc).__name__}")
        return shape_answers(parsed, results)

    _document_request_body(app, "/v1/answer")


def _add_routes(app: FastAPI, batcher: MicroBatcher, limits: Limits, info: dict) -> None:
    page = (STATIC / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/healthz", response_model=Health, responses=error_responses(503))
    async def healthz():
        """Whether the model worker runs, and how many questions wait."""
        if not batcher.running:
            return _error(503, "not_ready", "the model worker is not running")
        return {"status": "ok", "queued": batcher.queued(), "in_flight": batcher.in_flight}

    @app.get("/v1/model", response_model=ModelInfo, response_model_exclude_unset=True)
    async def model_info():
        """The model served, its folder's metrics, the limits in force and batching statistics."""
        return {**info, "limits": asdict(limits), "batching": batcher.stats.as_dict()}

    _add_answer_route(app, batcher, limits)


def create_app(predict_batch: PredictBatch, *, info: dict | None = None, limits: Limits | None = None):
    """The FastAPI app around `predict_batch(questions, contexts, options) -> [[answer, ...], ...]`: per question,
    its pipeline-style answers `{score, start, end, answer}` best first, for the request's `Parameters`."""
    limits = limits or Limits()
    batcher = MicroBatcher(
        predict_batch,
        max_batch=limits.max_batch,
        max_wait_ms=limits.max_wait_ms,
        max_in_flight=limits.max_in_flight,
    )

    @asynccontextmanager
    async def lifespan(_app):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="destila", summary="Spanish extractive question answering", version=__version__, lifespan=lifespan
    )
    app.state.batcher = batcher
    app.state.limits = limits
    _add_error_handlers(app)
    _add_routes(app, batcher, limits, dict(info or {}))
    return app


# ---- building the app from a model folder -------------------------------------------------------------


def detect_no_answer(folder: str | os.PathLike) -> bool:
    """Whether the model was trained/evaluated on SQuAD v2.0-style data (may answer "no answer"): its folder holds
    the no-answer threshold its training run chose (`destila.no_answer`), or its metrics or config say v2.0."""
    path = Path(folder)
    if (path / files.NO_ANSWER).is_file():
        return True
    metrics = path / files.METRICS
    if metrics.is_file():
        text = metrics.read_text(encoding="utf-8", errors="replace")
        if "HasAns_" in text or "NoAns_" in text or '"2.0"' in text:
            return True
    for name in (files.HF_CONFIG, files.EXPORT_INFO):
        f = path / name
        if f.is_file():
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            dest = data.get("destila") if isinstance(data, dict) else None
            if isinstance(dest, dict) and str(dest.get("squad_version", dest.get("version", ""))) == "2.0":
                return True
    return False


def model_summary(model: str, folder: str | os.PathLike, backend: str) -> dict:
    """Name, format (the backend that runs it), size, parameters and the metrics/card the folder carries, for
    `GET /v1/model`."""
    from destila.models.size import folder_parameters, model_files_bytes

    path = Path(folder)
    info: dict[str, Any] = {"name": path.name or str(model), "model": str(model)}
    if path.is_dir():
        export = path / files.EXPORT_INFO
        info["format"] = "pytorch" if backend == "torch" else backend
        if export.is_file():
            try:
                info["int8"] = bool(json.loads(export.read_text(encoding="utf-8")).get("int8"))
            except ValueError:
                pass
        info["parameters"] = folder_parameters(path)
        info["size_bytes"] = model_files_bytes(path)
        metrics = path / files.METRICS
        if metrics.is_file():
            try:
                info["metrics"] = json.loads(metrics.read_text(encoding="utf-8"))
            except ValueError:
                info["metrics"] = None
        card = path / files.MODEL_CARD
        if card.is_file():
            lines = card.read_text(encoding="utf-8", errors="replace").splitlines()
            title = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("# ")), None)
            if title:
                info["title"] = title
        try:
            config = json.loads((path / files.HF_CONFIG).read_text(encoding="utf-8"))
            info["architecture"] = (config.get("architectures") or [config.get("model_type")])[0]
        except (OSError, ValueError):
            pass
    return info


def predictor_batch_fn(predictor, handle_impossible_answer: bool, null_threshold: float = 0.0) -> PredictBatch:
    """Adapts the Predictor to `predict_batch(questions, contexts, options)` (one model batch per call);
    `handle_impossible_answer` applies when a request leaves it unset; whenever "no answer" competes it is ranked
    by its null score minus `null_threshold` (the model's stored threshold)."""

    def predict_batch(questions: list[str], contexts: list[str], options: Parameters) -> list[list[dict]]:
        handle = options.handle_impossible_answer
        predictions = predictor.predict_pairs(
            questions,
            contexts,
            top_k=options.top_k,
            handle_impossible_answer=handle_impossible_answer if handle is None else handle,
            max_answer_len=options.max_answer_len,
            # the predictor refuses a stride wider than its windows; narrower ones it shrinks to fit
            doc_stride=None if options.doc_stride is None else min(options.doc_stride, predictor.max_seq_len),
            null_threshold=null_threshold,
        )
        return [p.answers for p in predictions]

    return predict_batch


def build_app(
    model: str,
    *,
    limits: Limits | None = None,
    threads: int | None = None,
    no_answer: str = "auto",
    model_batch: int | None = None,
    backend: str = "auto",
):
    """Load `model` (PyTorch or exported ONNX folder, or any `backend`) into a Predictor and wrap it in the app."""
    from destila.infer.predictor import Predictor
    from destila.models.hub import resolve_model

    limits = limits or Limits()
    if no_answer not in ("auto", "on", "off"):
        raise ConfigError(f"--no-answer must be auto, on or off, got {no_answer!r}")
    folder = resolve_model(model)
    handle = detect_no_answer(folder) if no_answer == "auto" else no_answer == "on"
    threshold = stored_threshold(folder) or 0.0  # chosen on training-fold questions by the model's training run
    # A micro-batch of max_batch questions runs as length-sorted model batches of model_batch windows:
    # questions of unrelated requests differ in length, and padding them all to the longest costs more
    # than smaller batches lose (measured on 2 cores, int8 student, 16 clients: model batch 16 -> 12 req/s,
    # 4 -> 17-26 req/s, 1 -> 20-28 req/s).
    model_batch = min(model_batch or DEFAULT_MODEL_BATCH, limits.max_batch)
    predictor = Predictor.from_pretrained(folder, threads=threads, batch_size=model_batch, backend=backend)
    info = model_summary(model, folder, predictor.runner.name)
    info["no_answer"] = handle
    info["null_threshold"] = threshold
    return create_app(predictor_batch_fn(predictor, handle, threshold), info=info, limits=limits)
