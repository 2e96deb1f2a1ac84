"""Word replacement in the spirit of TinyBERT: each word is replaced, with probability p, by one of its nearest
neighbours in a Spanish embedding space that needs nothing downloaded.

The space is the given model's own input embeddings: a word's vector is the mean of the embeddings of its pieces
(tokenised as it appears mid-sentence), over the most frequent Spanish words of `wordfreq`. The neighbour table
(each word's nearest words by cosine) is built once per model and word list and cached under
`destila.paths.cache_dir() / "augment"`, keyed by the words, their pieces and those pieces' embedding rows.
Words inside a gold answer are never touched, so the answer's text and tokenisation stay as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from destila import paths
from destila.augment.text import Draft, answer_spans, overlaps
from destila.data.types import Answer, QAExample
from destila.errors import ConfigError

TABLE_VERSION = 1  # bump when the table's construction changes, so caches rebuild
_WORD = re.compile(r"[^\W\d_]+")  # a run of letters
_CHUNK = 1024  # rows of the similarity matrix computed at once


@dataclass
class NeighbourTable:
    """`words` (lower case) and, per word, the indices of its nearest other words, nearest first."""

    words: list[str]
    neighbours: np.ndarray  # (len(words), k) int32

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}


@dataclass
class TableInfo:
    """Where a neighbour table is cached and whether this call built it."""

    path: Path
    built: bool


def neighbour_table(model: str, vocabulary: int, k: int) -> tuple[NeighbourTable, TableInfo]:
    """The table of the `vocabulary` most frequent Spanish words under `model`'s input embeddings (cached)."""
    from destila.models.hub import load_qa_model, load_tokenizer

    tokenizer = load_tokenizer(model)
    words, pieces = _word_pieces(tokenizer, vocabulary)
    if len(words) <= k:
        raise ConfigError(f"augment: only {len(words)} Spanish words have pieces in {model}'s vocabulary; "
                          f"the table needs more than neighbours={k}")
    embeddings = load_qa_model(model).get_input_embeddings().weight.detach().float().numpy()
    used = np.unique(np.concatenate(pieces))
    digest = hashlib.sha256(json.dumps([TABLE_VERSION, k, words], ensure_ascii=False).encode())
    for ids in pieces:
        digest.update(np.asarray(ids, dtype=np.int64).tobytes() + b"|")
    digest.update(np.ascontiguousarray(embeddings[used]).tobytes())
    path = paths.cache_dir() / "augment" / f"neighbours-{digest.hexdigest()[:20]}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return NeighbourTable(words, stored["neighbours"]), TableInfo(path, built=False)
    table = NeighbourTable(words, _nearest(_word_vectors(embeddings, pieces), k))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.part.npz")  # processes of one run may build it side by side
    np.savez(tmp, neighbours=table.neighbours, words=np.array(words))
    tmp.replace(path)
    return table, TableInfo(path, built=True)


def _word_pieces(tokenizer, vocabulary: int) -> tuple[list[str], list[list[int]]]:
    """The alphabetic words (two letters or more) among the `vocabulary` most frequent Spanish ones that the
    tokenizer writes without its unknown piece, and their piece ids as they appear after a space."""
    from wordfreq import top_n_list

    candidates = [w for w in top_n_list("es", vocabulary) if len(w) > 1 and w.isalpha()]
    encodings = tokenizer.backend_tokenizer.encode_batch([" " + w for w in candidates], add_special_tokens=False)
    unk = tokenizer.unk_token_id
    words, pieces = [], []
    for word, enc in zip(candidates, encodings):
        if enc.ids and unk not in enc.ids:
            words.append(word)
            pieces.append(enc.ids)
    return words, pieces


def _word_vectors(embeddings: np.ndarray, pieces: list[list[int]]) -> np.ndarray:
    """Mean piece embedding of each word, scaled to unit length."""
    flat = np.concatenate(pieces)
    owner = np.repeat(np.arange(len(pieces)), [len(p) for p in pieces])
    vectors = np.zeros((len(pieces), embeddings.shape[1]), dtype=np.float32)
    np.add.at(vectors, owner, embeddings[flat])
    vectors /= np.array([len(p) for p in pieces], dtype=np.float32)[:, None]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _nearest(vectors: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's `k` most cosine-similar other rows, nearest first."""
    import torch

    matrix = torch.from_numpy(vectors)
    out = np.empty((len(vectors), k), dtype=np.int32)
    for lo in range(0, len(vectors), _CHUNK):
        sims = matrix[lo : lo + _CHUNK] @ matrix.T
        rows = torch.arange(sims.shape[0])
        sims[rows, rows + lo] = -float("inf")  # never a word's own neighbour
        out[lo : lo + _CHUNK] = sims.topk(k, dim=1).indices.numpy()
    return out


class WordReplacer:
    """Replaces each word (of `min_length` letters or more, in the table) of the context with probability `p`, and of
    the question with probability `question_p`, by one of its neighbours, keeping its capitalisation. Words of a gold
    answer stay, and so do capitalised words of the context (names) unless `names`."""

    name = "words"

    def __init__(self, table: NeighbourTable, p: float, min_length: int, question_p: float = 0.0,
                 names: bool = False):
        self.table, self.p, self.min_length = table, p, min_length
        self.question_p, self.names = question_p, names

    def __call__(self, draft: Draft, source: QAExample, rng: np.random.Generator) -> Draft | None:
        question, q_changes = self._replace(draft.question, [], rng, self.question_p, names=True)
        context, c_changes = self._replace(draft.context, answer_spans(draft.answers), rng, self.p, self.names)
        if not q_changes and not c_changes:
            return None
        answers = [Answer(a.text, _shifted(a.start, c_changes)) for a in draft.answers]
        edit = {"augmenter": self.name, "question": [[old, new] for _, old, new in q_changes],
                "context": [[old, new] for _, old, new in c_changes]}
        return Draft(question, context, answers, [*draft.edits, edit])

    def _replace(self, text: str, keep: list[tuple[int, int]], rng: np.random.Generator, p: float, names: bool):
        """(new text, [(start, old word, new word)]): the replacements made, positions in `text`."""
        found, index = [], self.table.index
        for m in _WORD.finditer(text):
            word = m.group()
            if len(word) < self.min_length or (keep and overlaps(m.start(), m.end(), keep)):
                continue
            if not names and word[0].isupper():
                continue
            i = index.get(word.lower())
            if i is not None:
                found.append((m.start(), word, self.table.neighbours[i]))
        chosen = rng.random(len(found)) < p
        picks = rng.integers(0, self.table.neighbours.shape[1], size=len(found))
        changes = [(start, word, _same_case(self.table.words[options[j]], word))
                   for (start, word, options), yes, j in zip(found, chosen, picks) if yes]
        parts, pos = [], 0
        for start, old, new in changes:
            parts += [text[pos:start], new]
            pos = start + len(old)
        return "".join(parts) + text[pos:], changes


def _same_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    return new[0].upper() + new[1:] if old[0].isupper() else new


def _shifted(position: int, changes: list[tuple[int, str, str]]) -> int:
    """Where a character at `position` (never inside a replaced word) is after the replacements."""
    return position + sum(len(new) - len(old) for start, old, new in changes if start < position)
