"""The training loop on tiny models: a 4-layer, 32-wide teacher distilled into a 2-layer, 16-wide student."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from destila.config import DistillConfig, StageConfig, TrainConfig, config_to_dict
from destila.distill import TERMS
from destila.errors import ConfigError
from destila.train.recipe import run_distill, run_train
from tiny import SPANISH_TEXT, all_terms, build_wordpiece_tokenizer

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    (0, "¿Cuál es el río más caudaloso?", "El río Amazonas"),
    (1, "¿Cuándo se publicó la primera parte?", "1605"),
    (2, "¿Cómo se transforma la energía solar?", "mediante paneles fotovoltaicos"),
    (3, "¿Dónde ganó el equipo?", "Madrid"),
    (4, "¿Dónde ocurre la fotosíntesis?", "en los cloroplastos de las hojas"),
    (5, "¿Cuándo abrió el Museo del Prado?", "1819"),
    (6, "¿Dónde construyó la cigüeña su nido?", "sobre el campanario"),
    (7, "¿Cuántos habitantes tenía la ciudad?", "dos millones"),
]
STUDENT = {"config": {"num_hidden_layers": 2, "hidden_size": 16, "intermediate_size": 32}}


@pytest.fixture(scope="module")
def qa_file(tmp_path_factory) -> Path:
    """24 SQuAD v1.1 questions, each over two of the tiny tokenizer's sentences."""
    paragraphs = []
    for copy in range(3):
        for i, question, answer in QUESTIONS:
            context = SPANISH_TEXT[i] + " " + SPANISH_TEXT[(i + 1 + copy) % len(SPANISH_TEXT)]
            qa = {"id": f"q{copy}-{i}", "question": question,
                  "answers": [{"text": answer, "answer_start": context.index(answer)}]}
            paragraphs.append({"context": context, "qas": [qa]})
    path = tmp_path_factory.mktemp("data") / "tiny_squad.json"
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]},
                               ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    """A 4-layer, 32-wide, 2-head random BERT QA teacher without dropout, with a tiny WordPiece tokenizer."""
    from transformers import BertConfig, BertForQuestionAnswering

    out = tmp_path_factory.mktemp("teacher")
    tokenizer = build_wordpiece_tokenizer(out)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, pad_token_id=tokenizer.pad_token_id)
    BertForQuestionAnswering(config).save_pretrained(out)
    return out


def train_cfg(qa_file: Path, out: Path, **overrides) -> TrainConfig:
    values = {"train_data": str(qa_file), "output_dir": str(out), "max_length": 64, "doc_stride": 32,
              "max_query_length": 16, "batch_size": 4, "learning_rate": 1e-3, "warmup_ratio": 0.0, "max_steps": 6,
              "log_every": 1, "threads": 1, "progress": False}
    values.update(overrides)
    return TrainConfig(**values)


def distill_cfg(teacher_dir, qa_file, out, student=STUDENT, stages=None, cache=True, **overrides) -> DistillConfig:
    """Every loss term on (stages may turn some off)."""
    return DistillConfig(teacher=str(teacher_dir), student=student, stages=stages or [StageConfig()],
                         loss=dict.fromkeys(TERMS, 1.0), cache_teacher_logits=cache,
                         train=train_cfg(qa_file, out, **overrides))


def read_log(out: Path) -> list[dict]:
    lines = (out / "training_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def train_losses(out: Path, key: str = "loss", stage: str | None = None) -> list[float]:
    return [r[key] for r in read_log(out) if r["type"] == "train" and stage in (None, r["stage"])]


# ---------------------------------------------------------------------------------------------------------------


def test_distillation_loss_decreases_and_every_term_is_logged(teacher_dir, qa_file, tmp_path):
    # One batch of the same 8 windows every step: the loss must fall.
    out = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "run", batch_size=8, max_train_examples=8,
                                  max_steps=12))
    records = [r for r in read_log(out) if r["type"] == "train"]
    assert [r["step"] for r in records] == list(range(1, 13))
    for key in ("loss", *TERMS, "lr", "tokens_per_s", "examples_per_s", "rss_mb"):
        assert all(key in r for r in records), key
    losses = [r["loss"] for r in records]
    assert sum(losses[-3:]) / 3 < 0.97 * sum(losses[:3]) / 3, losses
    assert sum(b < a for a, b in pairwise(losses)) >= 9, losses  # falling nearly every step
    assert records[0]["lr"] == pytest.approx(1e-3)  # no warm-up: the first step uses the peak rate
    assert records[-1]["lr"] < records[0]["lr"]  # linear decay
    assert (out / "tensorboard").is_dir()


