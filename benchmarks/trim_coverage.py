"""How much of Spanish text a trimmed vocabulary covers: for each choice of trimming corpora, the pieces kept and
the share of tokens (as the untrimmed tokenizer splits the text) whose piece a trimmed model would no longer have,
on the eval fold and on the embedded sample (original Spanish, another source than the translated training data).

Nothing is trained or trimmed on disk: the kept set is computed as `destila trim-vocab` computes it
(`destila.models.trim.select_ids`), and the parameter count is the untrimmed model's minus the dropped embedding rows.

    DESTILA_DATA_DIR=../shared/data python benchmarks/trim_coverage.py --model runs/demo/student \\
        --choice "train=squad-es-v1.1:dev-small@train" \\
        --choice "train+wordfreq100k=squad-es-v1.1:dev-small@train,wordfreq:es:100000"

Writes docs/benchmarks/trim_coverage.md and .json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from destila.models.hub import load_qa_model, load_tokenizer
from destila.models.trim import _tokenizer_json, corpus_texts, count_pieces, select_ids

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHOICES = [
    "train=squad-es-v1.1:dev-small@train",
    "train+wordfreq100k=squad-es-v1.1:dev-small@train,wordfreq:es:100000",
    "train+wordfreq100k+top3000=squad-es-v1.1:dev-small@train,wordfreq:es:100000;3000",
    "train+wordfreq150k=squad-es-v1.1:dev-small@train,wordfreq:es:150000",
]


def missing_share(backend, texts: list[str], kept: np.ndarray) -> float:
    total = missing = 0
    for enc in backend.encode_batch(texts, add_special_tokens=False):
        ids = np.asarray(enc.ids, dtype=np.int64)
        total += len(ids)
        missing += int((~kept[ids]).sum())
    return 100.0 * missing / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the untrimmed model folder (its tokenizer and size)")
    parser.add_argument("--choice", action="append", default=None,
                        help="NAME=CORPUS[,CORPUS...][;KEEP_TOP] (repeatable; default: the four of this script)")
    parser.add_argument("--data", action="append", default=None, help="text to check (default: eval fold, sample)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "trim_coverage"))
    args = parser.parse_args()
    choices = args.choice or DEFAULT_CHOICES
    data = args.data or ["squad-es-v1.1:dev-small@eval", "sample"]

    tokenizer = load_tokenizer(args.model)
    backend, spec = tokenizer.backend_tokenizer, _tokenizer_json(tokenizer)
    size = backend.get_vocab_size(with_added_tokens=True)
    model = load_qa_model(args.model)
    params = sum(p.numel() for p in model.parameters())
    width = model.get_input_embeddings().weight.shape[1]
    rows_before = model.get_input_embeddings().weight.shape[0]
    checked = {d: corpus_texts(d)[0] for d in data}  # unique contexts and questions
    rows = []
    for choice in choices:
        name, _, rest = choice.partition("=")
        corpora, _, top = rest.partition(";")
        counts, alphabet = np.zeros(size, dtype=np.int64), set()
        for corpus in corpora.split(","):
            texts, _ = corpus_texts(corpus)
            counts += count_pieces(backend, texts, size)
            alphabet.update(*map(set, texts))
        kept_ids, _ = select_ids(spec, tokenizer, counts, int(top or 0), alphabet)
        kept = np.zeros(size, dtype=bool)
        kept[kept_ids] = True
        row = {"name": name, "corpora": corpora.split(","), "keep_top": int(top or 0), "kept": len(kept_ids),
               "parameters": params - (rows_before - len(kept_ids)) * width}
        row["missing_percent"] = {d: round(missing_share(backend, t, kept), 3) for d, t in checked.items()}
        rows.append(row)
        print(json.dumps(row), flush=True)
    lines = ["# Trimmed vocabularies: pieces kept and Spanish text they no longer cover", "",
             f"Model: `{args.model}` ({params / 1e6:.1f} M parameters, {rows_before:,} embedding rows). Command: "
             "`DESTILA_DATA_DIR=../shared/data python benchmarks/trim_coverage.py --model MODEL`.", "",
             "| choice | corpora | keep top | pieces kept | parameters | " + " | ".join(
                 f"% tokens dropped, {d}" for d in data) + " |",
             "|---|---|---:|---:|---:|" + "---:|" * len(data)]
    for r in rows:
        lines.append(f"| {r['name']} | {', '.join(r['corpora'])} | {r['keep_top']} | {r['kept']:,} "
                     f"| {r['parameters'] / 1e6:.1f} M | "
                     + " | ".join(f"{r['missing_percent'][d]:.2f}" for d in data) + " |")
    lines += ["", "% tokens dropped: tokens of the untrimmed tokenizer whose piece the trimmed vocabulary lacks (the "
              "trimmed tokenizer splits them into smaller kept pieces instead).", ""]
    out = Path(args.out)
    out.with_suffix(".md").write_text("\n".join(lines), "utf-8")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2), "utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
