"""Vocabulary trimming: keep only the pieces a corpus uses, and shrink the embedding matrix to match.

Most of a multilingual encoder's parameters sit in its embedding matrix, and Spanish text uses a small share of
its pieces. Trimming keeps the pieces the corpus tokenises into, every special and added token, and optionally
the N most likely other pieces written in the corpus's characters (names, acronyms and numbers of text the corpus
does not hold, never pieces of a script it does not use); the kept pieces keep their relative order and their
embedding rows, so the model's output on text made of kept pieces is unchanged. Other text still tokenises (into
smaller kept pieces or the unknown token); nothing shifts.

Supported tokenizer models: Unigram (SentencePiece, e.g. XLM-R / e5), WordPiece (BERT) and BPE (RoBERTa, GPT-2
byte-level), through the `tokenizers` JSON of a fast tokenizer.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from destila.errors import ConfigError, DataError, ModelError

TRIM_RECORD = "destila_trim.json"
_ENCODE_BATCH = 512


# ------------------------------------------------------------------------------------------------ the corpus


@dataclass
class CorpusPart:
    spec: str
    kind: str  # "text", "dataset" or "words"
    texts: int
    tokens: int = 0


WORDFREQ_PREFIX = "wordfreq:"


def word_list_texts(spec: str) -> list[str]:
    """`wordfreq:LANG:N`: the N most frequent words of LANG (the `wordfreq` package), each as it appears at the start
    of a word (mid-sentence or capitalised), glued to an opening bracket (lower-case or capitalised) and in capitals
    (acronyms), plus numbers and punctuation as they are written: so the trimmed vocabulary covers the language
    beyond one corpus, names and figures included."""
    parts = spec[len(WORDFREQ_PREFIX):].split(":")
    if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) <= 0:
        raise ConfigError(f"corpus {spec!r}: expected wordfreq:LANG:N, e.g. wordfreq:es:100000")
    lang, n = parts[0], int(parts[1])
    try:
        from wordfreq import available_languages, top_n_list
    except ImportError:
        raise ConfigError(f"corpus {spec!r} needs the wordfreq package: pip install wordfreq") from None
    if lang not in available_languages():
        raise ConfigError(f"corpus {spec!r}: wordfreq has no word list for language {lang!r}")
    words = top_n_list(lang, n)
    forms = [w for word in words
             for w in (word, word.capitalize(), " " + word, "(" + word, "(" + word.capitalize(), word.upper())]
    return forms + _numbers_and_punctuation()


def _numbers_and_punctuation() -> list[str]:
    """Whole numbers up to 2100 (years), decimals with a comma, thousands with a dot, each alone and after a space,
    and punctuation marks followed by another mark or a space (« », ¿ ?, ...)."""
    numbers = [str(i) for i in range(2101)]
    numbers += [f"{i},{j}" for i in range(100) for j in range(10)]
    numbers += [f"{i}.{j:03d}" for i in range(1, 100) for j in range(0, 1000, 7)]
    marks = "«»“”\"'()[]¿?¡!.,;:—–-…%"
    return numbers + [" " + x for x in numbers] + [a + b for a in marks for b in ("", ".", ",", " ", "»", "!", "?")]


def corpus_texts(spec: str, data_dir: str | os.PathLike | None = None) -> tuple[list[str], str]:
    """The texts of one corpus: lines of a .txt file, a `wordfreq:LANG:N` word list, or the questions and
    (unique) contexts of a dataset."""
    if spec.startswith(WORDFREQ_PREFIX):
        return word_list_texts(spec), "words"
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".txt":
        if not path.is_file():
            raise DataError(f"{spec}: no such text file")
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as exc:
            raise DataError(f"{spec}: not UTF-8 text (byte {exc.start})") from None
        return [line for line in lines if line.strip()], "text"

    from destila.data import load_dataset

    dataset = load_dataset(spec, data_dir=data_dir)
    # contexts repeat once per question; the model sees questions and contexts, not titles
    texts = list(dict.fromkeys(ex.context for ex in dataset.examples))
    texts += list(dict.fromkeys(ex.question for ex in dataset.examples))
    return texts, "dataset"


def count_pieces(backend, texts: Sequence[str], size: int) -> np.ndarray:
    """How often each id occurs when `backend` (a tokenizers.Tokenizer) encodes `texts` without specials."""
    counts = np.zeros(size, dtype=np.int64)
    for i in range(0, len(texts), _ENCODE_BATCH):
        encodings = backend.encode_batch(list(texts[i:i + _ENCODE_BATCH]), add_special_tokens=False)
        ids = np.fromiter((t for enc in encodings for t in enc.ids), dtype=np.int64)
        counts += np.bincount(ids, minlength=size)[:size]  # per batch: a vocabulary-long count per text was slow
    return counts


# ------------------------------------------------------------------------------------------- the tokenizer


def _tokenizer_json(tokenizer) -> dict:
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError("vocabulary trimming needs a fast tokenizer (tokenizer.json)")
    return json.loads(tokenizer.backend_tokenizer.to_str())


def _special_ids(spec: dict, tokenizer) -> set[int]:
    ids = {t["id"] for t in spec.get("added_tokens", [])}
    ids.update(i for i in tokenizer.all_special_ids if i is not None)
    return ids


def _bpe_derivation(piece: str, ranks: dict[tuple[str, str], int], prefix: str | None) -> list[tuple[str, str]]:
    """The merges BPE applies to build `piece` from its characters (merges inside a final piece never depend on
    its neighbours: a merge across the piece's boundary would have produced a different piece)."""
    symbols = list(piece)
    if prefix and piece.startswith(prefix) and len(piece) > len(prefix):
        symbols = [prefix + piece[len(prefix)]] + list(piece[len(prefix) + 1:])
    used = []
    while len(symbols) > 1:
        pairs = [(ranks.get((a, b), None), j) for j, (a, b) in enumerate(itertools.pairwise(symbols))]
        pairs = [p for p in pairs if p[0] is not None]
        if not pairs:
            break
        _, j = min(pairs)
        used.append((symbols[j], symbols[j + 1]))
        symbols[j:j + 2] = [symbols[j] + symbols[j + 1]]
    return used


def select_ids(spec: dict, tokenizer, counts: np.ndarray, keep_top: int = 0,
               alphabet: set[str] | None = None) -> tuple[list[int], dict]:
    """Old ids to keep (ascending) and a summary: used, specials, extras kept for the tokenizer's sake, top N.
    The top N are the most likely other pieces written in `alphabet` alone (the corpus's characters), if given."""
    model = spec["model"]
    kind = model["type"]
    size = len(counts)
    used = set(np.flatnonzero(counts).tolist())
    special = _special_ids(spec, tokenizer)
    extra: set[int] = set()
    if kind == "Unigram":
        scores = np.asarray([s for _, s in model["vocab"]], dtype=np.float64)
        # the unknown-piece penalty is (lowest score - 10): keep the lowest piece so segmentations do not change
        extra.add(int(np.argmin(scores)))
        if model.get("byte_fallback"):
            extra.update(i for i, (p, _) in enumerate(model["vocab"]) if p.startswith("<0x") and len(p) == 6)
        order = np.argsort(-scores, kind="stable")  # most likely pieces first
    elif kind == "WordPiece":
        order = np.arange(size)  # no scores: WordPiece trainers add pieces roughly by frequency
    elif kind == "BPE":
        vocab = model["vocab"]
        inverse = {i: p for p, i in vocab.items()}
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
        ranks = {m: r for r, m in enumerate(merges)}
        # the base alphabet (single characters) keeps any text encodable
        extra.update(i for p, i in vocab.items() if len(p) == 1)
        prefix = model.get("continuing_subword_prefix")
        for i in sorted(used | special):
            for a, b in _bpe_derivation(inverse.get(i, ""), ranks, prefix):
                for part in (a, b):
                    if part in vocab:
                        extra.add(vocab[part])
        order = np.arange(size)  # ids of BPE vocabularies follow merge order
    else:
        raise ModelError(f"cannot trim a {kind} tokenizer (supported: Unigram, WordPiece, BPE)")
    unk = model.get("unk_id") if kind == "Unigram" else None
    if kind in ("WordPiece", "BPE") and model.get("unk_token") is not None:
        unk = model["vocab"].get(model["unk_token"])
    if unk is not None:
        special.add(int(unk))
    kept = used | special | extra
    top_added = 0
    if keep_top:
        pieces = _pieces(spec, size)
        for i in order.tolist():
            if top_added >= keep_top:
                break
            if i < size and i not in kept and (alphabet is None or _written_in(pieces[i], alphabet)):
                kept.add(i)
                top_added += 1
    if kind == "BPE":  # close again over the derivations of the top-N pieces
        for i in sorted(kept):
            for a, b in _bpe_derivation(inverse.get(i, ""), ranks, prefix):
                for part in (a, b):
                    if part in vocab:
                        kept.add(vocab[part])
    summary = {
        "used": len(used),
        "special": len(special - used),
        "kept_for_tokenizer": len(extra - used - special),
        "top": top_added,
    }
    return sorted(kept), summary


def _pieces(spec: dict, size: int) -> list[str]:
    """The piece of each id of a tokenizer model (Unigram: a list of [piece, score]; WordPiece / BPE: a dict)."""
    vocab = spec["model"]["vocab"]
    pieces = [""] * size
    if isinstance(vocab, list):
        items = ((i, p) for i, (p, _) in enumerate(vocab))
    else:
        items = ((i, p) for p, i in vocab.items())
    for i, p in items:
        if i < size:
            pieces[i] = p
    return pieces


def _written_in(piece: str, alphabet: set[str]) -> bool:
    """Whether every character of `piece` (word-boundary markers aside) occurs in `alphabet`."""
    return bool(piece) and all(ch in alphabet or ch in "▁Ġ#" for ch in piece)


def _remap_processor(proc: dict | None, new_id: dict[int, int]) -> None:
    if not proc:
        return
    kind = proc.get("type")
    if kind == "Sequence":
        for p in proc.get("processors", []):
            _remap_processor(p, new_id)
    elif kind == "TemplateProcessing":
        for token in proc.get("special_tokens", {}).values():
            token["ids"] = [new_id[i] for i in token["ids"]]
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            text, old = proc[key]
            proc[key] = [text, new_id[old]]


def trim_tokenizer_spec(spec: dict, kept: Sequence[int]) -> dict:
    """A copy of the tokenizers JSON holding only `kept` (old ids, ascending), renumbered 0..len-1."""
    spec = json.loads(json.dumps(spec))
    new_id = {old: new for new, old in enumerate(kept)}
    model = spec["model"]
    kind = model["type"]
    if kind == "Unigram":
        model["vocab"] = [model["vocab"][i] for i in kept]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    elif kind in ("WordPiece", "BPE"):
        by_id = {i: p for p, i in model["vocab"].items()}
        model["vocab"] = {by_id[i]: new_id[i] for i in kept if i in by_id}
        if kind == "BPE":
            keep = model["vocab"]
            merges = [m.split(" ", 1) if isinstance(m, str) else list(m) for m in model.get("merges", [])]
            model["merges"] = [m for m in merges if m[0] in keep and m[1] in keep and m[0] + m[1] in keep]
    for token in spec.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    _remap_processor(spec.get("post_processor"), new_id)
    if spec.get("padding") and spec["padding"].get("pad_id") is not None:
        spec["padding"]["pad_id"] = new_id.get(spec["padding"]["pad_id"], 0)
    return spec


def _wrap_tokenizer(backend, original):
    from transformers import PreTrainedTokenizerFast

    special = {k: v for k, v in original.special_tokens_map.items() if isinstance(v, str)}
    extra = list(getattr(original, "extra_special_tokens", None) or [])
    kwargs = {"extra_special_tokens": extra} if extra else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=original.model_max_length,
        model_input_names=list(original.model_input_names),
        padding_side=original.padding_side,
        truncation_side=original.truncation_side,
        **special,
        **kwargs,
    )


