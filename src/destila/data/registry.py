"""Named datasets, their files, downloading into a checksum-verified cache, and article-level folds.

A dataset spec is either a file path or `NAME[:SPLIT]`, optionally followed by `@train` or `@eval` to keep one
fold, e.g. `squad-es-v1.1:dev-small@eval`, `xquad-es`, `sample`, `my_questions.jsonl`; or
`hf:OWNER/NAME[:CONFIG][@SPLIT]`, a data set read through the `datasets` library (`destila.data.hf`), where
`@SPLIT` names one of its splits. Any spec may end in `#answerable` or `#unanswerable` to keep only those
questions (`squad-es-v2.0:dev@train#unanswerable`), and a list of specs is read as one data set (`combine`:
the first source of a question id wins).

Where a named file is looked up, in order:

1. the local data folder (`--data-dir`, else the DESTILA_DATA_DIR environment variable), laid out like the
   upstream data: `squad-es/v1.1/dev-v1.1-es_small.json`, `xquad/xquad.es.json`, ...;
2. the cache, `destila.paths.cache_dir() / "data"`, same layout;
3. a download from the upstream URL into the cache (once), shown with a progress bar.

Integrity: files whose SHA-256 is known (the SQuAD-es dev files) are verified on download and whenever they are
read from the cache. For the others the upstream publishes no checksum, so the hash is recorded in
`<cache>/data/MANIFEST.json` on first download (trust on first use) and every later read from the cache is
verified against it; delete the file and its manifest entry to fetch it again. Files in the local data folder
belong to the user and are read as they are. Set DESTILA_OFFLINE=1 to forbid downloads.

Folds (`@train` / `@eval`) come from `folds.json` (looked up in the data folder, then in the cache): lists of
question ids for the SQuAD-es dev files it names under "counts"; a fold of any other dataset is an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from destila import paths
from destila.data import hf, io
from destila.data.types import COMBINED, FILTERS, QADataset, combine
from destila.errors import ConfigError, DataError

log = logging.getLogger("destila.data")

SQUAD_ES_BASE = "https://raw.githubusercontent.com/ccasimiro88/TranslateAlignRetrieve/master/"
XQUAD_BASE = "https://raw.githubusercontent.com/google-deepmind/xquad/master/"
MLQA_ZIP = "https://dl.fbaipublicfiles.com/MLQA/MLQA_V1.zip"
SQAC_BASE = "https://huggingface.co/datasets/PlanTL-GOB-ES/SQAC/resolve/main/"

FOLDS_FILE = "folds.json"
FOLDS = ("train", "eval")
MANIFEST = "MANIFEST.json"


@dataclass(frozen=True)
class DataFile:
    """One file of a named dataset: where it lives locally (`relpath`) and upstream (`url`, or `member` of a zip)."""

    relpath: str
    url: str
    sha256: str | None = None
    member: str | None = None  # path inside the zip archive at `url`
    archive_relpath: str | None = None  # where the archive is cached


@dataclass(frozen=True)
class NamedDataset:
    name: str
    splits: dict[str, DataFile | None]  # None: packaged with destila (the sample)
    default_split: str
    description: str
    hub: str | None = None  # the same data on the Hugging Face Hub, "OWNER/NAME[:CONFIG]" (for model cards)


def _squad_es(version: str, filename: str, sha256: str | None = None) -> DataFile:
    return DataFile(
        f"squad-es/v{version}/{filename}", f"{SQUAD_ES_BASE}SQuAD-es-v{version}/{filename}", sha256
    )


def _mlqa(split: str) -> DataFile:
    member = f"MLQA_V1/{split}/{split}-context-es-question-es.json"
    return DataFile(f"mlqa/{member}", MLQA_ZIP, member=member, archive_relpath="mlqa/MLQA_V1.zip")


REGISTRY: dict[str, NamedDataset] = {
    d.name: d
    for d in [
        NamedDataset(
            "squad-es-v1.1",
            {
                "train": _squad_es("1.1", "train-v1.1-es.json"),
                "dev": _squad_es("1.1", "dev-v1.1-es.json"),
                "dev-small": _squad_es(
                    "1.1",
                    "dev-v1.1-es_small.json",
                    "f7371e5800acc27bdb1bc213edc0126029007b335bb78ba8ab2ad2529227fdd7",
                ),
            },
            "dev",
            "SQuAD-es v1.1 (Carrino et al. 2019), machine-translated SQuAD; CC BY 4.0",
            "ccasimiro/squad_es:v1.1.0",
        ),
        NamedDataset(
            "squad-es-v2.0",
            {
                "train": _squad_es("2.0", "train-v2.0-es.json"),
                "dev": _squad_es(
                    "2.0",
                    "dev-v2.0-es.json",
                    "72a201f47b5dbd5b642ca2ce856c6c9e45306c887b7605125ec088614b3e9b38",
                ),
                "dev-small": _squad_es(
                    "2.0",
                    "dev-v2.0-es_small.json",
                    "4d01dbbff861700873ac88cc32cd80b5d328d4a968bae5f08318133c00c7b229",
                ),
            },
            "dev",
            "SQuAD-es v2.0, with unanswerable questions; CC BY 4.0",
            "ccasimiro/squad_es:v2.0.0",
        ),
        NamedDataset(
            "xquad-es",
            {"test": DataFile("xquad/xquad.es.json", XQUAD_BASE + "xquad.es.json")},
            "test",
            "XQuAD Spanish (Artetxe et al. 2019), 1,190 professionally translated SQuAD v1.1 dev questions",
            "google/xquad:xquad.es",
        ),
        NamedDataset(
            "mlqa-es",
            {"dev": _mlqa("dev"), "test": _mlqa("test")},
            "test",
            "MLQA Spanish context and question (Lewis et al. 2020), from the MLQA_V1 archive; CC BY-SA 3.0",
            "facebook/mlqa:mlqa.es.es",
        ),
        NamedDataset(
            "sqac",
            {s: DataFile(f"sqac/{s}.json", f"{SQAC_BASE}{s}.json") for s in ("train", "dev", "test")},
            "test",
            "SQAC, Spanish Question Answering Corpus (PlanTL-GOB-ES); CC BY-SA 4.0",
            "PlanTL-GOB-ES/SQAC",
        ),
        NamedDataset("sample", {"all": None}, "all", "a few Spanish questions packaged with destila (v2.0)"),
    ]
}

KNOWN_SHA256 = {
    f.sha256: f.relpath for d in REGISTRY.values() for f in d.splits.values() if f is not None and f.sha256
}


# ---------------------------------------------------------------------------------------------------------------
# Public entry point


def read_file(path: str | os.PathLike, name: str | None = None) -> QADataset:
    """Read a local data file: SQuAD JSON, JSONL or CSV (destila's readers), or Parquet, Arrow or a `save_to_disk`
    folder (through `datasets`)."""
    path = Path(path)
    if (path.suffix.lower() in hf.FILE_SUFFIXES and path.is_file()) or hf.is_saved_dataset(path):
        return hf.read_datasets_path(path, name=name)
    return io.read_file(path, name=name)


def load_dataset(
    spec,
    data_dir: str | os.PathLike | None = None,
    fold: str | None = None,
    download: bool = True,
) -> QADataset:
    """Read a dataset from a path, a registry spec `NAME[:SPLIT][@train|@eval]` or `hf:PATH[:CONFIG][@SPLIT]`,
    each optionally ending in `#answerable` / `#unanswerable`, or convert a `datasets.Dataset` / single-split
    `DatasetDict`; a list of those is read into one data set (`destila.data.types.combine`).

    `fold` ("train" / "eval") is the same as the `@` suffix; giving both with different values is an error.
    `data_dir` overrides DESTILA_DATA_DIR. With `download=False` (or DESTILA_OFFLINE=1) a missing file is an error.
    """
    if isinstance(spec, list | tuple):
        return _load_many(list(spec), data_dir, fold, download)
    if isinstance(spec, str | os.PathLike):
        target, keep = split_filter(str(spec))
        if keep is not None:
            return load_dataset(target, data_dir=data_dir, fold=fold, download=download).only(keep)
    if hf.is_datasets_object(spec) or (isinstance(spec, str) and hf.is_hf_spec(spec)):
        if fold is not None:
            raise ConfigError(f"dataset {spec!s}: folds are defined for the SQuAD-es dev files only")
        if hf.is_datasets_object(spec):
            return hf.from_datasets(spec)
        return hf.load_hf(spec, download=download, same_as=_names_of_hub_data(spec))
    if not isinstance(spec, str | os.PathLike):
        raise ConfigError(f"dataset: expected a spec, a path or a datasets.Dataset, got {type(spec).__name__}")
    target, spec_fold = _split_fold(str(spec))
    if fold is not None and fold not in FOLDS:
        raise ConfigError(f"fold: {fold!r} is not a fold; use one of {', '.join(FOLDS)}")
    if fold and spec_fold and fold != spec_fold:
        raise ConfigError(
            f"dataset {spec!s}: the spec asks for fold {spec_fold!r} but fold={fold!r} was given"
        )
    fold = fold or spec_fold
    local = paths.data_dir(data_dir)
    if local is not None and not local.is_dir():
        source = "--data-dir" if data_dir is not None else "DESTILA_DATA_DIR"
        raise ConfigError(f"{source}: {local} is not a folder")

    file, path, display = _lookup(target)
    if fold and file is not None:
        # a fold of a named file: check it is defined before fetching anything
        folds_path = _find_folds(local, None, None)
        if folds_path is not None:
            _check_fold_defined(_read_folds(folds_path), folds_path, file.relpath, display, fold)
    if file is not None:
        path = fetch(file, local, download=download, what=display)
    name = f"{display}@{fold}" if fold else display
    dataset = read_file(path, name=name)
    if fold:
        dataset = _apply_fold(dataset, fold, file.relpath if file else None, path, local, display)
    return dataset


def _load_many(specs: list, data_dir, fold: str | None, download: bool) -> QADataset:
    if not specs:
        raise ConfigError("dataset: an empty list of data sets; give at least one spec")
    dataset = combine([load_dataset(s, data_dir=data_dir, fold=fold, download=download) for s in specs])
    if dataset.dropped_duplicates:
        io.warn_once("%s: %d question(s) left out, their id already read from an earlier source (the first wins)",
                  dataset.name, dataset.dropped_duplicates)
    return dataset


def as_specs(value) -> list[str]:
    """The specs of a data setting that holds one spec or a list of them (`train_data`)."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def describe_specs(value) -> str:
    """One spec, or a list of them joined as a combined data set's name is (`a + b`)."""
    return COMBINED.join(as_specs(value))


def split_filter(spec: str) -> tuple[str, str | None]:
    """(the spec without its filter, the filter or None): `squad-es-v2.0:dev@train#unanswerable` ->
    (`squad-es-v2.0:dev@train`, `unanswerable`). A `#` in an existing path is part of the path."""
    head, sep, tail = spec.rpartition("#")
    if not sep or not head or Path(spec).exists():
        return spec, None
    if tail in FILTERS:
        return head, tail
    if tail and "/" not in tail and "." not in tail:
        raise ConfigError(f"dataset {spec}: unknown filter {tail!r}; use #{' or #'.join(FILTERS)}")
    return spec, None


def describe() -> list[tuple[str, str, str]]:
    """(name, splits with the default first, description) for every named dataset."""
    rows = []
    for d in REGISTRY.values():
        splits = [d.default_split] + [s for s in d.splits if s != d.default_split]
        rows.append((d.name, ", ".join(splits), d.description))
    return rows


def hub_reference(spec: str) -> dict | None:
    """The Hugging Face Hub data set a spec reads, as model-index fields `{"type", "config", "split"}`.

    `type` is the Hub id, `config` its configuration or None, `split` the split (with the fold, if any) in the spec's
    own terms, e.g. "dev-small@eval", "dev@train#unanswerable". None for files, local folders and the packaged
    sample. `hub_references` takes a list of specs too.
    """
    spec, keep = split_filter(spec)
    kept = f"#{keep}" if keep else ""
    if hf.is_hf_spec(spec):
        path, config, split = hf.parse_hf_spec(spec)
        split = f"{split}{kept}" if split or kept else None
        return {"type": path, "config": config, "split": split} if hf.is_hub_id(path) else None
    target, fold = _split_fold(spec)
    name, _, split = target.partition(":")
    entry = REGISTRY.get(name)
    if entry is None or entry.hub is None or Path(target).is_file():
        return None
    hub_id, _, config = entry.hub.partition(":")
    split = (split or entry.default_split) + (f"@{fold}" if fold else "") + kept
    return {"type": hub_id, "config": config or None, "split": split}


def hub_references(value) -> list[dict]:
    """`hub_reference` of each spec of `value` (one spec or a list) that has one, in order."""
    return [ref for ref in map(hub_reference, as_specs(value)) if ref is not None]


def _names_of_hub_data(spec: str) -> str | None:
    """The registry names that read the data of an `hf:` spec from its upstream files, e.g. "sqac"."""
    path, config, _ = hf.parse_hf_spec(spec)
    names = [
        d.name for d in REGISTRY.values() if d.hub and d.hub.partition(":")[0] == path
        and (config is None or d.hub.partition(":")[2] == config)
    ]
    return " or ".join(names) or None


# ---------------------------------------------------------------------------------------------------------------
# Spec parsing and lookup


def _split_fold(spec: str) -> tuple[str, str | None]:
    head, sep, tail = spec.rpartition("@")
    if sep and tail in FOLDS and head:
        return head, tail
    if sep and head and tail and "/" not in tail and "." not in tail and not Path(spec).exists():
        raise ConfigError(f"dataset {spec}: unknown fold {tail!r}; use @train or @eval")
    return spec, None


def _lookup(target: str) -> tuple[DataFile | None, Path | None, str]:
    """(registry file to fetch, or None; else the path to read; display name)."""
    name, _, split = target.partition(":")
    if name in REGISTRY and not Path(target).is_file():
        entry = REGISTRY[name]
        split = split or entry.default_split
        if split not in entry.splits:
            raise ConfigError(
                f"dataset {target}: {name} has no split {split!r}; its splits are {', '.join(entry.splits)}"
            )
        file = entry.splits[split]
        display = f"{name}:{split}"
        if file is None:
            return None, _sample_path(), display
        return file, None, display
    path = Path(target).expanduser()
    if path.is_file() or hf.is_saved_dataset(path):
        return None, path, str(path)
    suffixes = {".json", ".jsonl", ".csv", *hf.FILE_SUFFIXES}
    looks_like_path = os.sep in target or "/" in target or path.suffix.lower() in suffixes
    if looks_like_path:
        raise DataError(f"{target}: no such file")
    raise ConfigError(
        f"dataset {target!r}: not a file and not a known dataset name; known names: {', '.join(REGISTRY)}"
    )


def _sample_path() -> Path:
    resource = resources.files("destila").joinpath("resources/sample_es.json")
    if not resource.is_file():
        raise DataError("the packaged sample (destila/resources/sample_es.json) is missing from this install")
    return Path(str(resource))


# ---------------------------------------------------------------------------------------------------------------
# Cache and download


def cache_root() -> Path:
    return paths.cache_dir() / "data"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(file: DataFile, local: Path | None = None, download: bool = True, what: str | None = None) -> Path:
    """The path of `file`: from the local data folder, else the cache, else downloaded into the cache."""
    what = what or file.relpath
    if local is not None and (local / file.relpath).is_file():
        return local / file.relpath
    cached = cache_root() / file.relpath
    if cached.is_file():
        _verify_cached(file.relpath, cached, file.sha256)
        return cached
    if not download or os.environ.get("DESTILA_OFFLINE", "") not in ("", "0"):
        raise DataError(_missing_message(file, local, what, "downloading is switched off"))
    try:
        if file.member is None:
            _download(file.url, cached, file.relpath, file.sha256)
        else:
            archive = cache_root() / (file.archive_relpath or Path(file.url).name)
            if archive.is_file():
                _verify_cached(file.archive_relpath or archive.name, archive, None)
            else:
                _download(file.url, archive, file.archive_relpath or archive.name, None)
            _extract(archive, file.member, cached)
    except (httpx.HTTPError, OSError) as exc:
        raise DataError(_missing_message(file, local, what, f"downloading failed: {exc}")) from None
    return cached


def _missing_message(file: DataFile, local: Path | None, what: str, reason: str) -> str:
    where = f"{local}" if local is not None else "not set"
    source = file.url if file.member is None else f"{file.url} (member {file.member})"
    return (
        f"dataset {what}: file {file.relpath} is not in the data folder (--data-dir / DESTILA_DATA_DIR: {where}) "
        f"nor in the cache ({cache_root()}), and {reason}. Get it from {source}, put it at "
        f"DIR/{file.relpath} and pass --data-dir DIR (or set DESTILA_DATA_DIR=DIR)."
    )


def _read_manifest() -> dict[str, str]:
    path = cache_root() / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable download manifest ({exc}); delete it to start afresh") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: the download manifest must be a JSON object; delete it to start afresh")
    return data


