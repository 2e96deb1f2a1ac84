"""The pipeline's recipe (`kind: pipeline`): `PipelineConfig`, `load_pipeline`, `export_target`.

Recipe (`kind: pipeline`):

    output_dir: runs/demo
    train_data: squad-es-v1.1:dev-small@train      # teacher and student learn from this (a spec or a list)
    eval_data: squad-es-v1.1:dev-small@eval        # scores are reported on this
    heldout_data: [sample]                         # further Spanish sets, never trained or tuned on
    eval_protocol: destila                         # or authors: SpanishTinyRoBERTa's evaluation.py (scores, cards)
    teacher: {model: offline:multilingual-e5-small, train: {TrainConfig fields}}   # or {pretrained: folder}
    student: {student: {layers: [...]}, loss: {...}, stages: [...], train: {...}}  # a distill recipe body
    #   taught by the pipeline's teacher; or by several: teachers: [{model: pipeline, weight: 0.7},
    #   {model: PlanTL-GOB-ES/roberta-base-bne-sqac, weight: 0.3}] (`pipeline`: the teacher above)
    baseline: {...}                                # optional: a label-only student of the same shape and budget
    trim: {corpus: [...], keep_top: 0}             # optional vocabulary trimming of the student
    export: {target: auto}                         # onnx, onnx-int8-static, openvino, openvino-int8, auto, none
    bench: {max_questions: 300, repeats: 2, backends: [torch-bf16]}   # backends: more rows of the student
    quick: [dotted overrides applied with --quick]
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from destila.augment.config import AugmentConfig
from destila.config import (
    DistillConfig,
    TrainConfig,
    apply_overrides,
    build_config,
    check,
    coerce_fields,
    config_from_dict,
    data_specs,
    documented,
    read_recipe,
    register_recipe_kind,
)
from destila.errors import ConfigError
from destila.export.options import TARGETS, ExportOptions, ExportTarget

# ---------------------------------------------------------------------------------------------------------------
# Sections: each typed and checked when the recipe loads, so a misspelt key or value fails before any training.


@dataclass
class TeacherSection:
    """How the pipeline gets its teacher: fine-tune `model` on the recipe's data, or take a `pretrained` QA model."""

    model: str | None = documented(None, "model to fine-tune: folder, hub id or offline:NAME")
    pretrained: str | None = documented(None, "an already fine-tuned QA model (folder or hub id): no teacher stage")
    train: dict = documented(factory=dict, doc="TrainConfig fields of the fine-tuning (train_data, data_dir and "
                                               "threads default to the recipe's)")

    def __post_init__(self) -> None:
        coerce_fields(self, "teacher.")
        check((self.model is None) != (self.pretrained is None), "teacher",
              "needs exactly one of `model` (to fine-tune) or `pretrained`",
              {"model": self.model, "pretrained": self.pretrained})
        check(isinstance(self.train, dict), "teacher.train", "must be a mapping of training settings", self.train)
        check(self.pretrained is None or not self.train, "teacher.train",
              "applies only to a teacher fine-tuned from `model` (a `pretrained` one is not trained)", self.train)


@dataclass
class TrimSection:
    """Vocabulary trimming of the distilled student (`destila trim-vocab`)."""

    corpus: list = documented(factory=list, doc="data specs, text files or wordfreq:LANG:N whose pieces are kept")
    keep_top: int = documented(0, "also keep the first N pieces of the vocabulary (0: none beyond the corpus)")

    def __post_init__(self) -> None:
        coerce_fields(self, "trim.")
        check(isinstance(self.corpus, list) and bool(self.corpus)
              and all(isinstance(c, str) and c for c in self.corpus), "trim.corpus",
              "must be a non-empty list of corpus specs", self.corpus)
        check(self.keep_top >= 0, "trim.keep_top", "must be >= 0", self.keep_top)