# ------------------------------------------------------------------------------------------------ the model


def trim_embeddings(model, kept: Sequence[int]) -> None:
    """Keep rows `kept` of the input embedding (and of any output embedding / vocabulary bias), in place."""
    import torch

    index = torch.as_tensor(list(kept), dtype=torch.long)
    new_id = {old: new for new, old in enumerate(kept)}
    old_emb = model.get_input_embeddings()
    old_rows = old_emb.weight.shape[0]
    if int(index.max()) >= old_rows:
        raise ModelError(f"the tokenizer has ids up to {int(index.max())} but the embedding only {old_rows} rows")
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is old_emb.weight
    pad = getattr(old_emb, "padding_idx", None)
    new_emb = torch.nn.Embedding(len(kept), old_emb.embedding_dim, padding_idx=new_id.get(pad) if pad is not None
                                 else None, dtype=old_emb.weight.dtype)
    with torch.no_grad():
        new_emb.weight.copy_(old_emb.weight[index])
    model.set_input_embeddings(new_emb)
    if out is not None:
        if tied:
            out.weight = new_emb.weight
        else:
            out.weight = torch.nn.Parameter(out.weight.detach()[index].clone())
        if getattr(out, "bias", None) is not None and out.bias.shape[0] == old_rows:
            out.bias = torch.nn.Parameter(out.bias.detach()[index].clone())
        out.out_features = len(kept)
    config = model.config
    config.vocab_size = len(kept)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id",
                "decoder_start_token_id"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            setattr(config, key, new_id.get(value))


