"""Speed, size, memory and quality of several models, or backends of one model, on the same questions in one run.

Every (model, backend) pair is measured: `--model A --model B --backend torch --backend openvino` gives four rows.
Each pair lives in its own worker process (memory is measured there, as the RSS growth from loading and
running it). Workers take turns: every round runs the latency and throughput passes of each model in
turn, so slow drifts of the machine (heat, other load) fall on all models alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from destila.errors import DestilaError, ModelError
from destila.models.size import folder_parameters, model_files_bytes


def _dataset_file(dataset, path: Path) -> None:
    examples = [
        {
            "id": ex.id,
            "question": ex.question,
            "context": ex.context,
            "answers": [{"text": a.text, "start": a.start} for a in ex.answers],
            "is_impossible": ex.is_impossible,
        }
        for ex in dataset.examples
    ]
    path.write_text(
        json.dumps({"version": dataset.version, "name": dataset.name, "examples": examples}), encoding="utf-8"
    )


class Worker:
    """A `destila.bench.worker` process holding one model."""

    def __init__(self, model: str, timeout: float = 3600.0):
        self.model = model
        self.timeout = timeout
        env = dict(os.environ)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "destila.bench.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=env,
        )
        self._stderr_tail: list[str] = []

    def call(self, **cmd) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise ModelError(f"bench worker for {self.model!r} died during {cmd['op']!r}: {err[-2000:]}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise ModelError(f"bench of {self.model!r} failed during {cmd['op']!r}: {reply.get('error')}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call(op="quit")
            except (ModelError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


def _percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q)) if values else float("nan")


def expand(models: list, backends) -> list[list[tuple[str, str]]]:
    """The (model, backend) pairs each entry of `models` stands for: a folder under every backend, a
    (folder, backend) pair under its own backend only."""
    return [[(str(m[0]), m[1])] if isinstance(m, (tuple, list)) else [(str(m), b) for b in backends] for m in models]


def measure_models(
    models: list,
    dataset,
    *,
    repeats: int = 3,
    latency_questions: int = 50,
    batch_size: int = 16,
    threads: int | None = None,
    backends: list[str] | tuple[str, ...] = ("auto",),
    progress=None,
) -> list[dict]:
    """Raw measurements of every (model, backend) pair, models outermost (no scoring); see `run_bench`."""
    from destila.models.hub import resolve_model

    if not models:
        raise DestilaError("bench needs at least one --model")
    if not backends:
        raise DestilaError("bench needs at least one --backend")
    if not dataset.examples:
        raise DestilaError(f"dataset {dataset.name!r} holds no questions")
    if repeats < 1:
        raise DestilaError("repeats must be at least 1")
    say = progress or (lambda _msg: None)
    rows = []
    for entry, pairs in zip(models, expand(models, backends)):
        folder = resolve_model(pairs[0][0])
        if Path(folder).is_dir() and model_files_bytes(folder) == 0:
            raise ModelError(f"model {entry!r}: no weights (*.safetensors, model.onnx, openvino_model.xml) in {folder}")
        rows += [
            {"model": m, "folder": folder, "asked_backend": b, "latency_s": [], "throughput_s": []} for m, b in pairs
        ]
    n_latency = max(1, min(latency_questions, len(dataset.examples)))
    with tempfile.TemporaryDirectory(prefix="destila-bench-") as tmp:
        data_file = Path(tmp) / "questions.json"
        _dataset_file(dataset, data_file)
        workers: list[Worker] = []
        try:
            for row in rows:
                workers.append(Worker(row["folder"]))
            for row, worker in zip(rows, workers):
                say(f"loading {row['model']} ({row['asked_backend']})")
                loaded = worker.call(
                    op="load",
                    model=row["folder"],
                    data=str(data_file),
                    threads=threads,
                    batch_size=batch_size,
                    backend=row["asked_backend"],
                )
                row["load_seconds"], row["backend"] = loaded["load_seconds"], loaded["backend"]
            _measure(rows, workers, repeats, n_latency, say)
        finally:
            for worker in workers:
                worker.close()
    for row in rows:
        row["parameters"] = folder_parameters(row["folder"])
        row["disk_bytes"] = model_files_bytes(row["folder"])
        row["latency_questions"] = n_latency
        row["questions"] = len(dataset)
    return rows


def _measure(rows: list[dict], workers: list[Worker], repeats: int, n_latency: int, say) -> None:
    """Quality once, then `repeats` rounds that take every worker in turn, then each worker's memory."""
    for row, worker in zip(rows, workers):
        say(f"answering every question with {row['model']} ({row['backend']})")
        row["scores"] = worker.call(op="quality")["metrics"]
    for r in range(repeats):
        for row, worker in zip(rows, workers):
            say(f"round {r + 1}/{repeats}: {row['model']} ({row['backend']})")
            row["latency_s"].extend(worker.call(op="latency", questions=n_latency)["seconds"])
            row["throughput_s"].append(worker.call(op="throughput")["seconds"])
    for row, worker in zip(rows, workers):
        row["memory"] = worker.call(op="memory")


