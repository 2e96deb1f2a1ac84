"""What a training run knows beyond its weights, and the checkpoints that carry it across a restart.

`RunState` is the typed record of a run: the evaluations so far, the best and the last one, how far the run is,
the stages it planned and the precision it resolved. A checkpoint folder (`checkpoints/<index>-<stage>-step<N>/`)
holds accelerate's state (weights, optimiser, scaler, RNG of every process) plus `destila_state.json`, written
last: a checkpoint without it is incomplete and never resumed from.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from destila import files


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
    select_best: bool  # the best checkpoint is chosen among this stage's evaluations (the last stage's)


@dataclass
class Evaluation:
    """Scores of the student at one step of one stage."""

    stage: str
    step: int
    scores: dict

    @property
    def f1(self) -> float:
        return self.scores["official"]["f1"]

    def to_dict(self) -> dict:
        return {"stage": self.stage, "step": self.step, "scores": self.scores}

    @classmethod
    def from_dict(cls, data: dict | None) -> Evaluation | None:
        return None if data is None else cls(data["stage"], data["step"], data["scores"])


@dataclass
class RunState:
    """The run's record: evaluations (as logged), the best and the last, the steps of finished stages."""

    mixed_precision: str
    evals: list[dict] = field(default_factory=list)
    best: Evaluation | None = None
    last: Evaluation | None = None
    global_step: int = 0  # optimiser steps of the stages before the current one
    stages: list[dict] = field(default_factory=list)  # what each stage planned, for metrics and the card
    started: float = field(default_factory=time.time)

    def record_eval(self, record: dict, evaluation: Evaluation, select: bool) -> bool:
        """Keep an evaluation; True when it is the new best (only evaluations of a selecting stage compete)."""
        self.evals.append(record)
        self.last = evaluation
        if select and (self.best is None or evaluation.f1 > self.best.f1):
            self.best = evaluation
            return True
        return False

    def final(self) -> Evaluation | None:
        """The evaluation the output folder's model had: the best, else the last."""
        return self.best or self.last


@dataclass
class Checkpoint:
    """Where a run stopped: the stage and step, the schedule's state and what the run had recorded by then."""

    folder: Path
    stage_index: int
    stage: str
    step: int
    scheduler: dict
    last_eval_step: int | None
    evals: list[dict]
    best: Evaluation | None
    last: Evaluation | None
    attention_implementation: str | None = None  # the kernel the run trained with (kept on resume)
    compile: str | None = None  # whether the run compiled its steps ("on" / "off"; `auto` keeps it on resume)

    @classmethod
    def load(cls, folder: Path) -> Checkpoint:
        data = json.loads((folder / files.RUN_STATE).read_text())
        return cls(
            folder=folder, stage_index=data["stage_index"], stage=data["stage"], step=data["step"],
            scheduler=data["scheduler"], last_eval_step=data.get("last_eval_step"), evals=data["evals"],
            best=Evaluation.from_dict(data["best"]), last=Evaluation.from_dict(data.get("last")),
            attention_implementation=data.get("attention_implementation"), compile=data.get("compile"),
        )

    def restore(self, state: RunState) -> None:
        state.evals = list(self.evals)
        state.best, state.last = self.best, self.last

    @staticmethod
    def write(folder: Path, stage: Stage, step: int, *, scheduler: dict, state: RunState,
              last_eval_step: int | None, attention_implementation: str | None = None,
              teacher_cache_coverage: float | None = None, compile: str | None = None) -> None:
        """Write `destila_state.json` into an already saved accelerate state folder (last, to mark it complete)."""
        data = {
            "stage_index": stage.index,
            "stage": stage.name,
            "step": step,
            "scheduler": scheduler,
            "evals": state.evals,
            "best_f1": state.best.f1 if state.best else None,
            "best": state.best.to_dict() if state.best else None,
            "last": state.last.to_dict() if state.last else None,
            "last_eval_step": last_eval_step,
            "attention_implementation": attention_implementation,
            "compile": compile,
            "teacher_cache_coverage": teacher_cache_coverage,  # share of windows whose teacher logits are on disk
        }
        (folder / files.RUN_STATE).write_text(json.dumps(data, indent=1, default=json_default))


def json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if callable(value):
        return None  # LambdaLR keeps its lambdas in the state as None-able entries
    return str(value)


def checkpoint_name(stage: Stage, step: int) -> str:
    return f"{stage.index:02d}-{stage.name}-step{step:07d}"


def list_checkpoints(out: Path) -> list[Path]:
    """Complete checkpoints of the run in `out`, oldest first."""
    root = Path(out) / files.CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / files.RUN_STATE).exists())


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint of the run in `out` (None when there is none)."""
    found = list_checkpoints(out)
    return found[-1] if found else None


def rotate_checkpoints(out: Path, keep: int) -> None:
    for old in list_checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