@dataclass
class BenchSection:
    """The side-by-side speed measurement (`destila bench`) of every model of the run."""

    max_questions: int | None = documented(None, "time the first N eval questions (None: all)")
    repeats: int = documented(3, "timed passes over the questions")
    latency_questions: int = documented(50, "questions answered one at a time for the latency percentiles")
    batch_size: int = documented(16, "questions per batch in the throughput passes")
    backends: list = documented(factory=list, doc="further backends the student is measured on (e.g. torch-bf16)")

    def __post_init__(self) -> None:
        from destila.infer.runners import AUTO, backend_names

        coerce_fields(self, "bench.")
        for name in ("repeats", "latency_questions", "batch_size"):
            check(getattr(self, name) > 0, f"bench.{name}", "must be > 0", getattr(self, name))
        check(self.max_questions is None or self.max_questions > 0, "bench.max_questions", "must be > 0",
              self.max_questions)
        allowed = [AUTO, *backend_names()]
        check(isinstance(self.backends, list) and all(b in allowed for b in self.backends), "bench.backends",
              f"must be a list of backends of {allowed}", self.backends)


@dataclass
class ExportSection:
    """The student's export. Options left unset (None) take `destila export`'s defaults (ExportOptions)."""

    target: ExportTarget | None = documented(
        ExportTarget.AUTO, f"one of {', '.join(TARGETS)}, or none (no export)")
    parity_max_questions: int | None = documented(None, "questions of eval_data the parity check answers")
    min_agreement: float | None = documented(None, "least share of answers identical to PyTorch's (None: by kind)")
    max_f1_drop: float | None = documented(None, "largest allowed drop of the official F1 against PyTorch, in points")
    calibration_questions: int | None = documented(None, "training questions calibrating static int8 scales")
    opset: int | None = documented(None, "ONNX opset")
    optimize: bool | None = documented(None, "onnxruntime's offline transformer fusions")
    per_channel: bool | None = documented(None, "int8 scales per output channel (else one per matrix)")
    reduce_range: bool | None = documented(None, "7-bit int8 weights (dynamic int8, CPUs without VNNI)")

    # The older keys: `int8: true` (dynamic int8), `onnx: true` (fp32 ONNX), `int8: false` alone (no export).
    LEGACY = ("int8", "onnx")

    def __post_init__(self) -> None:
        if self.target is not None and str(self.target) != "none":
            check(str(self.target) in TARGETS, "export.target", f"must be one of {', '.join(TARGETS)} or none",
                  self.target)
            self.target = ExportTarget.parse(self.target, "export.target")
        else:
            self.target = None
        coerce_fields(self, "export.")
        self.options(parity_data=None)  # the values ExportOptions checks (ranges, opset), checked now

    @classmethod
    def from_dict(cls, values: dict, where: str = "export") -> ExportSection:
        check(isinstance(values, dict), where, "must be a mapping", values)
        values = dict(values)
        legacy = {k: values.pop(k) for k in cls.LEGACY if k in values}
        check(not (legacy and "target" in values), where, f"takes `target` or the older {list(legacy)}, not both",
              {**legacy, "target": values.get("target")})
        if legacy:
            values["target"] = ("onnx-int8-dynamic" if legacy.get("int8") else "onnx" if legacy.get("onnx")
                                else "none")
        return build_config(cls, values, where)

    def options(self, **fixed) -> ExportOptions | None:
        """The ExportOptions of this section plus `fixed` ones (data, threads); None without an export."""
        if self.target is None:
            return None
        chosen = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "target"}
        return ExportOptions(target=self.target, **{k: v for k, v in chosen.items() if v is not None}, **fixed)


# The pipeline's own teacher (fine-tuned by its teacher stage, or its `teacher: {pretrained: ...}`) in a student's
# `teachers:` list.
OWN_TEACHER = "pipeline"


def _section(cls, value, where: str):
    """A section of the recipe as `cls`: a mapping is built (unknown keys named), an instance kept, None kept."""
    if value is None or isinstance(value, cls):
        return value
    if hasattr(cls, "from_dict"):
        return cls.from_dict(value, where)
    return build_config(cls, value, where)