def test_fine_tuning_lowers_cross_entropy(teacher_dir, qa_file, tmp_path):
    out = run_train(train_cfg(qa_file, tmp_path / "ft", model=str(teacher_dir), batch_size=8,
                              max_train_examples=8, max_steps=10))
    losses = train_losses(out, "ce")
    assert losses[-1] < 0.95 * losses[0] and all(b < a for a, b in pairwise(losses)), losses
    card = (out / "README.md").read_text(encoding="utf-8")
    from destila.train.card import describe_model

    # the model it was fine-tuned from, by what it is, never by its local path
    assert describe_model(str(teacher_dir)) in card and str(teacher_dir) not in card and "cross-entropy" in card


def test_gradient_accumulation_matches_one_big_batch(teacher_dir, qa_file, tmp_path):
    # 2 micro-batches of 2 windows accumulated = one batch of 4 (the same windows: the plan is per global batch).
    big = run_train(train_cfg(qa_file, tmp_path / "big", model=str(teacher_dir), batch_size=4, max_steps=4))
    acc = run_train(train_cfg(qa_file, tmp_path / "acc", model=str(teacher_dir), batch_size=2, grad_accum=2,
                              max_steps=4))
    assert train_losses(acc) == pytest.approx(train_losses(big), rel=1e-5)
    a, b = load_file(big / "model.safetensors"), load_file(acc / "model.safetensors")
    # Adam divides by sqrt(v): float noise in near-zero gradients moves weights by ~1e-5, far below the 4e-3 a
    # weight can move in 4 steps at lr 1e-3. The QA head's bias is left out: a softmax over positions is blind to
    # it, so its gradient is pure rounding noise that Adam turns into steps of +-lr.
    for k in a:
        if k != "qa_outputs.bias":
            torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4, msg=k)
    assert not all(torch.equal(a[k], load_file(teacher_dir / "model.safetensors")[k]) for k in a)  # it trained


