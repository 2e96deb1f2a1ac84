"""Typed recipe configs: a YAML file plus dotted command-line overrides become these dataclasses.

A recipe is a YAML mapping with a top-level `kind:` saying which config it holds:

    kind: train                      kind: distill
    train: {TrainConfig fields}      teacher: ...
                                     student: {preset: tinyroberta-es}
                                     loss: {LossConfig fields}
                                     stages: [{name: ..., loss: {...overrides}, epochs: ...}, ...]
                                     cache_teacher_logits: true
                                     train: {TrainConfig fields}

Overrides use dotted paths into that mapping: `train.learning_rate=1e-4`, `loss.temperature=2`,
`stages.0.epochs=3`, `student.preset=tinyroberta-es`. Values are read as YAML scalars.
Every field is validated when the dataclass is built; errors name the field.
"""

# ruff: noqa: RUF009  (`documented` returns a dataclasses.field carrying the field's one-line doc)
from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from destila.augment.config import AugmentConfig
from destila.distill.loss_config import LossConfig
from destila.errors import ConfigError
from destila.models.students import check_student_spec


def documented(default: Any = dataclasses.MISSING, doc: str = "", factory: Any = dataclasses.MISSING):
    """A dataclass field carrying its one-line documentation in metadata["doc"]."""
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


def field_docs(cls) -> dict[str, str]:
    """{field name: one-line doc} for a config dataclass (used by the docs and `--help` texts)."""
    return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}


