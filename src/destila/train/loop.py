"""The small pieces a training run is made of; `destila.train.recipe` puts them together, top to bottom.

What is trained (the student plus the loss's projections) is one module, `TrainModule`, so multi-process runs keep
the projections in sync too. The teacher is frozen and explicit (`FrozenTeacher`): eval mode, no gradients,
outside the optimiser, run under `torch.no_grad()`.
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from destila.distill.functional import span_kd_loss, task_loss, token_mask
from destila.distill.losses import DistillationLoss
from destila.distill.outputs import QAOutputs, run_qa_model
from destila.errors import ModelError
from destila.memory import resident_bytes
from destila.models.students import sub_network


@dataclass(frozen=True)
class SubNetwork:
    """A sub-network trained inside the model with the same weights (in-place distillation): its layers (1-based),
    the KD share of its loss (the rest is gold CE) and the KD temperature."""

    layers: tuple[int, ...]
    kd: float = 0.5
    temperature: float = 2.0

    @classmethod
    def from_config(cls, cfg) -> SubNetwork | None:
        if not cfg.subnet_layers:
            return None
        return cls(tuple(cfg.subnet_layers), cfg.subnet_kd, cfg.subnet_temperature)

    def loss(self, model: nn.Module, batch: dict, whole: QAOutputs) -> dict[str, torch.Tensor]:
        """The sub-network's terms: `sub_ce` on gold, `sub_kd` against the whole model's (detached) logits, and
        `sub_loss` = their mix."""
        with sub_network(model, list(self.layers)):
            out = run_qa_model(model, batch)
        mask = token_mask(batch, out.start_logits)
        ce = task_loss(out.start_logits, out.end_logits, batch["start_positions"], batch["end_positions"], mask)
        kd = span_kd_loss(out.start_logits, out.end_logits, whole.start_logits, whole.end_logits, mask,
                          temperature=self.temperature)
        return {"sub_loss": (1 - self.kd) * ce + self.kd * kd, "sub_ce": ce, "sub_kd": kd}


class TrainModule(nn.Module):
    """What the optimiser trains: the student and, when distilling, the loss with its projections. With `subnet`,
    each step also trains that sub-network of the student's layers (fine-tuning only)."""

    def __init__(self, student: nn.Module, loss_fn: DistillationLoss | None, subnet: SubNetwork | None = None):
        super().__init__()
        self.student = student
        self.loss_fn = loss_fn
        self.subnet = subnet

    def compile_with(self, compiler) -> None:
        """Run forward (the student's forward and the loss) through `compiler` (a
        `destila.models.compiled.Compiler`), before accelerate wraps it; the parameters and their names stay."""
        self.forward = compiler(self.forward, "the student's training step")

    def forward(self, batch: dict, teacher_out: QAOutputs | None = None) -> dict[str, torch.Tensor]:
        if self.loss_fn is None:
            out = run_qa_model(self.student, batch)
            ce = task_loss(out.start_logits, out.end_logits, batch["start_positions"], batch["end_positions"],
                           token_mask(batch, out.start_logits))
            if self.subnet is None:
                return {"loss": ce, "ce": ce}
            terms = self.subnet.loss(self.student, batch, out)
            return {"loss": ce + terms["sub_loss"], "ce": ce, **terms}
        student_out = run_qa_model(self.student, batch, **self.loss_fn.forward_kwargs("student"))
        return self.loss_fn(student_out, teacher_out, batch)


class FrozenTeacher:
    """The teacher: eval mode, requires_grad False, never in the optimiser, forward under torch.no_grad()."""

    def __init__(self, model: nn.Module, device):
        self.model = model.to(device).eval()
        self.model.requires_grad_(False)
        self.forward = self._forward

    def compile_with(self, compiler) -> None:
        """Run the forward through `compiler` (a `destila.models.compiled.Compiler`): compiled at its first call."""
        self.forward = compiler(self._forward, "the teacher's forward")

    def _forward(self, batch: dict, needs: dict) -> QAOutputs:
        return run_qa_model(self.model, batch, **needs)

    @torch.no_grad()
    def __call__(self, batch: dict, needs: dict) -> QAOutputs:
        return self.forward(batch, needs)


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


def carry_projections(previous: DistillationLoss | None, current: DistillationLoss) -> None:
    """A later stage that still matches hidden states starts from the projections the earlier stage learned."""
    if previous is None:
        return
    old = previous.state_dict()
    new = current.state_dict()
    same = {k: v for k, v in old.items() if k in new and new[k].shape == v.shape}
    if same:
        current.load_state_dict(same, strict=False)


def save_model_folder(model: nn.Module, tokenizer, folder: Path) -> Path:
    """A plain Hugging Face QA folder: safetensors weights, config and tokenizer (no projections)."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


class FrozenWeights:
    """The student's parameters that never train (e.g. a frozen embedding matrix), kept out of every checkpoint.

    They are written once per run beside the checkpoints (`checkpoints/frozen.safetensors`) and put back on resume,
    so a checkpoint holds only what changes: trainable weights, optimiser, RNG and schedule.
    """

    FILE = "frozen.safetensors"

    def __init__(self, student: nn.Module):
        self.student = student
        self.names = {n for n, p in student.named_parameters() if not p.requires_grad}

    def drop_from(self, weights: list[dict]) -> None:
        """accelerate's save-state hook: remove frozen entries from the state dicts about to be written."""
        for state in weights:
            for key in [k for k in state if self._student_name(k) in self.names]:
                del state[key]

    @staticmethod
    def _student_name(key: str) -> str:
        key = key.removeprefix("module.")  # DDP
        return key.removeprefix("student.")

    def save_once(self, folder: Path) -> None:
        from safetensors.torch import save_file

        path = Path(folder) / self.FILE
        if self.names and not path.exists():
            params = dict(self.student.named_parameters())
            save_file({n: params[n].detach().contiguous().cpu() for n in sorted(self.names)}, str(path))

    def restore(self, folder: Path) -> None:
        from safetensors.torch import load_file

        path = Path(folder) / self.FILE
        if not self.names or not path.exists():
            return
        saved = load_file(str(path))
        if set(saved) != self.names:
            raise ModelError(f"{path} holds {sorted(saved)}, but the frozen parameters are {sorted(self.names)}")
        params = dict(self.student.named_parameters())
        with torch.no_grad():
            for name, value in saved.items():
                params[name].copy_(value)