def test_projections_get_gradients_and_stay_out_of_the_saved_student(teacher_dir, qa_file, tmp_path):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from destila.distill.losses import DistillationLoss
    from destila.infer.predictor import Predictor
    from destila.models.hub import load_qa_model, load_tokenizer
    from destila.models.students import build_student
    from destila.train.batches import build_train_features, collate
    from destila.train.loop import FrozenTeacher, TrainModule, param_groups

    # Gradients reach the projection through the hidden-state and embedding losses; the teacher gets none.
    teacher = load_qa_model(teacher_dir)
    tokenizer = load_tokenizer(teacher_dir)
    student = build_student(teacher, STUDENT)
    loss_fn = DistillationLoss(all_terms(), student_config=student.config, teacher_config=teacher.config)
    module = TrainModule(student, loss_fn)
    frozen = FrozenTeacher(teacher, "cpu")
    from destila.data import load_dataset

    features = build_train_features(load_dataset(str(qa_file)).examples[:4], tokenizer, 64, 32, 16)
    batch = collate(features, [0, 1, 2, 3], tokenizer.pad_token_id, pad_to=None, device="cpu")
    terms = module(batch, frozen(batch, loss_fn.needs()))
    terms["loss"].backward()
    projection = loss_fn.projection_parameters()
    assert projection and all(p.grad is not None and p.grad.abs().sum() > 0 for p in projection)
    assert all(p.grad is None for p in teacher.parameters()) and not any(p.requires_grad for p in teacher.parameters())
    # Projections are optimised (weights decayed, biases not), the teacher is not in the optimiser at all.
    groups = param_groups(module, 0.01)
    in_opt = {id(p) for g in groups for p in g["params"]}
    assert all(id(p) in in_opt for p in projection)
    assert not any(id(p) in in_opt for p in teacher.parameters())
    assert all(p.ndim >= 2 for p in groups[0]["params"]) and all(p.ndim == 1 for p in groups[1]["params"])

    # A real run: the saved folder is a plain QA model without projection weights, and it answers.
    out = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "run", max_steps=3, eval_data=str(qa_file),
                                  max_eval_examples=8))
    keys = load_file(out / "model.safetensors").keys()
    assert not any("projection" in k or k.startswith(("loss_fn", "student.")) for k in keys)
    model = AutoModelForQuestionAnswering.from_pretrained(out)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 16
    AutoTokenizer.from_pretrained(out)
    answer = Predictor.from_pretrained(str(out))(question=QUESTIONS[3][1], context=SPANISH_TEXT[3])
    assert set(answer) == {"score", "start", "end", "answer"}
    assert answer["answer"] == SPANISH_TEXT[3][answer["start"]:answer["end"]]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["eval"]) == {"official", "es"} and metrics["best_step"] == 3
    saved = yaml.safe_load((out / "destila_config.yaml").read_text())
    assert saved["kind"] == "distill" and saved["train"]["max_steps"] == 3
    card = (out / "README.md").read_text(encoding="utf-8")
    from destila.train.card import describe_model

    assert describe_model(str(teacher_dir)) in card and str(teacher_dir) not in card
    assert "kd (1)" in card and "F1" in card
    assert not (out / "teacher_cache").exists() and not (out / "best").exists()


class Interrupt(Exception):
    pass


def _kill_at(stage: str, step: int):
    def hook(stage_name: str, done: int) -> None:
        if stage_name == stage and done == step:
            raise Interrupt

    return hook


@pytest.mark.parametrize("kill_stage, kill_step, resume_from", [("pred", 7, "01-pred-step0000006"),
                                                               ("inter", 3, "00-inter-step0000003")])
def test_resume_after_interruption_gives_the_same_weights(teacher_dir, qa_file, tmp_path, kill_stage, kill_step,
                                                          resume_from):
    # Two stages (hidden+attention, then logits only from the teacher cache), dropout on in the student so the RNG
    # state matters, checkpoints every 2 steps and at each stage's end. The interrupted run dies one step after a
    # checkpoint in stage 2, or right after the checkpoint that ends stage 1.
    student = {"config": {**STUDENT["config"], "hidden_dropout_prob": 0.1}}
    stages = [StageConfig(name="inter", loss={"ce": 0.0, "kd": 0.0}, max_steps=3),
              StageConfig(name="pred", loss={"hidden": 0.0, "attention": 0.0, "embedding": 0.0}, max_steps=9)]

    def cfg(out):
        return distill_cfg(teacher_dir, qa_file, out, student=student, stages=stages, save_every=2,
                           keep_checkpoints=2, eval_data=str(qa_file), eval_every=4, max_eval_examples=4)

    full = run_distill(cfg(tmp_path / "full"))
    with pytest.raises(Interrupt):
        run_distill(cfg(tmp_path / "killed"), on_step=_kill_at(kill_stage, kill_step))
    killed = tmp_path / "killed"
    assert max(p.name for p in (killed / "checkpoints").iterdir()) == resume_from
    assert not (killed / "model.safetensors").exists()
    resumed = run_distill(cfg(killed), resume=True)

    a, b = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The log of the resumed run is the uninterrupted run's, step for step (no duplicated steps).
    strip = ("tokens_per_s", "examples_per_s", "seconds_per_step", "rss_mb")
    log_a = [{k: v for k, v in r.items() if k not in strip} for r in read_log(full)]
    log_b = [{k: v for k, v in r.items() if k not in strip} for r in read_log(resumed)]
    assert log_a == log_b
    metrics_a, metrics_b = (json.loads((p / "metrics.json").read_text()) for p in (full, resumed))
    assert metrics_a["eval"] == metrics_b["eval"] and metrics_a["best_step"] == metrics_b["best_step"]

    # Resuming a finished run changes nothing: no step is repeated, the selected model stays.
    finished_log = read_log(full)
    again = run_distill(cfg(full), resume=True)
    c = load_file(again / "model.safetensors")
    assert all(torch.equal(a[k], c[k]) for k in a)
    assert read_log(again) == finished_log
    assert json.loads((again / "metrics.json").read_text())["eval"] == metrics_a["eval"]


