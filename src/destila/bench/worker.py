"""One model measured in its own process, so its memory is its own: `python -m destila.bench.worker`.

The parent (`destila.bench.measure`) writes one JSON command a line on stdin and reads one JSON reply a line
on stdout; anything else the libraries print goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time

from destila.memory import peak_resident_bytes, reset_peak, resident_bytes


def _dataset(path: str):
    from destila.data.types import Answer, QADataset, QAExample

    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    examples = [
        QAExample(
            id=e["id"],
            question=e["question"],
            context=e["context"],
            answers=[Answer(a["text"], a["start"]) for a in e["answers"]],
            is_impossible=e["is_impossible"],
        )
        for e in raw["examples"]
    ]
    return QADataset(examples=examples, version=raw["version"], name=raw["name"])


def main() -> None:
    reply_stream = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not corrupt the replies

    def reply(obj) -> None:
        reply_stream.write(json.dumps(obj) + "\n")
        reply_stream.flush()

    import numpy  # noqa: F401  (imports before the baseline: they are not the model's memory)
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from destila.evaluation import evaluate
    from destila.infer.predictor import Predictor

    predictor = dataset = None
    baseline = resident_bytes()
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            op = cmd["op"]
            if op == "load":
                dataset = _dataset(cmd["data"])
                reset_peak()
                baseline = resident_bytes()
                started = time.perf_counter()
                predictor = Predictor.from_pretrained(
                    cmd["model"],
                    threads=cmd.get("threads"),
                    batch_size=cmd.get("batch_size", 16),
                    backend=cmd.get("backend", "auto"),
                )
                ex = dataset.examples[0]
                predictor(question=ex.question, context=ex.context)  # warm-up: lazy init, allocator
                reply({"ok": True, "load_seconds": time.perf_counter() - started, "backend": predictor.runner.name})
            elif op == "quality":
                result = evaluate(predictor, dataset)
                reply({"ok": True, "metrics": result.metrics, "seconds": result.seconds})
            elif op == "latency":
                times = []
                for ex in dataset.examples[: cmd["questions"]]:
                    started = time.perf_counter()
                    predictor(question=ex.question, context=ex.context)
                    times.append(time.perf_counter() - started)
                reply({"ok": True, "seconds": times})
            elif op == "throughput":
                started = time.perf_counter()
                predictor.predict_dataset(dataset, progress=False)
                reply({"ok": True, "seconds": time.perf_counter() - started, "questions": len(dataset)})
            elif op == "memory":
                reply(
                    {"ok": True, "baseline_rss": baseline, "peak_rss": peak_resident_bytes(), "rss": resident_bytes()}
                )
            elif op == "quit":
                reply({"ok": True})
                return
            else:
                reply({"ok": False, "error": f"unknown op {op!r}"})
        except Exception as exc:  # noqa: BLE001  reported to the parent, which raises with the model's name
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    main()
