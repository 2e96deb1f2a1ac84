"""Exact match and F1 for extractive QA: the official SQuAD v1.1 / v2.0 numbers and a Spanish variant.

`score(dataset, predictions)` returns `{"official": {...}, "es": {...}}`.

- "official" reproduces the official evaluation scripts (v1.1 for a "1.1" dataset, v2.0 for a "2.0" one),
  including their keys: normalise by lower-casing, removing ASCII punctuation (`string.punctuation`), the
  English articles a / an / the and extra whitespace; EM and bag-of-tokens F1, maximised over the gold answers,
  averaged × 100.
- "es" applies the same formulas with a Spanish normaliser, as MLQA scores Spanish: the articles el, la, los,
  las, un, una, unos, unas are removed, and so is every Unicode punctuation character (general category P*,
  e.g. ¿ ¡ « » — –) besides the ASCII set.

Script behaviour reproduced on purpose:

- v1.1: a question without a prediction scores 0 (the script prints a message; here a logging warning).
- v2.0: an unanswerable question's only gold answer is "" — and so is an answerable one whose gold answers all
  normalise to "" (the script drops empty-normalised gold answers); EM/F1 are 1 for a prediction that normalises
  to nothing in that case. A question whose no-answer score (`null_odds`) exceeds `na_prob_thresh` counts as
  predicted unanswerable. `best_*` is the official threshold search over `null_odds`, ties broken by the order
  of `null_odds`. The v2.0 script cannot score a prediction set that misses questions (it stops with a KeyError
  while computing HasAns / NoAns), so `score` raises `DataError` in that case.
- Gold answers are the dataset's: placeholder answers (`{"text": "", "answer_start": -1}`) were dropped when the
  file was read.
"""

from __future__ import annotations

import collections
import functools
import logging
import re
import string
import unicodedata
from collections.abc import Callable, Mapping

from destila.data.types import QADataset
from destila.errors import DataError

log = logging.getLogger(__name__)

_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_ES_ARTICLES = re.compile(r"\b(el|la|los|las|un|una|unos|unas)\b", re.UNICODE)


