"""`destila evaluate --protocol authors` on real models, against a re-implementation of the SpanishTinyRoBERTa
authors' evaluation.py written here from its rules (no destila code in the decoding), and what their last-partial-
batch slip and destila's own decoding change.

For each model: the first N questions of the data (their protocol: the first 200 of dev-v1.1-es_small), windows of
384 tokens with stride 128 padded to 384, the question stripped and never cut, the model given input_ids and
attention_mask only; per window the first arg-max of the start logits and of the end logits over every position,
kept when start <= end and the span is at most 30 tokens, the text cut from the context at those tokens' offsets,
the score their sum; the best window per question, "" when none keeps a pair.

    DESTILA_DATA_DIR=../shared/data python benchmarks/authors_protocol.py runs/demo/teacher runs/demo/student-trimmed

Writes docs/benchmarks/authors_protocol.md and .json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from runlogs import save_result

from destila.data import load_dataset
from destila.evaluation import Protocol, evaluate
from destila.hardware import cpu_name
from destila.metrics import score

ROOT = Path(__file__).resolve().parents[1]
MAX_LENGTH, STRIDE, MAX_ANSWER = 384, 128, 30


def reference_answers(model_dir: str, questions: list[str], contexts: list[str], batch: int = 16) -> list[str]:
    """Their rules, written out: one loop per window, first arg-max, no shared code with destila's decoder."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
    enc = tokenizer([q.strip() for q in questions], contexts, max_length=MAX_LENGTH, truncation="only_second",
                    stride=STRIDE, return_overflowing_tokens=True, return_offsets_mapping=True,
                    padding="max_length")
    ids, mask = np.array(enc["input_ids"]), np.array(enc["attention_mask"])
    starts, ends = [], []
    with torch.inference_mode():
        for i in range(0, len(ids), batch):
            out = model(input_ids=torch.tensor(ids[i:i + batch]), attention_mask=torch.tensor(mask[i:i + batch]))
            starts.append(out.start_logits.numpy())
            ends.append(out.end_logits.numpy())
    starts, ends = np.concatenate(starts), np.concatenate(ends)
    best: dict[int, tuple[float, str]] = {}
    for w in range(len(starts)):
        q = enc["overflow_to_sample_mapping"][w]
        s, e = int(np.argmax(starts[w])), int(np.argmax(ends[w]))
        if e < s or e - s + 1 > MAX_ANSWER:
            continue
        value = float(starts[w][s] + ends[w][e])
        offsets = enc["offset_mapping"][w]
        if q not in best or value > best[q][0]:
            best[q] = (value, contexts[q][offsets[s][0]:offsets[e][1]])
    return [best[q][1] if q in best else "" for q in range(len(questions))]


def run(args) -> dict:
    dataset = load_dataset(args.data).head(args.first)
    questions = [ex.question for ex in dataset.examples]
    contexts = [ex.context for ex in dataset.examples]
    rows = []
    for model in args.models:
        authors = evaluate(model, dataset, protocol=Protocol("authors"), max_seq_len=MAX_LENGTH, doc_stride=STRIDE,
                           threads=args.threads)
        slipped = evaluate(model, dataset, protocol=Protocol("authors", slip_batch_size=64), max_seq_len=MAX_LENGTH,
                           doc_stride=STRIDE, threads=args.threads)
        ours = evaluate(model, dataset, threads=args.threads)
        ref = reference_answers(model, questions, contexts)
        ref_scores = score(dataset, dict(zip([ex.id for ex in dataset.examples], ref)))["official"]
        same = sum(authors.predictions[ex.id] == r for ex, r in zip(dataset.examples, ref))
        empty = sum(r == "" for r in ref)
        rows.append({
            "model": model, "questions": len(dataset),
            "agreement": same / len(dataset), "empty_answers": empty,
            "authors": _f1(authors.metrics), "reference": {"f1": ref_scores["f1"], "em": ref_scores["exact_match"]},
            "authors_slip_64": _f1(slipped.metrics), "destila": _f1(ours.metrics),
            "same_as_destila": sum(authors.predictions[k] == ours.predictions[k] for k in authors.predictions),
        })
    return {"script": Path(sys.argv[0]).name, "cpu": cpu_name(), "data": args.data, "first": args.first,
            "rows": rows}


def _f1(metrics: dict) -> dict:
    official = metrics["official"]
    return {"f1": official["f1"], "em": official["exact_match"]}


def markdown(result: dict) -> str:
    lines = ["# The authors' evaluation, exactly: destila's `--protocol authors` against their rules written out", "",
             f"Command: `DESTILA_DATA_DIR=../shared/data python benchmarks/{result['script']} "
             f"{' '.join(r['model'] for r in result['rows'])}` on {result['cpu']}; the first {result['first']} "
             f"questions of `{result['data']}`.", "",
             "| model | same answer as the re-implementation | their F1 / EM (re-implementation) | `--protocol "
             "authors` F1 / EM | with their partial-batch slip (64) | destila's decoding F1 / EM | answers \"\" |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {100 * r['agreement']:.1f}% | {r['reference']['f1']:.2f} / {r['reference']['em']:.2f} "
            f"| {r['authors']['f1']:.2f} / {r['authors']['em']:.2f} | {r['authors_slip_64']['f1']:.2f} / "
            f"{r['authors_slip_64']['em']:.2f} | {r['destila']['f1']:.2f} / {r['destila']['em']:.2f} | "
            f"{r['empty_answers']} |")
    lines += ["", "The slip: their evaluation.py writes the last partial batch of windows at offset "
              "`batch_id * len(start_logits)`, so some windows are scored from other windows' logits and the last "
              "ones from never-written (here: zero) logits; `--partial-batch-slip 64` reproduces it.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", default="squad-es-v1.1:dev-small")
    parser.add_argument("--first", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "authors_protocol"))
    args = parser.parse_args()
    print(save_result(Path(args.out), run(args), markdown))


if __name__ == "__main__":
    main()
