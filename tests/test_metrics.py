"""Scoring: hand-worked cases, and an independent re-computation of the official SQuAD formulas.

The reference below is written from the description of the official v1.1 / v2.0 evaluation scripts (METHOD.md §3)
and works on the raw JSON files, so it shares no code with destila.metrics or destila.data.
"""

from __future__ import annotations

import collections
import json
import logging
import random
import re
import string
import unicodedata

import pytest

from destila.data import read_file
from destila.data.types import Answer, QADataset, QAExample
from destila.errors import DataError
from destila.metrics import normalize_es, normalize_official, per_question, score

# ---------------------------------------------------------------------------------------------------------------
# Independent reference


def ref_norm(text, lang):
    text = text.lower()
    if lang == "official":
        text = "".join(c for c in text if c not in string.punctuation)
        articles = ["a", "an", "the"]
    else:
        text = "".join(
            c for c in text if c not in string.punctuation and not unicodedata.category(c).startswith("P")
        )
        articles = ["el", "la", "los", "las", "un", "una", "unos", "unas"]
    text = re.sub(r"\b(" + "|".join(articles) + r")\b", " ", text)
    return " ".join(text.split())


def ref_token_f1(pred_tokens, gold_tokens):
    overlap = sum((collections.Counter(pred_tokens) & collections.Counter(gold_tokens)).values())
    if overlap == 0:
        return 0
    p = overlap / len(pred_tokens)
    r = overlap / len(gold_tokens)
    return 2 * p * r / (p + r)


def ref_questions(raw):
    """(id, real gold texts, had any gold answer) in file order, placeholders removed."""
    for article in raw["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                gold = [a["text"] for a in qa["answers"] if not (a["text"] == "" and a["answer_start"] == -1)]
                yield qa["id"], gold


def ref_v1(raw, preds, lang):
    em = f1 = n = 0
    for qid, gold in ref_questions(raw):
        n += 1
        if qid not in preds:
            continue
        p = preds[qid]
        em += max(ref_norm(p, lang) == ref_norm(g, lang) for g in gold)
        f1 += max(ref_token_f1(ref_norm(p, lang).split(), ref_norm(g, lang).split()) for g in gold)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}


def ref_v2(raw, preds, na_probs, thresh, lang):
    def toks(s):
        return ref_norm(s, lang).split() if s else []

    def f1_one(gold, pred):
        g, p = toks(gold), toks(pred)
        if not g or not p:
            return int(g == p)
        return ref_token_f1(p, g)

    has_ans, em_raw, f1_raw = {}, {}, {}
    for qid, gold in ref_questions(raw):
        has_ans[qid] = bool(gold)
        golds = [g for g in gold if ref_norm(g, lang)] or [""]
        if qid not in preds:
            continue
        em_raw[qid] = max(int(ref_norm(g, lang) == ref_norm(preds[qid], lang)) for g in golds)
        f1_raw[qid] = max(f1_one(g, preds[qid]) for g in golds)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in preds}

    def apply(raw_scores):
        return {q: (float(not has_ans[q]) if probs[q] > thresh else s) for q, s in raw_scores.items()}

    em_t, f1_t = apply(em_raw), apply(f1_raw)
    out = {
        "exact": 100.0 * sum(em_t.values()) / len(em_t),
        "f1": 100.0 * sum(f1_t.values()) / len(f1_t),
        "total": len(em_t),
    }
    for prefix, flag in (("HasAns", True), ("NoAns", False)):
        ids = [q for q in has_ans if has_ans[q] == flag]
        if ids:
            out[prefix + "_exact"] = 100.0 * sum(em_t[q] for q in ids) / len(ids)  # KeyError when missing
            out[prefix + "_f1"] = 100.0 * sum(f1_t[q] for q in ids) / len(ids)
            out[prefix + "_total"] = len(ids)
    if na_probs is not None:
        for key, raw_scores in (("exact", em_raw), ("f1", f1_raw)):
            cur = best = sum(not v for v in has_ans.values())
            best_t = 0.0
            for q in sorted(na_probs, key=lambda k: na_probs[k]):
                if q not in raw_scores:
                    continue
                if has_ans[q]:
                    cur += raw_scores[q]
                elif preds[q]:
                    cur -= 1
                if cur > best:
                    best, best_t = cur, na_probs[q]
            out["best_" + key] = 100.0 * best / len(raw_scores)
            out["best_" + key + "_thresh"] = best_t
    return out