@functools.lru_cache(maxsize=1 << 16)  # gold answers and predictions are normalised several times each
def normalize_official(text: str) -> str:
    """The official SQuAD normaliser: lower, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_EN_ARTICLES.sub(" ", text).split())


def _is_punct_es(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


@functools.lru_cache(maxsize=1 << 16)
def normalize_es(text: str) -> str:
    """Spanish normaliser: lower, drop all Unicode punctuation, drop el/la/los/las/un/una/unos/unas, whitespace."""
    text = "".join(ch for ch in text.lower() if not _is_punct_es(ch))
    return " ".join(_ES_ARTICLES.sub(" ", text).split())


NORMALIZERS: dict[str, Callable[[str], str]] = {"official": normalize_official, "es": normalize_es}


# ---------------------------------------------------------------------------------------------------------------
# Per-answer scores, as in each script


def _f1_tokens(pred_toks: list[str], gold_toks: list[str]) -> float:
    common = collections.Counter(pred_toks) & collections.Counter(gold_toks)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def _v1_exact(pred: str, gold: str, norm: Callable[[str], str]) -> bool:
    return norm(pred) == norm(gold)


def _v1_f1(pred: str, gold: str, norm: Callable[[str], str]) -> float:
    return _f1_tokens(norm(pred).split(), norm(gold).split())


def _v2_tokens(text: str, norm: Callable[[str], str]) -> list[str]:
    return norm(text).split() if text else []


def _v2_exact(gold: str, pred: str, norm: Callable[[str], str]) -> int:
    return int(norm(gold) == norm(pred))


def _v2_f1(gold: str, pred: str, norm: Callable[[str], str]) -> float:
    gold_toks, pred_toks = _v2_tokens(gold, norm), _v2_tokens(pred, norm)
    if not gold_toks or not pred_toks:
        # no-answer on either side: 1 when both are no-answer, else 0
        return int(gold_toks == pred_toks)
    return _f1_tokens(pred_toks, gold_toks)


def _v2_gold(answers: list[str], norm: Callable[[str], str]) -> list[str]:
    gold = [a for a in answers if norm(a)]
    return gold or [""]


# ---------------------------------------------------------------------------------------------------------------
# Public API


def per_question(
    dataset: QADataset, predictions: Mapping[str, str], normalizer: str = "official"
) -> dict[str, dict[str, float]]:
    """`{id: {"exact": 0|1, "f1": float}}` for every question that has a prediction (before any threshold).

    Uses the dataset's script rules (v1.1 or v2.0) and the named normaliser ("official" or "es").
    """
    norm = NORMALIZERS[normalizer]
    _check_predictions(predictions)
    out: dict[str, dict[str, float]] = {}
    for ex in dataset.examples:
        if ex.id not in predictions:
            continue
        pred = predictions[ex.id]
        texts = [a.text for a in ex.answers]
        if dataset.version == "1.1":
            out[ex.id] = {
                "exact": float(max(_v1_exact(pred, g, norm) for g in texts)),
                "f1": float(max(_v1_f1(pred, g, norm) for g in texts)),
            }
        else:
            gold = _v2_gold(texts, norm)
            out[ex.id] = {
                "exact": float(max(_v2_exact(g, pred, norm) for g in gold)),
                "f1": float(max(_v2_f1(g, pred, norm) for g in gold)),
            }
    return out


def score(
    dataset: QADataset,
    predictions: Mapping[str, str],
    null_odds: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> dict[str, dict[str, float]]:
    """Score `predictions` (id -> answer text; "" means "no answer") against `dataset`.

    `null_odds` (id -> no-answer score, higher = more likely unanswerable) is used for v2.0 datasets only, as
    the official script's `--na-prob-file`; `na_prob_thresh` is its `--na-prob-thresh`.
    """
    _check_predictions(predictions)
    if dataset.version == "1.1":
        if null_odds is not None:
            log.info("null odds are ignored for a SQuAD v1.1 dataset")
        _warn_missing_v1(dataset, predictions)
        return {name: _score_v1(dataset, predictions, norm) for name, norm in NORMALIZERS.items()}
    _check_complete_v2(dataset, predictions)
    if null_odds is not None:
        _check_null_odds(dataset, null_odds)
    return {
        name: _score_v2(dataset, predictions, null_odds, na_prob_thresh, norm)
        for name, norm in NORMALIZERS.items()
    }


def _check_predictions(predictions: Mapping[str, str]) -> None:
    for qid, text in predictions.items():
        if not isinstance(text, str):
            raise DataError(
                f"predictions: id {qid!r}: the answer must be a string, got {type(text).__name__}"
            )


def _warn_missing_v1(dataset: QADataset, predictions: Mapping[str, str]) -> None:
    missing = [ex.id for ex in dataset.examples if ex.id not in predictions]
    if missing:
        log.warning(
            "%d of %d questions have no prediction and score 0 (as in the official v1.1 script), e.g. %s",
            len(missing),
            len(dataset),
            ", ".join(missing[:3]),
        )


def _check_complete_v2(dataset: QADataset, predictions: Mapping[str, str]) -> None:
    missing = [ex.id for ex in dataset.examples if ex.id not in predictions]
    if missing:
        raise DataError(
            f"predictions: {len(missing)} of {len(dataset)} questions of {dataset.name} have no prediction "
            f"(e.g. {', '.join(missing[:3])}); the official SQuAD v2.0 script cannot score an incomplete "
            'prediction set. Predict "" for questions judged unanswerable.'
        )


def _check_null_odds(dataset: QADataset, null_odds: Mapping[str, float]) -> None:
    missing = [ex.id for ex in dataset.examples if ex.id not in null_odds]
    if missing:
        raise DataError(
            f"null odds: {len(missing)} of {len(dataset)} questions of {dataset.name} have no value "
            f"(e.g. {', '.join(missing[:3])}); give one number per question."
        )
    for qid, value in null_odds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DataError(f"null odds: id {qid!r}: must be a number, got {type(value).__name__}")


def _score_v1(dataset: QADataset, predictions: Mapping[str, str], norm) -> dict[str, float]:
    exact_match = f1 = total = 0
    for ex in dataset.examples:
        total += 1
        if ex.id not in predictions:
            continue
        pred = predictions[ex.id]
        gold = [a.text for a in ex.answers]
        if not gold:
            raise DataError(f"{dataset.name}: question {ex.id!r} has no gold answer in a SQuAD v1.1 dataset")
        exact_match += max(_v1_exact(pred, g, norm) for g in gold)
        f1 += max(_v1_f1(pred, g, norm) for g in gold)
    if total == 0:
        raise DataError(f"{dataset.name}: no questions to score")
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def _score_v2(
    dataset: QADataset,
    predictions: Mapping[str, str],
    null_odds: Mapping[str, float] | None,
    na_prob_thresh: float,
    norm,
) -> dict[str, float]:
    if not dataset.examples:
        raise DataError(f"{dataset.name}: no questions to score")
    has_ans = {ex.id: bool(ex.answers) for ex in dataset.examples}
    exact_raw: dict[str, float] = {}
    f1_raw: dict[str, float] = {}
    for ex in dataset.examples:
        gold = _v2_gold([a.text for a in ex.answers], norm)
        pred = predictions[ex.id]
        exact_raw[ex.id] = max(_v2_exact(g, pred, norm) for g in gold)
        f1_raw[ex.id] = max(_v2_f1(g, pred, norm) for g in gold)

    na_probs = null_odds if null_odds is not None else {k: 0.0 for k in predictions}

    def thresholded(raw: dict[str, float]) -> dict[str, float]:
        return {
            qid: float(not has_ans[qid]) if na_probs[qid] > na_prob_thresh else s for qid, s in raw.items()
        }

    exact_t, f1_t = thresholded(exact_raw), thresholded(f1_raw)
    out: dict[str, float] = _mean_block(exact_t, f1_t, list(exact_t))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        ids = [qid for qid, v in has_ans.items() if v is wanted]
        if ids:
            for key, value in _mean_block(exact_t, f1_t, ids).items():
                out[f"{prefix}_{key}"] = value
    if null_odds is not None:
        out["best_exact"], out["best_exact_thresh"] = _best_thresh(predictions, exact_raw, null_odds, has_ans)
        out["best_f1"], out["best_f1_thresh"] = _best_thresh(predictions, f1_raw, null_odds, has_ans)
    return out


def _mean_block(exact: dict[str, float], f1: dict[str, float], ids: list[str]) -> dict[str, float]:
    total = len(ids)
    return {
        "exact": 100.0 * sum(exact[k] for k in ids) / total,
        "f1": 100.0 * sum(f1[k] for k in ids) / total,
        "total": total,
    }


def _best_thresh(
    predictions: Mapping[str, str],
    scores: dict[str, float],
    na_probs: Mapping[str, float],
    has_ans: dict[str, bool],
) -> tuple[float, float]:
    """Sweep the no-answer threshold upwards through the sorted `na_probs`, as the official script does.

    Start with every question predicted unanswerable (score = number of unanswerable questions); each question
    passed turns its prediction back on: +score if answerable, -1 if unanswerable with a non-empty prediction.
    """
    current = best = sum(1 for v in has_ans.values() if not v)
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_ans[qid]:
            current += scores[qid]
        elif predictions[qid]:
            current -= 1
        if current > best:
            best = current
            best_thresh = na_probs[qid]
    return 100.0 * best / len(scores), best_thresh
