"""Plain-text pieces the augmenters work on: a copy in progress, sentences, and the gold answers' places."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from destila.data.types import Answer

# A sentence ends at . ! ? or … (with closing quotes or brackets) followed by space and a capital, digit or opener.
_END = re.compile(r"[.!?…]+[\"»”’')\]]*\s+")
_OPENERS = "¿¡\"«“‘(["
# Words a period follows without ending the sentence ("Sr. García", "aprox. 20").
_ABBREVIATIONS = {"sr", "sra", "srta", "dr", "dra", "dña", "ud", "uds", "sto", "sta", "núm", "pág", "págs", "vol",
                  "cap", "art", "aprox", "ej", "fig", "vs", "av", "avda", "gral", "prof", "lic", "ing"}
_LAST_WORD = re.compile(r"([^\W\d_]+)[.!?…]*$")


@dataclass
class Draft:
    """A copy being made: its text, where the source's answers now are in its context, and the edits so far."""

    question: str
    context: str
    answers: list[Answer]
    edits: list[dict] = field(default_factory=list)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, without surrounding spaces, in order."""
    spans, start = [], len(text) - len(text.lstrip())
    for m in _END.finditer(text):
        nxt = text[m.end() : m.end() + 1]
        if not nxt or not (nxt[0].isupper() or nxt[0].isdigit() or nxt[0] in _OPENERS):
            continue
        end = m.start() + len(m.group().rstrip())
        if _is_abbreviation(text[start : m.start() + 1]):
            continue
        spans.append((start, end))
        start = m.end()
    end = len(text.rstrip())
    if end > start:
        spans.append((start, end))
    return spans


def _is_abbreviation(sentence: str) -> bool:
    """Whether the period ending `sentence` belongs to an abbreviation or an initial ("a. C.", "EE. UU.")."""
    if not sentence.endswith("."):
        return False
    m = _LAST_WORD.search(sentence)
    if m is None:
        return False
    word = m.group(1)
    return len(word) == 1 or (len(word) == 2 and word.isupper()) or word.lower() in _ABBREVIATIONS


def answer_spans(answers: list[Answer]) -> list[tuple[int, int]]:
    return [(a.start, a.start + len(a.text)) for a in answers]


def overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < b and end > a for a, b in spans)
