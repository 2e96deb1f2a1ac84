"""The main job from one recipe: fine-tune a teacher, distil a student, trim its vocabulary, export it (by default
the fastest batch-independent target on this machine), evaluate and benchmark them side by side, and write a
report.

Every stage writes its own folder under `output_dir` and, once complete, a `stage.json` inside it; a stage whose
`stage.json` exists is skipped, so a killed pipeline continues where it stopped (a training stage killed midway
resumes from its last checkpoint).

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
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
)
from destila.errors import ConfigError

STAGE_FILE = "stage.json"


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


# ---------------------------------------------------------------------------------------------------------------
# Stages


@dataclass
class StageRecord:
    name: str
    folder: str
    seconds: float
    skipped: bool
    info: dict = field(default_factory=dict)


def _done(folder: Path) -> dict | None:
    path = folder / STAGE_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return None


def _forget(folder: Path) -> None:
    (folder / STAGE_FILE).unlink(missing_ok=True)


def _mark_done(folder: Path, name: str, seconds: float, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"stage": name, "seconds": round(seconds, 2), "info": info}
    tmp = folder / (STAGE_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(folder / STAGE_FILE)


class Runner:
    """Runs the stages in order, skipping complete ones; `log` receives one line per stage."""

    def __init__(self, cfg: PipelineConfig, log=print):
        self.cfg = cfg
        self.log = log
        self.records: list[StageRecord] = []

    def stage(self, name: str, folder: Path, work) -> dict:
        done = _done(folder)
        if done is not None:
            self.log(f"[{name}] complete in {folder}, skipped")
            self.records.append(StageRecord(name, str(folder), done.get("seconds", 0.0), True, done.get("info", {})))
            return done.get("info", {})
        self.log(f"[{name}] running -> {folder}")
        started = time.perf_counter()
        info = work() or {}
        seconds = time.perf_counter() - started
        _mark_done(folder, name, seconds, info)
        self.records.append(StageRecord(name, str(folder), seconds, False, info))
        self.log(f"[{name}] done in {seconds / 60:.1f} min")
        return info


def _train_resumable(run, cfg, folder: Path):
    from destila.train.state import latest_checkpoint

    # A folder with a checkpoint but no stage.json is a run that was killed: continue it.
    return run(cfg, resume=latest_checkpoint(folder) is not None)


def run_pipeline(cfg: PipelineConfig, log=print) -> dict:
    """Run every stage of `cfg` (skipping complete ones) and write report.md / report.json; returns the report."""
    from destila.train.recipe import run_distill, run_train

    out = cfg.out
    check_data(cfg)  # a missing data set fails now, with what to pass, not after an hour of training
    out.mkdir(parents=True, exist_ok=True)
    runner = Runner(cfg, log)

    teacher_cfg = cfg.teacher_config()
    teacher_dir = Path(cfg.teacher_folder())
    if teacher_cfg is not None:
        runner.stage("teacher", teacher_dir, lambda: {"folder": str(_train_resumable(run_train, teacher_cfg,
                                                                                      teacher_dir))})

    student_cfg = cfg.student_config()
    student_dir = out / "student"
    runner.stage("student", student_dir,
                 lambda: {"folder": str(_train_resumable(run_distill, student_cfg, student_dir))})

    baseline_cfg = cfg.baseline_config()
    baseline_dir = out / "baseline"
    if baseline_cfg is not None:
        runner.stage("baseline", baseline_dir,
                     lambda: {"folder": str(_train_resumable(run_distill, baseline_cfg, baseline_dir))})

    final_student = student_dir
    if cfg.trim is not None:
        trimmed = out / "student-trimmed"
        runner.stage("trim", trimmed, lambda: _trim(cfg, student_dir, trimmed))
        final_student = trimmed

    export_dir, target = None, export_target(cfg.export)
    if target is not None:
        export_dir = out / ("student-int8" if target == "onnx-int8-dynamic" else "student-export")
        runner.stage("export", export_dir, lambda: _export(cfg, final_student, export_dir))

    models = {"teacher": teacher_dir, "student": final_student}
    if baseline_cfg is not None:
        models["label-only student"] = baseline_dir
    if export_dir is not None:
        models["student int8" if target == "onnx-int8-dynamic" else "student exported"] = export_dir

    # One stage per (data set, model): adding a model later evaluates only that model.
    datasets = [cfg.eval_data, *cfg.heldout_data]
    scores: dict[str, dict[str, Any]] = {}
    for data in datasets:
        scores[data] = {}
        for name, model in models.items():
            folder = out / "eval" / _slug(data) / _slug(name)
            scores[data][name] = runner.stage(f"evaluate {name} on {data}", folder,
                                              lambda d=data, m=model, f=folder: _evaluate(cfg, m, d, f))

    bench_dir = out / "bench"
    wanted = {name: str(m) for name, m in models.items()} | {"backends": cfg.bench.get("backends", [])}
    if (_done(bench_dir) or {}).get("info", {}).get("compared") != wanted:
        _forget(bench_dir)  # measured on another set of models: measure again, side by side
    bench = runner.stage("bench", bench_dir, lambda: {**_bench(cfg, models, bench_dir), "compared": wanted})

    report = build_report(cfg, models, scores, bench, runner.records)
    report["final_student"] = str(final_student)
    write_report(report, out)
    log(f"report: {out / 'report.md'}")
    return report


def check_data(cfg: PipelineConfig) -> None:
    """Load every data set the recipe names (downloading what is missing and allowed); errors say what to pass."""
    from destila.data import load_dataset

    load_dataset(cfg.train_data, data_dir=cfg.data_dir)  # one spec or a list, read as one set
    for spec in dict.fromkeys([cfg.eval_data, *cfg.heldout_data]):
        load_dataset(spec, data_dir=cfg.data_dir)


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


def _slug(spec: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in spec)


def _trim(cfg: PipelineConfig, source: Path, out: Path) -> dict:
    from destila.models.trim import trim_vocabulary

    if out.exists():
        shutil.rmtree(out)  # a half-written folder from a killed run; trimming is quick to redo
    report = trim_vocabulary(str(source), cfg.trim["corpus"], out, data_dir=cfg.data_dir,
                             keep_top=int(cfg.trim.get("keep_top", 0)))
    return {"folder": str(out), **_asdict(report)}


def _asdict(obj) -> dict:
    import dataclasses

    if dataclasses.is_dataclass(obj):
        return json.loads(json.dumps(dataclasses.asdict(obj), default=str))
    return dict(obj) if isinstance(obj, dict) else {"value": str(obj)}


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


def _export(cfg: PipelineConfig, source: Path, out: Path) -> dict:
    from destila.export.options import ExportOptions
    from destila.export.targets import export_model

    if out.exists():
        shutil.rmtree(out)
    opts = {k: v for k, v in cfg.export.items() if k not in ("onnx", "int8", "target")}
    # Static int8 scales come from the recipe's training questions; parity is checked on its eval set.
    options = ExportOptions(**{"target": export_target(cfg.export), "parity_data": cfg.eval_data,
                               "calibration_data": cfg.train_data, "data_dir": cfg.data_dir, "threads": cfg.threads,
                               **opts})
    info = export_model(str(source), out, options)
    return {"folder": str(out), **json.loads(json.dumps(info, default=str))}


def _evaluate(cfg: PipelineConfig, model: Path, data: str, folder: Path) -> dict:
    from destila.data import load_dataset
    from destila.evaluation import Protocol, evaluate

    dataset = load_dataset(data, data_dir=cfg.data_dir)
    no_answer = cfg.no_answer
    if no_answer is None:  # v2.0 data, and models that learnt to say "no answer"; v1.1 data: never (as the paper)
        no_answer = dataset.version == "2.0" and load_dataset(cfg.train_data, data_dir=cfg.data_dir).unanswerable > 0
    # the threshold each model's training run chose on training-fold questions (destila.no_answer), else 0
    result = evaluate(str(model), dataset, threads=cfg.threads, protocol=Protocol(first=cfg.max_eval_questions),
                      handle_impossible_answer=no_answer, null_threshold=None, progress=True)
    result.write(folder)
    return {"data": data, "model": str(model), "version": result.dataset.version, "no_answer": no_answer,
            "null_threshold": result.null_threshold, "questions": len(result.dataset),
            "seconds": round(result.seconds, 2), "metrics": result.metrics}


def _bench(cfg: PipelineConfig, models: dict[str, Path], folder: Path) -> dict:
    """Every model on its own backend, then the student on each of `bench.backends`; names the student's fastest
    row under "best_student"."""
    from destila.bench.measure import run_bench
    from destila.data import load_dataset

    opts = dict(cfg.bench)
    dataset = load_dataset(cfg.eval_data, data_dir=cfg.data_dir).head(opts.pop("max_questions", None))
    extra = [str(b) for b in opts.pop("backends", [])]
    entries = [str(m) for m in models.values()] + [(str(models["student"]), b) for b in extra]
    names = list(models) + [f"student ({b})" for b in extra]
    result = run_bench(entries, dataset, folder, names=names, threads=cfg.threads, **opts)
    result = json.loads(json.dumps(result, default=str))
    from destila.export.targets import machine

    result["best_student"] = best_student(result["models"])
    if result["best_student"] is not None:
        result["best_student"]["machine"] = machine()["cpu"]
    return result


def best_student(rows: list[dict]) -> dict | None:
    """The student's fastest bench row (any backend, exported or not), with its speed-up over the fp32 student
    and over the teacher."""
    by_name = {r["name"]: r for r in rows}
    students = [r for r in rows if r["name"].startswith("student")]
    if not students or "teacher" not in by_name or "student" not in by_name:
        return None
    best = max(students, key=lambda r: r["throughput_qps"])
    return {"name": best["name"], "backend": best["backend"], "throughput_qps": best["throughput_qps"],
            "vs_student": best["throughput_qps"] / by_name["student"]["throughput_qps"],
            "vs_teacher": best["throughput_qps"] / by_name["teacher"]["throughput_qps"]}


# ---------------------------------------------------------------------------------------------------------------
# Report


def _f1(metrics: dict, variant: str) -> tuple[float, float]:
    m = metrics[variant]
    return float(m["f1"]), float(m.get("exact_match", m.get("exact")))


def _score_cell(evaluated: dict, teacher_f1: float) -> dict:
    """One model's scores on one data set; on v2.0 data also F1 over the answerable (HasAns) and unanswerable
    (NoAns) questions and the no-answer threshold used (None: "no answer" was off)."""
    metrics = evaluated["metrics"]
    f1, em = _f1(metrics, "official")
    f1_es, em_es = _f1(metrics, "es")
    cell = {"f1": f1, "em": em, "f1_es": f1_es, "em_es": em_es, "f1_kept": f1 / teacher_f1 if teacher_f1 else None}
    if "HasAns_f1" in metrics["official"] or "NoAns_f1" in metrics["official"]:
        # a stage recorded before thresholds were stored used 0
        used = (evaluated.get("null_threshold") or {"value": 0.0})["value"] if evaluated.get("no_answer") else None
        cell.update(has_ans_f1=metrics["official"].get("HasAns_f1"), no_ans_f1=metrics["official"].get("NoAns_f1"),
                    null_threshold=used)
    return cell


def build_report(cfg: PipelineConfig, models: dict[str, Path], scores: dict, bench: dict, records) -> dict:
    """Everything measured, by model: the bench's speed, size and memory joined by name with each data set's
    scores (`_score_cell`); the plot's points come from the same rows."""
    rows = {r["name"]: r for r in bench.get("models", [])}
    table = []
    teacher_f1 = {}
    for data, result in scores.items():
        teacher_f1[data] = _f1(result["teacher"]["metrics"], "official")[0]
    for name, folder in models.items():
        row: dict[str, Any] = {"name": name, "folder": str(folder)}
        b = rows.get(name, {})
        for key in ("parameters", "disk_bytes", "memory_bytes", "throughput_qps", "latency_p50_ms",
                    "latency_p95_ms", "speedup"):
            row[key] = b.get(key)
        for data, result in scores.items():
            row[data] = _score_cell(result[name], teacher_f1[data])
        table.append(row)
    teacher_params = table[0].get("parameters")
    for row in table:
        p = row.get("parameters")
        row["parameter_ratio"] = teacher_params / p if p and teacher_params else None
    return {
        "config": _plain_cfg(cfg),
        "eval_data": cfg.eval_data,
        "heldout_data": cfg.heldout_data,
        "max_eval_questions": cfg.max_eval_questions,
        "questions": {data: result["teacher"].get("questions") for data, result in scores.items()},
        "bench_questions": bench.get("questions"),
        "models": table,
        "best_student": bench.get("best_student"),
        "stages": [r.__dict__ for r in records],
        "total_minutes": round(sum(r.seconds for r in records if not r.skipped) / 60, 2),
        "plot": str(Path(cfg.output_dir) / _plot_file()),
    }