def _row(name: str, r: dict) -> dict:
    """One report row from a worker's raw measurements."""
    official = r["scores"]["official"]
    throughputs = [r["questions"] / s for s in r["throughput_s"]]
    mem = r["memory"]
    return {
        "name": name,
        "model": r["model"],
        "backend": r["backend"],
        "parameters": r["parameters"],
        "disk_bytes": r["disk_bytes"],
        "memory_bytes": max(0, mem["peak_rss"] - mem["baseline_rss"]),
        "peak_rss_bytes": mem["peak_rss"],
        "latency_p50_ms": _percentile_ms(r["latency_s"], 50),
        "latency_p95_ms": _percentile_ms(r["latency_s"], 95),
        "latency_samples": len(r["latency_s"]),
        "throughput_qps": float(np.median(throughputs)),
        "throughput_runs_qps": throughputs,
        "exact": float(official.get("exact_match", official.get("exact", 0.0))),
        "f1": float(official.get("f1", 0.0)),
        "scores": r["scores"],
        "load_seconds": r["load_seconds"],
    }


def run_bench(
    models: list,
    dataset,
    out_dir: str | os.PathLike | None = None,
    *,
    repeats: int = 3,
    latency_questions: int = 50,
    batch_size: int = 16,
    threads: int | None = None,
    backends: list[str] | tuple[str, ...] = ("auto",),
    names: list[str] | None = None,
    progress=None,
) -> dict:
    """Measure every model under every backend on `dataset` and (with `out_dir`) write report.json, report.md
    and f1_vs_throughput.png.

    Returns {"dataset", "questions", "settings", "models": [row, ...], "files"}; a row (one per model and
    backend, models outermost) holds name, model, backend (the runner that ran, `auto` resolved), parameters,
    disk_bytes, memory_bytes, latency_p50_ms, latency_p95_ms, throughput_qps, exact, f1, speedup (throughput /
    the first row's) and latency_speedup. `names` name the models; with several backends each row's name is
    "NAME (BACKEND)". An entry of `models` may also be a (folder, backend) pair: that folder runs under that
    backend only.
    """
    started = time.perf_counter()
    raw = measure_models(
        models,
        dataset,
        repeats=repeats,
        latency_questions=latency_questions,
        batch_size=batch_size,
        threads=threads,
        backends=backends,
        progress=progress,
    )
    names = names or _short_names([pairs[0][0] for pairs in expand(models, backends)])
    if len(names) != len(models):
        raise DestilaError("give one name per model")
    per_row = [(name, len(pairs) > 1) for name, pairs in zip(names, expand(models, backends)) for _ in pairs]
    labels = [f"{name} ({r['backend']})" if several else name for (name, several), r in zip(per_row, raw)]
    rows = [_row(name, r) for name, r in zip(labels, raw)]
    base = rows[0]
    for row in rows:
        row["speedup"] = row["throughput_qps"] / base["throughput_qps"] if base["throughput_qps"] else None
        row["latency_speedup"] = (
            base["latency_p50_ms"] / row["latency_p50_ms"] if row["latency_p50_ms"] else None
        )
    result = {
        "dataset": dataset.name,
        "version": dataset.version,
        "questions": len(dataset),
        "settings": {
            "repeats": repeats,
            "latency_questions": raw[0]["latency_questions"],
            "batch_size": batch_size,
            "threads": threads,
            "backends": list(backends),
            "cpu_count": os.cpu_count(),
        },
        "models": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if out_dir is not None:
        from destila.bench.report import write_reports

        result["files"] = write_reports(result, out_dir)
    return result


def _short_names(models: list[str]) -> list[str]:
    """Folder names, made unique with their parent folder when two are equal."""
    names = [Path(m.rstrip("/")).name or m for m in models]
    for i, n in enumerate(names):
        if names.count(n) > 1:
            p = Path(models[i].rstrip("/"))
            names[i] = f"{p.parent.name}/{p.name}"
    return names