class StepMeter:
    """Sums of the loss terms, tokens, examples and seconds since the last log line."""

    def __init__(self, grad_accum: int):
        self.grad_accum = grad_accum
        self.reset()

    def reset(self) -> None:
        self.terms: dict[str, float] = defaultdict(float)
        self.steps = self.tokens = self.examples = 0
        self.seconds = 0.0

    def add_batch(self, terms: dict[str, torch.Tensor], tokens: int, examples: int) -> None:
        for k, v in terms.items():
            self.terms[k] += float(v.detach()) / self.grad_accum
        self.tokens += tokens
        self.examples += examples

    def add_step(self, seconds: float) -> None:
        self.steps += 1
        self.seconds += seconds

    def summary(self, accelerator) -> dict[str, float]:
        """Mean loss terms per step and throughput, combined over processes (which ran side by side)."""
        keys = sorted(self.terms)
        n = max(self.steps, 1)
        values = torch.tensor([self.terms[k] / n for k in keys] + [self.tokens, self.examples, self.seconds],
                              dtype=torch.float64, device=accelerator.device)
        if accelerator.num_processes > 1:
            summed = accelerator.reduce(values, reduction="sum")
            values = summed.clone()
            values[: len(keys)] /= accelerator.num_processes  # loss terms: mean over processes
            values[-1] = summed[-1] / accelerator.num_processes  # wall time: the processes ran side by side
        values = values.tolist()
        seconds = max(values[-1], 1e-9)
        return {
            **{k: values[i] for i, k in enumerate(keys)},
            "tokens_per_s": values[-3] / seconds,
            "examples_per_s": values[-2] / seconds,
            "seconds_per_step": seconds / n,
            "rss_mb": resident_bytes() / 2**20,  # this process's resident memory (the main one's, when several)
        }


def flat_scores(scores: dict) -> dict:
    """{"official": {"f1": ..}, "es": {..}} -> {"official_f1": .., "es_f1": ..} (numbers only)."""
    flat = {}
    for variant, values in scores.items():
        for k, v in values.items():
            if isinstance(v, (int, float)):
                flat[f"{variant}_{k}"] = v
    return flat


def progress_bar(enabled: bool, terminal: bool | None = None):
    """A live bar on a terminal; elsewhere (a log file, CI, nohup) `LineProgress`, a line now and then."""
    if not enabled:
        return None
    from rich.console import Console

    if not (Console().is_terminal if terminal is None else terminal):
        return LineProgress()
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


class LineProgress:
    """The progress bar's calls (`add_task`, `update`, `advance`, a context) printed as plain lines: one at least
    every `every_seconds` and every `every_fraction` of the steps, whichever comes first, and one at the end, each
    with the step, the loss and tokens/s last given to `update(loss=..., tokens_per_s=...)`, and the time left
    at this run's pace."""

    def __init__(self, every_seconds: float = 60.0, every_fraction: float = 0.1, clock=None, write=None):
        import time

        self.every_seconds, self.every_fraction = every_seconds, every_fraction
        self.clock = clock or time.monotonic
        self.write = write or (lambda line: print(line, flush=True))
        self.tasks: dict[int, dict] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: int, completed: int = 0) -> int:
        now = self.clock()
        task = len(self.tasks)
        self.tasks[task] = {"description": description, "total": total, "completed": completed, "first": completed,
                            "started": now, "printed_at": now, "printed_step": completed}
        return task

    def update(self, task: int, description: str | None = None, **fields) -> None:
        """Keep `fields` for the next line; the bar's description (it repeats the loss) is not used."""
        self.tasks[task].update(fields)

    def advance(self, task: int, steps: int = 1) -> None:
        t = self.tasks[task]
        t["completed"] += steps
        now, done = self.clock(), t["completed"]
        every_steps = max(1, math.ceil(self.every_fraction * t["total"]))
        if (now - t["printed_at"] >= self.every_seconds or done - t["printed_step"] >= every_steps
                or done >= t["total"]):
            self.write(self.line(task, now))
            t["printed_at"], t["printed_step"] = now, done

    def line(self, task: int, now: float) -> str:
        t = self.tasks[task]
        done, total = t["completed"], t["total"]
        elapsed = now - t["started"]
        pace = elapsed / (done - t["first"]) if done > t["first"] else None
        parts = [f"{t['description']}: step {done}/{total} ({100 * done / max(total, 1):.0f}%)"]
        if t.get("loss") is not None:
            parts.append(f"loss {t['loss']:.4f}")
        if t.get("tokens_per_s") is not None:
            parts.append(f"{t['tokens_per_s']:,.0f} tokens/s")
        parts.append(f"{_clock(elapsed)} elapsed")
        if pace is not None and done < total:
            parts.append(f"about {_clock(pace * (total - done))} left")
        return ", ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
