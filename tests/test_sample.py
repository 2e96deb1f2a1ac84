"""The embedded Spanish sample: shape, spans, ids, independence from SQuAD-es, and its checker."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "scripts" / "check_sample.py"
SHINGLE = 12  # words: a shared run this long would mean copied text


def _resource():
    return resources.files("destila").joinpath("resources", "sample_es.json")


@pytest.fixture(scope="module")
def raw() -> bytes:
    return _resource().read_bytes()


@pytest.fixture(scope="module")
def sample(raw) -> dict:
    return json.loads(raw.decode("utf-8"))


def _paragraphs(dataset: dict) -> list[dict]:
    return [p for article in dataset["data"] for p in article["paragraphs"]]


def _questions(dataset: dict) -> list[dict]:
    return [q for p in _paragraphs(dataset) for q in p["qas"]]


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def test_counts(sample):
    assert sample["version"] == "v2.0"
    paragraphs = _paragraphs(sample)
    questions = _questions(sample)
    assert len(sample["data"]) >= 12
    assert len(paragraphs) >= 40
    assert len(questions) >= 150
    assert sum(q["is_impossible"] for q in questions) >= 30
    assert all(article["title"].strip() for article in sample["data"])


def test_answer_spans_match_context(sample):
    for paragraph in _paragraphs(sample):
        context = paragraph["context"]
        for q in paragraph["qas"]:
            for key in ("answers", "plausible_answers"):
                for answer in q.get(key, []):
                    start = answer["answer_start"]
                    assert isinstance(start, int) and start >= 0, q["id"]
                    assert answer["text"], q["id"]
                    assert context[start : start + len(answer["text"])] == answer["text"], (q["id"], answer)


def test_ids_unique_and_well_formed(sample):
    ids = [q["id"] for q in _questions(sample)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"muestra-\d{4}", i) for i in ids)


def test_answerable_and_unanswerable(sample):
    for q in _questions(sample):
        assert q["question"].startswith("¿") and q["question"].endswith("?"), q["id"]
        assert isinstance(q["is_impossible"], bool), q["id"]
        if q["is_impossible"]:
            assert q["answers"] == [], q["id"]
        else:
            assert 1 <= len(q["answers"]) <= 3, q["id"]
            assert "plausible_answers" not in q, q["id"]


def test_spanish_text(sample):
    text = " ".join(p["context"] for p in _paragraphs(sample))
    for ch in "áéíóúñ¿?¡!«»":
        assert ch in text
    for paragraph in _paragraphs(sample):
        assert 60 <= len(paragraph["context"].split()) <= 160


def test_readable_by_the_data_model(sample):
    from destila.data import Answer, QAExample

    examples = [
        QAExample(
            id=q["id"],
            question=q["question"],
            context=p["context"],
            answers=[Answer(a["text"], a["answer_start"]) for a in q["answers"]],
            title=article["title"],
            is_impossible=q["is_impossible"],
        )
        for article in sample["data"]
        for p in article["paragraphs"]
        for q in p["qas"]
    ]
    assert len(examples) == len(_questions(sample))


def test_no_overlap_with_squad_es(sample, data_dir):
    files = sorted((data_dir / "squad-es").rglob("*.json"))
    assert files, f"no SQuAD-es files under {data_dir}"
    theirs_contexts: set[str] = set()
    theirs_shingles: set[tuple[str, ...]] = set()
    for path in files:
        for paragraph in _paragraphs(json.loads(path.read_text(encoding="utf-8"))):
            context = paragraph["context"].lstrip("\ufeff").strip()
            if context not in theirs_contexts:
                theirs_contexts.add(context)
                theirs_shingles |= _shingles(context)
    for paragraph in _paragraphs(sample):
        context = paragraph["context"]
        assert context.strip() not in theirs_contexts
        shared = _shingles(context) & theirs_shingles
        assert not shared, f"12-word overlap with SQuAD-es: {' '.join(next(iter(shared)))!r}"


def _checker():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_sample", CHECKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checker_accepts_the_packaged_file():
    result = subprocess.run(
        [sys.executable, str(CHECKER)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "questions 290" in result.stdout


def test_resource_readme_counts_match_the_file(sample):
    readme = _resource().parent.joinpath("README.md").read_text(encoding="utf-8")
    counts = _checker().summarize(sample)
    header = "| " + " | ".join(counts) + " |"
    row = "| " + " | ".join(str(v) for v in counts.values()) + " |"
    lines = readme.splitlines()
    assert header in lines
    assert lines[lines.index(header) + 2] == row


def _broken(sample: dict, edit) -> dict:
    copy = json.loads(json.dumps(sample))
    edit(copy["data"][0]["paragraphs"][0])
    return copy


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["qas"][0]["answers"][0].update(answer_start=0), "occurs at [10]"),
        (lambda p: p["qas"][0]["answers"][0].update(text="luna"), "not in the context"),
        (lambda p: p["qas"][0]["answers"][0].update(text="92", answer_start=10), "not in the context"),
        (lambda p: p["qas"][0]["answers"].append(dict(p["qas"][0]["answers"][0])), "listed twice"),
        (lambda p: p["qas"][1].update(id="muestra-0001"), "id should be muestra-0002"),
        (lambda p: p["qas"][1].update(question=p["qas"][0]["question"]), "question repeated"),
        (lambda p: p["qas"][0].update(question="En qué año?"), "¿...?"),
        (lambda p: p["qas"][0].update(is_impossible=True), "unanswerable question has answers []"),
        (lambda p: p.update(context=p["context"] + "  Fin."), "runs of spaces"),
        (lambda p: p.update(context="Muy corto."), "2 words"),
        (lambda p: p.update(qas=[]), "at least one question"),
    ],
)
def test_checker_names_each_broken_rule(sample, edit, message):
    problems = _checker().check(_broken(sample, edit))
    assert problems[0].startswith("'Historia de la península ibérica' paragraph 0")
    assert any(message in p for p in problems), problems


def test_checker_finds_misplaced_spans_and_repeats(sample):
    checker = _checker()
    context = "El sol sale por el este; el sistema solar tiene un sol."
    assert checker.span_starts(context, "sol") == [3, context.rindex("sol")]
    assert checker.span_starts(context, "sis") == []  # cuts a word
    assert checker.check_span(context, {"text": "sistema solar", "answer_start": 28}, "t") == []
    copy = json.loads(json.dumps(sample))
    copy["data"].append(copy["data"][0])
    problems = checker.check(copy)
    assert any("title repeated" in p for p in problems)
    assert any("context repeated" in p for p in problems)
