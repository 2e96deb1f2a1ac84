"""Tiny random-weight models and tokenizers built from configs, for tests. Nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path

SPANISH_TEXT = [
    "El río Amazonas es el más caudaloso del mundo y atraviesa Perú, Colombia y Brasil.",
    "¿Cuántos años tenía Cervantes cuando publicó la primera parte del Quijote en 1605?",
    "La energía solar se transforma en electricidad mediante paneles fotovoltaicos.",
    "¡Qué sorpresa! El equipo ganó el campeonato por tres goles a uno en Madrid.",
    "Los niños aprendieron que la fotosíntesis ocurre en los cloroplastos de las hojas.",
    "El Museo del Prado abrió sus puertas en 1819 con obras de Velázquez y Goya.",
    "La cigüeña construyó su nido sobre el campanario de la iglesia románica.",
    "En el año 2020 la población de la ciudad superaba los dos millones de habitantes.",
]


def shared_data_dir() -> Path | None:
    value = os.environ.get("DESTILA_DATA_DIR")
    candidates = [Path(value)] if value else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for c in candidates:
        if (c / "folds.json").exists():
            return c
    return None


def build_wordpiece_tokenizer(out_dir: str | os.PathLike, texts: list[str] | None = None, vocab_size: int = 600):
    """A BERT-style WordPiece fast tokenizer trained on a little Spanish text, saved to `out_dir`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = texts or SPANISH_TEXT * 4
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    tok.train_from_iterator(texts, trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_bert_qa(
    out_dir: str | os.PathLike,
    tokenizer=None,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 2,
    intermediate: int = 64,
    seed: int = 0,
):
    """A random-weight BertForQuestionAnswering saved (safetensors) with its tokenizer to `out_dir`."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    out_dir = Path(out_dir)
    if tokenizer is None:
        tokenizer = build_wordpiece_tokenizer(out_dir)
    else:
        tokenizer.save_pretrained(out_dir)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = BertForQuestionAnswering(config).eval()
    model.save_pretrained(out_dir, safe_serialization=True)
    return model, tokenizer


def all_terms(**options):
    """A LossConfig with every registered loss term on at weight 1 (a term is off unless a recipe turns it on);
    `options` set the other fields or turn terms off again."""
    from destila.distill import TERMS, LossConfig

    return LossConfig(**{**dict.fromkeys(TERMS, 1.0), **options})
