"""The data model every other module speaks: one question over one context, with its gold answers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from destila.errors import ConfigError


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset into the context (a leading U+FEFF counts)


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[Answer] = field(default_factory=list)  # empty when unanswerable
    title: str = ""
    is_impossible: bool = False
    # A copy made by `destila augment`: no gold answers, so it adds no cross-entropy; the teacher labels it.
    augmented: bool = False


@dataclass
class QADataset:
    examples: list[QAExample]
    version: str  # "1.1" (every question answerable) or "2.0" (may hold unanswerable questions)
    name: str  # where it came from: a path or a registry name
    dropped_placeholders: int = 0  # gold answers {"text": "", "answer_start": -1} removed while reading

    def __len__(self) -> int:
        return len(self.examples)

    def by_id(self) -> dict[str, QAExample]:
        return {ex.id: ex for ex in self.examples}

    def head(self, n: int | None) -> QADataset:
        """A new dataset of the first `n` questions (all of them when `n` is None); this one is left as is."""
        if n is None or n >= len(self.examples):
            return replace(self, examples=list(self.examples))
        if n < 0:
            raise ConfigError(f"the number of questions to keep must not be negative, got {n}")
        return replace(self, examples=self.examples[:n], name=f"{self.name} (first {n})")
