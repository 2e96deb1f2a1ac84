"""Where the loop's numbers go: `training_log.jsonl` (one JSON object per line) and TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path

from destila import files

LOG_FILE = files.TRAINING_LOG


class RunLog:
    """Appends records to the JSONL log and mirrors their numbers to TensorBoard. Main process only."""

    def __init__(self, output_dir: Path, enabled: bool, tensorboard: bool = True):
        self.enabled = enabled
        self.path = output_dir / LOG_FILE
        self.records: list[dict] = []
        self._writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the `tensorboard` extra is not installed: training_log.jsonl alone
                SummaryWriter = None
            if SummaryWriter is not None:
                self._writer = SummaryWriter(log_dir=str(output_dir / "tensorboard"))

    def truncate_after(self, stage_index: int, step: int) -> None:
        """Drop records a killed run wrote after the checkpoint it is resumed from."""
        if not self.enabled or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if (rec.get("stage_index", 0), rec.get("step", 0)) <= (stage_index, step):
                kept.append(rec)
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        self.records = kept

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.records.append(record)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if self._writer is not None:
            prefix = record.get("type", "train")
            x = record.get("global_step", 0)
            for key, value in record.items():
                if key in ("global_step", "step", "stage_index", "type") or isinstance(value, bool):
                    continue
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(f"{prefix}/{key}", value, x)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_log(folder: Path) -> list[dict]:
    """The records of a run's training_log.jsonl."""
    path = Path(folder) / LOG_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


MEMORY_SETTLED = 0.2  # a stage's memory may grow over its first 20% of steps (each new batch shape, first seen) ...
MAX_MEMORY_GROWTH = 1.1  # ... and then by at most 10% to its end


def throughput_drift(records: list[dict], window: int = 100) -> list[dict]:
    """Per stage: tokens/s over its first and its last `window` optimiser steps, and resident memory (the `rss_mb`
    the loop logs) at its first record, at 20% of its steps and at its end. A steady run has a ratio near 1 and a
    memory growth (end / at 20%) at most MAX_MEMORY_GROWTH."""
    stages: dict[int, list[dict]] = {}
    for r in records:
        if r.get("type") == "train" and "tokens_per_s" in r:
            stages.setdefault(r.get("stage_index", 0), []).append(r)
    out = []
    for index, rows in sorted(stages.items()):
        spans, previous = [], 0  # each record covers the steps since the one before
        for r in rows:
            steps = r["step"] - previous
            previous = r["step"]
            seconds = steps * r["seconds_per_step"]
            spans.append((r["step"], seconds, r["tokens_per_s"] * seconds, r))
        last = spans[-1][0]
        first = [s for s in spans if s[0] <= window]
        tail = [s for s in spans if s[0] > last - window]
        start, end = _rate(first), _rate(tail)
        out.append({
            "stage": rows[0].get("stage", str(index)),
            "steps": last,
            "first_tokens_per_s": start,
            "last_tokens_per_s": end,
            "ratio": end / start if start else None,
            **memory_growth(rows),
        })
    return out


def memory_growth(rows: list[dict]) -> dict:
    """Resident memory of one stage's train records: at the first, at the first at or past 20% of the stage's
    steps, at the last; `rss_growth` = last / at 20% and `memory_grows` when it is above MAX_MEMORY_GROWTH (None
    without `rss_mb`, as in logs of older versions)."""
    logged = [(r["step"], r["rss_mb"]) for r in rows if "rss_mb" in r]
    if not logged:
        return {"rss_mb_start": None, "rss_mb_at_20pct": None, "rss_mb_end": None, "rss_growth": None,
                "memory_grows": False}
    settled = next(mb for step, mb in logged if step >= MEMORY_SETTLED * logged[-1][0])
    growth = logged[-1][1] / settled if settled else None
    return {"rss_mb_start": logged[0][1], "rss_mb_at_20pct": settled, "rss_mb_end": logged[-1][1],
            "rss_growth": growth, "memory_grows": growth is not None and growth > MAX_MEMORY_GROWTH}


def _rate(spans: list[tuple]) -> float:
    seconds = sum(s[1] for s in spans)
    return sum(s[2] for s in spans) / seconds if seconds else 0.0