def coerce_fields(obj, prefix: str) -> None:
    """Convert YAML/CLI scalars to the annotated types (YAML reads `1e-4` as a string) and reject wrong types."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        kind = str(f.type)
        name = f"{prefix}{f.name}"
        if value is None:
            if "None" not in kind:
                raise ConfigError(f"{name} is required")
            continue
        base = kind.replace(" | None", "").strip()
        try:
            if base == "float" and not isinstance(value, bool):
                value = float(value)
            elif base == "int" and not isinstance(value, bool):
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                value = int(float(value)) if isinstance(value, str) else int(value)
            elif base == "bool":
                if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
                    value = value.lower() in ("true", "yes", "1")
                elif not isinstance(value, bool):
                    raise ValueError
            elif base == "str":
                if isinstance(value, (dict, list)):
                    raise ValueError
                value = str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be {base}, got {value!r}") from None
        setattr(obj, f.name, value)


def check(cond: bool, name: str, message: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{name} {message}, got {value!r}")


def data_specs(value: Any, name: str) -> str | list[str]:
    """A data setting that takes one spec or a non-empty list of them (YAML `[a, b]`, `--set train_data=[a,b]`);
    returned as given, every spec a non-empty string."""
    items = value if isinstance(value, list) else [value]
    check(bool(items), name, "must name at least one data set", value)
    for item in items:
        check(isinstance(item, str | int | float) and not isinstance(item, bool) and str(item) != "", name,
              "must name a data set (a spec, or a list of specs)", value)
    return [str(v) for v in value] if isinstance(value, list) else str(value)


MIXED_PRECISION = ("no", "fp16", "bf16", "auto")
ATTENTION_IMPLEMENTATIONS = ("auto", "sdpa", "eager")
COMPILE = ("auto", "on", "off")


@dataclass
class TrainConfig:
    """Everything the training loop needs that is not about distillation (shared by `train` and `distill`)."""

    model: str | None = documented(None, "model to fine-tune: folder, hub id or offline:NAME (train only)")
    train_data: str | list = documented(
        "squad-es-v1.1:dev-small@train", "training set: a data spec (registry name, `sample`, a path; `#answerable` / "
        "`#unanswerable` filters), or a list of them read as one set")
    eval_data: str | None = documented(None, "dev set scored during training (best checkpoint by official F1)")
    validation_fraction: float = documented(
        0.0, "hold out this share of the training articles (never trained on) and select the best checkpoint on "
        "them; eval_data is then not read during training")
    no_answer_questions: int = documented(
        1000, "training data with unanswerable questions: the no-answer threshold is chosen on the validation "
        "questions, else on a seeded sample of this many training questions (never on eval_data)")
    data_dir: str | None = documented(None, "local folder laid out like the upstream data (else DESTILA_DATA_DIR)")
    output_dir: str = documented("runs/destila", "where the final model, logs and checkpoints go")
    max_length: int = documented(384, "tokens per window (question + context + specials)")
    doc_stride: int = documented(128, "overlap between consecutive windows of one context, in tokens")
    max_query_length: int | None = documented(64, "questions are cut to this many tokens (None: never cut)")
    strip_questions: bool = documented(
        False, "strip spaces around each question before tokenising (the paper's code does)")
    learning_rate: float = documented(3e-5, "peak AdamW learning rate")
    weight_decay: float = documented(0.01, "AdamW weight decay (never on biases and LayerNorm weights)")
    adam_eps: float = documented(1e-8, "AdamW epsilon")
    adam_beta1: float = documented(0.9, "AdamW beta1")
    adam_beta2: float = documented(0.999, "AdamW beta2")
    warmup_ratio: float = documented(0.1, "share of the optimiser steps spent warming the learning rate up linearly")
    epochs: float = documented(2.0, "passes over the training windows (fractions allowed)")
    max_steps: int | None = documented(None, "optimiser steps; overrides epochs when set")
    batch_size: int = documented(
        32, "windows per process per micro-batch (global batch = this x processes x grad_accum)")
    eval_batch_size: int = documented(32, "questions' windows per batch during evaluation")
    grad_accum: int = documented(1, "micro-batches accumulated per optimiser step")
    max_grad_norm: float = documented(1.0, "gradient clipping norm (0 disables clipping)")
    mixed_precision: str = documented(
        "no", "no | fp16 (GPU) | bf16 | auto (bf16 where the GPU or CPU computes it natively, else no)")
    teacher_autocast: bool = documented(
        True, "run the frozen teacher under mixed_precision too (false: in fp32, as the paper's code does)")
    seed: int = documented(42, "seed for weights of new layers, data order and dropout")
    eval_every: int = documented(0, "evaluate every N optimiser steps (0: only at the end of each stage)")
    save_every: int = documented(0, "checkpoint every N optimiser steps (0: only at the end of each stage)")
    log_every: int = documented(10, "log the loss terms every N optimiser steps")
    keep_checkpoints: int = documented(2, "how many step checkpoints to keep (oldest deleted first)")
    save_each_epoch: bool = documented(
        False, "also save the student as a plain model folder (epoch-N/) after every epoch, to pick one by hand")
    threads: int | None = documented(None, "torch CPU threads per process (None: torch's default)")
    attention_implementation: str = documented(
        "auto", "attention kernel of the trained model: sdpa | eager | auto (time both here, keep the faster)")
    compile: str = documented(
        "auto", "torch.compile the student's training step and the live teacher's forward: on | off | auto (on only "
        "where it pays net of its warm-up: long GPU runs, never on CPU; recorded in metrics.json)")
    attention_dropout: float | None = documented(
        None, "attention-probability dropout while training (None: the model's own); 0 is much faster on CPU")
    hidden_dropout: float | None = documented(None, "hidden-state dropout while training (None: the model's own)")
    freeze_embeddings: bool = documented(
        False, "keep the word embedding matrix fixed (faster on CPU for big vocabularies)")
    subnet_layers: list | None = documented(
        None, "also train the sub-network of these layers (1-based, e.g. [3, 6, 9, 12]) inside the model, sharing its "
        "weights: gold CE plus KD from the whole model's predictions every step (in-place distillation), so a "
        "student built later from the same layers starts close to the model (train only)")
    subnet_kd: float = documented(
        0.5, "the sub-network's loss: this share KD from the whole model, the rest gold CE")
    subnet_temperature: float = documented(2.0, "softmax temperature of the sub-network's KD term")
    max_train_examples: int | None = documented(None, "use only the first N training questions")
    max_eval_examples: int | None = documented(None, "score only the first N dev questions")
    dynamic_padding: bool = documented(True, "pad each batch to its longest window instead of max_length")
    pad_to_multiple_of: int = documented(
        32, "round each batch's padded length up to a multiple of this: a few distinct shapes, so the CPU kernels' "
        "per-shape caches and the allocator stop growing (1: every length, docs/training.md#memory)")
    group_by_length: bool = documented(
        False, "batch windows of similar length together (less padding, same order per seed)")
    progress: bool = documented(True, "show progress on the main process (a bar, or lines when not a terminal)")

    def __post_init__(self) -> None:
        p = "train."
        if isinstance(self.compile, bool):  # YAML 1.1 reads on / off as booleans
            self.compile = "on" if self.compile else "off"
        coerce_fields(self, p)
        check(self.max_length >= 32, p + "max_length", "must be >= 32", self.max_length)
        check(0 < self.doc_stride < self.max_length, p + "doc_stride", "must be in (0, max_length)", self.doc_stride)
        check(
            self.max_query_length is None or 0 < self.max_query_length < self.max_length,
            p + "max_query_length",
            "must be in (0, max_length)",
            self.max_query_length,
        )
        check(self.learning_rate > 0, p + "learning_rate", "must be > 0", self.learning_rate)
        check(self.weight_decay >= 0, p + "weight_decay", "must be >= 0", self.weight_decay)
        check(self.adam_eps > 0, p + "adam_eps", "must be > 0", self.adam_eps)
        check(0 <= self.adam_beta1 < 1, p + "adam_beta1", "must be in [0, 1)", self.adam_beta1)
        check(0 <= self.adam_beta2 < 1, p + "adam_beta2", "must be in [0, 1)", self.adam_beta2)
        check(0 <= self.warmup_ratio < 1, p + "warmup_ratio", "must be in [0, 1)", self.warmup_ratio)
        check(self.epochs > 0, p + "epochs", "must be > 0", self.epochs)
        check(0 <= self.validation_fraction < 1, p + "validation_fraction", "must be in [0, 1)",
               self.validation_fraction)
        check(self.max_steps is None or self.max_steps > 0, p + "max_steps", "must be > 0", self.max_steps)
        check(self.batch_size > 0, p + "batch_size", "must be > 0", self.batch_size)
        check(self.eval_batch_size > 0, p + "eval_batch_size", "must be > 0", self.eval_batch_size)
        check(self.grad_accum > 0, p + "grad_accum", "must be > 0", self.grad_accum)
        check(self.max_grad_norm >= 0, p + "max_grad_norm", "must be >= 0", self.max_grad_norm)
        check(self.mixed_precision in MIXED_PRECISION, p + "mixed_precision", f"must be one of {MIXED_PRECISION}",
               self.mixed_precision)
        for name in ("attention_dropout", "hidden_dropout"):
            value = getattr(self, name)
            check(value is None or 0 <= value < 1, p + name, "must be in [0, 1)", value)
        for name in ("eval_every", "save_every"):
            check(getattr(self, name) >= 0, p + name, "must be >= 0", getattr(self, name))
        check(self.attention_implementation in ATTENTION_IMPLEMENTATIONS, p + "attention_implementation",
              f"must be one of {ATTENTION_IMPLEMENTATIONS}", self.attention_implementation)
        check(self.compile in COMPILE, p + "compile", f"must be one of {COMPILE}", self.compile)
        check(self.pad_to_multiple_of >= 1, p + "pad_to_multiple_of", "must be >= 1", self.pad_to_multiple_of)
        check(self.log_every > 0, p + "log_every", "must be > 0", self.log_every)
        check(self.keep_checkpoints >= 1, p + "keep_checkpoints", "must be >= 1", self.keep_checkpoints)
        check(self.threads is None or self.threads > 0, p + "threads", "must be > 0", self.threads)
        check(self.no_answer_questions > 0, p + "no_answer_questions", "must be > 0", self.no_answer_questions)
        for name in ("max_train_examples", "max_eval_examples"):
            value = getattr(self, name)
            check(value is None or value > 0, p + name, "must be > 0", value)
        check(0 <= self.subnet_kd <= 1, p + "subnet_kd", "must be in [0, 1]", self.subnet_kd)
        check(self.subnet_temperature > 0, p + "subnet_temperature", "must be > 0", self.subnet_temperature)
        if self.subnet_layers is not None:
            from destila.models.students import check_layer_list

            self.subnet_layers = check_layer_list(self.subnet_layers, p + "subnet_layers")
        self.train_data = data_specs(self.train_data, p + "train_data")
        check(bool(self.output_dir), p + "output_dir", "must name a folder", self.output_dir)


@dataclass
class StageConfig:
    """One distillation stage: its own loss weights, length and learning rate."""

    name: str = documented("joint", "stage name (used in logs and checkpoint names)")
    loss: dict = documented(factory=dict, doc="overrides of the recipe's loss fields for this stage, e.g. {kd: 0}")
    epochs: float | None = documented(None, "passes over the data in this stage (None: train.epochs)")
    max_steps: int | None = documented(None, "optimiser steps in this stage (None: train.max_steps, else epochs)")
    learning_rate: float | None = documented(None, "peak learning rate of this stage (None: train.learning_rate)")
    warmup_ratio: float | None = documented(None, "warm-up share of this stage (None: train.warmup_ratio)")

    def __post_init__(self) -> None:
        p = f"stages[{self.name}]."
        coerce_fields(self, p)
        if not isinstance(self.loss, dict):
            raise ConfigError(f"{p}loss must be a mapping of loss fields, got {self.loss!r}")
        check(self.epochs is None or self.epochs > 0, p + "epochs", "must be > 0", self.epochs)
        check(self.max_steps is None or self.max_steps > 0, p + "max_steps", "must be > 0", self.max_steps)
        check(self.learning_rate is None or self.learning_rate > 0, p + "learning_rate", "must be > 0",
               self.learning_rate)
        check(self.warmup_ratio is None or 0 <= self.warmup_ratio < 1, p + "warmup_ratio", "must be in [0, 1)",
               self.warmup_ratio)


@dataclass
class TeacherConfig:
    """One teacher of a recipe with several (`teachers:`)."""

    model: str = documented("", "fine-tuned QA teacher: folder, hub id or offline:NAME")
    weight: float = documented(1.0, "its share of the soft start/end targets (the weights are scaled to sum to 1)")
    internals: bool = documented(False, "the one teacher the hidden, attention and embedding terms read")
    layer_map: str | list | None = documented(None, "that teacher's layer map (None: loss.layer_map)")

    def check(self, index: int) -> None:
        p = f"teachers[{index}]"
        coerce_fields(self, p + ".")
        check(bool(self.model), f"{p}.model", "must name a model", self.model)
        check(0 < self.weight < float("inf"), f"{p}.weight", "must be a number > 0", self.weight)
        if self.layer_map is not None:
            if not self.internals:
                raise ConfigError(f"{p}.layer_map: only the teacher with `internals: true` (the one the hidden and "
                                  "attention terms read) has a layer map")
            LossConfig.from_dict({"layer_map": self.layer_map}, f"{p}")


@dataclass
class DistillConfig:
    """A distillation run: a frozen teacher, a student spec, the loss, its stages and the training settings."""

    teacher: str = documented("", "fine-tuned QA teacher: folder, hub id or offline:NAME (or give `teachers`)")
    teachers: list = documented(
        factory=list, doc="several teachers [{model, weight, internals, layer_map}]: the soft start/end targets are "
        "the weighted mixture of their distributions; `teacher` is then the first of them")
    student: dict = documented(factory=lambda: {"preset": "tinyroberta-es"},
                         doc="student spec: {preset: P} | {layers: [...]} | {config: {...}} | {pretrained: path}")
    loss: LossConfig | None = documented(None, "LossConfig: loss weights, temperature, layer map, projections, masking")
    stages: list = documented(factory=lambda: [StageConfig()], doc="stages run in order; one joint stage by default")
    cache_teacher_logits: bool = documented(True, "store the teacher's logits on disk when a stage needs only them")
    train: TrainConfig = documented(factory=TrainConfig, doc="training settings shared with `destila train`")
    augment: AugmentConfig | None = documented(
        None, "teacher-labelled copies of the training questions, never CE-trained (docs/augment.md)")

    def __post_init__(self) -> None:
        if self.augment is not None and not isinstance(self.augment, AugmentConfig):
            self.augment = AugmentConfig.from_dict(self.augment, "augment")
        self._check_teachers()
        if isinstance(self.cache_teacher_logits, str):
            self.cache_teacher_logits = self.cache_teacher_logits.lower() in ("true", "yes", "1")
        if not isinstance(self.cache_teacher_logits, bool):
            raise ConfigError(f"cache_teacher_logits must be bool, got {self.cache_teacher_logits!r}")
        check_student_spec(self.student)
        if isinstance(self.train, dict):
            self.train = build_config(TrainConfig, self.train, "train")
        if not isinstance(self.train, TrainConfig):
            raise ConfigError(f"train must be a mapping of training settings, got {self.train!r}")
        if not isinstance(self.loss, LossConfig):
            self.loss = LossConfig.from_dict({} if self.loss is None else self.loss)
        if not isinstance(self.stages, list) or not self.stages:
            raise ConfigError(f"stages must be a non-empty list, got {self.stages!r}")
        stages = []
        for i, stage in enumerate(self.stages):
            if isinstance(stage, dict):
                stage = build_config(StageConfig, {"name": f"stage{i + 1}", **stage}, f"stages[{i}]")
            if not isinstance(stage, StageConfig):
                raise ConfigError(f"stages[{i}] must be a mapping, got {stage!r}")
            stages.append(stage)
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ConfigError(f"stages: names must be unique, got {names}")
        self.stages = stages
        for stage in self.stages:  # validate each stage's merged loss now, not hours into a run
            self.stage_loss(stage).check_active(f"stages[{stage.name}].loss")
            self._check_internals(stage, self.stage_loss(stage))

    def _check_teachers(self) -> None:
        if not isinstance(self.teachers, list):
            raise ConfigError(f"teachers must be a list of {{model, weight}} mappings, got {self.teachers!r}")
        self.teachers = [t if isinstance(t, TeacherConfig) else build_config(TeacherConfig, t, f"teachers[{i}]")
                         for i, t in enumerate(self.teachers)]
        for i, t in enumerate(self.teachers):
            t.check(i)
        if self.teachers:
            if self.teacher and self.teacher != self.teachers[0].model:
                raise ConfigError(f"teacher: {self.teacher!r} is not teachers[0] ({self.teachers[0].model!r}); give "
                                  "`teacher` for one teacher or `teachers` for several")
            self.teacher = self.teachers[0].model
        if not isinstance(self.teacher, str) or not self.teacher:
            raise ConfigError(f"teacher must name a model (or give teachers: [...]), got {self.teacher!r}")
        marked = [i for i, t in enumerate(self.teachers) if t.internals]
        if len(marked) > 1:
            raise ConfigError(f"teachers: {len(marked)} teachers have `internals: true` ({marked}); the hidden and "
                              "attention terms read one")

    def _check_internals(self, stage: StageConfig, loss: LossConfig) -> None:
        from destila.distill.terms import TERMS

        reading = [name for name, term in TERMS.items() if term.reads_internals and getattr(loss, name) > 0]
        if reading and len(self.teachers) > 1 and not any(t.internals for t in self.teachers):
            raise ConfigError(f"stages[{stage.name}].loss: {', '.join(reading)} read one teacher's internals; mark "
                              "that teacher with `internals: true` in teachers (or set those weights to 0)")

    def teacher_list(self) -> list[TeacherConfig]:
        """Every teacher with its mixture weight (summing to 1): `teachers`, or the one `teacher`."""
        teachers = self.teachers or [TeacherConfig(self.teacher, internals=True)]
        total = sum(t.weight for t in teachers)
        return [dataclasses.replace(t, weight=t.weight / total) for t in teachers]

    def internals_teacher(self) -> int:
        """The index (in teacher_list) of the teacher the hidden, attention and embedding terms read."""
        return next((i for i, t in enumerate(self.teacher_list()) if t.internals), 0)

    def stage_loss(self, stage: StageConfig) -> LossConfig:
        """The LossConfig in force during `stage`: the recipe's loss (with the layer map of the teacher whose
        internals it reads, when that teacher has one), with the stage's overrides."""
        base = self.loss.to_dict()
        layer_map = self.teacher_list()[self.internals_teacher()].layer_map
        if layer_map is not None:
            base["layer_map"] = layer_map
        return LossConfig.from_dict({**base, **stage.loss}, f"stages[{stage.name}].loss")