def _n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _n_embedding_params(model) -> int:
    return model.get_input_embeddings().weight.numel()


# --------------------------------------------------------------------------------------------- the workflow


@dataclass
class TrimReport:
    model: str
    out: str
    tokenizer_model: str
    original_vocab_size: int  # embedding rows before
    original_tokenizer_size: int
    kept: int
    kept_detail: dict
    corpus: list[dict]
    corpus_tokens: int
    params_before: int
    params_after: int
    embedding_params_before: int
    embedding_params_after: int
    keep_top: int = 0
    kept_ids: list[int] = field(default_factory=list, repr=False)  # new id i was old id kept_ids[i]


def trim_vocabulary(
    model_name: str | os.PathLike,
    corpora: Iterable[str],
    out_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    keep_top: int = 0,
) -> TrimReport:
    """Trim a QA model folder's vocabulary to the pieces the corpora use; save the result to `out_dir`."""
    from destila.models.hub import load_qa_model, load_tokenizer, resolve_model

    corpora = list(corpora)
    if not corpora:
        raise ConfigError("corpus: give at least one --corpus (a dataset or a .txt file)")
    if keep_top < 0:
        raise ConfigError(f"keep_top: must be >= 0, got {keep_top}")
    out_dir = Path(out_dir)
    source = resolve_model(model_name)
    if out_dir.exists() and any(out_dir.iterdir()):
        if Path(source).exists() and out_dir.resolve() == Path(source).resolve():
            raise ConfigError("out: must differ from the model folder")
        raise ConfigError(f"out: {out_dir} exists and is not empty")

    tokenizer = load_tokenizer(model_name)
    spec = _tokenizer_json(tokenizer)
    backend = tokenizer.backend_tokenizer
    size = backend.get_vocab_size(with_added_tokens=True)
    counts = np.zeros(size, dtype=np.int64)
    parts, alphabet = [], set()
    for corpus in corpora:
        texts, kind = corpus_texts(corpus, data_dir)
        if not texts:
            raise DataError(f"{corpus}: no text")
        c = count_pieces(backend, texts, size)
        counts += c
        parts.append(CorpusPart(corpus, kind, len(texts), int(c.sum())))
        alphabet.update(*map(set, texts))
    kept, detail = select_ids(spec, tokenizer, counts, keep_top, alphabet)

    new_spec = trim_tokenizer_spec(spec, kept)
    from tokenizers import Tokenizer

    new_tokenizer = _wrap_tokenizer(Tokenizer.from_str(json.dumps(new_spec)), tokenizer)

    model = load_qa_model(model_name)
    rows_before = model.get_input_embeddings().weight.shape[0]
    params_before, emb_before = _n_params(model), _n_embedding_params(model)
    trim_embeddings(model, kept)

    previous = _read_record(Path(source)) if Path(source).is_dir() else None
    report = TrimReport(
        model=str(model_name),
        out=str(out_dir),
        tokenizer_model=spec["model"]["type"],
        original_vocab_size=rows_before,
        original_tokenizer_size=size,
        kept=len(kept),
        kept_detail=detail,
        corpus=[asdict(p) for p in parts],
        corpus_tokens=int(counts.sum()),
        params_before=params_before,
        params_after=_n_params(model),
        embedding_params_before=emb_before,
        embedding_params_after=_n_embedding_params(model),
        keep_top=keep_top,
        kept_ids=list(kept),
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    new_tokenizer.save_pretrained(out_dir)
    _copy_provenance(Path(source), out_dir)
    record = asdict(report)
    if previous:
        record["previous_trim"] = {k: v for k, v in previous.items() if k != "previous_trim"}
        record["original_ids"] = [previous["original_ids"][i] for i in kept]
    else:
        record["original_ids"] = list(kept)
    (out_dir / TRIM_RECORD).write_text(_dump_record(record), encoding="utf-8")
    _append_card(out_dir, report)
    return report


def _dump_record(record: dict) -> str:
    """Indented JSON, with the long id lists kept on one line each."""
    lists = {k: v for k, v in record.items() if k.endswith("_ids")}
    head = json.dumps({k: v for k, v in record.items() if k not in lists}, indent=1, ensure_ascii=False)
    tail = "".join(f',\n "{k}": {json.dumps(v, separators=(",", ":"))}' for k, v in lists.items())
    return head[:-2] + tail + "\n}\n"


def _read_record(folder: Path) -> dict | None:
    try:
        return json.loads((folder / TRIM_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _copy_provenance(source: Path, out_dir: Path) -> None:
    """Carry the model card and destila's records (not weights, tokenizer or the trim record) to the output."""
    if not source.is_dir():
        return
    for f in source.iterdir():
        if f.is_file() and (f.name == "README.md" or (f.name.startswith("destila_") and f.name != TRIM_RECORD)):
            shutil.copy2(f, out_dir / f.name)


def _append_card(out_dir: Path, r: TrimReport) -> None:
    card = out_dir / "README.md"
    text = card.read_text(encoding="utf-8") if card.exists() else f"# {Path(r.model).name} (vocabulary-trimmed)\n"
    corpus = ", ".join(f"`{p['spec']}` ({p['texts']:,} texts, {p['tokens']:,} tokens)" for p in r.corpus)
    d = r.kept_detail
    text = text.rstrip("\n") + f"""

## Vocabulary trimming (destila trim-vocab)

Trimmed from `{r.model}` to the pieces used by {corpus}.
Kept {r.kept:,} of {r.original_tokenizer_size:,} tokenizer pieces ({r.original_vocab_size:,} embedding rows before):
{d['used']:,} used by the corpus, {d['special']:,} special or added, {d['kept_for_tokenizer']:,} kept so the tokenizer
behaves the same, {d['top']:,} most likely others in the corpus's characters (`--keep-top {r.keep_top}`).
Parameters {r.params_before:,} -> {r.params_after:,} (embedding matrix {r.embedding_params_before:,} ->
{r.embedding_params_after:,}).

Kept pieces keep their order and their embedding rows: on text made of kept pieces the outputs are unchanged. Other
text falls back to smaller kept pieces or the unknown token. `{TRIM_RECORD}` lists, for each new id, its id in the
original vocabulary (`original_ids`).
"""
    card.write_text(text, encoding="utf-8")
