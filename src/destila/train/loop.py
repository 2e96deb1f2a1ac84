"""One training loop, on accelerate, for `destila train` (fine-tune a QA model) and `destila distill`.

Read it top to bottom: `run_train` / `run_distill` build the models and the stage list, `train_stages` runs the
stages; each stage is one optimiser and schedule over the same training windows. What is trained (the student
plus the loss's projections) is one module prepared by accelerate, so multi-process runs keep the projections in
sync too. The teacher is frozen and explicit: eval mode, no gradients, outside the optimiser, run under
`torch.no_grad()`, its outputs dropped as soon as the loss is computed.

Checkpoints (`output_dir/checkpoints/<stage>-step<N>/`) hold accelerate's state (weights, optimiser, scaler, RNG of
every process), the schedule and the data position; `resume=True` continues from the newest one exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from destila.config import DistillConfig, TrainConfig, config_to_dict, save_config
from destila.distill.losses import DistillationLoss, task_loss, token_mask
from destila.distill.outputs import QAOutputs, run_qa_model
from destila.errors import ConfigError
from destila.models.dropout import set_dropout
from destila.train.batches import BatchPlan, TrainFeatures, build_train_features, collate
from destila.train.card import model_card
from destila.train.precision import resolve_mixed_precision
from destila.train.runlog import RunLog
from destila.train.teacher_cache import TeacherLogitsCache, cache_key

CONFIG_FILE = "destila_config.yaml"
STATE_FILE = "destila_state.json"
METRICS_FILE = "metrics.json"
CHECKPOINTS = "checkpoints"
BEST = "best"

# Called after every optimiser step with (stage name, step); tests use it to interrupt a run.
StepHook = Callable[[str, int], None]


@dataclass
class Stage:
    """One optimiser and schedule. `loss` None means plain fine-tuning: cross-entropy on the gold span only."""

    index: int
    name: str
    loss: object | None
    epochs: float
    max_steps: int | None
    learning_rate: float
    warmup_ratio: float
    select_best: bool  # best checkpoint is chosen among this stage's evaluations (the last stage's)


class TrainModule(nn.Module):
    """What the optimiser trains: the student and, when distilling, the loss with its projections."""

    def __init__(self, student: nn.Module, loss_fn: DistillationLoss | None):
        super().__init__()
        self.student = student
        self.loss_fn = loss_fn

    def forward(self, batch: dict, teacher_out: QAOutputs | None = None) -> dict[str, torch.Tensor]:
        if self.loss_fn is None:
            out = run_qa_model(self.student, batch)
            ce = task_loss(out.start_logits, out.end_logits, batch["start_positions"], batch["end_positions"],
                           token_mask(batch, out.start_logits))
            return {"loss": ce, "ce": ce}
        student_out = run_qa_model(self.student, batch, **self.loss_fn.needs())
        return self.loss_fn(student_out, teacher_out, batch)


class FrozenTeacher:
    """The teacher: eval mode, requires_grad False, never in the optimiser, forward under torch.no_grad()."""

    def __init__(self, model: nn.Module, device):
        self.model = model.to(device).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def __call__(self, batch: dict, needs: dict) -> QAOutputs:
        return run_qa_model(self.model, batch, **needs)


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
    stages = [Stage(0, "train", None, cfg.epochs, cfg.max_steps, cfg.learning_rate, cfg.warmup_ratio, True)]
    return train_stages(cfg, cfg, stages, student=student, tokenizer=tokenizer, teacher=None,
                        source=cfg.model, resume=resume, on_step=on_step)


def run_distill(cfg: DistillConfig, *, resume: bool = False, on_step: StepHook | None = None) -> Path:
    """Distil `cfg.teacher` into a student built from `cfg.student`; returns the output folder."""
    from destila.models.hub import load_qa_model, load_tokenizer
    from destila.models.students import build_student

    _set_threads(cfg.train)
    tokenizer = load_tokenizer(cfg.teacher)
    teacher = load_qa_model(cfg.teacher).float()
    from accelerate.utils import set_seed

    set_seed(cfg.train.seed)  # the student's random weights
    student = build_student(teacher, cfg.student)
    return train_stages(cfg.train, cfg, distill_stages(cfg), student=student, tokenizer=tokenizer,
                        teacher=teacher, source=cfg.teacher, resume=resume, on_step=on_step)


def distill_stages(cfg: DistillConfig) -> list[Stage]:
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


def _set_threads(cfg: TrainConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


# ---------------------------------------------------------------------------------------------------------------
# The loop


def train_stages(
    cfg: TrainConfig,
    recipe: TrainConfig | DistillConfig,
    stages: list[Stage],
    *,
    student: nn.Module,
    tokenizer,
    teacher: nn.Module | None,
    source: str,
    resume: bool = False,
    on_step: StepHook | None = None,
) -> Path:
    """Run `stages` in order on `student` and write the output folder. Models are passed in built."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed

    from destila.data import load_dataset

    out = Path(cfg.output_dir).expanduser()
    _set_threads(cfg)
    if cfg.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("train.mixed_precision: fp16 needs a GPU; use `no` or `bf16` on CPU")
    # A stage that trains neither the QA head (no ce, no kd) leaves parameters without gradients: tell DDP.
    unused = any(s.loss is not None and s.loss.ce == 0 and s.loss.kd == 0 for s in stages)
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if unused else []
    # accelerate keeps one state per process; a second run in the same process (the pipeline fine-tunes a teacher
    # and then distils it) may ask for another precision. The process group (PartialState) is kept.
    from accelerate.state import AcceleratorState

    if AcceleratorState._shared_state:
        AcceleratorState._reset_state(reset_partial_state=False)
    # cpu=True without CUDA: processes started by `accelerate launch --multi_gpu` / torchrun then form a gloo
    # group (accelerate's `--cpu` launcher starts one process unless MPI is set up).
    precision = resolve_mixed_precision(cfg.mixed_precision)
    accelerator = Accelerator(
        mixed_precision=precision, gradient_accumulation_steps=cfg.grad_accum, kwargs_handlers=handlers,
        cpu=not torch.cuda.is_available(),
    )
    main = accelerator.is_main_process
    set_seed(cfg.seed)

    # Data: windows of the training questions, and the dev set scored during training. The main process reads
    # (and if needed downloads) first, so that processes never fetch the same file at once.
    with accelerator.main_process_first():
        train_set = load_dataset(cfg.train_data, data_dir=cfg.data_dir)
        eval_set = load_dataset(cfg.eval_data, data_dir=cfg.data_dir) if cfg.eval_data else None
    examples = train_set.examples[: cfg.max_train_examples] if cfg.max_train_examples else train_set.examples
    features = build_train_features(examples, tokenizer, cfg.max_length, cfg.doc_stride, cfg.max_query_length)
    if eval_set is not None and cfg.max_eval_examples:
        eval_set = dataclasses.replace(eval_set, examples=eval_set.examples[: cfg.max_eval_examples])
    plan = BatchPlan(features.lengths, cfg.batch_size, accelerator.num_processes, cfg.grad_accum, cfg.seed,
                     cfg.group_by_length)

    # Where to start: the newest complete checkpoint when resuming.
    checkpoint = _latest_checkpoint(out) if resume else None
    if resume and checkpoint is None and main:
        accelerator.print(f"no checkpoint in {out / CHECKPOINTS}: starting from scratch")
    if checkpoint is None and main and (out / "training_log.jsonl").exists():
        (out / "training_log.jsonl").unlink()  # a fresh run starts a fresh log
    if main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(recipe, out / CONFIG_FILE)
    accelerator.wait_for_everyone()
    log = RunLog(out, enabled=main)
    state = json.loads((checkpoint / STATE_FILE).read_text()) if checkpoint else None
    if state:
        log.truncate_after(state["stage_index"], state["step"])

    device = accelerator.device
    frozen = FrozenTeacher(teacher, device) if teacher is not None else None
    student = student.float()
    set_dropout(student, attention=cfg.attention_dropout, hidden=cfg.hidden_dropout)
    if cfg.freeze_embeddings:
        student.get_input_embeddings().weight.requires_grad_(False)

    run = {
        "evals": state["evals"] if state else [],
        "best_f1": state["best_f1"] if state else None,
        "best": state["best"] if state else None,
        "last": state.get("last") if state else None,
        "global_step": 0,
        "stages": [],
        "started": time.time(),
        "mixed_precision": precision,
    }
    prev_loss_fn = None
    for stage in stages:
        steps = plan.total_steps(stage.epochs, stage.max_steps)
        run["stages"].append({"name": stage.name, "steps": steps, "learning_rate": stage.learning_rate,
                              "warmup_ratio": stage.warmup_ratio, "loss": stage.loss})
        if state and stage.index < state["stage_index"]:
            run["global_step"] += steps  # finished before the checkpoint; its weights come with the checkpoint
            continue

        loss_fn = None
        if stage.loss is not None:
            loss_fn = DistillationLoss(stage.loss, student_config=student.config, teacher_config=teacher.config)
            _carry_projections(prev_loss_fn, loss_fn)
        module = TrainModule(student, loss_fn)
        optimizer = torch.optim.AdamW(
            param_groups(module, cfg.weight_decay), lr=stage.learning_rate, eps=cfg.adam_eps,
            betas=(cfg.adam_beta1, cfg.adam_beta2),
        )
        scheduler = linear_schedule(optimizer, steps, stage.warmup_ratio)
        module, optimizer = accelerator.prepare(module, optimizer)

        start = 0
        if state and stage.index == state["stage_index"]:
            accelerator.load_state(str(checkpoint))
            scheduler.load_state_dict(state["scheduler"])
            start = state["step"]
            accelerator.print(f"resumed from {checkpoint} (stage {stage.name}, step {start}/{steps})")
            state_eval_step = state.get("last_eval_step")
            state = None
        else:
            state_eval_step = None

        cache = _teacher_cache(cfg, recipe, stage, loss_fn, frozen, features, out, accelerator, source)
        # Losses that do not mask padding depend on how much of it there is: pad to max_length, as the paper does.
        pad_to = None if (cfg.dynamic_padding and (stage.loss is None or stage.loss.mask_padding)) else cfg.max_length

        _train_one_stage(
            accelerator, cfg, stage, module, optimizer, scheduler, plan, features, tokenizer, frozen, cache,
            pad_to, start, steps, log, run, out, recipe, eval_set, on_step, state_eval_step,
        )
        run["global_step"] += steps
        prev_loss_fn = accelerator.unwrap_model(module).loss_fn
        accelerator.free_memory()
        del optimizer, scheduler

    # The output folder: the best evaluated student (or the last), its tokenizer, config, metrics and card.
    accelerator.wait_for_everyone()
    if main:
        _finish(out, student, tokenizer, recipe, run, features, accelerator.num_processes, source, log)
    log.close()
    accelerator.wait_for_everyone()
    return out


