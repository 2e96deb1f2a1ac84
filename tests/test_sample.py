"""The embedded Spanish sample: shape, spans, ids, independence from SQuAD-es, and reproducible build."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILDER = ROOT / "scripts" / "build_sample.py"
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


def test_generator_reproduces_committed_file(raw, tmp_path):
    out = tmp_path / "sample_es.json"
    result = subprocess.run(
        [sys.executable, str(BUILDER), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == raw


def test_generator_rejects_missing_and_ambiguous_spans(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_sample", BUILDER)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up while executing
    spec.loader.exec_module(module)
    context = "El sol sale por el este; el sistema solar tiene un sol."
    assert module.locate(context, ("sol", 1), "t")["answer_start"] == context.rindex("sol")
    assert module.locate(context, "sistema solar", "t")["answer_start"] == context.index("sistema")
    with pytest.raises(module.SampleError, match="occurs 2 times"):
        module.locate(context, "sol", "t")
    with pytest.raises(module.SampleError, match="not in the context"):
        module.locate(context, "luna", "t")
    with pytest.raises(module.SampleError, match="not in the context"):
        module.locate(context, "sis", "t")  # cuts a word