def test_cached_teacher_logits_give_the_same_loss_as_the_live_teacher(teacher_dir, qa_file, tmp_path):
    from destila.data import load_dataset
    from destila.distill.losses import DistillationLoss, LossConfig
    from destila.distill.outputs import run_qa_model
    from destila.models.hub import load_qa_model, load_tokenizer
    from destila.models.students import build_student
    from destila.train.batches import build_train_features, collate
    from destila.train.loop import FrozenTeacher
    from destila.train.teacher_cache import TeacherLogitsCache

    # Unit level: logits cached from one batch and read back inside a differently padded batch.
    teacher = load_qa_model(teacher_dir)
    tokenizer = load_tokenizer(teacher_dir)
    student = build_student(teacher, STUDENT)
    loss_fn = DistillationLoss(LossConfig(ce=1.0, kd=1.0), student_config=student.config,
                               teacher_config=teacher.config)
    assert not any(loss_fn.needs().values())
    features = build_train_features(load_dataset(str(qa_file)).examples, tokenizer, 64, 32, 16)
    cache = TeacherLogitsCache(tmp_path / "cache", len(features), 64, create=True)
    frozen = FrozenTeacher(teacher, "cpu")
    rows = [0, 5, 9, 13]
    first = collate(features, rows, tokenizer.pad_token_id, pad_to=None, device="cpu")
    cache.write(torch.tensor(rows).numpy(), frozen(first, loss_fn.needs()), first["attention_mask"])
    assert cache.has(torch.tensor(rows).numpy()) and not cache.has(torch.tensor([1]).numpy())
    wider = collate(features, rows, tokenizer.pad_token_id, pad_to=64, device="cpu")
    student.eval()
    with torch.no_grad():
        s_out = run_qa_model(student, wider)
        live = loss_fn(s_out, frozen(wider, loss_fn.needs()), wider)
        cached = loss_fn(s_out, cache.read(torch.tensor(rows).numpy(), 64, "cpu"), wider)
    for key in ("loss", "kd", "ce"):
        torch.testing.assert_close(cached[key], live[key], rtol=1e-5, atol=1e-6)

    # Run level: three epochs with the cache (teacher run once per window) against the live teacher every step.
    stages = [StageConfig(name="kd", loss={"hidden": 0.0, "attention": 0.0, "embedding": 0.0})]
    with_cache = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "cached", stages=stages, cache=True,
                                         max_steps=18))
    without = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "live", stages=stages, cache=False,
                                      max_steps=18))
    la, lb = train_losses(with_cache), train_losses(without)
    assert len(la) == 18
    assert la == pytest.approx(lb, rel=1e-4, abs=1e-6)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one_process(teacher_dir, qa_file, tmp_path):
    """`accelerate launch` with 2 CPU processes and half the per-process batch follows the 1-process loss curve."""
    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.exists():
        pytest.fail(f"accelerate launcher not found next to {sys.executable}")
    # Stage 1 leaves the QA head unused (DDP must be told); stage 2 reads the teacher's logits from the shared
    # on-disk cache in its second epoch (6 steps an epoch); the main process scores the dev set.
    stages = [StageConfig(name="inter", loss={"ce": 0.0, "kd": 0.0}, max_steps=2),
              StageConfig(name="pred", loss={"hidden": 0.0, "attention": 0.0, "embedding": 0.0}, max_steps=8)]
    # One attention kernel for both runs (`auto` times the two on each run and may keep either): two kernels'
    # rounding, amplified by Adam, put the curves 0.3-0.5% apart over 10 steps.
    base = distill_cfg(teacher_dir, qa_file, tmp_path / "one", stages=stages, eval_data=str(qa_file),
                       max_eval_examples=4, attention_implementation="sdpa")
    one = run_distill(base)

    doc = config_to_dict(base)
    doc["train"].update(output_dir=str(tmp_path / "two"), batch_size=2)
    recipe = tmp_path / "two.yaml"
    recipe.write_text(yaml.safe_dump(doc), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    # accelerate's `--cpu` launcher starts a single process unless MPI is set up; the torchrun-based launcher
    # starts two, and destila's Accelerator(cpu=True) makes them a gloo group on a machine without CUDA.
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           "-m", "destila", "distill", "--config", str(recipe)]
    started = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = tmp_path / "two"
    log_two = read_log(two)
    assert all(r["type"] != "train" or r["epoch"] == pytest.approx(r["step"] / 6, abs=1e-3) for r in log_two)
    metrics_one, metrics_two = (json.loads((p / "metrics.json").read_text()) for p in (one, two))
    assert metrics_two["num_processes"] == 2 and metrics_two["steps"] == {"inter": 2, "pred": 8}
    assert metrics_two["eval"] == metrics_one["eval"] or metrics_two["eval"]["official"]["f1"] == pytest.approx(
        metrics_one["eval"]["official"]["f1"], abs=15)  # a tiny dev set: one flipped answer moves F1 a lot
    # Same windows per optimiser step. The two runs sum gradients in another order, and Adam turns that rounding
    # into steps of up to +-lr on near-zero gradients: the curves drift up to ~0.2% apart over 10 steps (measured
    # 0.21% on a fresh clone), well inside the tolerance.
    assert train_losses(two) == pytest.approx(train_losses(one), rel=5e-3)
    kd_two, kd_one = train_losses(two, "kd", "pred"), train_losses(one, "kd", "pred")
    assert len(kd_two) == 8 and kd_two == pytest.approx(kd_one, rel=5e-3)
    assert time.time() - started < 240


