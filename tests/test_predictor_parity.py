"""Predictor against transformers 5.2.0's `pipeline("question-answering")` on the same tiny models.

The reference runs in its own environment (`make ref-env`, found through DESTILA_REF_PYTHON). Three tiny
random models cover the tokenizer kinds: BERT + WordPiece, RoBERTa + byte-level BPE, RoBERTa + XLM-R-style
Unigram. Random heads give near-uniform logits (ties decided by rounding), so each QA head is scaled up and
pushed towards the classification token, which makes spans clearly ranked and the empty answer win sometimes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from destila.infer.features import encode_windows
from destila.infer.predictor import Predictor

REPO = Path(__file__).resolve().parents[1]
REF_SCRIPT = Path(__file__).parent / "ref" / "run_pipeline.py"

QUESTIONS = [
    "¿Dónde nació Cervantes?",
    "¿Qué guarda el Museo del Prado?",
    "¿Cuántos habitantes tenía la ciudad?",
    "¿Quién ganó el campeonato?",
    "¿Dónde vive el pingüino emperador?",
]
KWARG_SETS = [
    {},
    {"top_k": 3},
    {"handle_impossible_answer": True},
    {"top_k": 3, "handle_impossible_answer": True},
    {"max_seq_len": 64, "doc_stride": 24},
    {"max_seq_len": 48, "doc_stride": 16, "top_k": 2, "handle_impossible_answer": True},
]
NULL_PUSH = {"bert": 10.0, "bpe": 4.0, "xlmr": 13.0}  # how far the head leans towards the CLS token


def ref_python() -> Path:
    value = os.environ.get("DESTILA_REF_PYTHON")
    return Path(value) if value else REPO / ".venv-ref" / "bin" / "python"


def _contexts() -> list[str]:
    from tiny import SPANISH_TEXT
    from tiny_tokenizers import EXTRA_TEXT

    texts = SPANISH_TEXT + EXTRA_TEXT
    out = [" ".join(texts[(i + j) % len(texts)] for j in range(1 + (i % 6) * 3)) for i in range(20)]
    out[3] = "\ufeff" + out[3]  # a leading byte-order mark, as some SQuAD-es contexts have
    return out


def _build(folder: Path, kind: str, tokenizer) -> None:
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, RobertaConfig, RobertaForQuestionAnswering

    from tiny import SPANISH_TEXT

    torch.manual_seed(1 if kind == "bert" else 2)
    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if kind == "bert":
        model = BertForQuestionAnswering(BertConfig(max_position_embeddings=512, **common))
    else:
        model = RobertaForQuestionAnswering(
            RobertaConfig(
                max_position_embeddings=514, bos_token_id=0, eos_token_id=2, type_vocab_size=1, **common
            )
        )
    model.eval()
    with torch.no_grad():
        model.qa_outputs.weight.mul_(30.0)
        model.qa_outputs.bias.mul_(30.0)
        enc = tokenizer(["¿Dónde?"] * len(SPANISH_TEXT), SPANISH_TEXT, padding=True, return_tensors="pt")
        cls_state = model.base_model(**enc).last_hidden_state[:, 0].mean(0)
        model.qa_outputs.weight += NULL_PUSH[kind] * cls_state / cls_state.dot(cls_state)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder, safe_serialization=True)


@pytest.fixture(scope="module")
def parity_models(tmp_path_factory, tiny_tokenizer, bpe_tokenizer, unigram_tokenizer) -> dict[str, Path]:
    folders = {}
    for kind, tok in (("bert", tiny_tokenizer), ("bpe", bpe_tokenizer), ("xlmr", unigram_tokenizer)):
        folders[kind] = tmp_path_factory.mktemp(f"parity_{kind}")
        _build(folders[kind], kind, tok)
    return folders


def _cases() -> list[dict]:
    cases = []
    for model in ("bert", "bpe", "xlmr"):
        for i, context in enumerate(_contexts()):
            cases.append(
                {
                    "model": model,
                    "question": QUESTIONS[i % len(QUESTIONS)],
                    "context": context,
                    "kwargs": KWARG_SETS[(i + len(model)) % len(KWARG_SETS)],
                }
            )
    return cases


def _as_list(result) -> list[dict]:
    return result if isinstance(result, list) else [result]


def test_same_answers_as_transformers_pipeline(parity_models, tmp_path):
    python = ref_python()
    if not python.exists():
        pytest.fail(
            f"reference environment not found at {python}: run `make ref-env` (transformers 5.2.0) "
            "or point DESTILA_REF_PYTHON at a python that has it"
        )
    cases = _cases()
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps({"models": {k: str(v) for k, v in parity_models.items()}, "cases": cases}))
    out = tmp_path / "ref.json"
    proc = subprocess.run(
        [str(python), str(REF_SCRIPT), str(spec), str(out)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"reference pipeline failed:\n{proc.stderr[-3000:]}"
    ref = json.loads(out.read_text())
    assert ref["transformers"] == "5.2.0", f"reference environment has transformers {ref['transformers']}"

    # Ours: one batched call per (model, options) group, so windows of different lengths share padded batches.
    ours: list = [None] * len(cases)
    predictors = {k: Predictor.from_pretrained(v, batch_size=8) for k, v in parity_models.items()}
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(cases):
        groups.setdefault((c["model"], json.dumps(c["kwargs"], sort_keys=True)), []).append(i)
    for (model, kw), idx in groups.items():
        res = predictors[model](
            question=[cases[i]["question"] for i in idx],
            context=[cases[i]["context"] for i in idx],
            **json.loads(kw),
        )
        res = [res] if len(idx) == 1 else res
        for i, r in zip(idx, res):
            ours[i] = r

    same, mismatches, scores_checked = 0, [], 0
    for case, mine, theirs in zip(cases, ours, ref["results"]):
        assert type(mine) is type(theirs), (case, mine, theirs)  # dict vs list structure follows the pipeline
        a, b = _as_list(mine), _as_list(theirs)
        spans_a = [(x["answer"], x["start"], x["end"]) for x in a]
        spans_b = [(x["answer"], x["start"], x["end"]) for x in b]
        if spans_a == spans_b:
            same += 1
            for x, y in zip(a, b):
                assert x["score"] == pytest.approx(y["score"], rel=1e-3, abs=1e-7), (case, a, b)
                scores_checked += 1
        else:
            mismatches.append((case["model"], case["kwargs"], spans_a, spans_b))
    assert same / len(cases) >= 0.99, f"{len(mismatches)} of {len(cases)} differ: {mismatches[:5]}"

    # The comparison means something: several windows, empty answers winning sometimes, varied answers.
    multi = 0
    for c in cases:
        pred = predictors[c["model"]]
        kw = c["kwargs"]
        w = encode_windows(
            [c["question"]],
            [c["context"]],
            pred.tokenizer,
            kw.get("max_seq_len", 384),
            kw.get("doc_stride", 128),
            64,
        )
        multi += len(w) > 1
    assert multi >= 15
    impossible = [r for c, r in zip(cases, ref["results"]) if c["kwargs"].get("handle_impossible_answer")]
    firsts = [_as_list(r)[0]["answer"] for r in impossible]
    assert 0 < firsts.count("") < len(firsts)
    assert len({_as_list(r)[0]["answer"] for r in ref["results"]}) > 20
    assert scores_checked > len(cases)
