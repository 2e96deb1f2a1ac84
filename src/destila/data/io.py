"""Readers for extractive-QA files: SQuAD v1.1 / v2.0 JSON, and JSONL / CSV rows.

Parquet and Arrow files and `save_to_disk` folders are read through `datasets` (`destila.data.hf`) and checked
as rows.

Every reader validates as it goes and raises `DataError` naming the file, the article (index and title) or row,
the question id and the field at fault. Placeholder gold answers (`{"text": "", "answer_start": -1}`, which the
"small" SQuAD-es files use for answers the translation lost) are dropped, counted in
`QADataset.dropped_placeholders` and reported with a logging warning, once per process and file.

Row format (JSONL: one JSON object a line; CSV: a header line, then one row a question):

- required: `id`, `question`, `context`;
- gold answers, either
  - `answers`: a list of `{"text": ..., "answer_start": ...}` (in CSV, that list JSON-encoded in the cell), or the
    columnar form `{"text": [...], "answer_start": [...]}` written by Hugging Face `datasets`; or
  - `answer_text` and `answer_start`: a single answer;
- an empty answer list (or an empty `answer_text` with an empty `answer_start`) marks an unanswerable question;
- optional: `title`, `is_impossible` (true/false; when given it must agree with the answers).

A file is version "2.0" when it says so (`"version": "v2.0"`), uses `is_impossible`, or holds an unanswerable
question; otherwise "1.1". A SQuAD v1.1 file must give every question at least one real answer.

A SQuAD JSON question carrying `"destila_augment": {"source": ID, "answers": [...], "edits": [...]}` is a copy
written by `destila augment`: its `answers` must be empty (the teacher labels it), it is read with
`augmented=True`, and the source's answers, relocated into its context for inspection, are checked but not kept.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from destila.data.types import Answer, QADataset, QAExample
from destila.errors import DataError

log = logging.getLogger(__name__)

ROW_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
AUGMENT_KEY = "destila_augment"  # the marker of an augmented question in a SQuAD JSON file


def read_file(path: str | os.PathLike, name: str | None = None) -> QADataset:
    """Read a SQuAD JSON (`.json`), JSONL (`.jsonl`, `.ndjson`) or CSV (`.csv`) file into a QADataset.
    (`destila.data.read_file` also reads what `datasets` writes: Parquet, Arrow, `save_to_disk` folders.)"""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    kind = ROW_SUFFIXES.get(path.suffix.lower(), "squad")
    if kind == "squad":
        dataset = read_squad_json(path, name=name)
    elif kind == "jsonl":
        dataset = read_jsonl(path, name=name)
    else:
        dataset = read_csv(path, name=name)
    report_dropped(dataset, path)
    return dataset


_WARNED: set[str] = set()  # the data-file warnings this process has given


def warn_once(message: str, *args) -> None:
    """Log a warning about a data file once per process (a pipeline reads the same files in every stage)."""
    text = message % args
    if text not in _WARNED:
        _WARNED.add(text)
        log.warning(text)


def report_dropped(dataset: QADataset, source: str | Path) -> None:
    """Warn (once per process and file) when placeholder gold answers were dropped while reading."""
    if dataset.dropped_placeholders:
        warn_once('%s: dropped %d placeholder gold answers ({"text": "", "answer_start": -1})', source,
                  dataset.dropped_placeholders)


# ---------------------------------------------------------------------------------------------------------------
# Shared checks


class _Where:
    """Builds the location prefix of an error message: file or data set, article or row, question id, field."""

    def __init__(self, source: str | Path, record: str, qid: str | None = None):
        self.source, self.record, self.qid = source, record, qid

    def __call__(self, field: str | None, problem: str) -> DataError:
        parts = [str(self.source), self.record]
        if self.qid is not None:
            parts.append(f"question {self.qid!r}")
        if field:
            parts.append(f"field {field!r}")
        return DataError(": ".join(parts) + f": {problem}")


_KIND_NAMES = {dict: "object", list: "list", str: "string", int: "integer", float: "number", bool: "boolean"}


def _type_name(value: Any) -> str:
    return "null" if value is None else _KIND_NAMES.get(type(value), type(value).__name__)


def _require(
    obj: dict, key: str, kind: type | tuple[type, ...], where: _Where, field: str | None = None
) -> Any:
    field = field or key
    if key not in obj:
        raise where(field, "missing")
    value = obj[key]
    _check_type(value, kind, where, field)
    return value


def _check_type(value: Any, kind: type | tuple[type, ...], where: _Where, field: str) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        expected = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        article = "an" if expected[0] in "aeiou" else "a"
        raise where(field, f"must be {article} {expected}, got {_type_name(value)} {_short(value)}")


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_placeholder(text: str, start: int) -> bool:
    return text == "" and start == -1


def _check_answer(text: str, start: int, context: str, where: _Where, field: str | None) -> Answer:
    """Check one (non-placeholder) answer; `field` is "answers[i]", or None for answer_text/answer_start columns."""
    text_field = f"{field}.text" if field else "answer_text"
    start_field = f"{field}.answer_start" if field else "answer_start"
    if text == "":
        raise where(text_field, f"empty answer text at answer_start {start}")
    if not 0 <= start < len(context):
        raise where(start_field, f"{start} is outside the context (length {len(context)})")
    found = context[start : start + len(text)]
    if found != text:
        raise where(
            start_field,
            f"answer text {_short(text)} is not found at {start}; the context there reads {_short(found)}",
        )
    return Answer(text=text, start=start)


def _finish_question(
    qid: str,
    question: str,
    context: str,
    *,
    answers: list[Answer],
    had_answers: bool,
    is_impossible: bool | None,
    title: str,
    v2: bool,
    where: _Where,
) -> QAExample:
    """Checks that apply to every format once the answers are parsed; returns the example."""
    if is_impossible is True and had_answers:
        raise where("is_impossible", "is true but the question has gold answers")
    if is_impossible is False and not had_answers:
        raise where("answers", "empty, but is_impossible is false")
    if had_answers and not answers:
        raise where("answers", 'every gold answer is a placeholder {"text": "", "answer_start": -1}')
    if not had_answers and not v2:
        raise where("answers", "empty in a SQuAD v1.1 file (only v2.0 files may hold unanswerable questions)")
    return QAExample(
        id=qid,
        question=question,
        context=context,
        answers=answers,
        title=title,
        is_impossible=not answers,
    )


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


# ---------------------------------------------------------------------------------------------------------------
# SQuAD JSON


def read_squad_json(path: str | os.PathLike, name: str | None = None) -> QADataset:
    """Read a SQuAD v1.1 or v2.0 JSON file: `{"version": ..., "data": [{"title", "paragraphs": [...]}]}`."""
    path = Path(path)
    root = _load_json(path)
    top = _Where(path, "top level")
    if not isinstance(root, dict):
        raise top(None, f"must be a JSON object with a 'data' list, got {_type_name(root)}")
    articles = _require(root, "data", list, top)
    version = root.get("version")
    declared_v2 = isinstance(version, str) and version.lstrip("v").startswith("2")
    v2 = declared_v2 or any(
        isinstance(qa, dict) and "is_impossible" in qa
        for art in articles
        if isinstance(art, dict) and isinstance(art.get("paragraphs"), list)
        for par in art["paragraphs"]
        if isinstance(par, dict) and isinstance(par.get("qas"), list)
        for qa in par["qas"]
    )

    examples: list[QAExample] = []
    seen: dict[str, str] = {}
    dropped = 0
    for a_idx, article in enumerate(articles):
        a_where = _Where(path, f"article {a_idx}")
        if not isinstance(article, dict):
            raise a_where(None, f"must be an object, got {_type_name(article)}")
        title = article.get("title", "")
        _check_type(title, str, a_where, "title")
        record = f"article {a_idx} ({title!r})" if title else f"article {a_idx}"
        a_where = _Where(path, record)
        paragraphs = _require(article, "paragraphs", list, a_where)
        for p_idx, par in enumerate(paragraphs):
            p_field = f"paragraphs[{p_idx}]"
            if not isinstance(par, dict):
                raise a_where(p_field, f"must be an object, got {_type_name(par)}")
            context = _require(par, "context", str, a_where, f"{p_field}.context")
            if not context.strip():
                raise a_where(f"{p_field}.context", "empty context")
            qas = _require(par, "qas", list, a_where, f"{p_field}.qas")
            for q_idx, qa in enumerate(qas):
                q_field = f"{p_field}.qas[{q_idx}]"
                if not isinstance(qa, dict):
                    raise a_where(q_field, f"must be an object, got {_type_name(qa)}")
                qid = _require(qa, "id", str, a_where, f"{q_field}.id")
                where = _Where(path, f"{record}, paragraph {p_idx}", qid)
                if qid in seen:
                    raise where("id", f"duplicate id (first seen in {seen[qid]})")
                seen[qid] = f"{record}, paragraph {p_idx}"
                question = _require(qa, "question", str, where)
                if not question.strip():
                    raise where("question", "empty question")
                raw_answers = _require(qa, "answers", list, where)
                if AUGMENT_KEY in qa:
                    examples.append(_augmented(qa, raw_answers, qid, question=question, context=context, title=title,
                                               where=where))
                    continue
                is_impossible = qa.get("is_impossible")
                if is_impossible is not None:
                    _check_type(is_impossible, bool, where, "is_impossible")
                answers = []
                for i, ans in enumerate(raw_answers):
                    field = f"answers[{i}]"
                    if not isinstance(ans, dict):
                        raise where(field, f"must be an object, got {_type_name(ans)}")
                    text = _require(ans, "text", str, where, f"{field}.text")
                    start = _require(ans, "answer_start", int, where, f"{field}.answer_start")
                    if _is_placeholder(text, start):
                        dropped += 1
                        continue
                    answers.append(_check_answer(text, start, context, where, field))
                examples.append(_finish_question(qid, question, context, answers=answers, had_answers=bool(raw_answers),
                                                 is_impossible=is_impossible, title=title, v2=v2, where=where))
    return QADataset(
        examples=examples,
        version="2.0" if v2 else "1.1",
        name=name or str(path),
        dropped_placeholders=dropped,
    )


def _augmented(
    qa: dict, raw_answers: list, qid: str, *, question: str, context: str, title: str, where: _Where
) -> QAExample:
    """An augmented copy: no gold answers; its record names a source and holds the relocated answers."""
    record = _require(qa, AUGMENT_KEY, dict, where)
    _require(record, "source", str, where, f"{AUGMENT_KEY}.source")
    if raw_answers:
        raise where("answers", f"must be empty for an augmented question (see {AUGMENT_KEY}.answers)")
    relocated = record.get("answers", [])
    _check_type(relocated, list, where, f"{AUGMENT_KEY}.answers")
    for i, ans in enumerate(relocated):
        field = f"{AUGMENT_KEY}.answers[{i}]"
        if not isinstance(ans, dict):
            raise where(field, f"must be an object, got {_type_name(ans)}")
        text = _require(ans, "text", str, where, f"{field}.text")
        start = _require(ans, "answer_start", int, where, f"{field}.answer_start")
        _check_answer(text, start, context, where, field)
    return QAExample(id=qid, question=question, context=context, title=title, augmented=True)


# ---------------------------------------------------------------------------------------------------------------
# Rows: JSONL and CSV


def read_jsonl(path: str | os.PathLike, name: str | None = None) -> QADataset:
    """Read one question a line (see the module docstring for the columns)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}: line {lineno}: not valid JSON: {exc.msg} at column {exc.colno}"
            ) from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {lineno}: must be a JSON object, got {_type_name(row)}")
        rows.append((f"line {lineno}", row))
    return rows_to_dataset(path, rows, name, from_csv=False)


