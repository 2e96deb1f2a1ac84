"""The pipeline's recipe (`kind: pipeline`): `PipelineConfig`, `load_pipeline`, `export_target`.

Recipe (`kind: pipeline`):

    output_dir: runs/demo
    train_data: squad-es-v1.1:dev-small@train      # teacher and student learn from this (a spec or a list)
    eval_data: squad-es-v1.1:dev-small@eval        # scores are reported on this
    heldout_data: [sample]                         # further Spanish sets, never trained or tuned on
    teacher: {model: offline:multilingual-e5-small, train: {TrainConfig fields}}   # or {pretrained: folder}
    student: {student: {layers: [...]}, loss: {...}, stages: [...], train: {...}}  # a distill recipe body
    baseline: {...}                                # optional: a label-only student of the same shape and budget
    trim: {corpus: [...], keep_top: 0}             # optional vocabulary trimming of the student
    export: {target: auto}                         # onnx, onnx-int8-static, openvino, openvino-int8, auto, none
    bench: {max_questions: 300, repeats: 2, backends: [torch-bf16]}   # backends: more rows of the student
    quick: [dotted overrides applied with --quick]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

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
    no_answer: bool | None = documented(
        None, "let models answer 'no answer' (None: on v2.0 eval data when the training data has unanswerable "
        "questions, never on v1.1 data), with each model's stored threshold")
    teacher: dict = documented(factory=dict, doc="{model: M, train: {...}} to fine-tune, or {pretrained: folder}")
    student: dict = documented(factory=dict, doc="a distill recipe body: student, loss, stages, train")
    baseline: dict | None = documented(None, "optional label-only student: a distill recipe body (loss: ce only)")
    trim: dict | None = documented(None, "optional {corpus: [...], keep_top: N} vocabulary trimming of the student")
    export: dict = documented(
        factory=lambda: {"target": "auto"},
        doc="{target: auto|onnx|onnx-int8-static|openvino|openvino-int8|none, parity_max_questions: N}")
    bench: dict = documented(factory=dict, doc="{max_questions: N, repeats: N, latency_questions: N, batch_size: N, "
                                               "backends: [the student's further backends]}")
    augment: dict | None = documented(
        None, "teacher-labelled copies for the student's distillation (an augment section; not for the baseline)")
    quick: list = documented(factory=list, doc="dotted overrides applied by --quick")

    def __post_init__(self) -> None:
        coerce_fields(self, "")
        self.train_data = data_specs(self.train_data, "train_data")
        if isinstance(self.heldout_data, str):
            self.heldout_data = [self.heldout_data]
        check(isinstance(self.heldout_data, list), "heldout_data", "must be a list of data sets", self.heldout_data)
        has_model, has_pre = "model" in self.teacher, "pretrained" in self.teacher
        check(has_model != has_pre, "teacher", "needs exactly one of `model` (to fine-tune) or `pretrained`",
               self.teacher)
        # Build the sub-configs now so a broken recipe fails before hours of training.
        self.teacher_config()
        self.student_config()
        self.baseline_config()
        if self.trim is not None:
            corpus = self.trim.get("corpus")
            check(isinstance(corpus, list) and bool(corpus), "trim.corpus", "must be a non-empty list", corpus)
            unknown = set(self.trim) - {"corpus", "keep_top"}
            check(not unknown, "trim", f"has unknown field(s) {sorted(unknown)}", self.trim)

    @property
    def out(self) -> Path:
        return Path(self.output_dir)

    @property
    def exports(self) -> bool:
        """Whether the student is exported (see `export_target`)."""
        return export_target(self.export) is not None

    def _train_fields(self, body: dict, folder: str) -> dict:
        fields = dict(body or {})
        fields.setdefault("train_data", self.train_data)
        fields.setdefault("data_dir", self.data_dir)
        fields.setdefault("threads", self.threads)
        fields["output_dir"] = str(self.out / folder)
        return fields

    def teacher_config(self) -> TrainConfig | None:
        if "pretrained" in self.teacher:
            return None
        extra = set(self.teacher) - {"model", "train"}
        check(not extra, "teacher", f"has unknown field(s) {sorted(extra)}", self.teacher)
        body = self._train_fields(self.teacher.get("train"), "teacher")
        body["model"] = self.teacher["model"]
        return build_config(TrainConfig, body, "teacher.train")

    def teacher_folder(self) -> str:
        return str(self.teacher["pretrained"]) if "pretrained" in self.teacher else str(self.out / "teacher")

    def _distill(self, body: dict | None, folder: str, where: str) -> DistillConfig | None:
        if body is None:
            return None
        body = copy.deepcopy(body)
        body["train"] = self._train_fields(body.get("train"), folder)
        body["teacher"] = self.teacher_folder()
        try:
            return build_config(DistillConfig, body, where)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

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
    import dataclasses

    body = dataclasses.asdict(cfg)
    body.update(train_data="sample", eval_data="sample", heldout_data=[])
    for part in ("teacher", "student", "baseline"):
        if body.get(part) and isinstance(body[part].get("train"), dict):
            body[part]["train"].pop("train_data", None)
            body[part]["train"].pop("eval_data", None)
    if body.get("trim"):
        body["trim"]["corpus"] = [c for c in body["trim"]["corpus"] if c.startswith("wordfreq:")] + ["sample"]
    return PipelineConfig(**body)


def export_target(export: dict) -> str | None:
    """The export target a recipe's `export:` section asks for; None for no export. `target` decides; without it
    the older keys do (`int8: true`: dynamic int8, `onnx: true`: fp32 ONNX, `int8: false` alone: no export)."""
    if "target" in export:
        return None if export["target"] in (None, "none") else str(export["target"])
    if export.get("int8"):
        return "onnx-int8-dynamic"
    if export.get("onnx"):
        return "onnx"
    return None if "int8" in export else "auto"
