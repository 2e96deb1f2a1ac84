"""Reading `POST /v1/answer`: the body within its size limit, then JSON, then one of the shapes of `schemas.py`.

Every refusal is an `ApiError`, answered as a 4xx JSON body `{"error": {"code", "message", "item"?, "field"?}}`
that says what to fix; the model only ever sees non-empty, bounded, valid text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from destila.serve.schemas import Item, Limits, Pair, Parameters

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "a boolean",
    "model_type": "an object",
    "dict_type": "an object",
}
_BOUNDS = {"greater_than_equal": ("at least", "ge"), "less_than_equal": ("at most", "le")}
_OWN_CODES = {"empty_field", "too_long", "invalid_text", "wrong_type"}  # raised by the schemas' validators
INFERENCE_FIELDS = ("inputs", "parameters")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@dataclass(frozen=True)
class Question:
    """One checked question of a request, with the options it is answered with."""

    question: str
    context: str
    options: Parameters
    id: str | int | None = None  # echoed in its answers when the item had one


@dataclass(frozen=True)
class ParsedRequest:
    questions: list[Question]
    many: bool  # a list of items or inputs: the response is a list


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


def _refusal(error: dict, model: type[BaseModel], where: str, extra: dict) -> ApiError:
    """The API's error for pydantic's first complaint about one object (`extra["field"]`, when given, names the
    object)."""
    kind, value = error["type"], error.get("input")
    name = ".".join(str(part) for part in error["loc"])
    if name:
        extra = {**extra, "field": ".".join(filter(None, (extra.get("field"), name)))}
    if kind == "missing":
        return ApiError(422, "missing_field", f"{where}missing field {name!r}", **extra)
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields)
        return ApiError(422, "unknown_field", f"{where}unknown field {name!r}; allowed: {allowed}", **extra)
    if kind in _EXPECTED and not name:
        return ApiError(422, "invalid_item", f"{where}expected an object, got {_kind(value)}", **extra)
    if kind in _EXPECTED:
        message = f"{where}{name!r} must be {_EXPECTED[kind]}, got {_kind(value)}"
        return ApiError(422, "wrong_type", message, **extra)
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        message = f"{where}{name!r} must be {words} {error['ctx'][key]}, got {value}"
        return ApiError(422, "out_of_range", message, **extra)
    code = kind if kind in _OWN_CODES else "invalid_body"
    return ApiError(422, code, f"{where}{error['msg']}", **extra)


def validate(model: type[BaseModel], value: Any, limits: Limits, where: str = "", **extra: Any) -> Any:
    """`value` as a `model`, or the ApiError that says what is wrong with it (`where` begins its message)."""
    try:
        return model.model_validate(value, context={"limits": limits})
    except ValidationError as exc:
        raise _refusal(exc.errors()[0], model, where, extra) from None


def _as_list(value: Any, limits: Limits, expected: str) -> tuple[list, bool]:
    """An object as a one-element list, or a list within the item limit; and whether it was a list."""
    if isinstance(value, dict):
        return [value], False
    if not isinstance(value, list):
        raise ApiError(422, "invalid_body", f"expected {expected} or a list of them, got {_kind(value)}")
    if not value:
        raise ApiError(422, "empty_list", "the list holds no questions")
    if len(value) > limits.max_items:
        raise ApiError(422, "too_many_items", f"{len(value)} questions in one request; at most {limits.max_items}")
    return value, True


def _inference_request(data: dict, limits: Limits) -> ParsedRequest:
    """`{"inputs": {...} | [...], "parameters": {...}}`, the Hugging Face Inference API's shape."""
    unknown = sorted(set(data) - set(INFERENCE_FIELDS))
    if unknown:
        allowed = ", ".join(INFERENCE_FIELDS)
        raise ApiError(422, "unknown_field", f"unknown field {unknown[0]!r}; allowed: {allowed}", field=unknown[0])
    raw = data.get("parameters")
    raw = {} if raw is None else raw  # absent or null: the defaults
    if not isinstance(raw, dict):
        message = f"'parameters' must be an object, got {_kind(raw)}"
        raise ApiError(422, "wrong_type", message, field="parameters")
    options = validate(Parameters, raw, limits, "parameters: ", field="parameters")
    inputs, many = _as_list(data["inputs"], limits, "'inputs': an object {\"question\": ..., \"context\": ...}")
    pairs = [validate(Pair, x, limits, f"input {i}: " if many else "", item=i) for i, x in enumerate(inputs)]
    return ParsedRequest([Question(p.question, p.context, options) for p in pairs], many)


def parse_request(data: Any, limits: Limits) -> ParsedRequest:
    """The checked questions of a decoded body: an item, a list of items, or an Inference API request."""
    if isinstance(data, dict) and "inputs" in data:
        return _inference_request(data, limits)
    raw, many = _as_list(data, limits, 'an object {"question": ..., "context": ...}')
    questions = []
    for i, value in enumerate(raw):
        item = validate(Item, value, limits, f"item {i}: " if many else "", item=i)
        questions.append(Question(item.question, item.context, Parameters(top_k=item.top_k), item.id))
    return ParsedRequest(questions, many)
