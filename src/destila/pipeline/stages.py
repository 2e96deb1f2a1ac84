"""The pipeline's stages: teacher -> student -> baseline -> trim -> export -> evaluate (then every score into each
model's card) -> bench -> report.

Every stage writes its own folder under `output_dir` and, once complete, a `stage.json` inside it; a stage whose
`stage.json` exists is skipped, so a killed pipeline continues where it stopped (a training stage killed midway
resumes from its last checkpoint).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from destila.memory import in_child, release
from destila.pipeline.recipe import PipelineConfig
from destila.pipeline.report import build_report, write_report

STAGE_FILE = "stage.json"


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
        release()  # what the stage's models and tensors held, back to the system before the next stage
        seconds = time.perf_counter() - started
        _mark_done(folder, name, seconds, info)
        self.records.append(StageRecord(name, str(folder), seconds, False, info))
        self.log(f"[{name}] done in {seconds / 60:.1f} min")
        return info


def _train_resumable(run, cfg, folder: Path):
    """Train in a child process (its memory all given back when it ends, whatever the allocator kept), resuming
    a folder with a checkpoint but no stage.json: a run that was killed."""
    return in_child(_train, run, cfg, folder)


def _train(run, cfg, folder: Path):
    from destila.train.state import latest_checkpoint

    return run(cfg, resume=latest_checkpoint(folder) is not None)


def run_pipeline(cfg: PipelineConfig, log=print, *, restart: bool = False, allow_change: list[str] = ()) -> dict:
    """Run every stage of `cfg` (skipping complete ones) and write report.md / report.json; returns the report.
    A folder started with another recipe is refused (destila.train.resume) unless `restart` (start over) or the
    changed keys are in `allow_change` (stages already complete are kept)."""
    from destila.train.recipe import run_distill, run_train

    out = cfg.out
    check_data(cfg)  # a missing data set fails now, with what to pass, not after an hour of training
    _open_folder(cfg, restart, allow_change, log)
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

    export_dir, target = None, cfg.export.target
    if target is not None:
        export_dir = out / ("student-export" if target.batch_independent else "student-int8")
        runner.stage("export", export_dir, lambda: _export(cfg, final_student, export_dir))

    models = {"teacher": teacher_dir, "student": final_student}
    if baseline_cfg is not None:
        models["label-only student"] = baseline_dir
    if export_dir is not None:
        models["student exported" if target.batch_independent else "student int8"] = export_dir

    # One stage per (data set, model): adding a model later evaluates only that model. Another protocol scores in
    # a folder of its own, so switching protocols never reports the other one's scores.
    datasets = [cfg.eval_data, *cfg.heldout_data]
    evals = out / ("eval" if cfg.eval_protocol == "destila" else f"eval-{cfg.eval_protocol}")
    named = "" if cfg.eval_protocol == "destila" else f" ({cfg.eval_protocol} protocol)"
    scores: dict[str, dict[str, Any]] = {}
    for data in datasets:
        scores[data] = {}
        for name, model in models.items():
            folder = evals / _slug(data) / _slug(name)
            scores[data][name] = runner.stage(f"evaluate {name} on {data}{named}", folder,
                                              lambda d=data, m=model, f=folder: _evaluate(cfg, m, d, f))
    write_cards(cfg, models, scores, log)

    bench_dir = out / "bench"
    wanted = {name: str(m) for name, m in models.items()} | {"backends": cfg.bench.backends}
    if (_done(bench_dir) or {}).get("info", {}).get("compared") != wanted:
        _forget(bench_dir)  # measured on another set of models: measure again, side by side
    bench = runner.stage("bench", bench_dir, lambda: {**_bench(cfg, models, bench_dir), "compared": wanted})

    report = build_report(cfg, models, scores, bench, runner.records)
    report["final_student"] = str(final_student)
    write_report(report, out)
    log(f"report: {out / 'report.md'}")
    return report


def _open_folder(cfg: PipelineConfig, restart: bool, allow_change: list[str], log) -> None:
    """Compare the folder's stored recipe with `cfg` (or start over), then store `cfg`'s."""
    from destila import files
    from destila.train.resume import check_rerun, clear_run, store_recipe

    stored = cfg.out / files.PIPELINE_RECIPE
    if restart:
        for record in cfg.out.rglob(STAGE_FILE):
            record.unlink()
        for folder in ("teacher", "student", "baseline"):
            clear_run(cfg.out / folder)
        stored.unlink(missing_ok=True)
    check_rerun(stored, cfg.to_dict(), allow=allow_change, log=log)
    store_recipe(stored, cfg.to_dict())


def check_data(cfg: PipelineConfig) -> None:
    """Load every data set the recipe names (downloading what is missing and allowed); errors say what to pass."""
    from destila.data import load_dataset

    load_dataset(cfg.train_data, data_dir=cfg.data_dir)  # one spec or a list, read as one set
    for spec in dict.fromkeys([cfg.eval_data, *cfg.heldout_data]):
        load_dataset(spec, data_dir=cfg.data_dir)


def _slug(spec: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in spec)


def _trim(cfg: PipelineConfig, source: Path, out: Path) -> dict:
    from destila.card import relocate_usage
    from destila.models.trim import trim_vocabulary

    if out.exists():
        shutil.rmtree(out)  # a half-written folder from a killed run; trimming is quick to redo
    report = trim_vocabulary(str(source), cfg.trim.corpus, out, data_dir=cfg.data_dir, keep_top=cfg.trim.keep_top)
    relocate_usage(out)
    return {"folder": str(out), **_asdict(report)}


def _asdict(obj) -> dict:
    import dataclasses

    if dataclasses.is_dataclass(obj):
        return json.loads(json.dumps(dataclasses.asdict(obj), default=str))
    return dict(obj) if isinstance(obj, dict) else {"value": str(obj)}


def _export(cfg: PipelineConfig, source: Path, out: Path) -> dict:
    from destila.export.targets import export_model

    if out.exists():
        shutil.rmtree(out)
    # Static int8 scales come from the recipe's training questions; parity is checked on its eval set.
    options = cfg.export.options(parity_data=cfg.eval_data, calibration_data=cfg.train_data, data_dir=cfg.data_dir,
                                 threads=cfg.threads)
    info = export_model(str(source), out, options)
    return {"folder": str(out), **json.loads(json.dumps(info, default=str))}


def _evaluate(cfg: PipelineConfig, model: Path, data: str, folder: Path) -> dict:
    from destila.data import load_dataset
    from destila.evaluation import Protocol, evaluate

    dataset = load_dataset(data, data_dir=cfg.data_dir)
    no_answer = cfg.no_answer
    if cfg.eval_protocol == "authors":  # their decoding answers "" only when no window has a pair: no threshold
        no_answer = False
    elif no_answer is None:  # v2.0 data, and models that learnt to say "no answer"; v1.1 data: never (the paper)
        no_answer = dataset.version == "2.0" and load_dataset(cfg.train_data, data_dir=cfg.data_dir).unanswerable > 0
    # the threshold each model's training run chose on training-fold questions (destila.no_answer), else 0
    protocol = Protocol(cfg.eval_protocol, first=cfg.max_eval_questions)
    result = evaluate(str(model), dataset, threads=cfg.threads, protocol=protocol,
                      handle_impossible_answer=no_answer, null_threshold=None, progress=True)
    result.write(folder)
    return {"data": data, "model": str(model), "version": result.dataset.version, "no_answer": no_answer,
            "null_threshold": result.null_threshold, "questions": len(result.dataset),
            "seconds": round(result.seconds, 2), "metrics": result.metrics, "protocol": result.protocol}


def write_cards(cfg: PipelineConfig, models: dict[str, Path], scores: dict[str, dict[str, dict]], log) -> None:
    """Every evaluation the pipeline ran into the card of each model folder it made (destila.card
    `write_card_results`: one `model-index` entry per data set and protocol, the numbers of report.json; an exported
    folder's card also says its target and precision). A teacher given as `pretrained` is someone else's folder
    (or a Hub id) and is left as it is."""
    from destila.card import write_card_results

    own, written = cfg.out.resolve(), []
    for name, folder in models.items():
        if not folder.resolve().is_relative_to(own):
            log(f"[cards] {name} ({folder}) is not a folder of this run: its card is left as it is")
            continue
        write_card_results(folder, [_card_evaluation(by_model[name]) | {"data": data}
                                    for data, by_model in scores.items()])
        written.append(name)
    log(f"[cards] scores written into the cards of: {', '.join(written) or 'none'}")


def _card_evaluation(info: dict) -> dict:
    """An evaluate stage's record as write_card_results takes it; a record from before protocols were stored was
    scored by destila's."""
    protocol = (info.get("protocol") or {}).get("name", "destila")
    return {"metrics": info["metrics"], "protocol": protocol, "questions": info.get("questions")}


def _bench(cfg: PipelineConfig, models: dict[str, Path], folder: Path) -> dict:
    """Every model on its own backend, then the student on each of `bench.backends`; names the student's fastest
    row under "best_student"."""
    from destila.bench.measure import run_bench
    from destila.data import load_dataset

    bench = cfg.bench
    dataset = load_dataset(cfg.eval_data, data_dir=cfg.data_dir).head(bench.max_questions)
    extra = list(bench.backends)
    entries = [str(m) for m in models.values()] + [(str(models["student"]), b) for b in extra]
    names = list(models) + [f"student ({b})" for b in extra]
    result = run_bench(entries, dataset, folder, names=names, threads=cfg.threads,
                       repeats=bench.repeats, latency_questions=bench.latency_questions, batch_size=bench.batch_size)
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
