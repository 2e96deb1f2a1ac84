"""`destila train`: fine-tune a QA model (e.g. a teacher) from a recipe."""

from __future__ import annotations

from pathlib import Path

import typer

from destila.cli import app
from destila.errors import ConfigError

CONFIG_OPT = typer.Option(..., "--config", "-c", help="YAML recipe (configs/*.yaml)")
SET_OPT = typer.Option(None, "--set", help="override a recipe field: key.path=value (repeatable)")
RESUME_OPT = typer.Option(False, "--resume", help="continue from the newest checkpoint in the output folder")
RESTART_OPT = typer.Option(False, "--restart", help="start over in an output folder that holds a run (its "
                           "checkpoints, log and stored recipe removed)")
ALLOW_OPT = typer.Option(None, "--allow-change", metavar="KEY",
                         help="resume although the recipe's KEY (dotted, e.g. train.max_steps) changed since the run "
                         "started (repeatable); other changes are refused")
OUT_OPT = typer.Option(None, "--out", help="output folder")
DRY_OPT = typer.Option(False, "--dry-run", help="run every stage a few steps on tiny stand-in models, offline")
PUSH_OPT = typer.Option(None, "--push-to-hub", metavar="OWNER/NAME",
                        help="publish the output folder to this Hub repository when the run ends (the `hub` extra)")


def resolve_recipe(config: Path, overrides: list[str] | None, fields: dict, kind: str):
    """Recipe file + `--set` overrides + explicit options (which win) -> typed config of `kind`."""
    from destila.config import apply_overrides, config_from_dict, read_recipe

    doc = apply_overrides(read_recipe(config), overrides)
    if doc.get("kind") != kind:
        raise ConfigError(f"{config}: a `destila {kind}` recipe needs `kind: {kind}`, found {doc.get('kind')!r}")
    for path, value in fields.items():
        if value is None:
            continue
        node = doc
        *parents, last = path.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[last] = value
    try:
        return config_from_dict(doc)
    except ConfigError as exc:
        raise ConfigError(f"{config}: {exc}") from None


def print_dry_run(cfg) -> None:
    from rich.console import Console

    from destila.train.dry_run import dry_run

    console = Console()
    console.print("[bold]dry run[/]: tiny stand-in models, embedded sample data, a few steps per stage")
    checks = dry_run(cfg, echo=lambda line: console.print(line, highlight=False))
    console.print(f"[bold green]dry run passed[/]: {len(checks)} checks")


@app.command("train")
def train_command(
    config: Path = CONFIG_OPT,
    *,
    model: str = typer.Option(None, "--model", help="model to fine-tune (folder, hub id or offline:NAME)"),
    data: str = typer.Option(None, "--data", help="training data: registry name, `sample` or a path"),
    out: Path = OUT_OPT,
    set_: list[str] = SET_OPT,
    resume: bool = RESUME_OPT,
    restart: bool = RESTART_OPT,
    allow_change: list[str] = ALLOW_OPT,
    dry_run: bool = DRY_OPT,
    push_to_hub: str = PUSH_OPT,
) -> None:
    """Fine-tune a question-answering model (e.g. a teacher) with the shared training loop."""
    cfg = resolve_recipe(config, set_, {"train.model": model, "train.train_data": data,
                                        "train.output_dir": str(out) if out else None}, "train")
    run_recipe(cfg, dry_run=dry_run, resume=resume, push_to_hub=push_to_hub, what="model", restart=restart,
               allow_change=allow_change)


def check_output_folder(cfg, *, resume: bool, restart: bool, allow_change: list[str] | None) -> None:
    """A folder holding a run is continued (--resume) only with the recipe it started with, or started over
    (--restart); never overwritten silently (destila.train.resume)."""
    from accelerate import PartialState

    from destila import files
    from destila.config import DistillConfig, config_to_dict
    from destila.train.resume import check_rerun, clear_run

    out = Path((cfg.train if isinstance(cfg, DistillConfig) else cfg).output_dir)
    stored = out / files.RUN_CONFIG
    if restart:
        if PartialState().is_main_process:
            clear_run(out)
        PartialState().wait_for_everyone()
        return
    if stored.exists() and not resume:
        raise ConfigError(f"{out} already holds a run ({files.RUN_CONFIG}): --resume to continue it, --restart to "
                          "start over, or another --out")
    check_rerun(stored, config_to_dict(cfg), allow=allow_change or [], log=typer.echo)


def run_recipe(cfg, *, dry_run: bool, resume: bool, push_to_hub: str | None, what: str, restart: bool = False,
               allow_change: list[str] | None = None) -> None:
    """The dry run, or the training run (train or distill) and, on the main process, the push to the Hub."""
    if dry_run:
        print_dry_run(cfg)
        return
    check_output_folder(cfg, resume=resume, restart=restart, allow_change=allow_change)
    if push_to_hub:
        from destila.cli._common import require_extra

        require_extra(f"{'distill' if what == 'student' else 'train'} --push-to-hub", "hub")
    from accelerate import PartialState

    from destila.config import DistillConfig
    from destila.train.recipe import run_distill, run_train

    folder = (run_distill if isinstance(cfg, DistillConfig) else run_train)(cfg, resume=resume)
    if PartialState().is_main_process:
        typer.echo(f"{what} saved to {folder}")
        if push_to_hub:
            from destila.hub import push_folder

            typer.echo(f"pushed to {push_folder(folder, push_to_hub)}")
