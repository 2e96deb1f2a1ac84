"""`destila serve`: answer questions over HTTP (JSON API + a small Spanish page at /)."""

from __future__ import annotations

from typing import Annotated

import typer

from destila.cli import app
from destila.cli._common import BackendOption, require_extra


@app.command("serve")
def serve_command(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model folder (PyTorch or `destila export` output).")
    ],
    *,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    max_batch: Annotated[
        int, typer.Option("--max-batch", min=1, help="Questions per model batch at most.")
    ] = 16,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", min=0.0, help="Wait this long to fill a batch.")
    ] = 5.0,
    max_question_chars: Annotated[int, typer.Option("--max-question-chars", min=1)] = 1_000,
    max_context_chars: Annotated[int, typer.Option("--max-context-chars", min=1)] = 20_000,
    max_items: Annotated[
        int, typer.Option("--max-items", min=1, help="Questions in one request at most.")
    ] = 32,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1)] = 1_000_000,
    max_in_flight: Annotated[
        int,
        typer.Option(
            "--max-in-flight", min=1, help="Questions queued or running at most; beyond, 503 at once."
        ),
    ] = 256,
    no_answer: Annotated[
        str,
        typer.Option(
            "--no-answer",
            help="auto (on for a model trained with unanswerable questions: its no-answer threshold file, or v2.0 "
            "metrics), on (may say no answer), off. The model's stored threshold applies whenever it is on.",
        ),
    ] = "auto",
    model_batch: Annotated[
        int | None,
        typer.Option(
            "--model-batch", min=1, help="Windows per model call, length-sorted within a batch (default 4)."
        ),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Model threads (default: all cores).")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    backend: BackendOption = "auto",
) -> None:
    """Serve MODEL: POST /v1/answer (destila's items or the Hugging Face Inference API's request), GET /v1/model,
    GET /healthz, the page at / and the API's description at /docs and /openapi.json."""
    require_extra("serve", "serve")
    import uvicorn

    from destila.serve.app import Limits, build_app

    limits = Limits(
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_question_chars=max_question_chars,
        max_context_chars=max_context_chars,
        max_items=max_items,
        max_body_bytes=max_body_bytes,
        max_in_flight=max_in_flight,
    )
    application = build_app(
        model, limits=limits, threads=threads, no_answer=no_answer, model_batch=model_batch, backend=backend
    )
    typer.echo(f"serving {model} on http://{host}:{port}/ (API: POST /v1/answer)", err=True)
    uvicorn.run(application, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
