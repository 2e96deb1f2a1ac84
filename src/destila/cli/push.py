"""`destila push`: publish a model folder (trained, distilled, trimmed or exported) to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from destila.cli import app
from destila.cli._common import require_extra


@app.command("push")
def push_command(
    model: Annotated[Path, typer.Option("--model", help="Model folder to publish (a trained or exported folder).")],
    repo: Annotated[str, typer.Option("--repo", help="Hub model repository, OWNER/NAME (created if missing).")],
    private: Annotated[bool, typer.Option("--private", help="Create the repository private.")] = False,
    revision: Annotated[
        str | None, typer.Option("--revision", help="Branch to push to (created if missing; default: main).")
    ] = None,
    commit_message: Annotated[str | None, typer.Option("--commit-message", help="The commit's message.")] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Hub token (default: HF_TOKEN, else the `hf auth login` store)."),
    ] = None,
) -> None:
    """Upload a model folder to the Hub with a model card naming the repository; run-only files stay behind."""
    require_extra("push", "hub")
    from rich.console import Console

    from destila.hub import files_to_push, push_folder

    url = push_folder(model, repo, private=private, revision=revision, token=token, commit_message=commit_message)
    sent = files_to_push(model)
    Console().print(f"pushed {len(sent)} files from {model} to {url}: {', '.join(sent)}", highlight=False)
