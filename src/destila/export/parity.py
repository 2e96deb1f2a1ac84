"""Does the exported model answer like the PyTorch one? Logits on a few windows, answers on a held-out set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from destila.errors import DestilaError

PARITY_FILE = "parity.json"


class ParityError(DestilaError):
    """The exported model's answers drifted from the PyTorch model's beyond the allowed threshold."""

    exit_code = 3


def logits_difference(source: str, exported: str | os.PathLike, dataset, windows: int = 8) -> dict:
    """Largest |ONNX - PyTorch| start/end logit over the real (unpadded) tokens of a few windows."""
    import torch

    from destila.export.exporter import uses_token_type_ids
    from destila.export.runner import OnnxRunner
    from destila.models.hub import load_qa_model, load_tokenizer

    tokenizer = load_tokenizer(source)
    model = load_qa_model(source).eval()
    runner = OnnxRunner(exported)
    examples = dataset.examples[:windows]
    enc = tokenizer(
        [ex.question for ex in examples],
        [ex.context for ex in examples],
        truncation="only_second",
        max_length=min(384, getattr(model.config, "max_position_embeddings", 512) - 2),
        padding=True,
        return_tensors="np",
    )
    with_tt = uses_token_type_ids(tokenizer, model.config)
    feed = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    if with_tt:
        feed["token_type_ids"] = enc["token_type_ids"]
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in feed.items()})
    start, end = runner(**feed)
    mask = enc["attention_mask"].astype(bool)
    diff_start = np.abs(start - out.start_logits.numpy())[mask]
    diff_end = np.abs(end - out.end_logits.numpy())[mask]
    return {
        "windows": len(examples),
        "max_abs_start_logit_diff": float(diff_start.max()),
        "max_abs_end_logit_diff": float(diff_end.max()),
        "same_argmax_start": float(
            np.mean(
                np.argmax(np.where(mask, start, -1e9), 1)
                == np.argmax(np.where(mask, out.start_logits, -1e9), 1)
            )
        ),
    }


def check_parity(
    source: str,
    exported: str | os.PathLike,
    data: str,
    *,
    data_dir: str | os.PathLike | None = None,
    max_questions: int = 200,
    min_agreement: float = 0.9,
    max_f1_drop: float = 2.0,
    threads: int | None = None,
) -> dict:
    """Answer the same questions with both models; write `parity.json` into `exported`; raise on drift."""
    from destila.data import load_dataset
    from destila.infer.predictor import Predictor
    from destila.metrics import score

    dataset = load_dataset(data, data_dir=data_dir)
    if max_questions and len(dataset.examples) > max_questions:
        dataset.examples = dataset.examples[:max_questions]
    if not dataset.examples:
        raise DestilaError(f"parity data {data!r} holds no questions")

    results = {}
    answers = {}
    for label, folder in (("pytorch", source), ("onnx", str(exported))):
        predictor = Predictor.from_pretrained(folder, threads=threads)
        predictions, null_odds = predictor.predict_dataset(dataset, progress=False)
        answers[label] = predictions
        results[label] = score(dataset, predictions, null_odds)["official"]
    ids = [ex.id for ex in dataset.examples]
    same = sum(answers["pytorch"].get(i) == answers["onnx"].get(i) for i in ids)
    agreement = same / len(ids)
    f1_drop = float(results["pytorch"].get("f1", 0.0)) - float(results["onnx"].get("f1", 0.0))
    report = {
        "data": data,
        "questions": len(ids),
        "pytorch": results["pytorch"],
        "onnx": results["onnx"],
        "identical_answers": same,
        "agreement": agreement,
        "f1_drop": f1_drop,
        "logits": logits_difference(source, exported, dataset),
        "thresholds": {"min_agreement": min_agreement, "max_f1_drop": max_f1_drop},
        "differing_examples": [
            {"id": i, "pytorch": answers["pytorch"].get(i), "onnx": answers["onnx"].get(i)}
            for i in ids
            if answers["pytorch"].get(i) != answers["onnx"].get(i)
        ][:20],
    }
    report["passed"] = agreement >= min_agreement and f1_drop <= max_f1_drop
    Path(exported, PARITY_FILE).write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    if not report["passed"]:
        raise ParityError(
            f"the exported model drifted from the PyTorch model on {len(ids)} questions of {data!r}: "
            f"{agreement:.1%} identical answers (minimum {min_agreement:.1%}), F1 "
            f"{results['pytorch'].get('f1', 0.0):.2f} -> {results['onnx'].get('f1', 0.0):.2f} "
            f"(drop {f1_drop:.2f}, maximum {max_f1_drop:.2f}). See {Path(exported, PARITY_FILE)}; "
            "export without --int8, or loosen --min-agreement / --max-f1-drop."
        )
    return report
