"""Extractive-QA data read through the Hugging Face `datasets` library.

Three ways in, all ending in the row checks of `destila.data.io` (the same errors as the JSONL and CSV readers,
naming the dataset, the row and the field):

- `hf:PATH[:CONFIG][@SPLIT]` specs, loaded with `datasets.load_dataset(PATH, CONFIG, split=SPLIT)`; PATH is a
  Hub id (`hf:ccasimiro/squad_es:v2.0.0@validation`, `hf:PlanTL-GOB-ES/SQAC@test`, `hf:facebook/mlqa:mlqa.es.es@test`,
  `hf:google/xquad:xquad.es@validation`) or a local folder `datasets` can read (data files, or a `save_to_disk`
  folder). Without @SPLIT the data set must have exactly one split.
- Local files: `.parquet` (`Dataset.from_parquet`), `.arrow` (`Dataset.from_file`) and `save_to_disk` folders
  (`load_from_disk`).
- `datasets.Dataset` and single-split `datasets.DatasetDict` objects handed to `destila.data.load_dataset`.

Rows follow the layout of the Spanish QA sets on the Hub: `id`, `question`, `context`, `answers` as
`{"text": [...], "answer_start": [...]}`, optional `title`. The other layouts the row readers accept work too
(answers as a list of objects, `answer_text` + `answer_start`, `is_impossible`), as do the flattened columns
`answers.text` / `answers.answer_start` that `Dataset.flatten()` writes. An empty answer list marks an unanswerable
question, which makes the set SQuAD v2.0.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

from destila.data.io import report_dropped, rows_to_dataset
from destila.data.types import QADataset
from destila.errors import ConfigError, DataError

HF_PREFIX = "hf:"
FILE_SUFFIXES = (".parquet", ".arrow")
FLAT_ANSWERS = ("answers.text", "answers.answer_start")
_REQUIRED = ("id", "question", "context")


def is_hf_spec(spec: str) -> bool:
    return spec.startswith(HF_PREFIX)


def is_datasets_object(value) -> bool:
    """True for a `datasets.Dataset` or `DatasetDict` (without importing `datasets` when nothing could be one)."""
    module = sys.modules.get("datasets")
    return module is not None and isinstance(value, (module.Dataset, module.DatasetDict))


def is_saved_dataset(path: Path) -> bool:
    """A folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def parse_hf_spec(spec: str) -> tuple[str, str | None, str | None]:
    """`hf:PATH[:CONFIG][@SPLIT]` -> (PATH, CONFIG or None, SPLIT or None)."""
    body = spec[len(HF_PREFIX):]
    head, sep, split = body.rpartition("@")
    if not sep or "/" in split:
        head, split = body, ""
    path, _, config = head.partition(":")
    if not path or (sep and not split):
        raise ConfigError(f"dataset {spec}: expected hf:OWNER/NAME[:CONFIG][@SPLIT] or hf:FOLDER[@SPLIT]")
    return path, config or None, split or None


def is_hub_id(path: str) -> bool:
    """`OWNER/NAME` rather than a local folder."""
    return path.count("/") == 1 and not path.startswith((".", "/", "~")) and not Path(path).exists()


def load_hf(spec: str, download: bool = True, same_as: str | None = None) -> QADataset:
    """Read an `hf:` spec through `datasets.load_dataset` (or `load_from_disk` for a saved folder).

    `same_as` names the destila data sets that read the same data from upstream files, for the error message
    when `datasets` refuses the repository (one published with a loading script, which `datasets` 4+ never runs).
    """
    path, config, split = parse_hf_spec(spec)
    datasets = _import_datasets(spec)
    local = Path(path).expanduser()
    if not local.exists() and not _may_download(download, datasets):
        raise DataError(
            f"dataset {spec}: reading from the Hugging Face Hub, but downloading is switched off "
            "(DESTILA_OFFLINE=1 or download=False); set HF_HUB_OFFLINE=1 as well to read what `datasets` cached"
        )
    try:
        if is_saved_dataset(local):
            if config:
                raise ConfigError(f"dataset {spec}: a save_to_disk folder has no configurations")
            loaded = _select_split(datasets.load_from_disk(str(local)), split, spec, datasets)
        else:
            loaded = datasets.load_dataset(str(local) if local.exists() else path, config, split=split)
    except (OSError, ValueError) as exc:  # no such data set, configuration or split; the Hub unreachable
        raise DataError(f"dataset {spec}: `datasets` could not load it: {str(exc).strip()}") from None
    except RuntimeError as exc:  # "Dataset scripts are no longer supported"
        instead = f"; --data {same_as} reads the same data from its upstream files" if same_as else ""
        raise DataError(f"dataset {spec}: `datasets` could not load it: {exc}{instead}") from None
    display = f"{HF_PREFIX}{path}" + (f":{config}" if config else "")
    if split is not None:
        return from_datasets(loaded, name=f"{display}@{split}")
    return from_datasets(loaded, name=display, split_hint=f"{display}@SPLIT")


