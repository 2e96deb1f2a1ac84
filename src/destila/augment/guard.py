"""Augmentation never reads eval-fold text.

The rule, on the data set's name (as `destila.data.load_dataset` gives it) and its contents:

- the `@eval` fold is refused, the `@train` fold accepted;
- a named data set (`squad-es-v1.1:dev-small`, `xquad-es`, `sample`, ...) must be a `train` split: its dev and test
  splits are what models are scored on, and the SQuAD-es dev files hold the eval fold;
- an `hf:` data set must name a split whose name starts with "train";
- whatever the name, no question may have an id or an article title of the eval fold listed in `folds.json` (read
  from the data folder, else the data cache, when there is one): this is what catches a dev file given by path.

A filter suffix (`#answerable`, `#unanswerable`) does not change the verdict; a list of specs, or a data set
combined from several (its name joins theirs with " + "), passes only when every one of them does.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from destila import paths
from destila.data.hf import is_hf_spec, parse_hf_spec
from destila.data.registry import FOLDS_FILE, REGISTRY, as_specs, cache_root, split_filter
from destila.data.types import COMBINED, QADataset
from destila.errors import ConfigError, DataError

# What QADataset.head / hold_out_articles append to a data set's name.
_NAME_SUFFIX = re.compile(r" \((first \d+|validation: .*)\)$")


def check_spec(spec: str | list[str]) -> None:
    """Raise ConfigError when a data set's spec or name (or any of a list, or of a combined set's sources) says it
    is, or holds, eval or scoring data (checked before reading it)."""
    for one in as_specs(spec):
        for part in _NAME_SUFFIX.sub("", one).split(COMBINED):
            reason = _refused_name(split_filter(_NAME_SUFFIX.sub("", part))[0])
            if reason:
                raise ConfigError(f"augment: {part}: {reason}; augmentation never reads eval-fold text")


def check_not_eval(dataset: QADataset, data_dir: str | os.PathLike | None = None) -> None:
    """Raise ConfigError (by name) or DataError (by contents) when `dataset` is or may hold eval-fold text."""
    check_spec(dataset.name)
    folds = _folds_file(data_dir)
    if folds is None:
        return
    try:
        record = json.loads(folds.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{folds}: unreadable ({exc}); augmentation checks its eval fold") from None
    ids, titles = set(record.get("eval", [])), set(record.get("eval_article_titles", []))
    found = next((ex for ex in dataset.examples if ex.id in ids or (ex.title and ex.title in titles)), None)
    if found is not None:
        raise DataError(
            f"augment: {dataset.name}: question {found.id!r} (article {found.title!r}) is in the eval fold of "
            f"{folds}; augment the @train fold only"
        )


def _refused_name(name: str) -> str | None:
    _, at, fold = name.rpartition("@")
    if at and fold == "eval":
        return "it is the eval fold"
    if at and fold == "train":
        return None
    if is_hf_spec(name):
        if not (parse_hf_spec(name)[2] or "").startswith("train"):
            return "name a training split (hf:OWNER/NAME@train)"
        return None
    entry, _, split = name.partition(":")
    if entry in REGISTRY and not Path(name).exists():
        split = split or REGISTRY[entry].default_split
        if split != "train":
            return f"the {split!r} split is for scoring; augment a train split or an @train fold"
    return None


def _folds_file(data_dir: str | os.PathLike | None) -> Path | None:
    local = paths.data_dir(data_dir)
    candidates = ([local / FOLDS_FILE] if local is not None else []) + [cache_root() / FOLDS_FILE]
    return next((c for c in candidates if c.is_file()), None)