def _train_one_stage(accelerator, cfg, stage, module, optimizer, scheduler, plan, features, tokenizer, frozen,
                     cache, pad_to, start, steps, log, run, out, recipe, eval_set, on_step, evaluated_at):
    main = accelerator.is_main_process
    rank = accelerator.process_index
    device = accelerator.device
    loss_fn = accelerator.unwrap_model(module).loss_fn
    needs = loss_fn.needs() if loss_fn is not None else None
    teacher_needed = loss_fn is not None and (any(needs.values()) or loss_fn.config.kd > 0)
    params = [p for p in module.parameters() if p.requires_grad]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    window = defaultdict(float)  # sums since the last log line
    window_steps, window_tokens, window_examples, window_time = 0, 0, 0, 0.0
    progress = _progress(cfg.progress and main)
    task = progress.add_task(f"{stage.name}", total=steps, completed=start) if progress else None
    module.train()
    with progress or nullcontext():
        for step in range(start, steps):
            t0 = time.perf_counter()
            lr = scheduler.get_last_lr()[0]  # the rate this step uses
            for rows in plan.step_rows(step, rank):
                batch = collate(features, rows, pad_id, pad_to, device)
                teacher_out = None
                if teacher_needed:
                    if cache is not None and cache.has(rows):
                        teacher_out = cache.read(rows, batch["input_ids"].shape[1], device)
                    else:
                        with accelerator.autocast():
                            teacher_out = frozen(batch, needs)
                        if cache is not None:
                            cache.write(rows, teacher_out, batch["attention_mask"])
                with accelerator.accumulate(module):
                    terms = module(batch, teacher_out)
                    accelerator.backward(terms["loss"])
                    if accelerator.sync_gradients and cfg.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
                    optimizer.step()
                    if accelerator.sync_gradients:
                        scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                for k, v in terms.items():
                    window[k] += float(v.detach()) / cfg.grad_accum
                window_tokens += int(batch["attention_mask"].sum())
                window_examples += len(rows)
                del teacher_out, terms, batch  # free the teacher's outputs and the graph before the next batch
            window_steps += 1
            window_time += time.perf_counter() - t0
            done = step + 1

            if done % cfg.log_every == 0 or done == steps:
                _log_train(accelerator, log, stage, done, steps, plan, lr, run, window, window_steps,
                           window_tokens, window_examples, window_time)
                if progress:
                    progress.update(task, description=f"{stage.name} loss {window_last(log):.4f}")
                window.clear()
                window_steps = window_tokens = window_examples = 0
                window_time = 0.0
            if progress:
                progress.advance(task)

            eval_due = (cfg.eval_every and done % cfg.eval_every == 0) or done == steps
            if eval_due and evaluated_at != done:  # a run resumed at a stage's end was already evaluated there
                _evaluate_and_select(accelerator, module, tokenizer, eval_set, cfg, stage, done, run, log, out)
                evaluated_at = done
            if (cfg.save_every and done % cfg.save_every == 0) or done == steps:
                if cache is not None:
                    cache.flush()
                _save_checkpoint(accelerator, out, stage, done, scheduler, run, recipe, evaluated_at, cfg)
            if on_step is not None:
                on_step(stage.name, done)
    if cache is not None:
        cache.flush()


