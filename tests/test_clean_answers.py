"""Answers as a person reads them: `clean_answer` / `clean_answers`, and `destila answer` (trimmed unless --raw)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from destila.cli import app
from destila.infer.postprocess import clean_answer, clean_answers, trim_span


@pytest.mark.parametrize(
    "span,shown",
    [
        (" 1819", "1819"),
        (" más de tres millones de visitantes.", "más de tres millones de visitantes"),
        ("Velázquez, Goya y El Greco,", "Velázquez, Goya y El Greco"),
        (" Goya;\n", "Goya"),
        ("visitantes...", "visitantes"),
        ("1819)", "1819"),
        ("(1819", "1819"),
        ("(1819)", "(1819)"),
        ('"El Greco".', '"El Greco"'),
        ("«Las Meninas»,", "«Las Meninas»"),
        ("¿por qué?", "¿por qué?"),
        ("qué?", "qué"),
        (" — Goya", "Goya"),
        # a final dot that belongs to an abbreviation stays
        ("el siglo III a. C.", "el siglo III a. C."),
        ("EE. UU.", "EE. UU."),
        ("pinturas, dibujos, etc.", "pinturas, dibujos, etc."),
        ("Prado S.A.", "Prado S.A."),
        ("la Sra.", "la Sra."),
        ("1819", "1819"),
    ],
)
def test_trim_span(span, shown):
    lead, trail = trim_span(span)
    assert span[lead : len(span) - trail] == shown


CONTEXT = "El Museo del Prado abrió sus puertas al público en 1819 en Madrid."


def test_clean_answer_moves_the_offsets():
    raw = {"score": 0.5, "start": 50, "end": 55, "answer": CONTEXT[50:55]}
    assert raw["answer"] == " 1819"
    cleaned = clean_answer(raw)
    assert cleaned == {"score": 0.5, "start": 51, "end": 55, "answer": "1819"}
    assert raw["answer"] == " 1819"  # the caller's answer is left as it was
    end = {"score": 0.2, "start": 58, "end": len(CONTEXT), "answer": CONTEXT[58:]}
    assert clean_answer(end)["answer"] == "Madrid" == CONTEXT[clean_answer(end)["start"] : clean_answer(end)["end"]]


def test_no_answer_and_bare_punctuation_stay_as_they_are():
    none = {"score": 0.9, "start": 0, "end": 0, "answer": ""}
    assert clean_answer(none) == none
    dot = {"score": 0.1, "start": 65, "end": 66, "answer": "."}
    assert clean_answer(dot) == dot  # trimming would leave nothing, which would read as no answer


def test_answers_equal_once_trimmed_are_merged_and_ranked_again():
    answers = [
        {"score": 0.4, "start": 40, "end": 45, "answer": "Prado"},
        {"score": 0.3, "start": 50, "end": 55, "answer": " 1819"},
        {"score": 0.2, "start": 51, "end": 56, "answer": "1819 "},
        {"score": 0.1, "start": 0, "end": 0, "answer": ""},
    ]
    assert clean_answers(answers) == [
        {"score": pytest.approx(0.5), "start": 51, "end": 55, "answer": "1819"},
        {"score": 0.4, "start": 40, "end": 45, "answer": "Prado"},
        {"score": 0.1, "start": 0, "end": 0, "answer": ""},
    ]


def test_the_empty_answer_keeps_the_rank_a_no_answer_threshold_gave_it():
    # ranked first by its null score minus a threshold, though a span scores higher
    answers = [
        {"score": 0.3, "start": 0, "end": 0, "answer": ""},
        {"score": 0.4, "start": 40, "end": 45, "answer": "Prado "},
        {"score": 0.2, "start": 50, "end": 55, "answer": " 1819"},
    ]
    assert [a["answer"] for a in clean_answers(answers)] == ["", "Prado", "1819"]
    assert [a["answer"] for a in clean_answers(answers[1:] + answers[:1])] == ["Prado", "1819", ""]


@pytest.fixture(scope="module")
def sentencepiece_qa_dir(tmp_path_factory, unigram_tokenizer):
    """A tiny random BERT QA model with a SentencePiece tokenizer: its spans begin with the space before a word."""
    from tiny import build_tiny_bert_qa

    out = tmp_path_factory.mktemp("sp_qa")
    build_tiny_bert_qa(out, tokenizer=unigram_tokenizer)
    return out


def test_answer_trims_unless_raw(sentencepiece_qa_dir):
    args = ["answer", "--model", str(sentencepiece_qa_dir), "--question", "¿Cuándo abrió el Prado?"]
    args += ["--context", CONTEXT, "--json", "--top-k", "5", "--threads", "1"]
    raw = json.loads(CliRunner().invoke(app, [*args, "--raw"]).output)
    shown = json.loads(CliRunner().invoke(app, args).output)
    assert any(a["answer"].startswith(" ") for a in raw), "the model gave no span to trim"
    assert shown == clean_answers(raw)
    for a in shown:
        assert a["answer"] == a["answer"].strip() and CONTEXT[a["start"] : a["end"]] == a["answer"]