def _record_manifest(relpath: str, digest: str) -> None:
    manifest = _read_manifest()
    manifest[relpath] = digest
    path = cache_root() / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def _verify_cached(relpath: str, path: Path, expected: str | None) -> None:
    expected = expected or _read_manifest().get(relpath)
    if expected is None:
        _record_manifest(relpath, sha256_file(path))
        return
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(
            f"{path}: SHA-256 {actual} does not match the expected {expected}; the cached file is damaged or "
            "was changed: delete it to download it again"
        )


def _http_client() -> httpx.Client:
    return httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30.0, connect=15.0))


def _download(url: str, dest: Path, relpath: str, expected: str | None) -> None:
    """Download `url` to `dest` atomically, hashing as it streams; check or record the SHA-256."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with (
            os.fdopen(fd, "wb") as out,
            Progress(
                TextColumn("[bold]downloading[/] {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(stderr=True),  # stdout may carry machine-readable output
                transient=True,
            ) as progress,
        ):
            task = progress.add_task(relpath, total=None)
            for chunk, total in _stream(url):
                if total is not None:
                    progress.update(task, total=total)
                out.write(chunk)
                digest.update(chunk)
                progress.advance(task, len(chunk))
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise DataError(
                f"download of {url}: SHA-256 {actual} does not match the expected {expected}; "
                "the upstream file changed or the transfer was corrupted (nothing was saved)"
            )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    if expected is None:
        _record_manifest(relpath, actual)


def _stream(url: str):
    """Yield (chunk, total size or None). Handles http(s) with httpx and file:// URLs (local mirrors)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        source = Path(unquote(parsed.path))
        total = source.stat().st_size
        with source.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 16), b""):
                yield block, total
        return
    with _http_client() as client, client.stream("GET", url) as response:
        response.raise_for_status()
        length = response.headers.get("content-length")
        total = int(length) if length and length.isdigit() else None
        for chunk in response.iter_bytes():
            yield chunk, total


