"""`destila pipeline --dry-run`: every stage of a pipeline recipe on stand-ins, offline, in well under a minute.

The recipe's teacher becomes a tiny random model of the same type, depth and heads (as `destila distill --dry-run`
makes it, destila.train.dry_run); every training run takes a couple of steps on the embedded sample; trimming reads
the sample; the export, evaluation and bench stages run as the recipe says them on a few questions. Then the real
`run_pipeline` walks the stand-in recipe in a temporary folder, and the report is checked.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

from destila.config import DistillConfig, config_to_dict
from destila.pipeline.recipe import OWN_TEACHER, BenchSection, PipelineConfig, TeacherSection, TrimSection
from destila.pipeline.stages import run_pipeline
from destila.train.dry_run import (
    _described,
    _tiny_train,
    _training_sample,
    build_tiny_model,
    build_tokenizer,
    describe_model,
    student_shape,
    tiny_shapes,
)

QUESTIONS = 8  # questions each evaluation, the parity check and the bench answer


def dry_run_pipeline(cfg: PipelineConfig, workdir: str | Path | None = None, steps: int = 2,
                     echo=print) -> list[str]:
    """Run every stage of `cfg` on stand-ins; returns what was checked. Raises on the first failure."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="destila-pipeline-dry-run-") as tmp:
            return dry_run_pipeline(cfg, tmp, steps, echo)
    work = Path(workdir)
    checks: list[str] = []

    def ok(message: str) -> None:
        checks.append(message)
        echo(f"  ok  {message}")

    stand_in = stand_in_recipe(cfg, work, steps, ok)
    report = run_pipeline(stand_in, log=lambda line: echo(f"      {line}"))
    ran = [stage["name"] for stage in report["stages"]]
    ok(f"{len(ran)} stages ran: {', '.join(ran)}")
    saved = json.loads((stand_in.out / "report.json").read_text(encoding="utf-8"))
    ok(f"report.json and report.md written; models {', '.join(row['name'] for row in saved['models'])}")
    return checks


def stand_in_recipe(cfg: PipelineConfig, work: Path, steps: int, ok) -> PipelineConfig:
    """`cfg` with tiny models, the embedded sample, a few steps per training stage and a few questions."""
    base = cfg.teacher.model or cfg.teacher.pretrained
    real = describe_model(base)
    tokenizer = build_tokenizer(real["tokenizer"], work / "tokenizer")
    t_shape, _ = tiny_shapes(real, student_shape(real, {"layers": [1]}))
    tiny_base = work / "base"
    build_tiny_model(real["model_type"], t_shape, tokenizer, tiny_base, real["type_vocab_size"])
    ok(f"teacher {base}: {real['model_type']}, {real['num_hidden_layers']} layers, {real['num_attention_heads']} "
       f"heads; stand-in hidden {t_shape['hidden_size']}, tokenizer {real['tokenizer']} ({len(tokenizer)} pieces)")
    train_file = str(_training_sample(work))
    if cfg.teacher.pretrained is None:
        tiny = _tiny_train(cfg.teacher_config(), work, steps, ok)
        teacher = TeacherSection(model=str(tiny_base), train=_train_body(tiny))
    else:
        teacher = TeacherSection(pretrained=str(tiny_base))
    recipe = dataclasses.replace(
        cfg, output_dir=str(work / "run"), train_data=train_file, eval_data="sample", heldout_data=[], data_dir=None,
        threads=1, max_eval_questions=QUESTIONS, teacher=teacher,
        trim=None if cfg.trim is None else TrimSection(corpus=[train_file], keep_top=cfg.trim.keep_top),
        bench=BenchSection(max_questions=QUESTIONS, repeats=1, latency_questions=2, batch_size=4,
                           backends=cfg.bench.backends),
    )
    if cfg.export.target is not None:
        recipe.export = dataclasses.replace(cfg.export, parity_max_questions=QUESTIONS, calibration_questions=QUESTIONS,
                                            min_agreement=0.0, max_f1_drop=100.0)
    recipe.student = _distill_body(cfg.student_config(), real, work, steps=steps, ok=ok, what="student",
                                   own=cfg.teacher_folder())
    if cfg.baseline is not None:
        recipe.baseline = _distill_body(cfg.baseline_config(), real, work, steps=steps, ok=ok, what="baseline",
                                        own=cfg.teacher_folder())
    backends = cfg.bench.backends or "none beyond each model's own"
    ok(f"stand-in recipe: {steps} steps per training stage, {QUESTIONS} questions per evaluation, export "
       f"{cfg.export.target or 'none'}, bench backends {backends}")
    return PipelineConfig(**{f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)})


def _train_body(train) -> dict:
    """A TrainConfig as a recipe's `train:` mapping (the pipeline sets the output folder and the data)."""
    body = dataclasses.asdict(train)
    for name in ("model", "output_dir", "data_dir"):
        body.pop(name)
    return body


def _distill_body(cfg: DistillConfig, real: dict, work: Path, *, steps: int, ok, what: str, own: str) -> dict:
    """A distill recipe body for the stand-in teacher: the student spec at the stand-in's size, every stage a few
    steps, the training settings tiny; further teachers (beside the pipeline's own, the folder `own`) as tiny models
    of their type, depth, heads and tokenizer kind."""
    spec = cfg.student
    if "layers" not in spec:
        spec = {"config": tiny_shapes(real, student_shape(real, spec))[1]}
    stand_in = dataclasses.replace(
        cfg, student=spec, train=_tiny_train(cfg.train, work / what, steps, lambda message: None),
        stages=[dataclasses.replace(s, max_steps=steps, epochs=None) for s in cfg.stages])
    body = config_to_dict(stand_in)
    body["train"] = _train_body(stand_in.train)
    if cfg.teachers:
        body["teachers"] = [_stand_in_teacher(t, own, work / f"{what}-teacher-{i}", ok)
                            for i, t in enumerate(body["teachers"])]
    ok(f"{what} {cfg.student}: stand-in {spec}, stages {', '.join(s.name for s in cfg.stages)}")
    return {k: v for k, v in body.items() if k not in ("kind", "teacher")}


def _stand_in_teacher(teacher: dict, own: str, folder: Path, ok) -> dict:
    """One entry of a student's `teachers`: the pipeline's own stays `model: pipeline` (its stand-in is the
    pipeline's); another becomes a tiny random model of its type, depth, heads and tokenizer kind."""
    if teacher["model"] == own:
        return {**teacher, "model": OWN_TEACHER}
    real, tokenizer = _described(teacher["model"], folder.parent, "further teacher", ok)
    shape, _ = tiny_shapes(real, student_shape(real, {"layers": [1]}))
    build_tiny_model(real["model_type"], shape, tokenizer, folder, real["type_vocab_size"])
    return {**teacher, "model": str(folder)}
