"""The augmented training set: copies of each question made by the configured augmenters, and the SQuAD file that
shows them.

Copy k of question `ID` is named `ID-augK` and drawn from its own random stream, seeded by (seed, ID, k): the same
seed, data and model give the same copies, whatever the order of the questions.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from destila.augment.config import AugmentConfig
from destila.augment.context import ContextEditor
from destila.augment.guard import check_not_eval
from destila.augment.text import Draft
from destila.augment.words import TableInfo, WordReplacer, neighbour_table
from destila.data.io import AUGMENT_KEY
from destila.data.types import Answer, QADataset, QAExample
from destila.errors import ConfigError, DataError


@dataclass
class AugmentedCopy:
    example: QAExample  # augmented=True, no gold answers
    source: str  # the id of the question it copies
    answers: list[Answer]  # the source's answers where they now are in its context (for inspection only)
    edits: list[dict]


@dataclass
class AugmentResult:
    originals: QADataset
    copies: list[AugmentedCopy]
    config: AugmentConfig
    model: str | None  # whose embeddings gave the word neighbours
    table: TableInfo | None
    duplicates: int  # copies dropped because they equal the question or an earlier copy
    seconds: float

    def dataset(self) -> QADataset:
        """The originals followed by the copies, ready for training."""
        examples = self.originals.examples + [c.example for c in self.copies]
        return replace(self.originals, examples=examples, name=f"{self.originals.name} (augmented)")

    def summary(self) -> dict:
        return {"data": self.originals.name, "questions": len(self.originals), "copies": len(self.copies),
                "duplicates_dropped": self.duplicates, "model": self.model, "config": self.config.to_dict()}

    def write(self, path: str | os.PathLike) -> Path:
        """A SQuAD JSON file (the originals' version): the originals as read, then each copy in a paragraph of its
        article, marked with `destila_augment: {source, answers, edits}` and no gold answers."""
        v2 = self.originals.version == "2.0"
        articles: dict[str, dict[str, list]] = {}
        for ex in self.originals.examples:
            qa = {"id": ex.id, "question": ex.question,
                  "answers": [{"text": a.text, "answer_start": a.start} for a in ex.answers]}
            if v2:
                qa["is_impossible"] = ex.is_impossible
            articles.setdefault(ex.title, {}).setdefault(ex.context, []).append(qa)
        for c in self.copies:
            record = {"source": c.source, "answers": [{"text": a.text, "answer_start": a.start} for a in c.answers],
                      "edits": c.edits}
            qa = {"id": c.example.id, "question": c.example.question, "answers": [], AUGMENT_KEY: record}
            articles.setdefault(c.example.title, {}).setdefault(c.example.context, []).append(qa)
        data = [{"title": title, "paragraphs": [{"context": ctx, "qas": qas} for ctx, qas in paragraphs.items()]}
                for title, paragraphs in articles.items()]
        doc = {"version": "v2.0" if v2 else "1.1", AUGMENT_KEY: self.summary(), "data": data}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        return path


def augment_dataset(dataset: QADataset, config: AugmentConfig, model: str | None = None, *,
                    data_dir: str | os.PathLike | None = None) -> AugmentResult:
    """Copies of every question of `dataset` (never of eval-fold data: see `destila.augment.guard`).

    The word neighbours come from `config.model`, else `model` (a recipe passes its teacher).
    """
    started = time.perf_counter()
    check_not_eval(dataset, data_dir)
    if any(ex.augmented for ex in dataset.examples):
        raise ConfigError(f"augment: {dataset.name} already holds augmented copies; augment the original data")
    model = config.model or model
    augmenters, table = _augmenters(dataset.examples, config, model)
    ids = {ex.id for ex in dataset.examples}
    copies, duplicates = [], 0
    for ex in dataset.examples:
        seen = {(ex.question, ex.context)}
        for k in range(config.copies):
            copy = _make_copy(ex, k, augmenters, config.seed)
            if copy is None:
                continue
            if (copy.example.question, copy.example.context) in seen:
                duplicates += 1
                continue
            if copy.example.id in ids:
                raise DataError(f"augment: {dataset.name}: the copy's id {copy.example.id!r} is already a question's")
            seen.add((copy.example.question, copy.example.context))
            copies.append(copy)
    return AugmentResult(dataset, copies, config, model, table, duplicates, time.perf_counter() - started)


def _augmenters(examples: list[QAExample], config: AugmentConfig, model: str | None):
    """The configured augmenters in order, and the neighbour table's record when words are replaced."""
    out, table_info = [], None
    for name in config.augmenters:
        if name == "context":
            out.append(ContextEditor(examples, config.p))
            continue
        if model is None:
            raise ConfigError("augment: replacing words needs a model whose embeddings give the neighbours "
                              "(--model, or augment.model)")
        table, table_info = neighbour_table(model, config.vocabulary, config.neighbours)
        out.append(WordReplacer(table, config.p, config.min_length, config.question_p, config.names))
    return out, table_info


def _make_copy(ex: QAExample, k: int, augmenters: list, seed: int) -> AugmentedCopy | None:
    """Copy `k` of `ex`, or None when no augmenter changed anything."""
    rng = np.random.default_rng([seed, zlib.crc32(ex.id.encode("utf-8")), k])
    draft = Draft(ex.question, ex.context, list(ex.answers))
    for augment in augmenters:
        draft = augment(draft, ex, rng) or draft
    if not draft.edits:
        return None
    example = QAExample(id=f"{ex.id}-aug{k + 1}", question=draft.question, context=draft.context, title=ex.title,
                        augmented=True)
    return AugmentedCopy(example, ex.id, draft.answers, draft.edits)
