"""The HTTP service: `POST /v1/answer`, `GET /v1/model`, `GET /healthz` and a small Spanish page at `/`.

Input is validated by hand so every refusal is a 4xx JSON body `{"error": {"code", "message"}}` that says
what to fix; the model only ever sees non-empty, bounded, valid text. Questions of concurrent requests are
micro-batched (see `batcher.py`); past `max_in_flight` questions the service answers 503 at once.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from destila import files
from destila.errors import ConfigError
from destila.serve.batcher import MicroBatcher, Overloaded

log = logging.getLogger("destila.serve")
STATIC = Path(__file__).parent / "static"
ITEM_FIELDS = ("question", "context", "id")
DEFAULT_MODEL_BATCH = 4


@dataclass
class Limits:
    max_batch: int = 16
    max_wait_ms: float = 5.0
    max_question_chars: int = 1_000
    max_context_chars: int = 20_000
    max_items: int = 32
    max_body_bytes: int = 1_000_000
    max_in_flight: int = 256

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name == "max_wait_ms":
                if value < 0:
                    raise ConfigError("--max-wait-ms must not be negative")
            elif value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.max_items > self.max_in_flight:
            raise ConfigError(
                f"--max-items ({self.max_items}) must not exceed --max-in-flight ({self.max_in_flight}): "
                "such a request could never be admitted"
            )


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _kind(value) -> str:
    names = {
        str: "a string",
        bool: "a boolean",
        dict: "an object",
        list: "a list",
        type(None): "null",
        int: "a number",
        float: "a number",
    }
    return names.get(type(value), type(value).__name__)


def parse_items(data: Any, limits: Limits) -> tuple[list[dict], bool]:
    """The request body as a list of checked items, and whether it was a list."""
    if isinstance(data, dict):
        items, is_list = [data], False
    elif isinstance(data, list):
        items, is_list = data, True
        if not items:
            raise ApiError(422, "empty_list", "the list holds no questions")
        if len(items) > limits.max_items:
            raise ApiError(
                422, "too_many_items", f"{len(items)} questions in one request; at most {limits.max_items}"
            )
    else:
        raise ApiError(
            422,
            "invalid_body",
            f'expected an object {{"question": ..., "context": ...}} or a list of them, got {_kind(data)}',
        )
    checked = []
    for i, item in enumerate(items):
        where = f"item {i}: " if is_list else ""
        if not isinstance(item, dict):
            raise ApiError(422, "invalid_item", f"{where}expected an object, got {_kind(item)}", item=i)
        unknown = sorted(set(item) - set(ITEM_FIELDS))
        if unknown:
            raise ApiError(
                422,
                "unknown_field",
                f"{where}unknown field {unknown[0]!r}; allowed: {', '.join(ITEM_FIELDS)}",
                item=i,
            )
        for name, cap in (("question", limits.max_question_chars), ("context", limits.max_context_chars)):
            if name not in item:
                raise ApiError(422, "missing_field", f"{where}missing field {name!r}", item=i, field=name)
            value = item[name]
            if not isinstance(value, str):
                raise ApiError(
                    422,
                    "wrong_type",
                    f"{where}{name!r} must be a string, got {_kind(value)}",
                    item=i,
                    field=name,
                )
            if not value.strip():
                raise ApiError(422, "empty_field", f"{where}{name!r} is empty", item=i, field=name)
            if len(value) > cap:
                raise ApiError(
                    422,
                    "too_long",
                    f"{where}{name!r} has {len(value)} characters; at most {cap}",
                    item=i,
                    field=name,
                )
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(
                    422,
                    "invalid_text",
                    f"{where}{name!r} holds an unpaired surrogate (\\ud800-\\udfff escape)",
                    item=i,
                    field=name,
                ) from None
        if "id" in item and not isinstance(item["id"], (str, int)) or isinstance(item.get("id"), bool):
            raise ApiError(422, "wrong_type", f"{where}'id' must be a string or a number", item=i, field="id")
        checked.append(item)
    return checked, is_list


async def read_body(request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "invalid_length", "Content-Length is not a number") from None
        if size > limit:
            raise ApiError(413, "body_too_large", f"the body has {size} bytes; at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise ApiError(400, "empty_body", 'the body is empty; send JSON {"question": ..., "context": ...}')
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the body is nested too deeply") from None


def to_response(result: dict, item: dict) -> dict:
    """Predictor output -> API answer; an empty answer (the no-answer choice) becomes null."""
    text = result.get("answer") or ""
    no_answer = not text.strip()
    out = {
        "answer": None if no_answer else text,
        "score": float(result.get("score", 0.0)),
        "start": None if no_answer else int(result["start"]),
        "end": None if no_answer else int(result["end"]),
    }
    if "id" in item:
        out["id"] = item["id"]
    return out


def _error(status: int, code: str, message: str, headers: dict | None = None, **extra):
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


def create_app(
    predict_batch: Callable[[list[str], list[str]], list[dict]],
    *,
    info: dict | None = None,
    limits: Limits | None = None,
):
    """The FastAPI app around `predict_batch(questions, contexts) -> [pipeline-style dict, ...]`."""
    limits = limits or Limits()
    info = dict(info or {})
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

    app = FastAPI(title="destila", summary="Spanish extractive question answering", lifespan=lifespan)
    app.state.batcher = batcher
    app.state.limits = limits
    page = (STATIC / "index.html").read_text(encoding="utf-8")

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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    async def healthz():
        if not batcher.running:
            return _error(503, "not_ready", "the model worker is not running")
        return {"status": "ok", "queued": batcher.queued(), "in_flight": batcher.in_flight}

    @app.get("/v1/model")
    async def model_info():
        return {**info, "limits": asdict(limits), "batching": batcher.stats.as_dict()}

    @app.post("/v1/answer")
    async def answer(request: Request):
        body = await read_body(request, limits.max_body_bytes)
        items, is_list = parse_items(decode_json(body), limits)
        try:
            results = await batcher.submit([(i["question"], i["context"]) for i in items])
        except Overloaded as exc:
            return _error(503, "overloaded", str(exc), headers={"Retry-After": "1"})
        except Exception as exc:  # noqa: BLE001  the batch failed in the model; the worker goes on with the next one
            return _error(500, "internal_error", f"the model failed on this request: {type(exc).__name__}")
        answers = [to_response(r, i) for r, i in zip(results, items)]
        return answers if is_list else answers[0]

    return app


# ---- building the app from a model folder -------------------------------------------------------------


def detect_no_answer(folder: str | os.PathLike) -> bool:
    """Whether the model was trained/evaluated on SQuAD v2.0-style data (may answer "no answer")."""
    path = Path(folder)
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
    from destila.bench.measure import folder_parameters, model_files_bytes

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


def predictor_batch_fn(predictor, handle_impossible_answer: bool):
    """Adapts the Predictor to `predict_batch(questions, contexts)` (one model batch per call)."""

    def predict_batch(questions: list[str], contexts: list[str]) -> list[dict]:
        out = predictor(
            question=questions, context=contexts, top_k=1, handle_impossible_answer=handle_impossible_answer
        )
        if isinstance(out, dict):
            out = [out]
        return [r[0] if isinstance(r, list) else r for r in out]

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
    # A micro-batch of max_batch questions runs as length-sorted model batches of model_batch windows:
    # questions of unrelated requests differ in length, and padding them all to the longest costs more
    # than smaller batches lose (measured on 2 cores, int8 student, 16 clients: model batch 16 -> 12 req/s,
    # 4 -> 17-26 req/s, 1 -> 20-28 req/s).
    model_batch = min(model_batch or DEFAULT_MODEL_BATCH, limits.max_batch)
    predictor = Predictor.from_pretrained(folder, threads=threads, batch_size=model_batch, backend=backend)
    info = model_summary(model, folder, predictor.runner.name)
    info["no_answer"] = handle
    return create_app(predictor_batch_fn(predictor, handle), info=info, limits=limits)
