"""The data model every other module speaks: one question over one context, with its gold answers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from destila.errors import ConfigError, DataError

# What a filter suffix (`#answerable`, `#unanswerable`) keeps: True for unanswerable questions.
FILTERS = {"answerable": False, "unanswerable": True}
COMBINED = " + "  # joins the names of the sources of a combined data set


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
    dropped_duplicates: int = 0  # questions of a later source whose id an earlier source already has (`combine`)

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

    @property
    def unanswerable(self) -> int:
        """How many questions are unanswerable (SQuAD v2.0's `is_impossible`)."""
        return sum(1 for ex in self.examples if ex.is_impossible)

    def only(self, kind: str) -> QADataset:
        """The answerable (`kind="answerable"`) or the unanswerable (`"unanswerable"`) questions, as a new data set
        named `NAME#KIND`; augmented copies (neither) are left out. Keeping no question is an error."""
        if kind not in FILTERS:
            raise ConfigError(f"dataset {self.name}: unknown filter {kind!r}; use #{' or #'.join(FILTERS)}")
        impossible = FILTERS[kind]
        kept = [ex for ex in self.examples if not ex.augmented and ex.is_impossible is impossible]
        if not kept:
            raise DataError(f"dataset {self.name}#{kind}: none of its {len(self)} questions is {kind}")
        return replace(self, examples=kept, name=f"{self.name}#{kind}")


def combine(datasets: list[QADataset]) -> QADataset:
    """One data set of the questions of `datasets`, in order. A question whose id an earlier source already has is
    dropped (the first source wins) and counted in `dropped_duplicates`. The version is "2.0" when any question
    is unanswerable (or every source is "2.0"), else "1.1"; the name joins the sources' names with " + ".
    One data set is returned as it is."""
    if not datasets:
        raise ConfigError("no data set to combine: give at least one spec")
    if len(datasets) == 1:
        return datasets[0]
    examples: list[QAExample] = []
    seen: set[str] = set()
    dropped = 0
    for dataset in datasets:
        for ex in dataset.examples:
            if ex.id in seen:
                dropped += 1
                continue
            seen.add(ex.id)
            examples.append(ex)
    v2 = any(ex.is_impossible for ex in examples) or all(d.version == "2.0" for d in datasets)
    return QADataset(
        examples=examples,
        version="2.0" if v2 else "1.1",
        name=COMBINED.join(d.name for d in datasets),
        dropped_placeholders=sum(d.dropped_placeholders for d in datasets),
        dropped_duplicates=sum(d.dropped_duplicates for d in datasets) + dropped,
    )