def assert_same(ours, ref):
    assert list(ours) == list(ref)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-9, rel=0), key


# ---------------------------------------------------------------------------------------------------------------
# Data


@pytest.fixture(scope="module")
def v11(data_dir):
    path = data_dir / "squad-es/v1.1/dev-v1.1-es_small.json"
    return json.loads(path.read_text(encoding="utf-8")), read_file(path)


@pytest.fixture(scope="module")
def v20(data_dir):
    path = data_dir / "squad-es/v2.0/dev-v2.0-es.json"
    return json.loads(path.read_text(encoding="utf-8")), read_file(path)


def subset(raw, dataset, ids):
    """The same questions in both representations."""
    keep = set(ids)
    data = []
    for article in raw["data"]:
        paragraphs = []
        for p in article["paragraphs"]:
            qas = [qa for qa in p["qas"] if qa["id"] in keep]
            if qas:
                paragraphs.append({"context": p["context"], "qas": qas})
        if paragraphs:
            data.append({"title": article["title"], "paragraphs": paragraphs})
    examples = [ex for ex in dataset.examples if ex.id in keep]
    return {"data": data}, QADataset(examples, dataset.version, dataset.name)


NOISE = ["", " ", "el", "la", "a", "The", "¿", "«", "»", "—", ",", ".", "¡Sí!", "los años", "un", "An"]


def random_predictions(dataset, rng, missing_rate=0.0):
    preds = {}
    for ex in dataset.examples:
        r = rng.random()
        if r < missing_rate:
            continue
        kind = rng.randrange(6)
        if kind == 0 and ex.answers:
            text = rng.choice(ex.answers).text
        elif kind == 1 and ex.answers:  # gold decorated with case, articles and punctuation
            text = rng.choice(NOISE) + " " + rng.choice(ex.answers).text.upper() + rng.choice(NOISE)
        elif kind == 2:
            text = ""
        elif kind == 3:  # a random span of the context
            words = ex.context.split(" ")
            i = rng.randrange(len(words))
            text = " ".join(words[i : i + rng.randint(1, 8)])
        elif kind == 4:
            text = rng.choice(NOISE)
        else:  # a partial gold answer
            source = ex.answers[0].text if ex.answers else ex.context
            words = source.split()
            text = " ".join(words[: rng.randint(1, max(1, len(words)))])
        preds[ex.id] = text
    return preds


def random_odds(dataset, rng, coarse):
    ids = [ex.id for ex in dataset.examples]
    rng.shuffle(ids)  # ties are broken by this order, in both implementations
    return {q: (round(rng.uniform(-3, 3), 1) if coarse else rng.gauss(0, 2)) for q in ids}


# ---------------------------------------------------------------------------------------------------------------
# Hand-worked cases


def test_normalizers_by_hand():
    assert normalize_official("The Cat's  hat!") == "cats hat"
    assert normalize_official("¿Quién ganó?") == "¿quién ganó"  # ¿ is not ASCII punctuation
    assert normalize_es("¿Quién ganó?") == "quién ganó"
    assert normalize_official("El río, la casa") == "el río la casa"
    assert normalize_es("El río, la casa") == "río casa"
    assert normalize_official("a Madrid") == "madrid"  # the English article rule hits the Spanish preposition
    assert normalize_es("a Madrid") == "a madrid"
    assert normalize_es("«Los Ángeles» — unos años") == "ángeles años"
    assert normalize_es("elefante unas") == "elefante"  # whole words only
    assert normalize_es("$5+") == "5"  # the ASCII set is removed too


def ex(qid, answers, context=None):
    context = context or "x " + " ".join(answers) if answers else "contexto"
    return QAExample(id=qid, question="¿?", context=context, answers=[Answer(a, 0) for a in answers])


