"""A training run, read top to bottom: `destila train` (fine-tune a QA model) and `destila distill` share it.

    run = TrainingRun(cfg, recipe, stages, student=..., tokenizer=..., teachers=..., source=...)
    run.run(resume)  =  setup  ->  for each stage: train it (step, log, evaluate-and-select, checkpoint)  ->  finish

What differs between fine-tuning and distillation (the stage's loss, what it reads from the teachers, which
windows are padded, what the folder is recorded as) is the run's `kind`: a `FineTune` or a `Distill`.

`run_train` and `run_distill` build the models and the stage list and hand them to a `TrainingRun`. Each stage is
one optimiser and schedule over the same training windows. The run's record (evaluations, best, last, steps done)
is a typed `RunState`; a checkpoint carries it with accelerate's state (weights, optimiser, scaler, RNG of every
process), the schedule and the data position, so `resume=True` continues from the newest checkpoint exactly.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from destila import files, no_answer
from destila.card import model_card
from destila.config import DistillConfig, TrainConfig, save_config
from destila.distill.losses import DistillationLoss
from destila.distill.terms import TERMS
from destila.errors import ConfigError
from destila.evaluation import choose_null_threshold, evaluate
from destila.memory import release
from destila.models.compiled import Compiler
from destila.models.dropout import set_dropout
from destila.models.students import check_layer_list
from destila.train import kernels
from destila.train.batches import (
    BatchPlan,
    TrainFeatures,
    build_train_features,
    collate,
    hold_out_articles,
    strip_questions,
)
from destila.train.loop import (
    FrozenWeights,
    StepMeter,
    SubNetwork,
    TrainModule,
    carry_projections,
    flat_scores,
    linear_schedule,
    param_groups,
    progress_bar,
    save_model_folder,
)
from destila.train.precision import resolve_mixed_precision
from destila.train.runlog import RunLog
from destila.train.state import (
    Checkpoint,
    Evaluation,
    RunState,
    Stage,
    checkpoint_name,
    json_default,
    latest_checkpoint,
    rotate_checkpoints,
)
from destila.train.teacher_cache import TeacherLogitsCache, cache_key
from destila.train.teachers import RunTeacher, StageTeachers, TeacherModel, cross_windows, same_tokenizer

# Called after every optimiser step with (stage name, step); tests use it to interrupt a run.
StepHook = Callable[[str, int], None]


# ---------------------------------------------------------------------------------------------------------------
# Entry points


def run_train(cfg: TrainConfig, *, resume: bool = False, on_step: StepHook | None = None) -> Path:
    """Fine-tune `cfg.model` on `cfg.train_data`; returns the output folder (a plain Hugging Face QA folder)."""
    from destila.models.hub import load_qa_model, load_tokenizer

    if not cfg.model:
        raise ConfigError("train.model: name the model to fine-tune (folder, hub id or offline:NAME)")
    _set_threads(cfg)
    tokenizer = load_tokenizer(cfg.model)
    student = load_qa_model(cfg.model).float()
    if cfg.subnet_layers:
        check_layer_list(cfg.subnet_layers, "train.subnet_layers", student.config.num_hidden_layers)
    stages = [Stage(0, "train", None, cfg.epochs, cfg.max_steps, cfg.learning_rate, cfg.warmup_ratio, True)]
    return TrainingRun(cfg, cfg, stages, student=student, tokenizer=tokenizer, teachers=None, source=cfg.model,
                       on_step=on_step).run(resume)


def run_distill(cfg: DistillConfig, *, resume: bool = False, on_step: StepHook | None = None) -> Path:
    """Distil the recipe's teachers into a student built from `cfg.student` (from the teacher whose internals the
    loss reads, with its tokenizer; a `pretrained` student keeps its own); returns the output folder."""
    from accelerate.utils import set_seed

    from destila.models.hub import load_qa_model, load_tokenizer
    from destila.models.students import build_run_student
    from destila.train.batches import training_windows

    if cfg.train.subnet_layers:
        raise ConfigError("train.subnet_layers: sub-network training is for `destila train` (fine-tuning a teacher); "
                          "a distilled student is already the small model")
    _set_threads(cfg.train)
    internals = cfg.internals_teacher()
    teachers = [TeacherModel(t.model, load_qa_model(t.model).float(), load_tokenizer(t.model), t.weight,
                             i == internals) for i, t in enumerate(cfg.teacher_list())]
    pretrained = cfg.student.get("pretrained")
    if pretrained is not None:  # a QA model with its own tokenizer, which need not be a teacher's
        tokenizer, student = load_tokenizer(pretrained), load_qa_model(pretrained).float()
    else:
        tokenizer = teachers[internals].tokenizer
        set_seed(cfg.train.seed)  # the student's random weights
        student = build_run_student(teachers[internals].model, cfg.student, folder=cfg.train.output_dir,
                                    windows=lambda count, seed: training_windows(tokenizer, cfg.train, count, seed))
    return TrainingRun(cfg.train, cfg, distill_stages(cfg), student=student, tokenizer=tokenizer, teachers=teachers,
                       source=cfg.teacher, on_step=on_step).run(resume)


def distill_stages(cfg: DistillConfig) -> list[Stage]:
    """The recipe's stages with the training settings they inherit filled in."""
    t = cfg.train
    last = len(cfg.stages) - 1
    return [
        Stage(
            index=i,
            name=s.name,
            loss=cfg.stage_loss(s),
            epochs=s.epochs if s.epochs is not None else t.epochs,
            max_steps=s.max_steps if s.max_steps is not None else (t.max_steps if s.epochs is None else None),
            learning_rate=s.learning_rate if s.learning_rate is not None else t.learning_rate,
            warmup_ratio=s.warmup_ratio if s.warmup_ratio is not None else t.warmup_ratio,
            select_best=i == last,
        )
        for i, s in enumerate(cfg.stages)
    ]