def test_unmasked_losses_pad_to_max_length(teacher_dir, qa_file, tmp_path):
    out = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "paper",
                                  stages=[StageConfig(name="paper", loss={"mask_padding": False})], max_steps=2))
    records = [r for r in read_log(out) if r["type"] == "train"]
    assert all(r["tokens_per_s"] > 0 for r in records)
    if not torch.cuda.is_available():  # fp16 autocast is a GPU feature: on CPU the run refuses it up front
        with pytest.raises(ConfigError, match="train.mixed_precision"):
            run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "fp16", mixed_precision="fp16"))
    out = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "bf16", mixed_precision="bf16", max_steps=2))
    assert len(train_losses(out)) == 2 and all(math.isfinite(x) for x in train_losses(out))


def test_dry_run_of_the_paper_recipe_passes_offline_quickly():
    from typer.testing import CliRunner

    from destila.cli import app

    started = time.time()
    result = CliRunner().invoke(app, ["distill", "--config", str(ROOT / "configs" / "paper.yaml"), "--dry-run"])
    elapsed = time.time() - started
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "dry run passed" in result.output
    assert "layer ratio 4" in result.output and "width ratio 2" in result.output
    assert "no projection weights" in result.output
    assert elapsed < 60


def test_dry_run_of_the_teacher_and_two_stage_recipes(tmp_path):
    from destila.config import load_recipe
    from destila.train.dry_run import dry_run

    checks = dry_run(load_recipe(ROOT / "configs" / "teacher.yaml"), tmp_path / "teacher", echo=lambda s: None)
    assert any("unigram" in c for c in checks)
    checks = dry_run(load_recipe(ROOT / "configs" / "tinybert.yaml"), tmp_path / "tinybert", echo=lambda s: None)
    assert any("stage intermediate" in c and "kd" not in c.split(";")[0] for c in checks)
    assert any("stage prediction" in c and "logits only" in c for c in checks)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_batch_order_does_not_depend_on_the_number_of_processes():
    import numpy as np

    from destila.train.batches import BatchPlan

    lengths = np.random.default_rng(0).integers(20, 64, size=50)
    one = BatchPlan(lengths, per_process=4, num_processes=1, grad_accum=2, seed=3)
    two = BatchPlan(lengths, per_process=2, num_processes=2, grad_accum=2, seed=3)
    assert one.steps_per_epoch == two.steps_per_epoch == 6  # 50 windows, 8 a step: the tail of 2 is dropped
    for step in range(12):  # two epochs
        rows_one = one.step_rows(step, 0)
        rows_two = [np.concatenate(pair) for pair in zip(two.step_rows(step, 0), two.step_rows(step, 1))]
        assert all(np.array_equal(a, b) for a, b in zip(rows_one, rows_two))
    epoch0 = np.concatenate([np.concatenate(one.step_rows(s, 0)) for s in range(6)])
    epoch1 = np.concatenate([np.concatenate(one.step_rows(s, 0)) for s in range(6, 12)])
    assert len(set(epoch0.tolist())) == 48 and not np.array_equal(epoch0, epoch1)  # no repeats; reshuffled
    again = BatchPlan(lengths, per_process=4, num_processes=1, grad_accum=2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again.step_rows(7, 0), one.step_rows(7, 0)))

    grouped = BatchPlan(lengths, per_process=4, num_processes=1, grad_accum=1, seed=3, group_by_length=True)

    def padding(plan):
        rows = [plan.step_rows(s, 0)[0] for s in range(plan.steps_per_epoch)]
        return sum(int(lengths[r].max() * len(r) - lengths[r].sum()) for r in rows)

    plain = BatchPlan(lengths, per_process=4, num_processes=1, grad_accum=1, seed=3)
    assert padding(grouped) < padding(plain) / 2
    with pytest.raises(ConfigError, match="train.batch_size"):
        BatchPlan(lengths[:3], per_process=4, num_processes=1, grad_accum=1, seed=3)


