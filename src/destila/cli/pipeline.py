"""`destila pipeline`: the whole job from one recipe."""

from __future__ import annotations

from pathlib import Path

import typer

from destila.cli import app
from destila.cli._common import require_extra


@app.command("pipeline")
def pipeline(
    config: Path = typer.Option(..., "--config", "-c", help="pipeline recipe (YAML, kind: pipeline)"),
    *,
    quick: bool = typer.Option(False, "--quick", help="apply the recipe's `quick:` overrides: a first look in minutes"),
    out: Path | None = typer.Option(None, "--out", help="output folder (overrides output_dir)"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="local data folder (else DESTILA_DATA_DIR)"),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for every stage"),
    set_: list[str] = typer.Option([], "--set", help="dotted override, e.g. --set teacher.train.max_steps=100"),
    sample_if_missing: bool = typer.Option(
        False, "--sample-if-missing",
        help="when the recipe's data cannot be found or downloaded, run on the embedded sample instead "
        "(trains and scores on the same questions: a trial of the pipeline, not a measure of quality)",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="walk every stage on tiny stand-in models and the embedded sample, offline, in "
        "well under a minute; writes nothing beside a temporary folder"),
    restart: bool = typer.Option(
        False, "--restart", help="start over in an output folder that holds a run (stage records and checkpoints "
        "removed)"),
    allow_change: list[str] = typer.Option(
        [], "--allow-change", metavar="KEY",
        help="rerun although the recipe's KEY (dotted, e.g. bench.repeats) changed since the folder's run started "
        "(repeatable; stages already complete are kept); other changes are refused"),
    push_to_hub: str | None = typer.Option(
        None, "--push-to-hub", metavar="OWNER/NAME",
        help="publish the final student (trimmed, when the recipe trims) to this Hub repository at the end"),
) -> None:
    """Fine-tune the teacher, distil the student (from it, and from further teachers when `student.teachers`
    lists them beside it, written `model: pipeline`), export it, evaluate (by the recipe's `eval_protocol`: destila
    or authors) and benchmark all of them, write every score into each model's card (model-index), and write
    report.md / report.json with an F1-vs-speed plot. Complete stages are skipped on a rerun."""
    from rich.console import Console

    from destila.errors import DataError
    from destila.pipeline import check_data, load_pipeline, run_pipeline, use_sample_data

    overrides = list(set_)
    if out is not None:
        overrides.append(f"output_dir={out}")
    if data_dir is not None:
        overrides.append(f"data_dir={data_dir}")
    if threads is not None:
        overrides.append(f"threads={threads}")
    cfg = load_pipeline(config, overrides, quick=quick)
    if push_to_hub:
        require_extra("pipeline --push-to-hub", "hub")
    require_extra("pipeline", "plot")  # the bench stage's plot
    if cfg.exports:
        require_extra("pipeline", "export")
    console = Console()
    if dry_run:
        from destila.pipeline.dry_run import dry_run_pipeline

        console.print("[bold]dry run[/]: tiny stand-in models, embedded sample data, a few steps per stage")
        checks = dry_run_pipeline(cfg, echo=lambda line: console.print(line, highlight=False, markup=False))
        console.print(f"[bold green]dry run passed[/]: {len(checks)} checks")
        return
    if sample_if_missing:
        try:
            check_data(cfg)
        except DataError as exc:
            console.print(f"[yellow]data not available ({exc});[/] running on the embedded sample instead: "
                          "scores are on training data", highlight=False)
            cfg = use_sample_data(cfg)
    report = run_pipeline(cfg, log=lambda msg: console.print(msg, highlight=False, markup=False), restart=restart,
                          allow_change=allow_change)
    console.print((Path(cfg.output_dir) / "report.md").read_text(encoding="utf-8"), highlight=False)
    console.print(f"[bold green]done[/] in {report['total_minutes']:.1f} min: {cfg.output_dir}")
    if push_to_hub:
        from destila.hub import push_folder

        console.print(f"pushed to {push_folder(report['final_student'], push_to_hub)}", highlight=False)