def _typical_length(features: TrainFeatures) -> int:
    """The median training window length (what the attention kernels are timed at)."""
    lengths = features.lengths
    return int(sorted(lengths)[len(lengths) // 2]) if len(lengths) else 128


def _set_threads(cfg: TrainConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


# ---------------------------------------------------------------------------------------------------------------
# The run


@dataclass
class StageRun:
    """What one stage trains with: built at its start, dropped at its end."""

    stage: Stage
    steps: int
    start: int  # first step to run (> 0 when resumed mid-stage)
    module: nn.Module  # TrainModule, prepared by accelerate
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loss_fn: DistillationLoss | None
    teachers: StageTeachers | None  # what the stage reads from the teachers; None: no teacher
    pad_to: int | None
    evaluated_at: int | None  # the step last evaluated (a run resumed at a stage's end was evaluated there)
    trained: list = field(default_factory=list)  # the parameters the optimiser updates (clipped together)


class FineTune:
    """Fine-tuning a QA model (`destila train`): cross-entropy on the gold spans (and the sub-network's terms when
    `train.subnet_layers` is set); no teacher."""

    name = "train"  # what the folder's card calls the run

    def __init__(self, recipe: TrainConfig):
        self.recipe = recipe

    def augment(self):
        """The recipe's teacher-labelled copies: none without a teacher."""
        return None

    def stage_loss(self, run: TrainingRun, stage: Stage, previous: DistillationLoss | None) -> None:
        """No distillation loss: the task loss is the model's own."""
        return None

    def sub_network(self, cfg: TrainConfig) -> SubNetwork | None:
        return SubNetwork.from_config(cfg)

    def stage_teachers(self, run: TrainingRun, loss_fn: DistillationLoss | None) -> None:
        return None

    def masks_padding(self, stage: Stage) -> bool:
        """Cross-entropy reads the gold positions only: padding never counts."""
        return True


class Distill:
    """Distilling frozen teachers into the student (`destila distill`): each stage's `DistillationLoss` (its
    projections carried from the stage before), the teachers' outputs from a cache or a live forward."""

    name = "distill"

    def __init__(self, recipe: DistillConfig):
        self.recipe = recipe

    def augment(self):
        return self.recipe.augment

    def stage_loss(self, run: TrainingRun, stage: Stage, previous: DistillationLoss | None) -> DistillationLoss:
        self._check_internals(run, stage)
        teacher = run.teachers[run.internals].frozen
        loss_fn = DistillationLoss(stage.loss, student_config=run.student.config,
                                   teacher_config=teacher.model.config)
        carry_projections(previous, loss_fn)
        return loss_fn

    def sub_network(self, cfg: TrainConfig) -> None:
        return None  # recipes refuse train.subnet_layers for distillation

    def masks_padding(self, stage: Stage) -> bool:
        return stage.loss.mask_padding

    def _check_internals(self, run: TrainingRun, stage: Stage) -> None:
        """Hidden, attention and embedding terms compare positions: their teacher must share the student's
        tokenizer."""
        reading = [name for name, term in TERMS.items() if term.reads_internals and getattr(stage.loss, name) > 0]
        teacher = run.teachers[run.internals]
        if reading and teacher.windows is not None:
            raise ConfigError(
                f"stages[{stage.name}].loss: {', '.join(reading)} compare the student's and teacher "
                f"{teacher.spec.name}'s states token by token, which needs one tokenizer, and that teacher's differs "
                "from the student's; "
                "set those weights to 0 (the start/end distributions are carried across tokenizers) or read a "
                "teacher with the student's tokenizer (`internals: true`)")

    def stage_teachers(self, run: TrainingRun, loss_fn: DistillationLoss) -> StageTeachers | None:
        """What the stage reads from the teachers (None: no term reads a teacher); with KD, every teacher, each
        from a logits cache when it gives nothing but logits (and caching is on)."""
        if not loss_fn.needs_teacher():
            return None
        caches = [None] * len(run.teachers)
        if loss_fn.config.kd > 0:
            caches = [self._teacher_cache(run, loss_fn, i) for i in range(len(run.teachers))]
        autocast = run.accelerator.autocast if run.cfg.teacher_autocast else nullcontext
        return StageTeachers(run.teachers, run.internals, loss_fn, caches, autocast)

    def _teacher_cache(self, run: TrainingRun, loss_fn: DistillationLoss, index: int) -> TeacherLogitsCache | None:
        """A logits cache of teacher `index` when the stage needs nothing from it but its logits (and caching is
        on)."""
        if not self.recipe.cache_teacher_logits:
            return None
        if index == run.internals and loss_fn.needs_internals():
            return None
        accelerator, cfg, teacher = run.accelerator, run.cfg, run.teachers[index]
        key = None
        if run.main:
            name = run.source if index == 0 else f"{teacher.spec.name}#{index}"
            key = cache_key(name, teacher.model.config.to_dict(), teacher.input_ids(run.features), cfg.max_length)
        key = _broadcast_str(accelerator, key)
        folder = run.out / files.TEACHER_CACHE / key
        cache = None
        if run.main:
            cache = TeacherLogitsCache(folder, len(run.features), cfg.max_length, create=True)
        accelerator.wait_for_everyone()
        if cache is None:
            cache = TeacherLogitsCache(folder, len(run.features), cfg.max_length, create=False)
        return cache


class TrainingRun:
    """Runs `stages` in order on `student` and writes the output folder. Models are passed in built."""

    def __init__(self, cfg: TrainConfig, recipe: TrainConfig | DistillConfig, stages: list[Stage], *,
                 student: nn.Module, tokenizer, teachers: list[TeacherModel] | None, source: str,
                 on_step: StepHook | None = None):
        self.cfg, self.recipe, self.stages = cfg, recipe, stages
        self.kind: FineTune | Distill = Distill(recipe) if isinstance(recipe, DistillConfig) else FineTune(recipe)
        self.student, self.tokenizer, self.teacher_models, self.source = student, tokenizer, teachers or [], source
        self.on_step = on_step
        self.out = Path(cfg.output_dir).expanduser()
        self.position = (0, "", 0)  # (stage index, stage, step) of the step running, for warnings
        # setup: the accelerator, then the data (_load_data), the log and checkpoint (_open_run), the models
        self.accelerator = None
        self.main = True  # whether this is the main process
        self.train_summary: dict = {}  # the training data as read: name, questions, unanswerable, duplicates
        self.no_answer_set = None  # the questions the no-answer threshold is chosen on (data with unanswerables)
        self.examples: list = []  # the training questions, augmented copies included
        self.features: TrainFeatures | None = None  # their windows
        self.eval_set = None  # the questions scored while training (None: no evaluation)
        self.plan: BatchPlan | None = None  # which windows make each micro-batch
        self.augment_seconds: float | None = None  # time spent making the augmented copies
        self.log: RunLog | None = None
        self.checkpoint: Checkpoint | None = None  # the checkpoint resumed from, until its stage starts
        self.state: RunState | None = None
        self.teachers: list[RunTeacher] = []  # the frozen teachers on the device
        self.internals = 0  # the teacher whose hidden states and attention the loss reads
        self.attention: str | None = None  # the student's attention kernel
        self.compile: str | None = None  # "on" or "off"
        self.compiler: Compiler | None = None
        self.frozen: FrozenWeights | None = None  # the student's frozen parameters, saved once per run
        self.no_answer: dict | None = None  # the chosen no-answer threshold (finish)

    def run(self, resume: bool = False) -> Path:
        self.setup(resume)
        previous = None
        for stage in self.stages:
            previous = self.run_stage(stage, previous)
        self.finish()
        return self.out

    # -- setup ------------------------------------------------------------------------------------------------

    def setup(self, resume: bool) -> None:
        _set_threads(self.cfg)
        self.accelerator = _fresh_accelerator(self.cfg, self.stages)
        self.main = self.accelerator.is_main_process
        from accelerate.utils import set_seed

        set_seed(self.cfg.seed)
        self._load_data()
        self._open_run(resume)
        self._prepare_models()

    def _load_data(self) -> None:
        """Windows of the training questions and the set scored during training (the dev set, or training articles
        held out for validation). The main process reads (and if needed downloads) first, so that processes never
        fetch the same file at once."""
        from destila.data import load_dataset

        cfg = self.cfg
        with self.accelerator.main_process_first():
            train_set = load_dataset(cfg.train_data, data_dir=cfg.data_dir)  # one spec or a list, read as one set
            eval_set = None
            if cfg.eval_data and not cfg.validation_fraction:
                eval_set = load_dataset(cfg.eval_data, data_dir=cfg.data_dir)
        self.train_summary = {"data": train_set.name, "questions": len(train_set),
                              "unanswerable": train_set.unanswerable,
                              "dropped_duplicates": train_set.dropped_duplicates}
        if cfg.validation_fraction:
            train_set, eval_set = hold_out_articles(train_set, cfg.validation_fraction, cfg.seed)
        if cfg.strip_questions:
            train_set = strip_questions(train_set)
            eval_set = strip_questions(eval_set) if eval_set is not None else None
        examples = train_set.examples[: cfg.max_train_examples] if cfg.max_train_examples else train_set.examples
        if eval_set is not None and cfg.max_eval_examples:
            eval_set = eval_set.head(cfg.max_eval_examples)
        # a model that learns to say "no answer" gets its threshold chosen on training-fold questions (finish)
        self.no_answer_set = no_answer.threshold_questions(
            dataclasses.replace(train_set, examples=examples), eval_set if cfg.validation_fraction else None,
            cfg.no_answer_questions, cfg.seed) if self.train_summary["unanswerable"] else None
        examples = self._augment(train_set, examples)
        self.examples = examples
        self.features: TrainFeatures = build_train_features(examples, self.tokenizer, cfg.max_length,
                                                            cfg.doc_stride, cfg.max_query_length)
        self.eval_set = eval_set
        self.plan = BatchPlan(self.features.lengths, cfg.batch_size, self.accelerator.num_processes,
                              cfg.grad_accum, cfg.seed, cfg.group_by_length)

    def _augment(self, train_set, examples: list) -> list:
        """The training questions plus the recipe's teacher-labelled copies (deterministic: a resumed run gets the
        same windows); the copies are written beside the run for inspection."""
        augment = self.kind.augment()
        if augment is None:
            return examples
        from destila.augment import augment_dataset

        result = augment_dataset(dataclasses.replace(train_set, examples=examples), augment,
                                 model=self.recipe.teacher, data_dir=self.cfg.data_dir)
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            result.write(self.out / files.AUGMENTED)
            self.accelerator.print(f"augmented: {result.summary()}")
        self.augment_seconds = result.seconds
        return result.dataset().examples

    def _open_run(self, resume: bool) -> None:
        """Find the checkpoint to resume from (the newest complete one), start or continue the log."""
        found = latest_checkpoint(self.out) if resume else None
        if resume and found is None and self.main:
            self.accelerator.print(f"no checkpoint in {self.out / files.CHECKPOINTS}: starting from scratch")
        if found is None and self.main and (self.out / files.TRAINING_LOG).exists():
            (self.out / files.TRAINING_LOG).unlink()  # a fresh run starts a fresh log
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(self.recipe, self.out / files.RUN_CONFIG)
        self.accelerator.wait_for_everyone()
        self.log = RunLog(self.out, enabled=self.main)
        self.checkpoint = Checkpoint.load(found) if found else None
        self.state = RunState(mixed_precision=self.accelerator.mixed_precision)
        if self.checkpoint:
            self.checkpoint.restore(self.state)
            self.log.truncate_after(self.checkpoint.stage_index, self.checkpoint.step)

    def _prepare_models(self) -> None:
        cfg = self.cfg
        device = self.accelerator.device
        self.teachers = [self._run_teacher(t, device) for t in self.teacher_models]
        self.internals = next((i for i, t in enumerate(self.teacher_models) if t.internals), 0)
        self.student = self.student.float()
        set_dropout(self.student, attention=cfg.attention_dropout, hidden=cfg.hidden_dropout)
        if cfg.freeze_embeddings:
            self.student.get_input_embeddings().weight.requires_grad_(False)
        self.attention = self._attention_implementation()
        self.student.set_attn_implementation(self.attention)
        self.compile = self._compile_choice()
        self.compiler = Compiler(self._compile_failed) if self.compile == "on" else None
        if self.compiler is not None:
            self.accelerator.print("compile: on (the first step of each stage includes compiling)")
            for teacher in self.teachers:
                teacher.frozen.compile_with(self.compiler)  # compiled at its first live forward, if any
        self.frozen = FrozenWeights(self.student)
        self.accelerator.register_save_state_pre_hook(lambda models, weights, folder: self.frozen.drop_from(weights))

    def _run_teacher(self, teacher: TeacherModel, device) -> RunTeacher:
        """A teacher on the device; with another tokenizer than the student's, its own windows over the same
        characters and their maps to the student's tokens."""
        windows = None
        if not same_tokenizer(teacher.tokenizer, self.tokenizer):
            cfg = self.cfg
            windows = cross_windows(self.examples, self.tokenizer, teacher.tokenizer, student_features=self.features,
                                    max_length=cfg.max_length, doc_stride=cfg.doc_stride,
                                    max_query_length=cfg.max_query_length)
        return RunTeacher(teacher, device, windows)

    def _attention_implementation(self) -> str:
        """The resumed run's kernel, else the setting (auto: timed here by the main process, for every process),
        so that a run never changes kernel midway."""
        if self.checkpoint is not None and self.checkpoint.attention_implementation:
            return self.checkpoint.attention_implementation
        choice = None
        if self.main:
            choice = kernels.training_attention(self.cfg.attention_implementation, self.student, self.cfg.batch_size,
                                        _typical_length(self.features), self.accelerator.mixed_precision)
        return _broadcast_str(self.accelerator, choice)

    def _compile_choice(self) -> str:
        """"on" or "off": the setting, or with `auto` the rule of `kernels.resolve_compile` for this device and the
        run's planned steps; a resumed `auto` run keeps the choice it started with."""
        if self.cfg.compile == "auto" and self.checkpoint is not None and self.checkpoint.compile:
            return self.checkpoint.compile
        steps = sum(self.plan.total_steps(s.epochs, s.max_steps) for s in self.stages)
        return kernels.resolve_compile(self.cfg.compile, self.accelerator.device, steps)

    def _compile_failed(self, message: str) -> None:
        """The one warning of a run whose compiling failed: printed, and a `warning` line in the training log."""
        self.accelerator.print(f"warning: {message}")
        stage_index, stage, step = self.position
        self.log.write({"type": "warning", "stage": stage, "stage_index": stage_index, "step": step,
                        "message": message})

    # -- one stage --------------------------------------------------------------------------------------------

    def run_stage(self, stage: Stage, previous: DistillationLoss | None) -> DistillationLoss | None:
        """Train one stage (or skip it when the checkpoint is past it); returns the loss with its projections."""
        steps = self.plan.total_steps(stage.epochs, stage.max_steps)
        self.state.stages.append({"name": stage.name, "steps": steps, "learning_rate": stage.learning_rate,
                                  "warmup_ratio": stage.warmup_ratio, "loss": stage.loss})
        if self.checkpoint and stage.index < self.checkpoint.stage_index:
            self.state.global_step += steps  # finished before the checkpoint; its weights come with the checkpoint
            return previous
        run = self._start_stage(stage, steps, previous)
        self._train(run)
        self.state.global_step += steps
        loss_fn = self.accelerator.unwrap_model(run.module).loss_fn
        del run
        self.accelerator.free_memory()
        release()  # the stage's optimiser state and activations, back to the system before the next stage
        return loss_fn

    def _start_stage(self, stage: Stage, steps: int, previous: DistillationLoss | None) -> StageRun:
        cfg, accelerator = self.cfg, self.accelerator
        loss_fn = self.kind.stage_loss(self, stage, previous)
        module = TrainModule(self.student, loss_fn, self.kind.sub_network(cfg))
        if self.compiler is not None:
            module.compile_with(self.compiler)
        optimizer = torch.optim.AdamW(param_groups(module, cfg.weight_decay), lr=stage.learning_rate,
                                      eps=cfg.adam_eps, betas=(cfg.adam_beta1, cfg.adam_beta2))
        scheduler = linear_schedule(optimizer, steps, stage.warmup_ratio)
        module, optimizer = accelerator.prepare(module, optimizer)
        start, evaluated_at = 0, None
        if self.checkpoint and stage.index == self.checkpoint.stage_index:
            accelerator.load_state(str(self.checkpoint.folder), strict=not self.frozen.names)
            self.frozen.restore(self.out / files.CHECKPOINTS)
            scheduler.load_state_dict(self.checkpoint.scheduler)
            start, evaluated_at = self.checkpoint.step, self.checkpoint.last_eval_step
            accelerator.print(f"resumed from {self.checkpoint.folder} (stage {stage.name}, step {start}/{steps})")
            self.checkpoint = None
        # Losses that do not mask padding depend on how much of it there is: pad to max_length, as the paper does.
        pad_to = None if (cfg.dynamic_padding and self.kind.masks_padding(stage)) else cfg.max_length
        return StageRun(stage, steps, start, module, optimizer, scheduler, loss_fn,
                        self.kind.stage_teachers(self, loss_fn),
                        pad_to, evaluated_at,
                        [p for p in module.parameters() if p.requires_grad])

    def _train(self, run: StageRun) -> None:
        """The stage's optimiser steps, each followed by logging, evaluation and checkpointing when due."""
        cfg = self.cfg
        meter = StepMeter(cfg.grad_accum)
        progress = progress_bar(cfg.progress and self.main)
        task = progress.add_task(run.stage.name, total=run.steps, completed=run.start) if progress else None
        run.module.train()
        with progress or nullcontext():
            for step in range(run.start, run.steps):
                self.position = (run.stage.index, run.stage.name, step + 1)
                started = time.perf_counter()
                lr = run.scheduler.get_last_lr()[0]  # the rate this step uses
                self._step(run, step, meter)
                meter.add_step(time.perf_counter() - started)
                done = step + 1
                if done % cfg.log_every == 0 or done == run.steps:
                    record = self._log_train(run, done, lr, meter)
                    if progress:
                        loss = record.get("loss", float("nan"))
                        progress.update(task, description=f"{run.stage.name} loss {loss:.4f}", loss=loss,
                                        tokens_per_s=record["tokens_per_s"])
                if progress:
                    progress.advance(task)
                self._after_step(run, done)
        if run.teachers is not None:
            run.teachers.flush()

    def _step(self, run: StageRun, step: int, meter: StepMeter) -> None:
        """One optimiser step: `grad_accum` micro-batches of this process's windows."""
        accelerator = self.accelerator
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for rows in self.plan.step_rows(step, accelerator.process_index):
            batch = collate(self.features, rows, pad_id, pad_to=run.pad_to, device=accelerator.device,
                            multiple=self.cfg.pad_to_multiple_of, max_length=self.cfg.max_length)
            teacher_out = run.teachers(rows, batch) if run.teachers is not None else None
            with accelerator.accumulate(run.module):
                terms = run.module(batch, teacher_out)
                accelerator.backward(terms["loss"])
                if accelerator.sync_gradients and self.cfg.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(run.trained, self.cfg.max_grad_norm)
                run.optimizer.step()
                if accelerator.sync_gradients:
                    run.scheduler.step()
                run.optimizer.zero_grad(set_to_none=True)
            meter.add_batch(terms, int(batch["attention_mask"].sum()), len(rows))
            del teacher_out, terms, batch  # free the teacher's outputs and the graph before the next batch

    def _after_step(self, run: StageRun, done: int) -> None:
        cfg = self.cfg
        eval_due = (cfg.eval_every and done % cfg.eval_every == 0) or done == run.steps
        if eval_due and run.evaluated_at != done:
            self.evaluate_and_select(run, done)
            run.evaluated_at = done
        if cfg.save_each_epoch and done % self.plan.steps_per_epoch == 0 and self.main:
            student = self.accelerator.unwrap_model(run.module).student
            save_model_folder(student, self.tokenizer, self.out / f"epoch-{self._epochs_done(run, done)}")
        if (cfg.save_every and done % cfg.save_every == 0) or done == run.steps:
            if run.teachers is not None:
                run.teachers.flush()
            self.save_checkpoint(run, done)
        if self.on_step is not None:
            self.on_step(run.stage.name, done)

    def _epochs_done(self, run: StageRun, done: int) -> int:
        """Epochs completed over the whole run (earlier stages count too)."""
        return (self.state.global_step + done) // self.plan.steps_per_epoch

    def _log_train(self, run: StageRun, done: int, lr: float, meter: StepMeter) -> dict:
        stage = run.stage
        record = {
            "type": "train",
            "stage": stage.name,
            "stage_index": stage.index,
            "step": done,
            "global_step": self.state.global_step + done,
            "epoch": round(self.plan.epoch_of(done), 4),
            "lr": lr,
            **meter.summary(self.accelerator),
        }
        self.log.write(record)
        meter.reset()
        return record

    # -- evaluation, checkpoints, the output folder -----------------------------------------------------------

    def evaluate_and_select(self, run: StageRun, done: int) -> None:
        """Score the student on the dev set (main process); keep it in `best/` when it is the best so far."""
        if self.eval_set is None:
            return
        if self.main:
            cfg, stage = self.cfg, run.stage
            student = self.accelerator.unwrap_model(run.module).student
            scores = evaluate(student, self.eval_set, tokenizer=self.tokenizer, batch_size=cfg.eval_batch_size,
                              max_seq_len=cfg.max_length, doc_stride=cfg.doc_stride,
                              max_question_len=cfg.max_query_length or cfg.max_length).metrics
            record = {"type": "eval", "stage": stage.name, "stage_index": stage.index, "step": done,
                      "global_step": self.state.global_step + done, **flat_scores(scores)}
            self.log.write(record)
            evaluation = Evaluation(stage.name, done, scores)
            if self.state.record_eval(record, evaluation, select=stage.select_best):
                save_model_folder(student, self.tokenizer, self.out / files.BEST)
            official = scores["official"]
            self.accelerator.print(f"eval {stage.name} step {done}: official F1 {evaluation.f1:.2f}, "
                                   f"EM {official.get('exact_match', official.get('exact', 0)):.2f}")
        self.accelerator.wait_for_everyone()

    def save_checkpoint(self, run: StageRun, done: int) -> None:
        folder = self.out / files.CHECKPOINTS / checkpoint_name(run.stage, done)
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(folder))
        if self.main:
            self.frozen.save_once(folder.parent)
            save_config(self.recipe, folder / files.RUN_CONFIG)
            coverage = run.teachers.coverage() if run.teachers is not None else None
            Checkpoint.write(folder, run.stage, done, scheduler=run.scheduler.state_dict(), state=self.state,
                             last_eval_step=run.evaluated_at, attention_implementation=self.attention,
                             teacher_cache_coverage=coverage, compile=self.compile)
            rotate_checkpoints(self.out, self.cfg.keep_checkpoints)
        self.accelerator.wait_for_everyone()

    def finish(self) -> None:
        """The output folder: the best evaluated student (or the last), its tokenizer, config, metrics and card."""
        self.accelerator.wait_for_everyone()
        if self.main:
            self._place_final_model()
            shutil.rmtree(self.out / files.TEACHER_CACHE, ignore_errors=True)  # only needed to resume; can be large
            self._choose_no_answer_threshold()
            self._write_metrics_and_card()
        self.log.close()
        self.accelerator.wait_for_everyone()

    def _place_final_model(self) -> None:
        out, best = self.out, self.out / files.BEST
        if self.state.best is not None and best.is_dir():
            for item in best.iterdir():
                shutil.copy2(item, out / item.name)
            shutil.rmtree(best)
        elif self.state.best is not None and (out / files.WEIGHTS).exists():
            pass  # a finished run resumed again: the best model was already moved into place
        else:
            for name in (files.WEIGHTS, files.HF_CONFIG):
                (out / name).unlink(missing_ok=True)
            tmp = save_model_folder(self.student, self.tokenizer, out / ".export")
            for item in tmp.iterdir():
                shutil.copy2(item, out / item.name)
            shutil.rmtree(tmp)

    def _choose_no_answer_threshold(self) -> None:
        """Training data with unanswerable questions: the final model's no-answer threshold, chosen on the
        validation questions (else a sample of the training questions) and stored in the folder; other data: none
        (a record left by an earlier run in this folder is removed)."""
        cfg, data = self.cfg, self.no_answer_set
        if data is not None:
            kind = "validation" if cfg.validation_fraction else "train"
            self.no_answer = choose_null_threshold(str(self.out), data, kind=kind, threads=cfg.threads,
                                                   batch_size=cfg.eval_batch_size, max_seq_len=cfg.max_length,
                                                   doc_stride=cfg.doc_stride,
                                                   max_question_len=cfg.max_query_length or cfg.max_length)
            self.accelerator.print(f"no-answer threshold {self.no_answer['threshold']:.4f} (official F1 "
                                   f"{self.no_answer['f1']:.2f} on {len(data)} {kind} questions)")
        no_answer.write(self.out, self.no_answer)

    def _write_metrics_and_card(self) -> None:
        state, best = self.state, self.state.best
        train_records = [r for r in self.log.records if r.get("type") == "train"]
        final = state.final()
        metrics = {
            "eval": final.scores if final else None,
            "best_stage": best.stage if best else None,
            "best_step": best.step if best else None,
            "evals": state.evals,
            "train_windows": len(self.features),
            "num_processes": self.accelerator.num_processes,
            "mixed_precision": state.mixed_precision,
            "attention_implementation": self.attention,
            "compile": self.compile,
            "compile_fallback": self.compiler.failure if self.compiler is not None else None,
            "augment_seconds": self.augment_seconds,
            "train_data": self.train_summary,
            "no_answer": self.no_answer,
            "steps": {s["name"]: s["steps"] for s in state.stages},
            "final_train_loss": train_records[-1].get("loss") if train_records else None,
            "runtime_s": round(time.time() - state.started, 1),
        }
        (self.out / files.METRICS).write_text(json.dumps(metrics, indent=1, default=json_default), encoding="utf-8")
        save_config(self.recipe, self.out / files.RUN_CONFIG)
        card = model_card(kind=self.kind.name, cfg=self.recipe, stages=state.stages, metrics=metrics,
                          student_config=self.student.config, source=self.source)
        (self.out / files.MODEL_CARD).write_text(card, encoding="utf-8")


def train_stages(cfg: TrainConfig, recipe: TrainConfig | DistillConfig, stages: list[Stage], *, student: nn.Module,
                 tokenizer, teachers: list[TeacherModel] | None, source: str, resume: bool = False,
                 on_step: StepHook | None = None) -> Path:
    """Run `stages` on models built by the caller (the dry run's stand-ins); returns the output folder."""
    return TrainingRun(cfg, recipe, stages, student=student, tokenizer=tokenizer, teachers=teachers, source=source,
                       on_step=on_step).run(resume)


# ---------------------------------------------------------------------------------------------------------------
# accelerate


def _fresh_accelerator(cfg: TrainConfig, stages: list[Stage]):
    """An Accelerator for this run's precision and accumulation.

    accelerate keeps one state per process; a second run in the same process (the pipeline fine-tunes a teacher and
    then distils it) may ask for another precision, so the state is dropped first (the process group is kept).
    With `cpu=True` when there is no CUDA, processes started by `accelerate launch --multi_gpu` / torchrun form a
    gloo group (accelerate's `--cpu` launcher starts one process unless MPI is set up).
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    if cfg.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("train.mixed_precision: fp16 needs a GPU; use `no` or `bf16` on CPU")
    # A stage that trains neither the QA head (no ce, no kd) leaves parameters without gradients: tell DDP.
    unused = any(s.loss is not None and s.loss.ce == 0 and s.loss.kd == 0 for s in stages)
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if unused else []
    if AcceleratorState._shared_state:
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision=resolve_mixed_precision(cfg.mixed_precision),
                       gradient_accumulation_steps=cfg.grad_accum, kwargs_handlers=handlers,
                       cpu=not torch.cuda.is_available())


def _broadcast_str(accelerator, value: str | None) -> str:
    if accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]