def window_last(log: RunLog) -> float:
    for rec in reversed(log.records):
        if rec.get("type") == "train":
            return rec.get("loss", float("nan"))
    return float("nan")


def _log_train(accelerator, log, stage, done, steps, plan, lr, run, window, n_steps, tokens, examples,
               seconds):
    keys = sorted(window)
    values = torch.tensor([window[k] / max(n_steps, 1) for k in keys] + [tokens, examples, seconds],
                          dtype=torch.float64, device=accelerator.device)
    if accelerator.num_processes > 1:
        summed = accelerator.reduce(values, reduction="sum")
        values = summed.clone()
        values[: len(keys)] /= accelerator.num_processes  # loss terms: mean over processes
        values[-1] = summed[-1] / accelerator.num_processes  # wall time: the processes ran side by side
    values = values.tolist()
    seconds = max(values[-1], 1e-9)
    record = {
        "type": "train",
        "stage": stage.name,
        "stage_index": stage.index,
        "step": done,
        "global_step": run["global_step"] + done,
        "epoch": round(plan.epoch_of(done), 4),
        "lr": lr,
        **{k: values[i] for i, k in enumerate(keys)},
        "tokens_per_s": values[-3] / seconds,
        "examples_per_s": values[-2] / seconds,
        "seconds_per_step": seconds / max(n_steps, 1),
    }
    log.write(record)


