"""`destila distill`: distil a fine-tuned teacher into a small student from a recipe."""

from __future__ import annotations

from pathlib import Path

import typer

from destila.cli import app
from destila.cli.train import (
    ALLOW_OPT,
    CONFIG_OPT,
    DRY_OPT,
    OUT_OPT,
    PUSH_OPT,
    RESTART_OPT,
    RESUME_OPT,
    SET_OPT,
    resolve_recipe,
    run_recipe,
)


@app.command("distill")
def distill_command(
    config: Path = CONFIG_OPT,
    *,
    teacher: str = typer.Option(None, "--teacher", help="fine-tuned QA teacher (folder, hub id or offline:NAME)"),
    student_preset: str = typer.Option(None, "--student-preset", help="student shape preset, e.g. tinyroberta-es"),
    model: str = typer.Option(None, "--model", help="start the student from this QA model instead of a spec"),
    data: str = typer.Option(None, "--data", help="training data: registry name, `sample` or a path"),
    out: Path = OUT_OPT,
    set_: list[str] = SET_OPT,
    resume: bool = RESUME_OPT,
    restart: bool = RESTART_OPT,
    allow_change: list[str] = ALLOW_OPT,
    dry_run: bool = DRY_OPT,
    push_to_hub: str = PUSH_OPT,
) -> None:
    """Distil a teacher into a student: task, prediction-layer, hidden, attention and embedding losses."""
    student = {"preset": student_preset} if student_preset else {"pretrained": model} if model else None
    cfg = resolve_recipe(config, set_, {"teacher": teacher, "student": student, "train.train_data": data,
                                        "train.output_dir": str(out) if out else None}, "distill")
    run_recipe(cfg, dry_run=dry_run, resume=resume, push_to_hub=push_to_hub, what="student", restart=restart,
               allow_change=allow_change)