def build_config(cls, values: Any, where: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {values!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; known: {', '.join(sorted(known))}")
    return cls(**values)


# ---------------------------------------------------------------------------------------------------------------
# Recipes: YAML <-> dataclasses


def _train_from_doc(doc: dict) -> TrainConfig:
    extra = sorted(set(doc) - {"kind", "train"})
    if extra:
        raise ConfigError(f"a train recipe holds only `kind` and `train`; unknown top-level key(s) {extra}")
    return build_config(TrainConfig, doc.get("train") or {}, "train")


def _distill_from_doc(doc: dict) -> DistillConfig:
    body = {k: v for k, v in doc.items() if k != "kind"}
    return build_config(DistillConfig, body, "recipe")


# kind -> function taking the parsed mapping (overrides applied) and returning a config object. A workflow with its
# own recipe kind registers it from its own module (the pipeline's: destila.pipeline.recipe), so config.py imports
# nothing above it.
RECIPE_KINDS: dict[str, Callable[[dict], Any]] = {
    "train": _train_from_doc,
    "distill": _distill_from_doc,
}


def register_recipe_kind(kind: str, build: Callable[[dict], Any]) -> None:
    """Make `load_recipe` / `config_from_dict` read recipes of `kind:` with `build(mapping)`."""
    RECIPE_KINDS[kind] = build


def apply_overrides(doc: dict, overrides: list[str] | None) -> dict:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a copy of `doc`. List items are addressed by index."""
    doc = copy.deepcopy(doc)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value")
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from None
        node: Any = doc
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override {item!r}: {where} is not an index of a {len(node)}-item list")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise ConfigError(f"override {item!r}: {'.'.join(parts[:i])} is not a mapping")
    return doc


def read_recipe(path: str | os.PathLike) -> dict:
    """The raw mapping of a YAML recipe."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"recipe {str(path)!r} does not exist")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"recipe {str(path)!r} must be a YAML mapping")
    return doc


def config_from_dict(doc: dict, overrides: list[str] | None = None):
    """Dispatch on `kind:` and build the typed config; an unknown or missing kind is an error."""
    doc = apply_overrides(doc, overrides)
    kind = doc.get("kind")
    if kind not in RECIPE_KINDS:
        raise ConfigError(f"recipe kind {kind!r} is not one of {sorted(RECIPE_KINDS)} (set a top-level `kind:`; "
                          "a pipeline recipe is read by `destila pipeline`)")
    return RECIPE_KINDS[kind](doc)


def load_recipe(path: str | os.PathLike, overrides: list[str] | None = None):
    """A YAML recipe plus dotted overrides -> TrainConfig | DistillConfig (or a registered kind's config)."""
    try:
        return config_from_dict(read_recipe(path), overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if isinstance(value, Path):
        return str(value)
    return value


def config_to_dict(cfg) -> dict:
    """The recipe mapping (with `kind:`) of a config: loading it back gives an equal config."""
    if isinstance(cfg, TrainConfig):
        return {"kind": "train", "train": _plain(cfg)}
    if isinstance(cfg, DistillConfig):
        return {"kind": "distill", **_plain(cfg)}
    raise TypeError(f"not a recipe config: {type(cfg).__name__}")


def save_config(cfg, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML (the `destila_config.yaml` beside every checkpoint)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
