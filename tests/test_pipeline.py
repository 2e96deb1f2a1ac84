"""The main job end to end on tiny models and the embedded sample: stages, report, and resuming after a kill."""

import json
from pathlib import Path

import pytest
import yaml

from destila import pipeline as pl
from destila.errors import ConfigError
from destila.pipeline import stages
from destila.pipeline.report import PLOT_FILE
from hub_stand_in import run_push


def _recipe(tmp_path: Path, teacher_dir: Path) -> Path:
    train = {"max_length": 96, "doc_stride": 32, "batch_size": 4, "max_steps": 3, "max_train_examples": 24,
             "learning_rate": 1e-3, "threads": 1, "progress": False}
    doc = {
        "kind": "pipeline",
        "output_dir": str(tmp_path / "run"),
        "train_data": "sample",
        "eval_data": "sample",
        "heldout_data": [],
        "threads": 1,
        "max_eval_questions": 12,
        "teacher": {"model": str(teacher_dir), "train": train},
        "student": {"student": {"layers": [2]}, "loss": {"ce": 0.5, "kd": 0.5, "hidden": 0, "attention": 0,
                                                         "embedding": 0, "projection": "none"},
                    "train": train},
        "baseline": {"student": {"layers": [2]}, "loss": {"ce": 1, "kd": 0, "hidden": 0, "attention": 0,
                                                          "embedding": 0, "projection": "none"},
                     "train": train},
        "trim": {"corpus": ["sample"], "keep_top": 0},
        "export": {"int8": True, "parity_max_questions": 8, "min_agreement": 0.0, "max_f1_drop": 100.0},
        "bench": {"max_questions": 8, "repeats": 1, "latency_questions": 3, "batch_size": 4},
        "quick": ["teacher.train.max_steps=1"],
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_pipeline_runs_every_stage_then_resumes_after_a_kill(tmp_path, tiny_qa_model_dir, monkeypatch,
                                                             stand_in_hub):
    path = _recipe(tmp_path, tiny_qa_model_dir)
    cfg = pl.load_pipeline(path)
    out = Path(cfg.output_dir)

    real_export = stages._export

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(stages, "_export", killed)
    with pytest.raises(KeyboardInterrupt):
        pl.run_pipeline(cfg, log=lambda m: None)
    for stage in ("teacher", "student", "baseline", "student-trimmed"):
        assert (out / stage / pl.STAGE_FILE).exists(), stage
    assert not (out / "student-int8" / pl.STAGE_FILE).exists()

    monkeypatch.setattr(stages, "_export", real_export)
    lines = []
    report = pl.run_pipeline(cfg, log=lines.append)
    skipped = {r["name"] for r in report["stages"] if r["skipped"]}
    ran = {r["name"] for r in report["stages"] if not r["skipped"]}
    assert skipped == {"teacher", "student", "baseline", "trim"}
    evaluations = {f"evaluate {m} on sample" for m in ("teacher", "student", "label-only student", "student int8")}
    assert {"export", "bench"} | evaluations == ran

    names = [m["name"] for m in report["models"]]
    assert names == ["teacher", "student", "label-only student", "student int8"]
    for row in report["models"]:
        assert row["parameters"] > 0 and row["throughput_qps"] > 0
        assert 0.0 <= row["sample"]["f1"] <= 100.0
    student = next(r for r in report["models"] if r["name"] == "student")
    assert student["parameter_ratio"] > 1.0  # one of two layers and a trimmed vocabulary
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["models"] == json.loads(json.dumps(report["models"]))
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "student int8" in md and "## sample" in md and "| model | parameters | q/s | x faster |" in md
    assert (out / PLOT_FILE).stat().st_size > 1000
    assert (out / "eval" / "sample" / "student" / "predictions.json").exists()

    again = pl.run_pipeline(cfg, log=lambda m: None)
    assert all(r["skipped"] for r in again["stages"])
    assert again["models"] == report["models"]
    _check_cards(report, stand_in_hub, tmp_path)

    # A rerun with a recipe that alters the run is refused, naming the difference; harmless or allowed ones pass.
    with pytest.raises(ConfigError, match=r"student\.train\.batch_size: 4 -> 2"):
        pl.run_pipeline(pl.load_pipeline(path, ["student.train.batch_size=2"]), log=lambda m: None)
    lines = []
    pl.run_pipeline(pl.load_pipeline(path, ["max_eval_questions=10", "threads=2"]), log=lines.append,
                    allow_change=["max_eval_questions"])
    assert any("(allowed): max_eval_questions: 12 -> 10" in line for line in lines)
    assert any("(harmless): threads: 1 -> 2" in line for line in lines)


def _f1s(card: Path) -> dict:
    """{(data set, protocol): official F1} of a card's model-index, as huggingface_hub reads it."""
    from huggingface_hub import metadata_load
    from huggingface_hub.repocard_data import model_index_to_eval_results

    _, results = model_index_to_eval_results(metadata_load(card)["model-index"])
    return {(r.dataset_name, r.metric_args["protocol"]): r.metric_value for r in results
            if r.metric_type == "f1" and r.metric_config == "official"}


def _check_cards(report: dict, hub, tmp_path: Path) -> None:
    """Every model folder's card carries the pipeline's scores, as report.json has them, and publishes them."""
    from huggingface_hub import ModelCard

    for row in report["models"]:
        card = Path(row["folder"]) / "README.md"
        assert _f1s(card) == {("sample", "destila"): row["sample"]["f1"]}, row["name"]
        name = ModelCard.load(card).data.model_name  # huggingface_hub's own parser reads the card
        assert name and "/" not in name  # what the model is, never its path
    final = Path(report["final_student"]) / "README.md"
    saved = json.loads((Path(report["final_student"]).parent / "report.json").read_text(encoding="utf-8"))
    student = next(r for r in saved["models"] if r["name"] == "student")
    assert _f1s(final)[("sample", "destila")] == student["sample"]["f1"]
    body = final.read_text(encoding="utf-8")
    assert "## Evaluations" in body and "scored after training: see Evaluations" in body
    exported = next(r for r in report["models"] if r["name"] == "student int8")
    assert "**Export target**: `onnx-int8-dynamic`" in (Path(exported["folder"]) / "README.md").read_text("utf-8")

    result = run_push(Path(report["final_student"]), "someone/tiny-student", hub, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    published = tmp_path / "published.md"
    published.write_bytes(hub.hub["files"]["README.md"])
    assert _f1s(published) == {("sample", "destila"): student["sample"]["f1"]}


def test_eval_protocol_scores_and_cards_by_the_authors_rules(tmp_path, tiny_qa_model_dir):
    import shutil

    cfg = pl.load_pipeline(_recipe(tmp_path, tiny_qa_model_dir), ["eval_protocol=authors", "max_eval_questions=6"])
    student = Path(shutil.copytree(tiny_qa_model_dir, cfg.out / "student"))
    info = stages._evaluate(cfg, student, "sample", tmp_path / "eval")
    assert info["protocol"]["name"] == "authors" and info["no_answer"] is False and info["questions"] == 6
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["protocol"]["name"] == "authors"
    outside = (tiny_qa_model_dir / "README.md").read_bytes() if (tiny_qa_model_dir / "README.md").exists() else None
    lines = []
    stages.write_cards(cfg, {"teacher": tiny_qa_model_dir, "student": student},
                       {"sample": {"teacher": info, "student": info}}, lines.append)
    assert _f1s(student / "README.md") == {("sample", "authors"): info["metrics"]["official"]["f1"]}
    assert "| `sample` | authors | 6 |" in (student / "README.md").read_text(encoding="utf-8")
    # a teacher outside the run's folder (a `pretrained` one) is someone else's: its card is left alone
    after = (tiny_qa_model_dir / "README.md").read_bytes() if (tiny_qa_model_dir / "README.md").exists() else None
    assert after == outside and any("teacher" in line and "left as it is" in line for line in lines)
    with pytest.raises(ConfigError, match="eval_protocol must be one of destila, authors"):
        pl.load_pipeline(_recipe(tmp_path, tiny_qa_model_dir), ["eval_protocol=paper"])


def test_quick_overrides_and_validation(tmp_path, tiny_qa_model_dir):
    path = _recipe(tmp_path, tiny_qa_model_dir)
    assert pl.load_pipeline(path, quick=True).teacher_config().max_steps == 1
    assert pl.load_pipeline(path, ["teacher.train.max_steps=7"]).teacher_config().max_steps == 7
    with pytest.raises(ConfigError, match="teacher"):
        pl.load_pipeline(path, ["teacher.pretrained=somewhere"])
    with pytest.raises(ConfigError, match="trim.corpus"):
        pl.load_pipeline(path, ["trim.corpus=[]"])
    with pytest.raises(ConfigError, match="learning_rate"):
        pl.load_pipeline(path, ["student.train.learning_rate=-1"])


@pytest.mark.parametrize("override, named", [
    ("export.target=onx", "export.target must be one of onnx, "),
    ("export.int8=true", "export takes `target` or the older ['int8'], not both"),
    ("export.max_f1_drop=-1", "max_f1_drop"),
    ("bench.repeat=2", "bench: unknown field(s) ['repeat']; known: backends, batch_size"),
    ("bench.backends=[torch-bf17]", "bench.backends must be a list of backends of ['auto', 'torch'"),
    ("trim.keeptop=2", "trim: unknown field(s) ['keeptop']; known: corpus, keep_top"),
    ("student.train.batchsize=4", "student: train: unknown field(s) ['batchsize']"),
    ("teacher.trian={}", "teacher: unknown field(s) ['trian']"),
    ("augment.copy=2", "augment: unknown field(s) copy"),
])
def test_a_misspelt_recipe_fails_at_load_naming_the_key(tmp_path, override, named):
    from typer.testing import CliRunner

    from destila.cli import app

    result = CliRunner().invoke(app, ["pipeline", "--config", "configs/demo.yaml", "--set", override,
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert named in " ".join(str(result.exception).split())
    assert not (tmp_path / "run").exists()  # no stage started, no training log written


def test_missing_data_fails_before_training_and_says_what_to_pass(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from destila.cli import app

    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("DESTILA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DESTILA_OFFLINE", "1")
    result = CliRunner().invoke(app, ["pipeline", "--config", "configs/demo.yaml", "--data-dir", str(empty),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    message = str(result.exception) if result.exception else result.output
    assert "--data-dir" in message or "DESTILA_DATA_DIR" in message
    assert not (tmp_path / "run" / "teacher").exists()


def test_sample_fallback_trains_and_scores_on_the_sample():
    cfg = pl.load_pipeline("configs/demo.yaml")
    sample = pl.use_sample_data(cfg)
    assert (sample.train_data, sample.eval_data, sample.heldout_data) == ("sample", "sample", [])
    assert sample.teacher_config().train_data == "sample"
    assert sample.student_config().train.train_data == "sample"
    assert "sample" in sample.trim.corpus


def test_dry_run_walks_every_stage_of_the_demo_recipe_offline(tmp_path, monkeypatch):
    from destila.pipeline.dry_run import dry_run_pipeline

    monkeypatch.setenv("DESTILA_OFFLINE", "1")
    cfg = pl.load_pipeline("configs/demo.yaml")
    lines = []
    checks = dry_run_pipeline(cfg, tmp_path, echo=lines.append)
    report = json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))
    ran = {stage["name"] for stage in report["stages"] if not stage["skipped"]}
    assert {"teacher", "student", "trim", "export", "bench", "evaluate student exported on sample"} <= ran
    assert [row["name"] for row in report["models"]] == ["teacher", "student", "student exported"]
    assert any("offline:multilingual-e5-small" in c for c in checks) and checks[-1].startswith("report.json")


def test_the_student_may_learn_from_further_teachers_beside_the_pipelines(tmp_path, tiny_qa_model_dir):
    path = _recipe(tmp_path, tiny_qa_model_dir)
    teachers = "student.teachers=[{model: pipeline, weight: 3}, {model: PlanTL-GOB-ES/roberta-base-bne-sqac}]"
    cfg = pl.load_pipeline(path, [teachers])
    mixed = cfg.student_config()
    assert [(t.model, t.weight) for t in mixed.teacher_list()] == [
        (cfg.teacher_folder(), 0.75), ("PlanTL-GOB-ES/roberta-base-bne-sqac", 0.25)]
    assert mixed.teacher == cfg.teacher_folder()
    assert cfg.to_dict()["student"]["teachers"][0]["model"] == "pipeline"  # stored as written
    assert pl.load_pipeline(path, ["teacher={pretrained: some/qa-model}", teachers]).student_config().teacher == (
        "some/qa-model")
    with pytest.raises(ConfigError, match=r"student\.teachers must name the pipeline's own teacher exactly once.*"
                                          r"destila distill"):
        pl.load_pipeline(path, ["student.teachers=[{model: a/b}, {model: c/d}]"])
    with pytest.raises(ConfigError, match=r"student\.teacher is not set here.*model: pipeline"):
        pl.load_pipeline(path, ["student.teacher=a/b"])
    with pytest.raises(ConfigError, match=r"student.*teachers\[1\]\.weight"):
        pl.load_pipeline(path, ["student.teachers=[{model: pipeline}, {model: a/b, weight: -1}]"])


def test_dry_run_walks_a_student_of_two_teachers_with_other_tokenizers(tmp_path, monkeypatch):
    from destila.pipeline.dry_run import dry_run_pipeline

    monkeypatch.setenv("DESTILA_OFFLINE", "1")
    cfg = pl.load_pipeline("configs/demo.yaml", [
        "student.teachers=[{model: pipeline, weight: 0.6}, {model: PlanTL-GOB-ES/roberta-base-bne-sqac, weight: 0.2},"
        " {model: mrm8488/bert-base-spanish-wwm-cased-finetuned-spa-squad2-es, weight: 0.2}]",
        "export.target=onnx", "trim=null", "heldout_data=[]"])
    lines = []
    checks = dry_run_pipeline(cfg, tmp_path, echo=lines.append)
    assert any("further teacher PlanTL-GOB-ES/roberta-base-bne-sqac" in c and "bpe" in c for c in checks)
    assert any("mrm8488/bert-base-spanish" in c and "wordpiece" in c for c in checks)
    card = (tmp_path / "run" / "student" / "README.md").read_text(encoding="utf-8")
    assert "**Teachers** (3, frozen" in card and "- `roberta-12-layers` (roberta, 12 layers" in card
    assert "weight 0.60" in card and str(tmp_path / "run" / "teacher") not in card.split("## Use")[0]  # never a path
    assert checks[-1].startswith("report.json")