def _evaluate_and_select(accelerator, module, tokenizer, eval_set, cfg, stage, done, run, log, out):
    if eval_set is None:
        return
    if accelerator.is_main_process:
        student = accelerator.unwrap_model(module).student
        scores = evaluate_model(student, tokenizer, eval_set, cfg)
        f1 = scores["official"]["f1"]
        record = {"type": "eval", "stage": stage.name, "stage_index": stage.index, "step": done,
                  "global_step": run["global_step"] + done, **_flat_scores(scores)}
        log.write(record)
        run["evals"].append(record)
        run["last"] = {"stage": stage.name, "step": done, "scores": scores}
        if stage.select_best and (run["best_f1"] is None or f1 > run["best_f1"]):
            run["best_f1"] = f1
            run["best"] = {"stage": stage.name, "step": done, "scores": scores}
            export_model(student, tokenizer, out / BEST)
        accelerator.print(f"eval {stage.name} step {done}: official F1 {f1:.2f}, "
                          f"EM {scores['official'].get('exact_match', scores['official'].get('exact', 0)):.2f}")
    accelerator.wait_for_everyone()


def _flat_scores(scores: dict) -> dict:
    flat = {}
    for variant, values in scores.items():
        for k, v in values.items():
            if isinstance(v, (int, float)):
                flat[f"{variant}_{k}"] = v
    return flat


