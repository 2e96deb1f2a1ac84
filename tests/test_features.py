"""Windows, offsets and labels for the three tokenizer kinds, checked against the tokenizer's own overflow."""

from __future__ import annotations

import itertools
import re

import pytest
from transformers import PreTrainedTokenizerFast

from destila.data.types import Answer, QAExample
from destila.infer.features import encode_windows, pad_batch, prepare_train_features

LONG_CONTEXT = (
    "\ufeffEl Museo del Prado de Madrid guarda obras de Velázquez, Goya y El Greco desde el siglo XIX. "
    "Miguel de Cervantes nació en Alcalá de Henares en 1547 y murió en Madrid en 1616. "
    "La península ibérica está formada por España, Portugal, Andorra y Gibraltar. "
    "El pingüino emperador vive en la Antártida y soporta temperaturas de cuarenta grados bajo cero. "
    "¿Dónde está la biblioteca? ¡Allí, junto al puente del río Ebro, en Zaragoza! Los niños aprendieron "
    "que la fotosíntesis ocurre en los cloroplastos de las hojas."
)
QUESTIONS = ["¿Dónde nació Cervantes?", "¿Qué obras guarda el Museo del Prado?", "¿Cuántos años tenía?"]


@pytest.fixture(params=["wordpiece", "bpe", "unigram"])
def tokenizer(request, tiny_tokenizer, bpe_tokenizer, unigram_tokenizer):
    return {"wordpiece": tiny_tokenizer, "bpe": bpe_tokenizer, "unigram": unigram_tokenizer}[request.param]


def _word_examples(context: str) -> list[QAExample]:
    """One example per word of the context (punctuation stripped) and per pair of neighbouring words."""
    words = list(re.finditer(r"[\w\u00c0-\u024f]+", context))
    spans = [(m.start(), m.end()) for m in words] + [
        (a.start(), b.end()) for a, b in itertools.pairwise(words)
    ]
    return [
        QAExample(id=f"w{k}", question=QUESTIONS[k % 3], context=context, answers=[Answer(context[s:e], s)])
        for k, (s, e) in enumerate(spans)
    ]


def window_lists(examples, tokenizer, **settings) -> dict:
    """The windows the predictor runs (`encode_windows`), as lists: ids, token types when fed, the example of each
    window and each token's character span in the context (None for question and special tokens)."""
    windows = encode_windows([ex.question for ex in examples], [ex.context for ex in examples], tokenizer, **settings)
    offset_mapping = []
    for k, ids in enumerate(windows.input_ids):
        ctx = windows.contexts[windows.example_index[k]]
        a, n, pos = int(windows.ctx_start[k]), int(windows.ctx_len[k]), int(windows.ctx_pos[k])
        om: list = [None] * len(ids)
        om[pos : pos + n] = [tuple(o) for o in ctx.offsets[a : a + n].tolist()]
        offset_mapping.append(om)
    out = {
        "input_ids": [ids.tolist() for ids in windows.input_ids],
        "example_index": windows.example_index.tolist(),
        "offset_mapping": offset_mapping,
    }
    if windows.token_type_ids is not None:
        out["token_type_ids"] = [types.tolist() for types in windows.token_type_ids]
    return out


