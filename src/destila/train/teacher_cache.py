"""The teacher's start/end logits stored on disk, one row per training window.

When a stage needs nothing from the teacher but its logits, the teacher runs once per window (the first time the
window is seen) and later epochs run the student only. Rows live in a numpy memmap keyed by window index, so
processes of a multi-process run share one file and each writes the windows it handles.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from destila.distill.outputs import QAOutputs


def cache_key(teacher_name: str, teacher_config: dict, input_ids: list[list[int]], max_length: int) -> str:
    """A fingerprint of everything the cached logits depend on."""
    h = hashlib.sha256()
    h.update(json.dumps({"teacher": teacher_name, "config": teacher_config, "max_length": max_length},
                        sort_keys=True, default=str).encode())
    for ids in input_ids:
        h.update(np.asarray(ids, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()[:16]


class TeacherLogitsCache:
    """(n_windows, 2, max_length) float32 logits plus a `filled` flag per window, in `folder`."""

    def __init__(self, folder: str | Path, n_windows: int, max_length: int, create: bool):
        self.folder = Path(folder)
        self.n_windows, self.max_length = n_windows, max_length
        logits_path, filled_path = self.folder / "logits.f32", self.folder / "filled.u8"
        if create and not filled_path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            np.memmap(logits_path, dtype=np.float32, mode="w+", shape=(n_windows, 2, max_length)).flush()
            np.memmap(filled_path, dtype=np.uint8, mode="w+", shape=(n_windows,)).flush()
        self.logits = np.memmap(logits_path, dtype=np.float32, mode="r+", shape=(n_windows, 2, max_length))
        self.filled = np.memmap(filled_path, dtype=np.uint8, mode="r+", shape=(n_windows,))

    def has(self, rows: np.ndarray) -> bool:
        return bool(self.filled[rows].all())

    def read(self, rows: np.ndarray, length: int, device) -> QAOutputs:
        block = torch.from_numpy(np.ascontiguousarray(self.logits[rows, :, :length])).to(device)
        return QAOutputs(start_logits=block[:, 0], end_logits=block[:, 1])

    def write(self, rows: np.ndarray, outputs: QAOutputs, attention_mask: torch.Tensor) -> None:
        """Store each window's logits over its own tokens; positions past them stay 0 (losses mask padding)."""
        start = outputs.start_logits.detach().float().cpu().numpy()
        end = outputs.end_logits.detach().float().cpu().numpy()
        lengths = attention_mask.sum(dim=1).cpu().numpy()
        width = start.shape[1]
        for j, row in enumerate(rows):
            n = width if width == self.max_length else int(lengths[j])
            self.logits[row, 0, :n] = start[j, :n]
            self.logits[row, 1, :n] = end[j, :n]
            self.logits[row, :, n:] = 0.0
        self.filled[rows] = 1

    def flush(self) -> None:
        self.logits.flush()
        self.filled.flush()

    def coverage(self) -> float:
        return float(self.filled.mean()) if self.n_windows else 1.0
