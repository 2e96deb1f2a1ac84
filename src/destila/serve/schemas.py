"""What the HTTP API takes and gives, as pydantic models: `/openapi.json` and `/docs` are generated from them, and
`parsing.py` validates every request against them (a validation error becomes one of the API's error codes).

`POST /v1/answer` takes three shapes:

- an `Item` `{"question", "context", "id"?, "top_k"?}`;
- a list of items;
- the Hugging Face Inference API's question-answering request, an `InferenceRequest`
  `{"inputs": {"question", "context"} | [...], "parameters": {...}}`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from destila.errors import ConfigError

MAX_TOP_K = 20
MAX_ANSWER_LEN = 200  # tokens
MAX_DOC_STRIDE = 512  # tokens; a stride wider than a window shrinks to fit it


@dataclass
class Limits:
    """The server's limits (`destila serve` options); `GET /v1/model` lists those in force."""

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


def check_text(name: str, value: str, limits: Limits | None) -> str:
    """A question or context the model can take: not blank, within the limit, encodable as UTF-8."""
    if not value.strip():
        raise PydanticCustomError("empty_field", f"{name!r} is empty")
    cap = None if limits is None else getattr(limits, f"max_{name}_chars")
    if cap is not None and len(value) > cap:
        raise PydanticCustomError("too_long", f"{name!r} has {len(value)} characters; at most {cap}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        message = f"{name!r} holds an unpaired surrogate (\\ud800-\\udfff escape)"
        raise PydanticCustomError("invalid_text", message) from None
    return value


class _Strict(BaseModel):
    # strict: no coercion ("1" is no number, 1 no string); frozen: options group questions in a batch
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Pair(_Strict):
    """One question about one context (an element of the Inference API's `inputs`)."""

    question: str = Field(
        description="The question, at most `max_question_chars` characters (1,000 unless the server says "
        "otherwise in `GET /v1/model`).",
        examples=["¿En qué año abrió el Museo del Prado?"],
    )
    context: str = Field(
        description="The text the answer is taken from, at most `max_context_chars` characters (20,000 unless "
        "the server says otherwise).",
        examples=["El Museo del Prado abrió sus puertas al público en 1819 en Madrid."],
    )

    @field_validator("question", "context")
    @classmethod
    def _checked(cls, value: str, info: ValidationInfo) -> str:
        return check_text(info.field_name, value, (info.context or {}).get("limits"))


class Item(Pair):
    """A question in destila's own shape, optionally with an `id` echoed back and its own `top_k`."""

    # no null id: a given id is echoed as given, and null would read as no id
    id: str | int = Field(None, description="Echoed back in the answer (a string or a number).")
    top_k: int = Field(1, ge=1, le=MAX_TOP_K, description="Answers wanted, best first; above 1 the answer is a list.")

    @field_validator("id", mode="before")
    @classmethod
    def _id_type(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise PydanticCustomError("wrong_type", "'id' must be a string or a number")
        return value


class Parameters(_Strict):
    """How to answer (the Inference API's `parameters`; unset ones take the server's settings)."""

    top_k: int = Field(1, ge=1, le=MAX_TOP_K, description="Answers wanted, best first; above 1 a list per input.")
    handle_impossible_answer: bool | None = Field(
        None,
        description='Let "no answer" compete (SQuAD v2.0 models). Default: the server\'s `--no-answer` setting.',
    )
    max_answer_len: int | None = Field(
        None, ge=1, le=MAX_ANSWER_LEN, description="Longest answer in tokens (default 15)."
    )
    doc_stride: int | None = Field(
        None,
        ge=0,
        le=MAX_DOC_STRIDE,
        description="Tokens shared by neighbouring windows of a long context (default 128; shrinks to fit).",
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        # clients that send every parameter, null for "the default", are answered with the defaults
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


DEFAULT_PARAMETERS = Parameters()


class InferenceRequest(_Strict):
    """The Hugging Face Inference API's question-answering request."""

    inputs: Pair | list[Pair] = Field(description="One question and context, or a list of them.")
    parameters: Parameters = Field(DEFAULT_PARAMETERS, description="Options for every input.")


AnswerRequest = Annotated[
    Item | list[Item] | InferenceRequest,
    Field(description="One item, a list of items, or an Inference API request."),
]


class Answer(BaseModel):
    """One answer: the span of the context (without surrounding spaces and punctuation) and its score."""

    answer: str = Field(description='The answer; "" when the model says the context holds none.')
    score: float = Field(description="The model's probability for this answer (for \"\": for no answer).")
    start: int = Field(description="Character offset where the answer starts (0 for no answer).")
    end: int = Field(description="Character offset after its end: `context[start:end] == answer`.")
    id: str | int | None = Field(None, description="The item's `id`, when it had one.")


Answers = Annotated[
    Answer | list[Answer | list[Answer]],
    Field(
        description="An item or a single input: one answer, or a list when `top_k` > 1. A list of items or "
        "inputs: a list of those, in order."
    ),
]

ERROR_CODES = {
    400: ("invalid_json", "invalid_utf8", "empty_body", "invalid_length"),
    404: ("not_found",),
    405: ("method_not_allowed",),
    413: ("body_too_large",),
    422: (
        "invalid_body",
        "empty_list",
        "too_many_items",
        "invalid_item",
        "missing_field",
        "unknown_field",
        "wrong_type",
        "empty_field",
        "too_long",
        "invalid_text",
        "out_of_range",
    ),
    500: ("internal_error",),
    503: ("overloaded", "not_ready"),
}
ErrorCode = Literal[tuple(code for codes in ERROR_CODES.values() for code in codes)]


class ErrorDetail(BaseModel):
    code: ErrorCode = Field(description="What went wrong, for programs.")
    message: str = Field(description="What went wrong and what to fix, for people.")
    item: int | None = Field(None, description="Index of the item or input at fault, for a request's part.")
    field: str | None = Field(None, description="The field at fault.")


class ErrorResponse(BaseModel):
    """Every refusal: a JSON body with the error, never a bare status."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]
    queued: int = Field(description="Questions waiting for the model.")
    in_flight: int = Field(description="Questions admitted and not yet answered.")


class BatchingStats(BaseModel):
    batches: int
    items: int
    mean_batch: float
    largest_batch: int
    rejected: int = Field(description="Requests refused with 503 `overloaded`.")
    failed_batches: int
    model_seconds: float


class ModelInfo(BaseModel):
    """What the server runs; fields other than the limits and batching depend on the model folder."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    model: str | None = Field(None, description="The `--model` given.")
    format: str | None = Field(None, description="The backend that runs it: pytorch, onnx, ...")
    int8: bool | None = None
    parameters: int | None = None
    size_bytes: int | None = Field(None, description="Size of the weight files.")
    architecture: str | None = None
    title: str | None = Field(None, description="The model card's title.")
    metrics: dict | None = Field(None, description="The folder's metrics.json.")
    no_answer: bool | None = Field(None, description='Whether "no answer" competes unless a request says.')
    null_threshold: float | None = Field(
        None, description='Null-odds threshold "no answer" must beat: the one stored with the model (else 0).')
    limits: Limits
    batching: BatchingStats


def error_responses(*statuses: int) -> dict[int, dict]:
    """OpenAPI `responses` entries for the given error statuses, each listing its codes."""
    return {
        status: {"model": ErrorResponse, "description": "Error codes: " + ", ".join(ERROR_CODES[status])}
        for status in statuses
    }
