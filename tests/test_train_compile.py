"""`train.compile`: the setting, `auto`'s rule, and runs whose student step and live teacher go through torch.compile.

Inductor needs about a minute to compile even the tiny models here, so the runs trace with dynamo's `eager` backend
(`DESTILA_COMPILE_BACKEND=eager`: dynamo captures the graphs, the captured ops run as written): the same wiring, the
same dynamic shapes and guards, in seconds.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from destila.config import StageConfig, TrainConfig, config_from_dict
from destila.errors import ConfigError
from destila.models import compiled
from destila.train import recipe
from destila.train.kernels import AUTO_COMPILE_MIN_STEPS, resolve_compile
from destila.train.recipe import run_distill, run_train
from test_train_loop import (  # noqa: F401  (fixtures)
    ROOT,
    Interrupt,
    _kill_at,
    distill_cfg,
    qa_file,
    read_log,
    teacher_dir,
    train_cfg,
    train_losses,
)

# Logits only: the first epoch runs the teacher live and fills the cache, the rest of the run reads it.
LOGITS_ONLY = [StageConfig(name="kd", loss={"hidden": 0.0, "attention": 0.0, "embedding": 0.0}, max_steps=8)]


def _weights(out):
    return load_file(out / "model.safetensors")


def _metrics(out) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_the_setting_is_checked_and_reads_yaml_on_and_off():
    with pytest.raises(ConfigError, match=r"^train\.compile must be one of \('auto', 'on', 'off'\), got 'yes'"):
        TrainConfig(compile="yes")
    assert TrainConfig().compile == "auto"
    assert TrainConfig(compile=True).compile == "on" and TrainConfig(compile=False).compile == "off"
    doc = {"kind": "train", "train": {"model": "m"}}
    assert config_from_dict(doc, ["train.compile=on"]).compile == "on"  # YAML 1.1 reads `on` as true
    assert config_from_dict(doc, ["train.compile=off"]).compile == "off"


def test_auto_compiles_only_long_gpu_runs():
    assert resolve_compile("auto", "cpu", 10**6) == "off"
    assert resolve_compile("auto", "cuda", AUTO_COMPILE_MIN_STEPS) == "on"
    assert resolve_compile("auto", "cuda:0", AUTO_COMPILE_MIN_STEPS - 1) == "off"
    assert resolve_compile("on", "cpu", 1) == "on" and resolve_compile("off", "cuda", 10**6) == "off"


def test_compile_on_wraps_the_student_step_and_the_live_teacher(teacher_dir, qa_file, tmp_path, monkeypatch):  # noqa: F811
    # A recording torch.compile that returns the function as is: the wiring alone changes nothing, bit for bit.
    calls = []

    def record(fn, **options):
        calls.append((fn.__qualname__, options))
        return fn

    monkeypatch.setattr(torch, "compile", record)
    off = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "off", cache=False, max_steps=3, compile="off"))
    assert not calls and _metrics(off)["compile"] == "off"
    on = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "on", cache=False, max_steps=3, compile="on"))
    assert [name for name, _ in calls] == ["FrozenTeacher._forward", "TrainModule.forward"]
    assert all(options["dynamic"] is True for _, options in calls)
    assert _metrics(on)["compile"] == "on" and _metrics(on)["compile_fallback"] is None
    assert train_losses(on) == train_losses(off)
    a, b = _weights(off), _weights(on)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    checkpoint = next((on / "checkpoints").glob("*-step*"))
    assert not any("_orig_mod" in k for k in load_file(checkpoint / "model.safetensors"))
    calls.clear()
    run_train(train_cfg(qa_file, tmp_path / "auto", model=str(teacher_dir), max_steps=2))  # auto on CPU: eager
    assert not calls and _metrics(tmp_path / "auto")["compile"] == "off"


def test_compiled_run_trains_like_eager_and_resumes_exactly(teacher_dir, qa_file, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv(compiled.BACKEND_ENV, "eager")

    def cfg(out, setting):
        return distill_cfg(teacher_dir, qa_file, out, stages=LOGITS_ONLY, save_every=3, compile=setting)

    eager = run_distill(cfg(tmp_path / "eager", "off"))
    full = run_distill(cfg(tmp_path / "full", "on"))
    losses = train_losses(full)
    assert len(losses) == 8 and all(torch.isfinite(torch.tensor(losses)))
    assert losses == pytest.approx(train_losses(eager), rel=1e-5)
    a, b = _weights(eager), _weights(full)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5, msg=k)
    assert _metrics(full)["compile"] == "on" and _metrics(full)["compile_fallback"] is None

    with pytest.raises(Interrupt):
        run_distill(cfg(tmp_path / "killed", "on"), on_step=_kill_at("kd", 7))  # after the checkpoint at step 6
    resumed = run_distill(cfg(tmp_path / "killed", "on"), resume=True)
    c = _weights(resumed)
    assert all(torch.equal(b[k], c[k]) for k in b)
    assert train_losses(resumed) == losses


def test_a_failing_compile_falls_back_to_eager_with_one_warning(teacher_dir, qa_file, tmp_path, monkeypatch):  # noqa: F811
    def broken(graph, example_inputs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(compiled, "compile_backend", lambda: broken)
    eager = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "eager", cache=False, max_steps=2,
                                    compile="off"))
    out = run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "out", cache=False, max_steps=2, compile="on"))
    warnings = [r for r in read_log(out) if r["type"] == "warning"]
    assert len(warnings) == 1 and "no C++ compiler" in warnings[0]["message"], warnings
    assert warnings[0]["step"] == 1 and "running eagerly" in warnings[0]["message"]
    assert "no C++ compiler" in _metrics(out)["compile_fallback"]
    assert train_losses(out) == train_losses(eager)


def test_a_genuine_error_is_raised_not_hidden_by_the_fallback(monkeypatch):
    monkeypatch.setenv(compiled.BACKEND_ENV, "eager")
    warned = []
    compiler = compiled.Compiler(warned.append)

    def step(x):
        if x.shape[0] > 2:
            raise ValueError("batch too large")
        return x * 2

    call = compiler(step, "a step")
    assert torch.equal(call(torch.ones(2)), torch.full((2,), 2.0))
    with pytest.raises(ValueError, match="batch too large"):
        call(torch.ones(3))
    assert call.eager is step and compiler.compiled == ["a step"]
    assert not warned and compiler.failure is None


def test_student_step_compiles_once_for_every_batch_length(teacher_dir, qa_file, tmp_path, monkeypatch):  # noqa: F811
    # Dynamic padding (to a multiple of 1) gives every batch its own length: with dynamic shapes the graphs traced at
    # the first step serve every later length (a counting backend sees no compile after step 1).
    graphs, lengths, per_step = [], set(), []

    def counting(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    monkeypatch.setattr(compiled, "compile_backend", lambda: counting)
    collate = recipe.collate
    monkeypatch.setattr(recipe, "collate", lambda *a, **k: _seen(collate(*a, **k), lengths))
    out = run_train(train_cfg(qa_file, tmp_path / "ft", model=str(teacher_dir), max_steps=6, compile="on",
                              batch_size=2, pad_to_multiple_of=1),
                    on_step=lambda stage, step: per_step.append(len(graphs)))
    assert _metrics(out)["compile"] == "on" and len(lengths) > 2
    assert per_step[0] > 0 and per_step == [per_step[0]] * 6


def _seen(batch: dict, lengths: set) -> dict:
    lengths.add(batch["input_ids"].shape[1])
    return batch


def test_the_dry_run_of_a_compiling_recipe_stays_eager_and_says_so(tmp_path, monkeypatch):
    from destila.config import load_recipe
    from destila.train.dry_run import dry_run

    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("the dry run compiled"))
    cfg = load_recipe(ROOT / "configs" / "teacher.yaml", overrides=["train.compile=on"])
    checks = dry_run(cfg, tmp_path / "teacher", echo=lambda s: None)
    assert any("compile on: the stand-in run is eager" in c for c in checks)
