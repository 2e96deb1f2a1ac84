"""Where the loop's numbers go: `training_log.jsonl` (one JSON object per line) and TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path

LOG_FILE = "training_log.jsonl"


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