def read_csv(path: str | os.PathLike, name: str | None = None) -> QADataset:
    """Read a CSV file with a header row (see the module docstring for the columns)."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, restval="")
            if reader.fieldnames is None:
                raise DataError(f"{path}: empty CSV file (a header row is needed)")
            rows = []
            for row in reader:
                if None in row:
                    raise DataError(f"{path}: line {reader.line_num}: more cells than header columns")
                rows.append((f"line {reader.line_num}", row))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not valid CSV: {exc}") from None
    return rows_to_dataset(path, rows, name, from_csv=True)


def rows_to_dataset(
    source: str | Path, rows: Iterable[tuple[str, dict]], name: str | None = None, from_csv: bool = False
) -> QADataset:
    """Check `(record, row)` pairs (record: "line 3", "row 7") read from `source` and build the dataset.

    CSV cells are all strings: `from_csv` parses the `answers` JSON cell, `answer_start` and `is_impossible` text.
    """
    parsed = []
    seen: dict[str, str] = {}
    dropped = 0
    any_impossible_field = False
    for record, row in rows:
        row_where = _Where(source, record)
        qid = _require(row, "id", str, row_where)
        if from_csv and not qid.strip():
            raise row_where("id", "empty id")
        where = _Where(source, record, qid)
        if qid in seen:
            raise where("id", f"duplicate id (first seen at {seen[qid]})")
        seen[qid] = record
        question = _require(row, "question", str, where)
        if not question.strip():
            raise where("question", "empty question")
        context = _require(row, "context", str, where)
        if not context.strip():
            raise where("context", "empty context")
        title = row.get("title") or ""
        _check_type(title, str, where, "title")
        raw = _row_answers(row, where, from_csv)
        is_impossible = _row_is_impossible(row, where, from_csv)
        any_impossible_field |= is_impossible is not None
        answers = []
        for i, (text, start) in enumerate(raw):
            field = f"answers[{i}]" if "answers" in row else None
            if _is_placeholder(text, start):
                dropped += 1
                continue
            answers.append(_check_answer(text, start, context, where, field))
        parsed.append(dict(qid=qid, question=question, context=context, answers=answers, had_answers=bool(raw),
                           is_impossible=is_impossible, title=title, where=where))
    v2 = any_impossible_field or any(not p["had_answers"] for p in parsed)
    examples = [_finish_question(**p, v2=v2) for p in parsed]
    return QADataset(
        examples=examples,
        version="2.0" if v2 else "1.1",
        name=name or str(source),
        dropped_placeholders=dropped,
    )


def _row_answers(row: dict, where: _Where, from_csv: bool) -> list[tuple[str, int]]:
    """The row's gold answers as (text, start) pairs, placeholders included."""
    if "answers" in row:
        value = row["answers"]
        if from_csv:
            if value.strip() == "":
                return []
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise where("answers", f"not valid JSON: {exc.msg} at column {exc.colno}") from None
        if isinstance(value, dict):  # columnar: {"text": [...], "answer_start": [...]}
            texts = _require(value, "text", list, where, "answers.text")
            starts = _require(value, "answer_start", list, where, "answers.answer_start")
            if len(texts) != len(starts):
                raise where("answers", f"{len(texts)} texts but {len(starts)} answer_start values")
            value = [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]
        _check_type(value, list, where, "answers")
        out = []
        for i, ans in enumerate(value):
            field = f"answers[{i}]"
            if not isinstance(ans, dict):
                raise where(field, f"must be an object, got {_type_name(ans)}")
            text = _require(ans, "text", str, where, f"{field}.text")
            start = _require(ans, "answer_start", int, where, f"{field}.answer_start")
            out.append((text, start))
        return out
    if "answer_text" in row or "answer_start" in row:
        text = row.get("answer_text")
        start = row.get("answer_start")
        if from_csv:
            text = text or ""
            if (start or "").strip() == "":
                if text:
                    raise where("answer_start", "empty, but answer_text is given")
                return []
            try:
                start = int(start)
            except ValueError:
                raise where("answer_start", f"must be an integer, got {start!r}") from None
        else:
            if text is None and start is None:
                return []
            _check_type(text, str, where, "answer_text")
            _check_type(start, int, where, "answer_start")
        if text == "" and start != -1:
            raise where("answer_text", f"empty, but answer_start is {start}")
        return [(text, start)]
    raise where("answers", "missing (give 'answers', or 'answer_text' and 'answer_start')")


def _row_is_impossible(row: dict, where: _Where, from_csv: bool) -> bool | None:
    value = row.get("is_impossible")
    if value is None or (from_csv and value.strip() == ""):
        return None
    if from_csv:
        lowered = value.strip().lower()
        if lowered in {"true", "1", "yes"}:
            return True
        if lowered in {"false", "0", "no"}:
            return False
        raise where("is_impossible", f"must be true or false, got {value!r}")
    _check_type(value, bool, where, "is_impossible")
    return value