@dataclass
class PipelineConfig:
    """The whole job: which data, how to make the teacher and the student, what to measure."""

    output_dir: str = documented("runs/pipeline", "folder holding one sub-folder per stage and the report")
    train_data: str | list = documented(
        "squad-es-v1.1:dev-small@train", "training set of the teacher and the student (a spec or a list of specs)")
    eval_data: str = documented("squad-es-v1.1:dev-small@eval", "the set every model is scored on")
    heldout_data: list = documented(factory=list, doc="further sets scored but never trained or tuned on")
    data_dir: str | None = documented(None, "local data folder (else DESTILA_DATA_DIR, else download)")
    threads: int | None = documented(None, "torch / onnxruntime threads for every stage")
    max_eval_questions: int | None = documented(None, "score only the first N questions of each set (None: all)")
    eval_protocol: str = documented(
        "destila", "how answers are picked when scoring: destila (the best valid span inside the context) or authors "
        "(SpanishTinyRoBERTa's evaluation.py, as `destila evaluate --protocol authors`)")
    no_answer: bool | None = documented(
        None, "let models answer 'no answer' (None: on v2.0 eval data when the training data has unanswerable "
        "questions, never on v1.1 data), with each model's stored threshold")
    teacher: TeacherSection = documented(
        factory=dict, doc="TeacherSection: {model: M, train: {...}} to fine-tune, or {pretrained: folder}")
    student: dict = documented(
        factory=dict, doc="a distill recipe body: student, loss, stages, train, and optionally teachers (the "
        "pipeline's own as `model: pipeline`); checked as a DistillConfig when the recipe loads")
    baseline: dict | None = documented(None, "optional label-only student: a distill recipe body (loss: ce only)")
    trim: TrimSection | None = documented(None, "optional TrimSection: {corpus: [...], keep_top: N}")
    export: ExportSection = documented(factory=ExportSection, doc="ExportSection: {target: ..., parity options}")
    bench: BenchSection = documented(factory=BenchSection, doc="BenchSection: {max_questions, repeats, "
                                                               "latency_questions, batch_size, backends}")
    augment: AugmentConfig | None = documented(
        None, "teacher-labelled copies for the student's distillation (an augment section; not for the baseline)")
    quick: list = documented(factory=list, doc="dotted overrides (key=value) applied by --quick")

    def __post_init__(self) -> None:
        coerce_fields(self, "")
        self.train_data = data_specs(self.train_data, "train_data")
        if isinstance(self.heldout_data, str):
            self.heldout_data = [self.heldout_data]
        check(isinstance(self.heldout_data, list), "heldout_data", "must be a list of data sets", self.heldout_data)
        check(self.max_eval_questions is None or self.max_eval_questions > 0, "max_eval_questions", "must be > 0",
              self.max_eval_questions)
        from destila.evaluation import PROTOCOLS

        check(self.eval_protocol in PROTOCOLS, "eval_protocol", f"must be one of {', '.join(PROTOCOLS)}",
              self.eval_protocol)
        self.teacher = _section(TeacherSection, self.teacher, "teacher")
        self.trim = _section(TrimSection, self.trim, "trim")
        self.export = _section(ExportSection, self.export, "export")
        self.bench = _section(BenchSection, self.bench, "bench")
        if self.augment is not None and not isinstance(self.augment, AugmentConfig):
            self.augment = AugmentConfig.from_dict(self.augment, "augment")
        check(isinstance(self.quick, list) and all(isinstance(q, str) and "=" in q for q in self.quick), "quick",
              "must be a list of key=value overrides", self.quick)
        for name in ("student", "baseline"):
            value = getattr(self, name)
            check(value is None and name == "baseline" or isinstance(value, dict), name,
                  "must be a mapping (a distill recipe body)", value)
        # Build the sub-configs now so a broken recipe fails before hours of training.
        self.teacher_config()
        self.student_config()
        self.baseline_config()

    def to_dict(self) -> dict:
        """The recipe as plain data (what `destila_pipeline.yaml` stores)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    @property
    def out(self) -> Path:
        return Path(self.output_dir)

    @property
    def exports(self) -> bool:
        """Whether the student is exported (`export.target` is not none)."""
        return self.export.target is not None

    def _train_fields(self, body: dict, folder: str) -> dict:
        fields = dict(body or {})
        fields.setdefault("train_data", self.train_data)
        fields.setdefault("data_dir", self.data_dir)
        fields.setdefault("threads", self.threads)
        fields["output_dir"] = str(self.out / folder)
        return fields

    def teacher_config(self) -> TrainConfig | None:
        if self.teacher.pretrained is not None:
            return None
        body = self._train_fields(self.teacher.train, "teacher")
        body["model"] = self.teacher.model
        return build_config(TrainConfig, body, "teacher.train")

    def teacher_folder(self) -> str:
        return self.teacher.pretrained if self.teacher.pretrained is not None else str(self.out / "teacher")

    def _distill(self, body: dict | None, folder: str, where: str) -> DistillConfig | None:
        if body is None:
            return None
        body = copy.deepcopy(body)
        check("teacher" not in body, f"{where}.teacher", "is not set here: the pipeline's own teacher (the `teacher:` "
              f"section) teaches the {where}; name further teachers in {where}.teachers, the pipeline's own as "
              f"`model: {OWN_TEACHER}`", body.get("teacher"))
        body["train"] = self._train_fields(body.get("train"), folder)
        if body.get("teachers"):
            body["teachers"] = self._teachers(body["teachers"], f"{where}.teachers")
        else:
            body["teacher"] = self.teacher_folder()
        try:
            return build_config(DistillConfig, body, where)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def _teachers(self, teachers, where: str) -> list:
        """A distill body's `teachers` with the pipeline's own (`model: pipeline`) made its folder or Hub id."""
        check(isinstance(teachers, list) and all(isinstance(t, dict) for t in teachers), where,
              "must be a list of {model, weight, internals, layer_map} mappings", teachers)
        own = [i for i, t in enumerate(teachers) if t.get("model") == OWN_TEACHER]
        check(len(own) == 1, where, f"must name the pipeline's own teacher exactly once, as `model: {OWN_TEACHER}`, "
              "beside further pretrained teachers (to distil from other teachers alone, use `destila distill`)",
              [t.get("model") for t in teachers])
        return [{**t, "model": self.teacher_folder()} if i in own else t for i, t in enumerate(teachers)]

    def student_config(self) -> DistillConfig:
        body = self.student if self.augment is None else {**self.student, "augment": self.augment}
        cfg = self._distill(body, "student", "student")
        assert cfg is not None
        return cfg

    def baseline_config(self) -> DistillConfig | None:
        return self._distill(self.baseline, "baseline", "baseline")


def _pipeline_from_doc(doc: dict) -> PipelineConfig:
    body = {k: v for k, v in doc.items() if k != "kind"}
    return build_config(PipelineConfig, body, "recipe")


register_recipe_kind("pipeline", _pipeline_from_doc)


def load_pipeline(path: str | Path, overrides: list[str] | None = None, quick: bool = False) -> PipelineConfig:
    """A pipeline recipe plus overrides (and its `quick:` overrides first, with `quick=True`)."""
    doc = read_recipe(path)
    if doc.get("kind") != "pipeline":
        raise ConfigError(f"{path}: not a pipeline recipe (kind: {doc.get('kind')!r})")
    if quick:
        doc = apply_overrides(doc, list(doc.get("quick") or []))
    try:
        return config_from_dict(doc, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def use_sample_data(cfg: PipelineConfig) -> PipelineConfig:
    """The same recipe on the embedded sample alone (train = eval): a way to try the pipeline without data,
    whose scores are on training data and say nothing about quality."""
    body = dataclasses.asdict(cfg)
    body.update(train_data="sample", eval_data="sample", heldout_data=[])
    for part in ("teacher", "student", "baseline"):
        if body.get(part) and isinstance(body[part].get("train"), dict):
            body[part]["train"].pop("train_data", None)
            body[part]["train"].pop("eval_data", None)
    if body.get("trim"):
        body["trim"]["corpus"] = [c for c in body["trim"]["corpus"] if c.startswith("wordfreq:")] + ["sample"]
    return PipelineConfig(**body)


def export_target(export: dict | ExportSection) -> ExportTarget | None:
    """The export target a recipe's `export:` section asks for; None for no export. `target` decides; without it
    the older keys do (`int8: true`: dynamic int8, `onnx: true`: fp32 ONNX, `int8: false` alone: no export)."""
    return _section(ExportSection, export, "export").target