def _extract(archive: Path, member: str, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise DataError(f"{archive}: the archive has no member {member}") from None
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            with zf.open(info) as src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out)
            tmp.replace(dest)
    except zipfile.BadZipFile:
        raise DataError(f"{archive}: not a valid zip archive; delete it to download it again") from None


# ---------------------------------------------------------------------------------------------------------------
# Folds


def _find_folds(local: Path | None, path: Path | None, relpath: str | None) -> Path | None:
    candidates = []
    if local is not None:
        candidates.append(local / FOLDS_FILE)
    if path is not None and relpath is not None:
        # the folder the file sits in, laid out like the data folder (…/squad-es/v1.1/<file>)
        root = path.resolve()
        for _ in Path(relpath).parts:
            root = root.parent
        candidates.append(root / FOLDS_FILE)
    candidates.append(cache_root() / FOLDS_FILE)
    return next((c for c in candidates if c.is_file()), None)


def _apply_fold(
    dataset: QADataset, fold: str, relpath: str | None, path: Path, local: Path | None, display: str
) -> QADataset:
    if relpath is None:
        # a path given directly: recognise the known files by content, else by their place in a data folder
        relpath = KNOWN_SHA256.get(sha256_file(path)) if path.is_file() else None
        posix = path.resolve().as_posix()
        relpath = relpath or next((r for r in _all_relpaths() if posix.endswith("/" + r)), None)
    folds_path = _find_folds(local, path, relpath)
    if folds_path is None:
        raise DataError(
            f"dataset {display}: fold {fold!r} needs {FOLDS_FILE}, found neither in the data folder "
            f"(--data-dir / DESTILA_DATA_DIR: {local or 'not set'}) nor in the cache ({cache_root()})"
        )
    folds = _read_folds(folds_path)
    relpath = _check_fold_defined(folds, folds_path, relpath, display, fold)
    defined = folds["counts"]
    keep = set(folds[fold])
    examples = [ex for ex in dataset.examples if ex.id in keep]
    expected = defined[relpath].get(fold) if isinstance(defined[relpath], dict) else None
    if expected is not None and expected != len(examples):
        raise DataError(
            f"{folds_path}: fold {fold!r} of {relpath} should hold {expected} questions, but {len(examples)} of "
            f"the file's ids are in it; the data file or {FOLDS_FILE} is not the expected version"
        )
    return QADataset(
        examples=examples,
        version=dataset.version,
        name=dataset.name,
        dropped_placeholders=dataset.dropped_placeholders,
    )


def _check_fold_defined(folds: dict, folds_path: Path, relpath: str | None, display: str, fold: str) -> str:
    defined = folds["counts"]
    if relpath is None or relpath not in defined:
        raise DataError(
            f"dataset {display}: fold {fold!r} is not defined for it in {folds_path}; folds exist for "
            + ", ".join(_names_for(r) for r in defined)
        )
    return relpath


def _all_relpaths() -> list[str]:
    return [f.relpath for d in REGISTRY.values() for f in d.splits.values() if f is not None]


def _names_for(relpath: str) -> str:
    for d in REGISTRY.values():
        for split, f in d.splits.items():
            if f is not None and f.relpath == relpath:
                return f"{d.name}:{split}"
    return relpath


def _read_folds(path: Path) -> dict:
    try:
        folds = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(folds, dict):
        raise DataError(f"{path}: must be a JSON object with 'train', 'eval' and 'counts'")
    for key in FOLDS:
        ids = folds.get(key)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise DataError(f"{path}: field {key!r}: must be a list of question ids (strings)")
    counts = folds.get("counts")
    if not isinstance(counts, dict):
        raise DataError(f"{path}: field 'counts': must be an object naming the files the folds cover")
    return folds