def test_distilled_student_answers_the_same_through_transformers_5_2_pipeline(teacher_dir, qa_file, tmp_path):
    """The saved student is a plain QA folder: transformers 5.2.0's own question-answering pipeline (in the
    reference environment) loads it unchanged and gives the answers destila's Predictor gives."""
    from destila.infer.predictor import Predictor
    from test_predictor_parity import REF_SCRIPT, ref_python

    python = ref_python()
    assert python.exists(), f"reference environment not found at {python}: run `make ref-env`"
    out = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "run", max_steps=6))
    contexts = [SPANISH_TEXT[i] + " " + SPANISH_TEXT[(i + 3) % len(SPANISH_TEXT)] for i, _, _ in QUESTIONS]
    cases = [{"model": "student", "question": q, "context": c, "kwargs": {"top_k": 2}}
             for (_, q, _), c in zip(QUESTIONS, contexts)]
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps({"models": {"student": str(out)}, "cases": cases}), encoding="utf-8")
    proc = subprocess.run([str(python), str(REF_SCRIPT), str(spec), str(tmp_path / "ref.json")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = json.loads((tmp_path / "ref.json").read_text(encoding="utf-8"))
    assert ref["transformers"] == "5.2.0"
    ours = Predictor.from_pretrained(str(out))(question=[c["question"] for c in cases], context=contexts, top_k=2)
    for mine, theirs in zip(ours, ref["results"]):
        assert [(a["answer"], a["start"], a["end"]) for a in mine] == [
            (a["answer"], a["start"], a["end"]) for a in theirs
        ]
        assert [a["score"] for a in mine] == pytest.approx([a["score"] for a in theirs], rel=1e-3)
