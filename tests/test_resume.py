"""Honest reruns: a folder holding a run continues only with its recipe, unless the user allows a change or restarts."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from destila import files
from destila.cli import app
from destila.config import TrainConfig, config_to_dict, save_config
from destila.errors import ConfigError
from destila.train.resume import check_rerun, clear_run, flatten, recipe_changes


def test_changes_are_listed_by_dotted_key():
    old = {"train": {"batch_size": 16, "lr": 1e-4}, "stages": [{"name": "a", "epochs": 1}], "tags": ["x"]}
    new = {"train": {"batch_size": 8, "lr": 1e-4}, "stages": [{"name": "a", "epochs": 2}], "tags": ["x", "y"]}
    assert flatten(old)["stages.0.epochs"] == 1 and flatten(old)["tags"] == ["x"]
    assert recipe_changes(old, new) == [("stages.0.epochs", 1, 2), ("tags", ["x"], ["x", "y"]),
                                        ("train.batch_size", 16, 8)]
    assert recipe_changes(old, old) == []


def test_a_changed_recipe_is_refused_unless_allowed_and_harmless_changes_pass(tmp_path):
    cfg = TrainConfig(model="m", output_dir=str(tmp_path), batch_size=16, max_steps=100)
    stored = save_config(cfg, tmp_path / files.RUN_CONFIG)
    longer = dataclasses.replace(cfg, max_steps=200, batch_size=8, progress=False, threads=3)
    with pytest.raises(ConfigError) as refused:
        check_rerun(stored, config_to_dict(longer))
    message = str(refused.value)
    assert "train.batch_size: 16 -> 8" in message and "train.max_steps: 100 -> 200" in message
    assert "progress" not in message and "threads" not in message  # harmless
    lines = []
    check_rerun(stored, config_to_dict(longer), allow=["train.max_steps", "train.batch_size"], log=lines.append)
    assert sorted(line.split(": ", 1)[0] for line in lines) == [
        "changed since the run started (allowed)", "changed since the run started (allowed)",
        "changed since the run started (harmless)", "changed since the run started (harmless)"]
    check_rerun(tmp_path / "none.yaml", config_to_dict(longer))  # nothing stored: nothing to compare


def test_the_cli_never_overwrites_a_run_silently(tmp_path):
    out = tmp_path / "run"
    stored = save_config(TrainConfig(model="m", output_dir=str(out), batch_size=16), out / files.RUN_CONFIG)
    (out / files.CHECKPOINTS / "step-1").mkdir(parents=True)
    args = ["train", "--config", "configs/teacher.yaml", "--out", str(out), "--model", "m", "--set",
            "train.batch_size=4"]
    fresh = CliRunner().invoke(app, args)
    assert fresh.exit_code != 0 and "--restart" in str(fresh.exception)
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code != 0 and "train.batch_size: 16 -> 4" in str(resumed.exception)
    assert stored.exists() and (out / files.CHECKPOINTS).exists()  # nothing touched
    clear_run(out)
    assert not stored.exists() and not (out / files.CHECKPOINTS).exists()