def _plot_file() -> str:
    """The report's plot, beside report.md: the report's own eval-fold scores against the bench's speed."""
    return "f1_vs_speed.png"


def plot_points(report: dict) -> dict[str, tuple[float, float | None]]:
    """{model: (F1 on the eval data, the bench's questions/s)}: the numbers of report.md's first table."""
    data = report["eval_data"]
    return {row["name"]: (row[data]["f1"], row.get("throughput_qps")) for row in report["models"]}


def _plain_cfg(cfg: PipelineConfig) -> dict:
    import dataclasses

    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def write_report(report: dict, out: Path) -> None:
    """report.json (everything), report.md (one short table for the eval data, one per other data set, then the
    stages) and the plot of the first table's numbers."""
    from destila.bench.plot import plot_speed_quality

    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), "utf-8")
    data = report["eval_data"]
    questions = report.get("questions", {}).get(data)
    plot_speed_quality(plot_points(report), out / _plot_file(),
                       title=f"{data}: F1 on {_count(questions)} questions, speed from the bench",
                       speed_note=f"bench, {_count(report.get('bench_questions'))} questions")
    lines = ["# destila pipeline report", "", f"## {data}", "", _subset_note(report, data), "",
             *_score_table(report, data, speed=True)]
    best = report.get("best_student")
    if best:
        lines += ["", f"Fastest student here ({best['machine']}): **{best['name']}** on `{best['backend']}`, "
                  f"{best['throughput_qps']:.1f} q/s: {best['vs_student']:.2f}x the fp32 PyTorch student, "
                  f"{best['vs_teacher']:.2f}x the teacher."]
    lines += ["", f"![% of the teacher's F1 kept against x faster; F1 against q/s]({_plot_file()})", ""]
    for other in report["heldout_data"]:
        lines += [f"## {other}", "", _subset_note(report, other), "", *_score_table(report, other, speed=False), ""]
    lines += ["Scores: official SQuAD F1 / EM; % of teacher: F1 over the teacher's. Speed: `destila bench` on "
              f"{_count(report.get('bench_questions'))} questions of {data}, the models side by side in one run; "
              "x faster: q/s over the teacher's. report.json also holds the Spanish-variant scores, latency, disk "
              "and memory.", ""]
    if any(s.get("has_ans_f1") is not None for row in report["models"] for s in _cells(row, report)):
        lines += ["SQuAD v2.0 data: HasAns / NoAns F1 over the answerable / unanswerable questions; a model says "
                  '"no answer" when its null odds exceed the threshold its training run chose on training-fold '
                  "questions (`destila_no_answer.json`; off: a model never trained on unanswerable questions).", ""]
    lines += ["## Stages", "", "| stage | minutes | |", "|---|---:|---|"]
    for st in report["stages"]:
        lines.append(f"| {st['name']} | {st['seconds'] / 60:.1f} | {'skipped (complete)' if st['skipped'] else ''} |")
    lines += ["", f"Total this run: {report['total_minutes']:.1f} min.", ""]
    (out / "report.md").write_text("\n".join(lines), "utf-8")