def test_v11_by_hand(caplog):
    ds = QADataset(
        [ex("q1", ["río Amazonas", "Amazonas"]), ex("q2", ["1605"]), ex("q3", ["Madrid"])], "1.1", "t"
    )
    preds = {"q1": "el gran río Amazonas", "q2": "en 1605."}
    with caplog.at_level(logging.WARNING, logger="destila.metrics"):
        out = score(ds, preds)
    # q1: official tokens [el gran río amazonas] vs [río amazonas] -> P 2/4, R 1 -> 2/3; es drops "el" -> 0.8
    # q2: [en 1605] vs [1605] -> 2/3 both; q3 missing -> 0
    assert out["official"] == pytest.approx({"exact_match": 0.0, "f1": 100 * (2 / 3 + 2 / 3) / 3})
    assert out["es"] == pytest.approx({"exact_match": 0.0, "f1": 100 * (0.8 + 2 / 3) / 3})
    assert "1 of 3 questions have no prediction" in caplog.text and "q3" in caplog.text
    assert score(ds, {"q1": "Amazonas.", "q2": "1605", "q3": "madrid"})["official"]["exact_match"] == 100.0


def v2_case():
    return QADataset(
        [ex("q1", ["Madrid"]), ex("q2", ["río Amazonas"]), ex("q3", []), ex("q4", [])], "2.0", "t"
    )


