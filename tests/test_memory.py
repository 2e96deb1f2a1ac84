"""Memory given back between stages: `destila.memory.release` and where training and the pipeline call it."""

from __future__ import annotations

import numpy as np
import pytest

from destila import memory
from destila.config import StageConfig
from destila.pipeline import Runner
from destila.train.recipe import run_distill
from test_train_loop import distill_cfg, qa_file, teacher_dir  # noqa: F401  (fixtures)


@pytest.mark.skipif(memory._malloc_trim() is None, reason="malloc_trim is glibc's")
def test_release_returns_freed_heap_pages_to_the_system():
    # A freed 16 MB block raises glibc's mmap threshold, so the 1 MB blocks below come from the heap; the last one
    # kept pins its top, so freeing the others returns nothing until the heap is trimmed.
    big = np.ones(2**21)
    del big
    blocks = [np.ones(2**17) for _ in range(300)]
    kept = blocks[-1]
    del blocks
    held = memory.resident_bytes()
    assert memory.release()
    assert held - memory.resident_bytes() > 150 * 2**20  # most of the 300 MB freed
    assert kept.sum() == 2**17


def test_each_training_stage_releases_its_memory(teacher_dir, qa_file, tmp_path, monkeypatch):  # noqa: F811
    calls = []
    monkeypatch.setattr("destila.train.recipe.release", lambda: calls.append("release"))
    cfg = distill_cfg(teacher_dir, qa_file, tmp_path / "d", stages=[StageConfig(name="a", max_steps=1),
                                                                     StageConfig(name="b", max_steps=1)])
    run_distill(cfg, on_step=lambda stage, step: calls.append(stage))
    assert calls == ["a", "release", "b", "release"]


def test_a_pipeline_stage_releases_its_memory_before_the_next_one(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("destila.pipeline.stages.release", lambda: calls.append("release"))
    runner = Runner(None, log=lambda line: None)
    runner.stage("teacher", tmp_path / "teacher", lambda: calls.append("teacher"))
    runner.stage("student", tmp_path / "student", lambda: calls.append("student"))
    assert calls == ["teacher", "release", "student", "release"]


def _allocate_and_report(megabytes: int) -> tuple[int, int]:
    import os

    block = np.ones(megabytes * 2**20 // 8)
    return os.getpid(), int(block.size)


def _refuse(what: str):
    from destila.errors import ConfigError

    raise ConfigError(f"{what}: no such key")


def test_in_child_runs_elsewhere_and_gives_back_its_result_and_its_errors():
    import os

    held = memory.resident_bytes()
    pid, size = memory.in_child(_allocate_and_report, 200)
    assert pid != os.getpid() and size == 200 * 2**17
    assert memory.resident_bytes() - held < 50 * 2**20  # the child's 200 MB never lived here
    from destila.errors import ConfigError

    with pytest.raises(ConfigError, match="train.batch_sizee: no such key"):
        memory.in_child(_refuse, "train.batch_sizee")


def test_the_pipeline_trains_each_model_in_a_child_process(tmp_path, monkeypatch):
    from destila.pipeline import stages

    seen = []
    monkeypatch.setattr(stages, "in_child", lambda fn, *args: seen.append((fn, args)) or "folder")
    assert stages._train_resumable(run_distill, "cfg", tmp_path) == "folder"
    assert seen == [(stages._train, (run_distill, "cfg", tmp_path))]
