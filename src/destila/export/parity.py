"""Step 3 of the export: does the exported model answer like the PyTorch one? Logits on a few windows, answers
on held-out questions (through `destila.evaluation`, as every score in destila)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from destila import files
from destila.errors import ConfigError, DestilaError
from destila.export.options import ExportOptions

MAX_LISTED_DIFFERENCES = 20


class ParityError(DestilaError):
    """The exported model's answers drifted from the PyTorch model's beyond the allowed threshold."""

    exit_code = 3


def logits_difference(source: str, exported: str | os.PathLike, dataset, windows: int = 8) -> dict:
    """Largest |exported - PyTorch| start/end logit over the real (unpadded) tokens of a few windows."""
    from destila.infer.runners import make_runner
    from destila.models.hub import load_tokenizer

    tokenizer = load_tokenizer(source)
    torch_runner = make_runner(source, backend="torch")
    exported_runner = make_runner(exported)
    examples = dataset.head(windows).examples
    enc = tokenizer(
        [ex.question for ex in examples],
        [ex.context for ex in examples],
        truncation="only_second",
        max_length=min(384, getattr(torch_runner.model.config, "max_position_embeddings", 512) - 2),
        padding=True,
        return_tensors="np",
    )
    ids, mask = (np.asarray(enc[k], dtype=np.int64) for k in ("input_ids", "attention_mask"))
    types = np.asarray(enc["token_type_ids"], dtype=np.int64) if "token_type_ids" in enc else None
    ref_start, ref_end = torch_runner(ids, mask, types)
    start, end = exported_runner(ids, mask, types)
    keep = mask.astype(bool)
    return {
        "windows": len(examples),
        "max_abs_start_logit_diff": float(np.abs(start - ref_start)[keep].max()),
        "max_abs_end_logit_diff": float(np.abs(end - ref_end)[keep].max()),
        "same_argmax_start": float(
            np.mean(np.argmax(np.where(keep, start, -1e9), 1) == np.argmax(np.where(keep, ref_start, -1e9), 1))
        ),
    }


def check_parity(source: str, exported: str | os.PathLike, options: ExportOptions | None = None) -> dict:
    """Answer the same questions with both models; write `parity.json` into `exported`; raise on drift.

    The exported folder runs on the backend `auto` picks for it (`onnx`, `openvino`); parity.json names it under
    "backend" and holds its scores under that name. The questions are the first `options.parity_max_questions`
    of `options.parity_data`; the check fails when fewer than `options.agreement_needed` of the answers are
    identical or the official F1 falls by more than `options.max_f1_drop` points (`ParityError`, raised after
    `parity.json` is written).
    """
    from destila.data import load_dataset
    from destila.evaluation import evaluate
    from destila.infer.runners import detect_backend
    from destila.models.hub import resolve_model

    options = options or ExportOptions()
    data = options.parity_data
    if not data:
        raise ConfigError("the parity check needs held-out questions: set parity_data")
    dataset = load_dataset(data, data_dir=options.data_dir).head(options.parity_max_questions)
    if not dataset.examples:
        raise DestilaError(f"parity data {data!r} holds no questions")
    backend = detect_backend(resolve_model(str(exported)))
    results = {
        label: evaluate(folder, dataset, backend=name, threads=options.threads)
        for label, folder, name in (("pytorch", source, "torch"), (backend, str(exported), backend))
    }
    report = _report(data, dataset, results, logits_difference(source, exported, dataset), options)
    path = Path(exported, files.PARITY)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not report["passed"]:
        raise ParityError(
            f"the exported model drifted from the PyTorch model on {report['questions']} questions of {data!r}: "
            f"{report['agreement']:.1%} identical answers (minimum {options.agreement_needed:.1%}), F1 "
            f"{report['pytorch'].get('f1', 0.0):.2f} -> {report[backend].get('f1', 0.0):.2f} "
            f"(drop {report['f1_drop']:.2f}, maximum {options.max_f1_drop:.2f}). See {path}; "
            "export to a float target (onnx, openvino), or loosen --min-agreement / --max-f1-drop."
        )
    return report


def _report(data: str, dataset, results: dict, logits: dict, options: ExportOptions) -> dict:
    """parity.json: both models' scores, how many answers agree, the logit gap and the verdict."""
    ids = [ex.id for ex in dataset.examples]
    backend = next(label for label in results if label != "pytorch")
    ours, theirs = results["pytorch"].predictions, results[backend].predictions
    same = sum(ours.get(i) == theirs.get(i) for i in ids)
    official = {label: result.metrics["official"] for label, result in results.items()}
    agreement = same / len(ids)
    f1_drop = float(official["pytorch"].get("f1", 0.0)) - float(official[backend].get("f1", 0.0))
    differing = [{"id": i, "pytorch": ours.get(i), backend: theirs.get(i)} for i in ids if ours.get(i) != theirs.get(i)]
    return {
        "data": data,
        "questions": len(ids),
        "backend": backend,
        "kind": options.kind,
        "pytorch": official["pytorch"],
        backend: official[backend],
        "identical_answers": same,
        "agreement": agreement,
        "f1_drop": f1_drop,
        "logits": logits,
        "thresholds": {"min_agreement": options.agreement_needed, "max_f1_drop": options.max_f1_drop},
        "differing_examples": differing[:MAX_LISTED_DIFFERENCES],
        "passed": agreement >= options.agreement_needed and f1_drop <= options.max_f1_drop,
    }
