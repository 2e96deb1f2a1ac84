"""Context edits that keep the answer-bearing sentence: drop other sentences, reorder the sentences, or add a
distractor sentence from another paragraph of the same article (in the spirit of AddSent: the one sharing most
words with the question, among a few). The answers' offsets are recomputed."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from destila.augment.text import Draft, answer_spans, overlaps, sentence_spans
from destila.data.types import Answer, QAExample

_CONTENT_WORD = re.compile(r"[^\W\d_]{4,}")  # words long enough to say what a sentence is about
_DISTRACTOR_POOL = 3  # the distractor is drawn from this many sentences closest to the question


class ContextEditor:
    """One edit per copy, drawn among those that apply: "drop", "reorder" or "distractor"."""

    name = "context"

    def __init__(self, examples: list[QAExample], p: float):
        self.p = p
        self.articles: dict[str, list[str]] = defaultdict(list)  # title -> its distinct contexts, in order
        for ex in examples:
            if ex.title and ex.context not in self.articles[ex.title]:
                self.articles[ex.title].append(ex.context)
        self._sentences: dict[str, list[tuple[str, set[str]]]] = {}  # context -> (sentence, its content words)
        self._spans: dict[str, list[tuple[int, int]]] = {}  # sentence spans of the source contexts

    def __call__(self, draft: Draft, source: QAExample, rng: np.random.Generator) -> Draft | None:
        if draft.context != source.context:
            spans = sentence_spans(draft.context)
        elif (spans := self._spans.get(source.context)) is None:  # the copies of one paragraph's questions share it
            spans = self._spans[source.context] = sentence_spans(source.context)
        units = _units(spans, draft.answers)
        if units is None:
            return None
        ops = []
        if any(not keep for _, _, keep in units) and len(units) > 1:
            ops.append(self._drop)
        if len(units) > 1:
            ops.append(_reorder)
        if len(self.articles.get(source.title, [])) > 1:
            ops.append(self._distractor)
        if not ops:
            return None
        result = ops[rng.integers(len(ops))](draft, source, units, rng)
        if result is None:
            return None
        pieces, edit = result
        context, answers = _assemble(draft, units, pieces)
        return Draft(draft.question, context, answers, [*draft.edits, {"augmenter": self.name, **edit}])

    def _drop(self, draft, source, units, rng):
        free = [i for i, (_, _, keep) in enumerate(units) if not keep]
        dropped = [i for i in free if rng.random() < self.p]
        if not dropped:
            dropped = [free[rng.integers(len(free))]]
        if len(dropped) == len(units):  # an unanswerable question keeps one sentence
            dropped.pop(rng.integers(len(dropped)))
        pieces = [(i, None) for i in range(len(units)) if i not in dropped]
        return pieces, {"op": "drop", "sentences": dropped}

    def _distractor(self, draft, source, units, rng):
        asked = set(_CONTENT_WORD.findall(draft.question.lower()))
        # closest to the question first, ties by text: the same choice whatever the order of the paragraphs
        ranked = sorted((-len(asked & words), s) for context in self.articles[source.title]
                        if context != source.context for s, words in self._sentences_of(context)
                        if s not in draft.context and not any(a.text in s for a in draft.answers))
        if not ranked:
            return None
        pool = ranked[:_DISTRACTOR_POOL]
        sentence = pool[rng.integers(len(pool))][1]
        at = int(rng.integers(len(units) + 1))
        pieces = [(i, None) for i in range(len(units))]
        pieces.insert(at, (None, sentence))
        return pieces, {"op": "distractor", "at": at, "sentence": sentence}

    def _sentences_of(self, context: str) -> list[tuple[str, set[str]]]:
        if context not in self._sentences:
            sentences = [context[a:b] for a, b in sentence_spans(context)]
            self._sentences[context] = [(s, set(_CONTENT_WORD.findall(s.lower()))) for s in sentences]
        return self._sentences[context]


def _reorder(draft, source, units, rng):
    order = list(range(len(units)))
    while order == sorted(order):
        order = [int(i) for i in rng.permutation(len(units))]
    return [(i, None) for i in order], {"op": "reorder", "order": order}


def _units(sentences: list[tuple[int, int]], answers: list[Answer]) -> list[tuple[int, int, bool]] | None:
    """The sentences as (start, end, holds an answer); sentences an answer spans are merged into one.
    None when an answer does not lie inside one unit (it starts or ends between sentences)."""
    spans = answer_spans(answers)
    units: list[list] = []
    for start, end in sentences:
        keep = overlaps(start, end, spans)
        joined = units and units[-1][2] and keep and any(a < units[-1][1] and b > start for a, b in spans)
        if joined:
            units[-1][1] = end
        else:
            units.append([start, end, keep])
    inside = all(any(s <= a and b <= e for s, e, _ in units) for a, b in spans)
    return [tuple(u) for u in units] if inside and units else None


def _assemble(draft: Draft, units: list[tuple[int, int, bool]], pieces: list[tuple[int | None, str | None]]
              ) -> tuple[str, list[Answer]]:
    """The new context from (unit index, None) and (None, added sentence) pieces joined by spaces, and the answers
    moved with their units."""
    parts, moved, pos = [], {}, 0
    for index, text in pieces:
        if index is not None:
            start, end, _ = units[index]
            moved[index] = pos - start
            text = draft.context[start:end]
        parts.append(text)
        pos += len(text) + 1
    answers = []
    for answer in draft.answers:
        unit = next(i for i, (s, e, _) in enumerate(units) if s <= answer.start < e)
        answers.append(Answer(answer.text, answer.start + moved[unit]))
    return " ".join(parts), answers