def evaluate_model(model, tokenizer, dataset, cfg: TrainConfig) -> dict:
    """Official and Spanish scores of `model` on `dataset`, through the same Predictor `destila evaluate` uses."""
    from destila.infer.predictor import Predictor, TorchRunner
    from destila.metrics import score

    was_training = model.training
    try:
        device = str(next(model.parameters()).device)
        predictor = Predictor(TorchRunner(model, device=device), tokenizer, batch_size=cfg.eval_batch_size,
                              max_seq_len=cfg.max_length, doc_stride=cfg.doc_stride,
                              max_question_len=cfg.max_query_length)
        predictions, null_odds = predictor.predict_dataset(dataset, progress=False)
    finally:
        model.train(was_training)
    return score(dataset, predictions, null_odds if dataset.version == "2.0" else None)


# ---------------------------------------------------------------------------------------------------------------
# Pieces


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay on weight matrices, none on biases and LayerNorm weights (every 1-d parameter)."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name or name.endswith(".bias"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def linear_schedule(optimizer, total_steps: int, warmup_ratio: float):
    """Linear warm-up over ceil(ratio x steps) steps, then linear decay to 0 at `total_steps`."""
    warmup = math.ceil(warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _carry_projections(previous: DistillationLoss | None, current: DistillationLoss) -> None:
    """A later stage that still matches hidden states starts from the projections the earlier stage learned."""
    if previous is None:
        return
    old = previous.state_dict()
    new = current.state_dict()
    same = {k: v for k, v in old.items() if k in new and new[k].shape == v.shape}
    if same:
        current.load_state_dict(same, strict=False)


def _teacher_cache(cfg, recipe, stage, loss_fn, frozen, features, out, accelerator, source):
    """A logits cache when the stage needs nothing from the teacher but its logits (and caching is on)."""
    if loss_fn is None or not isinstance(recipe, DistillConfig) or not recipe.cache_teacher_logits:
        return None
    if any(loss_fn.needs().values()) or loss_fn.config.kd == 0:
        return None
    key = None
    if accelerator.is_main_process:
        key = cache_key(source, frozen.model.config.to_dict(), features.data["input_ids"], cfg.max_length)
    key = _broadcast_str(accelerator, key)
    folder = out / "teacher_cache" / key
    cache = None
    if accelerator.is_main_process:
        cache = TeacherLogitsCache(folder, len(features), cfg.max_length, create=True)
    accelerator.wait_for_everyone()
    if cache is None:
        cache = TeacherLogitsCache(folder, len(features), cfg.max_length, create=False)
    return cache


def _broadcast_str(accelerator, value: str | None) -> str:
    if accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


def _checkpoint_name(stage: Stage, step: int) -> str:
    return f"{stage.index:02d}-{stage.name}-step{step:07d}"


def _save_checkpoint(accelerator, out, stage, step, scheduler, run, recipe, evaluated_at, cfg):
    folder = out / CHECKPOINTS / _checkpoint_name(stage, step)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        save_config(recipe, folder / CONFIG_FILE)
        state = {
            "stage_index": stage.index,
            "stage": stage.name,
            "step": step,
            "scheduler": scheduler.state_dict(),
            "evals": run["evals"],
            "best_f1": run["best_f1"],
            "best": run["best"],
            "last": run["last"],
            "last_eval_step": evaluated_at,
        }
        # Written last: a checkpoint without it is incomplete and never resumed from.
        (folder / STATE_FILE).write_text(json.dumps(state, indent=1, default=_json_default))
        _rotate_checkpoints(out, cfg.keep_checkpoints)
    accelerator.wait_for_everyone()


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if callable(value):
        return None  # LambdaLR keeps its lambdas in the state as None-able entries
    return str(value)


def _checkpoints(out: Path) -> list[Path]:
    root = out / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / STATE_FILE).exists())