def _select_split(loaded, split: str | None, spec: str, datasets):
    if split is None or not isinstance(loaded, datasets.DatasetDict):  # no split asked for, or a single Dataset
        return loaded
    if split not in loaded:
        raise DataError(f"dataset {spec}: no split {split!r}; its splits are {', '.join(loaded)}")
    return loaded[split]


def read_datasets_path(path: str | os.PathLike, name: str | None = None) -> QADataset:
    """Read a `.parquet` or `.arrow` file, or a `save_to_disk` folder."""
    path = Path(path)
    datasets = _import_datasets(str(path))
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            loaded = datasets.Dataset.from_parquet(str(path))
        elif suffix == ".arrow":
            loaded = datasets.Dataset.from_file(str(path))
        elif is_saved_dataset(path):
            loaded = datasets.load_from_disk(str(path))
        else:
            raise DataError(f"{path}: not a .parquet or .arrow file nor a folder written by save_to_disk")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: `datasets` could not read it: {str(exc).strip()}") from None
    return from_datasets(loaded, name=name or str(path), split_hint=f"hf:{path}@SPLIT")


def from_datasets(value, name: str | None = None, split_hint: str = "dataset_dict[SPLIT]") -> QADataset:
    """A QADataset from a `datasets.Dataset`, or from a `DatasetDict` holding one split.

    `name` defaults to the data set's own name, configuration and split; `split_hint` tells how to pick one split
    of several, in the error message.
    """
    datasets = _import_datasets(name or "dataset")
    if isinstance(value, datasets.DatasetDict):
        if len(value) != 1:
            splits = ", ".join(value) or "none"
            raise DataError(f"dataset {name or 'DatasetDict'}: has splits {splits}; choose one: {split_hint}")
        (split_name, value), = value.items()
        name = f"{name}@{split_name}" if name else None
    if not isinstance(value, datasets.Dataset):
        raise DataError(f"dataset {name}: expected a datasets.Dataset or DatasetDict, got {type(value).__name__}")
    name = name or _own_name(value)
    _check_columns(value.column_names, name)
    dataset = rows_to_dataset(name, _rows(value), name=name)
    report_dropped(dataset, name)
    return dataset


def _own_name(dataset) -> str:
    info = dataset.info
    parts = info.dataset_name or "datasets.Dataset"
    if info.config_name and info.config_name != "default":
        parts += f":{info.config_name}"
    return parts + (f"@{dataset.split}" if dataset.split else "")


def _check_columns(columns: list[str], name: str) -> None:
    missing = [c for c in _REQUIRED if c not in columns]
    has_answers = "answers" in columns or set(FLAT_ANSWERS) <= set(columns) or "answer_text" in columns
    if not has_answers:
        missing.append("answers")
    if missing:
        raise DataError(
            f"dataset {name}: no column {', '.join(repr(c) for c in missing)}; its columns are "
            f"{', '.join(columns)} (expected id, question, context, answers {{text, answer_start}}, optional title)"
        )


def _rows(dataset) -> Iterator[tuple[str, dict]]:
    flat = "answers" not in dataset.column_names and set(FLAT_ANSWERS) <= set(dataset.column_names)
    for index, row in enumerate(dataset):
        if flat:
            row["answers"] = {"text": row.pop(FLAT_ANSWERS[0]), "answer_start": row.pop(FLAT_ANSWERS[1])}
        yield f"row {index}", row


def _may_download(download: bool, datasets) -> bool:
    if download and os.environ.get("DESTILA_OFFLINE", "") in ("", "0"):
        return True
    return bool(datasets.config.HF_HUB_OFFLINE)  # datasets then reads its cache and never the network


def _import_datasets(what: str):
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{what}: reading this needs the `datasets` package: pip install 'destila[datasets]'"
        ) from None
    return datasets
