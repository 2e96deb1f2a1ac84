"""Tiny fast tokenizers of the three kinds QA models use, trained on a little Spanish text. Nothing is downloaded.

- RoBERTa: byte-level BPE, `<s> A </s></s> B </s>`, no token types.
- XLM-R: SentencePiece-style Unigram with a Metaspace pre-tokenizer, the same template.
(BERT WordPiece is `tiny.build_wordpiece_tokenizer`.)
"""

from __future__ import annotations

from destila.models.offline import SPECIAL_TOKENS
from tiny import SPANISH_TEXT

EXTRA_TEXT = [
    "El Museo del Prado de Madrid guarda obras de Velázquez, Goya y El Greco desde el siglo XIX.",
    "Miguel de Cervantes nació en Alcalá de Henares en 1547 y murió en Madrid en 1616.",
    "La península ibérica está formada por España, Portugal, Andorra y Gibraltar.",
    "El pingüino emperador vive en la Antártida y soporta temperaturas de cuarenta grados bajo cero.",
    "¿Dónde está la biblioteca? ¡Allí, junto al puente del río Ebro, en Zaragoza!",
]


def _texts():
    return (SPANISH_TEXT + EXTRA_TEXT) * 4


def build_bpe_tokenizer(vocab_size: int = 700):
    """A RoBERTa-style byte-level BPE fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_texts(), trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")),
        ("<s>", tok.token_to_id("<s>")),
        trim_offsets=True,
        add_prefix_space=False,
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=512,
        **SPECIAL_TOKENS,
    )


def build_unigram_tokenizer(vocab_size: int = 400):
    """An XLM-R-style SentencePiece Unigram fast tokenizer (Metaspace, `<s> A </s></s> B </s>`)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(" {2,}", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(_texts(), trainer)
    cls_id, sep_id = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", cls_id), ("</s>", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=512,
        **SPECIAL_TOKENS,
    )