def _count(n) -> str:
    return "?" if n is None else f"{n:,}"


def _cells(row: dict, report: dict) -> list[dict]:
    return [row[data] for data in [report["eval_data"], *report["heldout_data"]]]


def _subset_note(report: dict, data: str) -> str:
    n = report.get("questions", {}).get(data)
    if report.get("max_eval_questions"):
        return (f"The first {_count(n)} questions only (`max_eval_questions: {report['max_eval_questions']}`, as "
                "`--quick` sets): a first look, not comparable with a full run.")
    return f"{_count(n)} questions."


def _score_table(report: dict, data: str, speed: bool) -> list[str]:
    """One data set's table: model, (parameters, q/s, x faster,) F1, EM, % of teacher, and on v2.0 data HasAns
    F1, NoAns F1 and the no-answer threshold."""
    v2 = any("has_ans_f1" in row[data] for row in report["models"])
    header = "| model |" + (" parameters | q/s | x faster |" if speed else "") + " F1 | EM | % of teacher |"
    header += " HasAns F1 | NoAns F1 | threshold |" if v2 else ""
    lines = [header, "|---|" + "---:|" * (header.count("|") - 2)]
    for row in report["models"]:
        s = row[data]
        line = f"| {row['name']} |"
        if speed:
            params = row.get("parameters")
            line += (f" {_fmt(params / 1e6 if params else None, '.1f')} M | {_fmt(row.get('throughput_qps'), '.1f')} "
                     f"| {_fmt(row.get('speedup'), '.2f')} |")
        kept = None if s["f1_kept"] is None else 100 * s["f1_kept"]
        line += f" {s['f1']:.2f} | {s['em']:.2f} | {_fmt(kept, '.1f')} |"
        if v2:
            threshold = "off" if s.get("null_threshold") is None else f"{s['null_threshold']:.4g}"
            line += f" {_fmt(s.get('has_ans_f1'), '.2f')} | {_fmt(s.get('no_ans_f1'), '.2f')} | {threshold} |"
        lines.append(line)
    return lines