def _reference(tokenizer, question, context, max_length, stride):
    left = tokenizer.padding_side == "left"
    return tokenizer(
        context if left else question,
        question if left else context,
        truncation="only_first" if left else "only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )


@pytest.mark.parametrize("max_length,stride", [(40, 12), (64, 24), (512, 128)])
def test_windows_match_tokenizer_overflow(tokenizer, max_length, stride):
    examples = [QAExample(id=str(i), question=q, context=LONG_CONTEXT) for i, q in enumerate(QUESTIONS)]
    feats = window_lists(examples, tokenizer, max_length=max_length, doc_stride=stride)
    rows = 0
    for i, ex in enumerate(examples):
        ref = _reference(tokenizer, ex.question, ex.context, max_length, stride)
        mine = [k for k, e in enumerate(feats["example_index"]) if e == i]
        assert len(mine) == len(ref["input_ids"]) and (max_length == 512 or len(mine) > 1)
        for w, k in enumerate(mine):
            assert feats["input_ids"][k] == ref["input_ids"][w]
            seq_ids = ref.sequence_ids(w)
            expected = [tuple(o) if s == 1 else None for o, s in zip(ref["offset_mapping"][w], seq_ids)]
            assert feats["offset_mapping"][k] == expected
        rows += len(mine)
    assert rows == len(feats["input_ids"])
    assert "token_type_ids" not in feats  # none of these tokenizers declares token types as a model input


def test_token_type_ids_when_declared(tiny_tokenizer, tmp_path):
    tiny_tokenizer.save_pretrained(tmp_path)
    bert_like = PreTrainedTokenizerFast.from_pretrained(
        tmp_path, model_input_names=["input_ids", "token_type_ids", "attention_mask"]
    )
    ex = [QAExample(id="a", question=QUESTIONS[0], context=LONG_CONTEXT)]
    feats = window_lists(ex, bert_like, max_length=48, doc_stride=16)
    ref = bert_like(
        QUESTIONS[0],
        LONG_CONTEXT,
        truncation="only_second",
        max_length=48,
        stride=16,
        return_overflowing_tokens=True,
    )
    assert feats["token_type_ids"] == ref["token_type_ids"]
    assert any(1 in t for t in feats["token_type_ids"])


def test_left_padding_puts_context_first(unigram_tokenizer, tmp_path):
    unigram_tokenizer.save_pretrained(tmp_path)
    left = PreTrainedTokenizerFast.from_pretrained(tmp_path, padding_side="left")
    ex = [
        QAExample(
            id="a",
            question=QUESTIONS[1],
            context=LONG_CONTEXT,
            answers=[Answer("Goya", LONG_CONTEXT.index("Goya"))],
        )
    ]
    feats = window_lists(ex, left, max_length=48, doc_stride=16)
    ref = _reference(left, QUESTIONS[1], LONG_CONTEXT, 48, 16)
    assert feats["input_ids"] == ref["input_ids"]
    assert feats["offset_mapping"][0][1] is not None  # context right after <s>
    train = prepare_train_features(ex, left, max_length=48, doc_stride=16, pad_to_max_length=True)
    assert all(len(ids) == 48 for ids in train["input_ids"])
    hits = 0
    for k, (s, e) in enumerate(zip(train["start_positions"], train["end_positions"])):
        pad = train["attention_mask"][k].count(0)
        assert train["attention_mask"][k][:pad] == [0] * pad  # padded on the left
        if s != pad:
            om = feats["offset_mapping"][k]
            assert LONG_CONTEXT[om[s - pad][0] : om[e - pad][1]].strip() == "Goya"
            hits += 1
    assert hits >= 1


@pytest.mark.parametrize("max_length,stride", [(40, 12), (56, 20)])
def test_train_labels_point_at_the_answer(tokenizer, max_length, stride):
    examples = _word_examples(LONG_CONTEXT)
    assert {"Velázquez", "Alcalá", "pingüino", "niños", "Antártida", "El"} <= {
        e.answers[0].text for e in examples
    }
    train = prepare_train_features(examples, tokenizer, max_length=max_length, doc_stride=stride)
    evalf = window_lists(examples, tokenizer, max_length=max_length, doc_stride=stride)
    assert train["input_ids"] == evalf["input_ids"]
    found = [0] * len(examples)
    boundary_cases = 0
    for k, i in enumerate(evalf["example_index"]):
        ans = examples[i].answers[0]
        s, e = train["start_positions"][k], train["end_positions"][k]
        om = evalf["offset_mapping"][k]
        ctx_chars = [o for o in om if o is not None]
        window_start, window_end = ctx_chars[0][0], ctx_chars[-1][1]
        if s == 0:
            assert e == 0
            # the answer does not fit in this window: it starts before it or ends after it
            inside = window_start <= ans.start and ans.start + len(ans.text) <= window_end
            straddles = window_start < ans.start + len(ans.text) and ans.start < window_end
            assert not inside
            boundary_cases += straddles and not inside
        else:
            assert 0 < s <= e and om[s] is not None and om[e] is not None
            assert LONG_CONTEXT[om[s][0] : om[e][1]].strip() == ans.text
            found[i] += 1
    # Consecutive windows share `stride` context tokens, so an answer of at most that many tokens lies whole in
    # some window and must be labelled there (how many tokens an answer takes depends on the trained vocabulary).
    offsets = tokenizer(LONG_CONTEXT, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    for i, ex in enumerate(examples):
        a = ex.answers[0]
        n_tokens = sum(1 for b, e in offsets if b < a.start + len(a.text) and a.start < e)
        assert found[i] or n_tokens > stride, (a.text, n_tokens)
    assert sum(found) >= len(examples) // 2
    assert boundary_cases > 0  # some answers cross a window edge and are labelled at CLS there


def test_bom_and_accents(tokenizer):
    ctx = "\ufeffEl niño comió ñoquis en Logroño."
    examples = [
        QAExample(
            id="1", question="¿Quién comió?", context=ctx, answers=[Answer("El niño", ctx.index("El"))]
        ),
        QAExample(
            id="2", question="¿Qué comió?", context=ctx, answers=[Answer("ñoquis", ctx.index("ñoquis"))]
        ),
        QAExample(id="3", question="¿Dónde?", context=ctx, answers=[Answer("Logroño", ctx.index("Logroño"))]),
    ]
    for ex in examples:
        a = ex.answers[0]
        assert ctx[a.start : a.start + len(a.text)] == a.text
    train = prepare_train_features(examples, tokenizer)
    evalf = window_lists(examples, tokenizer)
    for k, ex in enumerate(examples):
        s, e = train["start_positions"][k], train["end_positions"][k]
        om = evalf["offset_mapping"][k]
        assert ctx[om[s][0] : om[e][1]].strip().lstrip("\ufeff") == ex.answers[0].text


def test_unanswerable_and_question_truncation(tokenizer):
    long_q = " ".join(["¿Dónde está la biblioteca del río Ebro?"] * 20)
    examples = [
        QAExample(id="x", question=long_q, context=LONG_CONTEXT, is_impossible=True),
        QAExample(id="y", question="¿Qué?", context=LONG_CONTEXT, answers=[]),
    ]
    train = prepare_train_features(examples, tokenizer, max_length=64, doc_stride=16, max_query_length=10)
    assert set(train["start_positions"]) == {0} and set(train["end_positions"]) == {0}
    evalf = window_lists(examples, tokenizer, max_length=64, doc_stride=16, max_query_length=10)
    k = evalf["example_index"].index(0)
    n_question = sum(o is None for o in evalf["offset_mapping"][k]) - tokenizer.num_special_tokens_to_add(
        pair=True
    )
    assert n_question == 10


def test_pad_batch(tokenizer):
    examples = _word_examples(LONG_CONTEXT)[:5]
    train = prepare_train_features(examples, tokenizer, max_length=40, doc_stride=12)
    rows = list(range(len(train["input_ids"])))
    batch = pad_batch(train, rows, tokenizer.pad_token_id)
    width = max(len(x) for x in train["input_ids"])
    assert batch["input_ids"].shape == (len(rows), width)
    assert batch["attention_mask"].sum() == sum(len(x) for x in train["input_ids"])
    assert batch["start_positions"].tolist() == train["start_positions"]
    padded = prepare_train_features(examples, tokenizer, max_length=40, doc_stride=12, pad_to_max_length=True)
    assert all(len(x) == 40 for x in padded["input_ids"])
    assert padded["start_positions"] == train["start_positions"]


def test_tokenizer_settings_are_left_as_found(tiny_tokenizer):
    backend = tiny_tokenizer.backend_tokenizer
    backend.enable_truncation(max_length=7)
    try:
        feats = window_lists(
            [QAExample(id="a", question=QUESTIONS[0], context=LONG_CONTEXT)], tiny_tokenizer, max_length=64
        )
        assert len(feats["input_ids"]) > 1 and len(feats["input_ids"][0]) == 64  # not cut to 7 tokens
        assert backend.truncation["max_length"] == 7
    finally:
        backend.no_truncation()
