"""Vocabulary trimming on tiny random models with Unigram, WordPiece and byte-level BPE tokenizers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from destila.cli import main
from destila.errors import ConfigError
from destila.models.offline import SPECIAL_TOKENS
from destila.models.trim import TRIM_RECORD, trim_vocabulary
from tiny import SPANISH_TEXT, build_tiny_bert_qa

SEEN = SPANISH_TEXT[:5]  # the corpus
UNSEEN = SPANISH_TEXT[5:] + ["Ωmega 漢字 ☃ zxqwv ÅÇÑ — ¿jamás visto?"]


def _unigram_tokenizer(out_dir):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(" {2,}", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=400, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(SPANISH_TEXT * 4, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=512, **SPECIAL_TOKENS
    )


def _bpe_tokenizer(out_dir):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(SPANISH_TEXT * 4, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=512, **SPECIAL_TOKENS
    )


@pytest.fixture(scope="module", params=["Unigram", "WordPiece", "BPE"])
def model_dir(request, tmp_path_factory, tiny_qa_model_dir):
    if request.param == "WordPiece":
        return tiny_qa_model_dir
    out = tmp_path_factory.mktemp(f"tiny_{request.param}")
    tokenizer = (_unigram_tokenizer if request.param == "Unigram" else _bpe_tokenizer)(out)
    build_tiny_bert_qa(out, tokenizer=tokenizer)
    return out


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(SEEN) + "\n", encoding="utf-8")
    return path


def _load(folder):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    return AutoTokenizer.from_pretrained(folder), AutoModelForQuestionAnswering.from_pretrained(folder).eval()


def _logits(tok, model, question, context):
    enc = tok(question, context, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc)
    return enc["input_ids"][0], out.start_logits[0], out.end_logits[0]


@pytest.fixture(scope="module")
def trimmed(model_dir, corpus_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("trimmed") / "model"
    report = trim_vocabulary(str(model_dir), [str(corpus_file)], out)
    return out, report


def test_outputs_unchanged_on_corpus_text(model_dir, trimmed):
    out, report = trimmed
    old_tok, old_model = _load(model_dir)
    new_tok, new_model = _load(out)
    kept = np.asarray(report.kept_ids)
    assert report.kept < len(old_tok) and new_model.config.vocab_size == report.kept == len(new_tok)
    for question, context in zip(SEEN, SEEN[1:] + SEEN[:1]):
        old_ids, old_start, old_end = _logits(old_tok, old_model, question, context)
        new_ids, new_start, new_end = _logits(new_tok, new_model, question, context)
        assert old_tok.unk_token_id not in old_ids.tolist()
        assert kept[new_ids.numpy()].tolist() == old_ids.tolist()  # same pieces, renumbered
        torch.testing.assert_close(new_start, old_start, rtol=0, atol=1e-6)
        torch.testing.assert_close(new_end, old_end, rtol=0, atol=1e-6)


def test_no_id_shift_and_graceful_fallback(model_dir, trimmed):
    out, report = trimmed
    old_tok, old_model = _load(model_dir)
    new_tok, new_model = _load(out)
    kept = report.kept_ids
    # every kept id names the same piece and has the same embedding row
    assert new_tok.convert_ids_to_tokens(list(range(len(kept)))) == old_tok.convert_ids_to_tokens(kept)
    torch.testing.assert_close(
        new_model.get_input_embeddings().weight, old_model.get_input_embeddings().weight[kept], rtol=0, atol=0
    )
    for name in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token"):
        assert getattr(new_tok, name) == getattr(old_tok, name)
        assert kept[getattr(new_tok, name + "_id")] == getattr(old_tok, name + "_id")
    assert new_model.config.pad_token_id == new_tok.pad_token_id
    for text in UNSEEN:
        ids = new_tok(text)["input_ids"]
        assert max(ids) < len(kept)
        pieces = [p for p in new_tok.convert_ids_to_tokens(ids) if p != new_tok.unk_token]
        assert pieces, text
        _, start, end = _logits(new_tok, new_model, SEEN[0], text)  # runs, finite
        assert torch.isfinite(start).all() and torch.isfinite(end).all()
    # an unseen word falls back to smaller pieces (or unk), never to a wrong whole piece
    assert len(new_tok(UNSEEN[0])["input_ids"]) >= len(old_tok(UNSEEN[0])["input_ids"])


def test_record_and_model_card(trimmed, corpus_file):
    out, report = trimmed
    record = json.loads((out / TRIM_RECORD).read_text())
    assert record["kept"] == report.kept and record["original_ids"] == report.kept_ids
    assert record["corpus"][0]["spec"] == str(corpus_file) and record["corpus"][0]["texts"] == len(SEEN)
    assert record["params_after"] < record["params_before"]
    assert record["params_before"] - record["params_after"] == (
        record["embedding_params_before"] - record["embedding_params_after"]
    )
    assert "Vocabulary trimming" in (out / "README.md").read_text()
    assert (out / "model.safetensors").exists() and not list(out.glob("*.bin"))


def test_keep_top_adds_the_most_likely_unigram_pieces_written_in_the_corpus_characters(tmp_path, corpus_file):
    from transformers import AutoTokenizer

    src = tmp_path / "uni"
    build_tiny_bert_qa(src, tokenizer=_unigram_tokenizer(src))
    plain = trim_vocabulary(str(src), [str(corpus_file)], tmp_path / "plain")
    more = trim_vocabulary(str(src), [str(corpus_file)], tmp_path / "more", keep_top=7)
    assert more.kept == plain.kept + 7 and more.kept_detail["top"] == 7
    scores = dict(json.loads(AutoTokenizer.from_pretrained(src).backend_tokenizer.to_str())["model"]["vocab"])
    tok = AutoTokenizer.from_pretrained(src)
    alphabet = set("".join(SEEN)) | {"▁"}
    in_alphabet = {i for i, p in enumerate(tok.convert_ids_to_tokens(list(range(len(tok))))) if set(p) <= alphabet}
    extra = set(more.kept_ids) - set(plain.kept_ids)
    assert extra <= in_alphabet
    extra_scores = [scores[p] for p in tok.convert_ids_to_tokens(sorted(extra))]
    left = (in_alphabet - set(more.kept_ids)) - set(tok.all_special_ids)
    assert left and min(extra_scores) >= max(scores[p] for p in tok.convert_ids_to_tokens(sorted(left)))
    # a piece with a character the corpus never uses is never added, however likely
    outside = set(range(len(tok))) - in_alphabet - set(more.kept_ids)
    assert outside and not outside & extra
    assert max(scores[p] for p in tok.convert_ids_to_tokens(sorted(outside))) > min(extra_scores)


def test_trimming_a_trimmed_model_keeps_original_ids(trimmed, tmp_path):
    out, report = trimmed
    corpus = tmp_path / "one.txt"
    corpus.write_text(SEEN[0] + "\n", encoding="utf-8")
    again = trim_vocabulary(str(out), [str(corpus)], tmp_path / "again")
    record = json.loads((tmp_path / "again" / TRIM_RECORD).read_text())
    assert again.kept < report.kept
    assert record["original_ids"] == [report.kept_ids[i] for i in again.kept_ids]
    assert record["previous_trim"]["kept"] == report.kept


def test_cli_with_a_dataset_corpus(tiny_qa_model_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    with pytest.raises(SystemExit) as exc:
        main(["trim-vocab", "--model", str(tiny_qa_model_dir), "--corpus", "sample", "--out", str(out), "--json"])
    assert exc.value.code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["corpus"][0]["kind"] == "dataset" and record["kept"] > 0
    assert (out / "config.json").exists() and (out / "tokenizer.json").exists()
    with pytest.raises(SystemExit) as exc:  # the output folder is not empty now
        main(["trim-vocab", "--model", str(tiny_qa_model_dir), "--corpus", "sample", "--out", str(out)])
    assert exc.value.code == ConfigError.exit_code
    assert "not empty" in capsys.readouterr().err


def test_word_list_corpus_covers_spanish_words_in_six_spellings_and_numbers_and_punctuation():
    from destila.models.trim import corpus_texts

    texts, kind = corpus_texts("wordfreq:es:50")
    assert kind == "words"
    assert {"de", "De", " de", "(de", "(De", "DE"} <= set(texts)
    assert sum(t in ("de", "De", " de", "(de", "(De", "DE") for t in texts) == 6
    assert {"2023", " 1868", "3,9", "12.000", "«", "».", "¿", "!»"} <= set(texts)
    assert texts == corpus_texts("wordfreq:es:50")[0]  # the same list every time


@pytest.mark.parametrize("spec", ["wordfreq:es", "wordfreq:es:0", "wordfreq:es:many", "wordfreq:xx-nope:10"])
def test_word_list_corpus_errors_name_the_spec(spec):
    from destila.models.trim import corpus_texts

    with pytest.raises(ConfigError, match="wordfreq"):
        corpus_texts(spec)
