"""Honest reruns: a folder that holds a run is continued only with the recipe it was started with.

A rerun compares the folder's stored recipe (`destila_config.yaml` of a training run, `destila_pipeline.yaml` of a
pipeline) with the new one, key by dotted key. A change that alters the run is refused with every difference listed
(`train.batch_size: 16 -> 8`), unless the user names it (`--allow-change train.max_steps`, to train longer) or starts
over (`--restart`: the folder's checkpoints and stage records removed). Changes in HARMLESS are listed and accepted.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from destila import files
from destila.errors import ConfigError

# Settings that change how a run is shown, saved or where it reads, not what it trains or selects: progress bars,
# log and checkpoint cadence, how many checkpoints are kept, threads (speed; float sums may round differently),
# the evaluation batch (answers do not depend on their batch), and the folders of the run and of the data.
HARMLESS = ("progress", "log_every", "save_every", "keep_checkpoints", "threads", "eval_batch_size", "output_dir",
            "data_dir", "quick")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted key: leaf value} of a recipe mapping; list items are keyed by index (`stages.0.epochs`)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in items:
        out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def recipe_changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) of every leaf that differs; a missing leaf reads as None."""
    a, b = flatten(old), flatten(new)
    return [(key, a.get(key), b.get(key)) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def _named(key: str, names: Iterable[str]) -> bool:
    """Whether `key` is one of `names` or lies under one (`train` names every `train.*` key)."""
    return any(key == n or key.startswith(n + ".") for n in names)


def _harmless(key: str) -> bool:
    return key.split(".")[-1] in HARMLESS or key.split(".")[0] in HARMLESS


def check_rerun(stored: Path, new: dict, *, allow: Iterable[str] = (), log=print) -> None:
    """Refuse `new` when it differs from the recipe stored in `stored` (if any) by a change that alters the run and
    is not named in `allow`; lists the harmless and allowed changes through `log`."""
    if not stored.exists():
        return
    old = yaml.safe_load(stored.read_text(encoding="utf-8")) or {}
    allow = list(allow)
    refused = []
    for key, before, after in recipe_changes(old, new):
        line = f"{key}: {before!r} -> {after!r}"
        if _harmless(key):
            log(f"changed since the run started (harmless): {line}")
        elif _named(key, allow):
            log(f"changed since the run started (allowed): {line}")
        else:
            refused.append(line)
    if refused:
        raise ConfigError(
            f"{stored.parent} holds a run started with another recipe ({stored.name}):\n  " + "\n  ".join(refused)
            + "\nrerun with --allow-change KEY for each change meant (e.g. --allow-change train.max_steps to train "
            "longer), or --restart to start over in this folder")


def store_recipe(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def clear_run(folder: Path) -> None:
    """Start over in a training run's folder: its checkpoints, teacher cache, log and stored recipe removed."""
    for name in (files.CHECKPOINTS, files.TEACHER_CACHE):
        shutil.rmtree(folder / name, ignore_errors=True)
    for name in (files.TRAINING_LOG, files.RUN_CONFIG):
        (folder / name).unlink(missing_ok=True)