def _latest_checkpoint(out: Path) -> Path | None:
    found = _checkpoints(out)
    return found[-1] if found else None


def _rotate_checkpoints(out: Path, keep: int) -> None:
    for old in _checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def export_model(student: nn.Module, tokenizer, folder: Path) -> Path:
    """A plain Hugging Face QA folder: safetensors weights, config and tokenizer (no projections)."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    student.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def _finish(out, student, tokenizer, recipe, run, features, num_processes, source, log) -> None:
    best = out / BEST
    if run["best"] is not None and best.is_dir():
        for item in best.iterdir():
            shutil.copy2(item, out / item.name)
        shutil.rmtree(best)
    elif run["best"] is not None and (out / "model.safetensors").exists():
        pass  # a finished run resumed again: the best model was already moved into place
    else:
        for name in ("model.safetensors", "config.json"):
            (out / name).unlink(missing_ok=True)
        tmp = export_model(student, tokenizer, out / ".export")
        for item in tmp.iterdir():
            shutil.copy2(item, out / item.name)
        shutil.rmtree(tmp)
    shutil.rmtree(out / "teacher_cache", ignore_errors=True)  # only needed to resume; can be large
    train_records = [r for r in log.records if r.get("type") == "train"]
    last_train = train_records[-1] if train_records else {}
    metrics = {
        "eval": run["best"]["scores"] if run["best"] else (run["last"]["scores"] if run["last"] else None),
        "best_stage": run["best"]["stage"] if run["best"] else None,
        "best_step": run["best"]["step"] if run["best"] else None,
        "evals": run["evals"],
        "train_windows": len(features),
        "num_processes": num_processes,
        "mixed_precision": run["mixed_precision"],
        "steps": {s["name"]: s["steps"] for s in run["stages"]},
        "final_train_loss": last_train.get("loss"),
        "runtime_s": round(time.time() - run["started"], 1),
    }
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1, default=_json_default), encoding="utf-8")
    save_config(recipe, out / CONFIG_FILE)
    kind = "distill" if isinstance(recipe, DistillConfig) else "train"
    (out / "README.md").write_text(
        model_card(kind=kind, cfg=recipe, stages=run["stages"], metrics=metrics, student_config=student.config,
                   source=source),
        encoding="utf-8",
    )


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn())


__all__ = [
    "FrozenTeacher",
    "Stage",
    "TrainFeatures",
    "TrainModule",
    "config_to_dict",
    "distill_stages",
    "evaluate_model",
    "export_model",
    "linear_schedule",
    "param_groups",
    "run_distill",
    "run_train",
    "train_stages",
]
