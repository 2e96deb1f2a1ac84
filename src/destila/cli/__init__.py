"""The `destila` command line. Each verb lives in its own module and registers itself on `app`."""

from __future__ import annotations

import sys

import typer

from destila.errors import DestilaError

app = typer.Typer(
    name="destila",
    help="Small, fast Spanish question answering by knowledge distillation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Small, fast Spanish question answering by knowledge distillation."""


# Verb modules: importing one registers its command(s) on `app`, in this order in `--help`.
# isort: off
import destila.cli.score  # noqa: E402,F401
import destila.cli.evaluate  # noqa: E402,F401
import destila.cli.answer  # noqa: E402,F401
import destila.cli.train  # noqa: E402,F401
import destila.cli.distill  # noqa: E402,F401
import destila.cli.trim_vocab  # noqa: E402,F401
import destila.cli.prune  # noqa: E402,F401
import destila.cli.augment  # noqa: E402,F401
import destila.cli.export  # noqa: E402,F401
import destila.cli.push  # noqa: E402,F401
import destila.cli.bench  # noqa: E402,F401
import destila.cli.serve  # noqa: E402,F401
import destila.cli.pipeline  # noqa: E402,F401
# isort: on


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app and turns DestilaError, and a missing optional dependency, into a clean
    message and exit code."""
    from rich.console import Console
    from rich.markup import escape

    from destila.cli._common import missing_extra

    try:
        app(args=argv, standalone_mode=True)
    except (DestilaError, ModuleNotFoundError) as exc:
        error = exc if isinstance(exc, DestilaError) else missing_extra(exc)
        if error is None:
            raise
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        sys.exit(error.exit_code)
