"""What distillation adds over plain fine-tuning, at equal steps: on the eval fold of SQuAD-es v1.1-small, the same
student (the same teacher layers as its starting point, the same batches and steps) trained (a) on the gold labels
only and (b) distilled from the fine-tuned teacher; EM/F1 of the teacher, (a) and (b), and the cost of a
distillation step against a label-only one.

The teacher is the demo's (the offline multilingual-e5-small base fine-tuned on the train fold); complete stages of
an earlier `destila pipeline --config configs/demo.yaml` run in the same folder are reused.

    DESTILA_DATA_DIR=../shared/data python benchmarks/distill_gain.py [--config configs/demo.yaml] [--set k=v]

Writes docs/benchmarks/distill_gain.md and .json. `benchmarks/demo_quality.py` asks the same question at equal
wall-clock time instead of equal steps.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_quality import ROOT, main  # noqa: E402

if __name__ == "__main__":
    defaults = ["--match", "steps", "--out", str(ROOT / "docs" / "benchmarks" / "distill_gain")]
    sys.argv[1:1] = defaults  # later arguments given by the user win
    sys.exit(main())