def test_v2_by_hand():
    ds = v2_case()
    preds = {"q1": "Madrid", "q2": "el río", "q3": "", "q4": "Lima"}
    out = score(ds, preds)["official"]
    assert out == pytest.approx(
        {
            "exact": 50.0, "f1": 62.5, "total": 4,
            "HasAns_exact": 50.0, "HasAns_f1": 75.0, "HasAns_total": 2,
            "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2,
        }
    )  # fmt: skip
    odds = {"q1": 0.1, "q2": 0.9, "q3": 0.5, "q4": 0.7}
    out = score(ds, preds, null_odds=odds, na_prob_thresh=0.6)["official"]
    # q2 and q4 are over the threshold: q2 -> 0, q4 -> 1
    assert out["exact"] == 75.0 and out["f1"] == 75.0
    # sweep from "all unanswerable" (2): q1 +1 -> 3 (best, at 0.1), q3 0, q4 -1, q2 +0 (exact) / +0.5 (f1)
    assert (out["best_exact"], out["best_exact_thresh"]) == (75.0, 0.1)
    assert (out["best_f1"], out["best_f1_thresh"]) == (75.0, 0.1)
    # the es variant drops "el", so q2 scores F1 2/3 instead of 1/2
    assert score(ds, preds)["es"]["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 4)


def test_v2_ties_follow_null_odds_order_like_the_official_script():
    ds = v2_case()
    preds = {"q1": "Madrid", "q2": "", "q3": "", "q4": "Lima"}
    first_bad = score(ds, preds, null_odds={"q4": 0.1, "q1": 0.1, "q2": 5, "q3": 5})["official"]
    first_good = score(ds, preds, null_odds={"q1": 0.1, "q4": 0.1, "q2": 5, "q3": 5})["official"]
    assert (first_bad["best_exact"], first_bad["best_exact_thresh"]) == (50.0, 0.0)
    assert (first_good["best_exact"], first_good["best_exact_thresh"]) == (75.0, 0.1)


def test_v2_unanswerable_gold_is_empty_string():
    ds = v2_case()
    out = score(ds, {"q1": "", "q2": "", "q3": "", "q4": " ¿?"})
    # q4 normalises to "¿" officially (wrong), to nothing in es (right)
    assert out["official"]["NoAns_exact"] == 50.0
    assert out["es"]["NoAns_exact"] == 100.0
    assert out["official"]["HasAns_f1"] == 0.0


def test_v2_answer_that_normalises_to_nothing_counts_as_no_answer_gold():
    ds = QADataset([ex("q1", ["a"]), ex("q2", ["The"])], "2.0", "t")
    assert score(ds, {"q1": "", "q2": "the"})["official"]["exact"] == 100.0
    assert score(ds, {"q1": "a", "q2": ""})["official"]["HasAns_exact"] == 100.0


def test_v2_missing_prediction_is_an_error_like_the_official_script():
    ds = v2_case()
    with pytest.raises(DataError, match=r"2 of 4 questions of t have no prediction \(e.g. q3, q4\)"):
        score(ds, {"q1": "x", "q2": "y"})


def test_null_odds_must_cover_every_question():
    with pytest.raises(DataError, match="null odds: 1 of 4 questions"):
        score(v2_case(), {"q1": "", "q2": "", "q3": "", "q4": ""}, null_odds={"q1": 0, "q2": 0, "q3": 0})


def test_prediction_must_be_a_string():
    with pytest.raises(DataError, match="id 'q1'.*must be a string"):
        score(v2_case(), {"q1": 3, "q2": "", "q3": "", "q4": ""})


# ---------------------------------------------------------------------------------------------------------------
# Against the reference, on the real files


def test_gold_against_gold(v11, v20):
    raw11, ds11 = v11
    out = score(ds11, {e.id: e.answers[0].text for e in ds11.examples})
    assert out["official"] == {"exact_match": 100.0, "f1": 100.0}
    assert out["es"] == {"exact_match": 100.0, "f1": 100.0}
    # a gold answer that normalises to nothing ("a") has F1 0 even against itself in the v1.1 script
    preds = {e.id: e.answers[-1].text for e in ds11.examples}
    out = score(ds11, preds)
    assert out["official"]["exact_match"] == 100.0 and out["official"]["f1"] < 100.0
    assert_same(out["official"], ref_v1(raw11, preds, "official"))
    _, ds20 = v20
    preds = {e.id: (e.answers[0].text if e.answers else "") for e in ds20.examples}
    out = score(ds20, preds)
    assert round(out["official"]["exact"], 2) == 99.98  # Spanish "a" normalises to nothing (METHOD.md §3)
    assert out["official"]["NoAns_exact"] == 100.0
    assert out["es"]["NoAns_exact"] == 100.0 and out["es"]["HasAns_exact"] < 100.0  # "el", "la" answers


@pytest.mark.parametrize("seed", range(6))
def test_v11_matches_reference(v11, seed):
    raw, ds = v11
    rng = random.Random(seed)
    ids = rng.sample([e.id for e in ds.examples], 1500)
    raw_s, ds_s = subset(raw, ds, ids)
    preds = random_predictions(ds_s, rng, missing_rate=[0, 0.1, 0.5][seed % 3])
    preds["not-a-question"] = "ignored"
    out = score(ds_s, preds)
    for lang in ("official", "es"):
        assert_same(out[lang], ref_v1(raw_s, preds, lang))


@pytest.mark.parametrize("seed", range(6))
def test_v20_matches_reference(v20, seed):
    raw, ds = v20
    rng = random.Random(100 + seed)
    ids = rng.sample([e.id for e in ds.examples], 1500)
    raw_s, ds_s = subset(raw, ds, ids)
    preds = random_predictions(ds_s, rng)
    odds = None if seed == 0 else random_odds(ds_s, rng, coarse=seed % 2 == 0)
    thresh = [1.0, 0.0, -0.5][seed % 3]
    out = score(ds_s, preds, null_odds=odds, na_prob_thresh=thresh)
    for lang in ("official", "es"):
        assert_same(out[lang], ref_v2(raw_s, preds, odds, thresh, lang))
    assert out["official"]["total"] == 1500


def test_v20_missing_ids_fail_in_both(v20):
    raw, ds = v20
    rng = random.Random(7)
    raw_s, ds_s = subset(raw, ds, rng.sample([e.id for e in ds.examples], 300))
    preds = random_predictions(ds_s, rng, missing_rate=0.05)
    with pytest.raises(KeyError):
        ref_v2(raw_s, preds, None, 1.0, "official")
    with pytest.raises(DataError):
        score(ds_s, preds)


def test_per_question_matches_reference(v11):
    raw, ds = v11
    rng = random.Random(3)
    raw_s, ds_s = subset(raw, ds, rng.sample([e.id for e in ds.examples], 400))
    preds = random_predictions(ds_s, rng, missing_rate=0.1)
    rows = per_question(ds_s, preds, "es")
    assert set(rows) == set(preds) & {e.id for e in ds_s.examples}
    n = len(ds_s)
    assert 100 * sum(r["f1"] for r in rows.values()) / n == pytest.approx(ref_v1(raw_s, preds, "es")["f1"])


def test_v11_question_without_gold_is_an_error():
    ds = QADataset([QAExample(id="q1", question="¿?", context="c", answers=[])], "1.1", "hand-made")
    with pytest.raises(DataError, match="hand-made: question 'q1' has no gold answer"):
        score(ds, {"q1": ""})
