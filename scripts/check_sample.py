#!/usr/bin/env python3
"""Check the embedded Spanish QA sample: ``src/destila/resources/sample_es.json``.

The JSON file is the sample's only source: its paragraphs, questions and answer spans are edited there. This
script checks the rules the file must keep and lists every break of them with the question id or the article
and paragraph at fault:

- SQuAD v2.0 layout in canonical form (2-space indent, UTF-8 characters unescaped, a final newline);
- article titles and contexts unique; contexts NFC-normalised, single-spaced, 60-160 words;
- questions written as ``¿...?``, unique within their paragraph, ids ``muestra-0001``, ``muestra-0002``, ... in
  file order;
- answerable questions with 1-3 distinct gold spans, unanswerable ones with none (and optional, distinct
  ``plausible_answers``);
- every span non-empty, without surrounding spaces, found at its ``answer_start``, not cutting a word at either
  end (when a span is misplaced, the message lists the offsets where it does occur).

    python scripts/check_sample.py                  # check the packaged resource
    python scripts/check_sample.py path/to/x.json   # check another file
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLE = ROOT / "src" / "destila" / "resources" / "sample_es.json"
ID_FORMAT = "muestra-{:04d}"
MIN_WORDS, MAX_WORDS = 60, 160
MAX_ANSWERS = 3
ARTICLE_KEYS = ["title", "paragraphs"]
PARAGRAPH_KEYS = ["context", "qas"]
QUESTION_KEYS = ["id", "question", "answers", "is_impossible"]
SPAN_KEYS = ["text", "answer_start"]
_WORD_CHAR = re.compile(r"\w")


def render(dataset: dict) -> str:
    """The canonical text of the sample file."""
    return json.dumps(dataset, ensure_ascii=False, indent=2) + "\n"


def _is_word_char(ch: str) -> bool:
    return bool(ch) and bool(_WORD_CHAR.match(ch))


def cuts_word(context: str, start: int, text: str) -> bool:
    """True when `text` placed at `start` begins or ends in the middle of a word of `context`."""
    before = context[start - 1] if start > 0 else ""
    end = start + len(text)
    after = context[end] if end < len(context) else ""
    return (_is_word_char(before) and _is_word_char(text[0])) or (_is_word_char(after) and _is_word_char(text[-1]))


def span_starts(context: str, text: str) -> list[int]:
    """Offsets where `text` occurs in `context` as whole words."""
    starts = []
    i = context.find(text)
    while i != -1:
        if not cuts_word(context, i, text):
            starts.append(i)
        i = context.find(text, i + 1)
    return starts


def check_span(context: str, span, where: str) -> list[str]:
    """Problems of one `{"text", "answer_start"}` span."""
    if not isinstance(span, dict) or list(span) != SPAN_KEYS:
        return [f"{where}: a span must be an object with keys {SPAN_KEYS}, got {span!r}"]
    text, start = span["text"], span["answer_start"]
    if not isinstance(text, str) or not text or text != text.strip():
        return [f"{where}: answer {text!r} is empty or has leading/trailing spaces"]
    if not isinstance(start, int) or isinstance(start, bool):
        return [f"{where}: answer {text!r}: answer_start must be an integer, got {start!r}"]
    if context[start : start + len(text)] == text and start >= 0 and not cuts_word(context, start, text):
        return []
    starts = span_starts(context, text)
    found = f"it occurs at {starts}" if starts else "it is not in the context (as whole words)"
    return [f"{where}: answer {text!r} is not at answer_start {start}; {found}"]


def answer_spans(qa: dict, where: str) -> tuple[list[str], list]:
    """The spans to check (the gold answers, or the plausible ones of an unanswerable question) and rule breaks."""
    impossible, answers, plausible = qa["is_impossible"], qa["answers"], qa.get("plausible_answers")
    if not isinstance(impossible, bool):
        return [f"{where}: is_impossible must be true or false, got {impossible!r}"], []
    if impossible:
        if answers != [] or (plausible is not None and (not isinstance(plausible, list) or not plausible)):
            return [f"{where}: an unanswerable question has answers [] and, if any, non-empty plausible_answers"], []
        return [], plausible or []
    if plausible is not None or not isinstance(answers, list) or not 1 <= len(answers) <= MAX_ANSWERS:
        return [f"{where}: an answerable question has 1-{MAX_ANSWERS} answers and no plausible_answers"], []
    return [], answers


def check_question(qa, context: str, number: int, where: str) -> list[str]:
    """Problems of the `number`-th question of the file (counted from 1)."""
    if not isinstance(qa, dict) or list(qa) not in (QUESTION_KEYS, [*QUESTION_KEYS, "plausible_answers"]):
        return [f"{where}: question {number} must be an object with keys {QUESTION_KEYS} [+ plausible_answers]"]
    expected_id = ID_FORMAT.format(number)
    where = f"{where}, {qa['id']}"
    problems, spans = answer_spans(qa, where)
    if qa["id"] != expected_id:
        problems.append(f"{where}: id should be {expected_id} (ids number the questions in file order)")
    text = qa["question"]
    if not (isinstance(text, str) and text.startswith("¿") and text.endswith("?")):
        problems.append(f"{where}: question must be written as ¿...?: {text!r}")
    texts = [repr(s.get("text")) if isinstance(s, dict) else repr(s) for s in spans]
    if len(set(texts)) != len(texts):
        problems.append(f"{where}: the same answer is listed twice")
    for span in spans:
        problems += check_span(context, span, where)
    return problems


def check_paragraph(paragraph, first_number: int, where: str) -> tuple[list[str], int]:
    """Problems of one paragraph and the number of questions it holds."""
    if not isinstance(paragraph, dict) or list(paragraph) != PARAGRAPH_KEYS:
        return [f"{where}: must be an object with keys {PARAGRAPH_KEYS}"], 0
    context, qas = paragraph["context"], paragraph["qas"]
    if not isinstance(qas, list):
        return [f"{where}: qas must be a list"], 0
    if not isinstance(context, str) or not qas:
        return [f"{where}: needs a context (string) and at least one question"], len(qas)
    problems = []
    words = len(context.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        problems.append(f"{where}: {words} words, expected {MIN_WORDS}-{MAX_WORDS}")
    if not unicodedata.is_normalized("NFC", context):
        problems.append(f"{where}: context is not NFC-normalised")
    if " ".join(context.split()) != context:
        problems.append(f"{where}: context has line breaks, runs of spaces or surrounding spaces")
    texts = [qa.get("question") for qa in qas if isinstance(qa, dict)]
    repeated = sorted({t for t in texts if texts.count(t) > 1})
    if repeated:
        problems.append(f"{where}: question repeated: {repeated}")
    for offset, qa in enumerate(qas):
        problems += check_question(qa, context, first_number + offset, where)
    return problems, len(qas)


def check(dataset) -> list[str]:
    """Every problem of the sample, as messages naming the article and paragraph (and question id)."""
    if not isinstance(dataset, dict) or list(dataset) != ["version", "data"] or dataset["version"] != "v2.0":
        return ['top level: must be {"version": "v2.0", "data": [...]}']
    problems, titles, contexts, number = [], set(), set(), 1
    for a_index, article in enumerate(dataset["data"]):
        if not isinstance(article, dict) or list(article) != ARTICLE_KEYS or not str(article["title"]).strip():
            problems.append(f"article {a_index}: must be an object with keys {ARTICLE_KEYS} and a title")
            continue
        title = article["title"]
        if title in titles:
            problems.append(f"article {a_index}: title repeated: {title!r}")
        titles.add(title)
        for p_index, paragraph in enumerate(article["paragraphs"]):
            where = f"{title!r} paragraph {p_index}"
            found, count = check_paragraph(paragraph, number, where)
            problems += found
            number += count
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if context in contexts:
                problems.append(f"{where}: context repeated")
            contexts.add(context)
    return problems


def summarize(dataset: dict) -> dict:
    """The counts the resource README's table gives."""
    paragraphs = [p for a in dataset["data"] for p in a["paragraphs"]]
    qas = [q for p in paragraphs for q in p["qas"]]
    return {
        "articles": len(dataset["data"]),
        "paragraphs": len(paragraphs),
        "questions": len(qas),
        "answerable": sum(not q["is_impossible"] for q in qas),
        "unanswerable": sum(q["is_impossible"] for q in qas),
        "gold answers": sum(len(q["answers"]) for q in qas),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SAMPLE, help="the sample file to check")
    args = parser.parse_args(argv)
    raw = args.path.read_bytes()
    try:
        dataset = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"{args.path}: not UTF-8 JSON: {exc}", file=sys.stderr)
        return 1
    problems = check(dataset)
    if not problems and render(dataset).encode("utf-8") != raw:
        problems.append("not in canonical form: rewrite it with json.dumps(data, ensure_ascii=False, indent=2)")
    for problem in problems:
        print(f"{args.path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.path}: ok ({', '.join(f'{k} {v}' for k, v in summarize(dataset).items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
