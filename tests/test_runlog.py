"""The training log's throughput-drift reading: the check that would catch a run slowing down, or its memory
growing, as it goes."""

import json
import subprocess
import sys
from pathlib import Path

from destila.train.runlog import read_log, throughput_drift

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput_drift.py"


def _records(rates: list[float], log_every: int = 10, tokens_per_step: float = 3000.0, rss=None) -> list[dict]:
    out = []
    for i, rate in enumerate(rates, start=1):
        out.append({"type": "train", "stage": "train", "stage_index": 0, "step": i * log_every,
                    "global_step": i * log_every, "epoch": i * log_every / 200, "tokens_per_s": rate,
                    "seconds_per_step": tokens_per_step / rate, "rss_mb": rss(i) if rss else 1000.0 + i})
    return out


def test_a_steady_run_has_ratio_one_and_a_declining_one_shows_it(tmp_path):
    steady = throughput_drift(_records([2000.0] * 44))
    assert steady[0]["steps"] == 440 and abs(steady[0]["ratio"] - 1.0) < 1e-9
    falling = throughput_drift(_records([1800.0] * 10 + [1400.0] * 24 + [1000.0] * 10))
    assert abs(falling[0]["first_tokens_per_s"] - 1800.0) < 1e-6
    assert abs(falling[0]["last_tokens_per_s"] - 1000.0) < 1e-6
    assert falling[0]["ratio"] < 0.9
    # memory: the first record, the first at or past 20% of the 440 steps (step 90: 1000 + 9) and the last one
    assert falling[0]["rss_mb_start"] == 1001.0
    assert falling[0]["rss_mb_at_20pct"] == 1009.0 and falling[0]["rss_mb_end"] == 1044.0
    assert abs(falling[0]["rss_growth"] - 1044 / 1009) < 1e-9 and not falling[0]["memory_grows"]


def test_tokens_per_second_are_weighted_by_time_and_stages_are_apart(tmp_path):
    records = _records([1000.0, 3000.0])  # 20 steps: 10 slow, 10 fast -> 3,000 tokens a step over 40 s
    records += [{**r, "stage_index": 1, "stage": "second"} for r in _records([500.0] * 3)]
    records.append({"type": "eval", "global_step": 20, "official_f1": 50.0})
    path = tmp_path / "training_log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    first, second = throughput_drift(read_log(tmp_path))
    assert abs(first["first_tokens_per_s"] - 60000 / 40) < 1e-6
    assert second["stage"] == "second" and second["steps"] == 30 and abs(second["ratio"] - 1.0) < 1e-9


def test_memory_may_grow_over_the_first_fifth_then_by_at_most_ten_percent(tmp_path):
    warming = throughput_drift(_records([2000.0] * 50, rss=lambda i: 3000.0 if i < 10 else 6000.0 + i))[0]
    assert warming["rss_mb_start"] == 3000.0 and warming["rss_mb_at_20pct"] == 6010.0
    assert not warming["memory_grows"]  # doubled over the first 100 of 500 steps, then flat: a settled stage
    growing = throughput_drift(_records([2000.0] * 50, rss=lambda i: 3000.0 + 40 * i))[0]
    assert growing["rss_mb_at_20pct"] == 3400.0 and growing["rss_mb_end"] == 5000.0 and growing["memory_grows"]
    older = throughput_drift([{k: v for k, v in r.items() if k != "rss_mb"} for r in _records([2000.0] * 5)])[0]
    assert older["rss_mb_end"] is None and not older["memory_grows"]  # logs written before rss_mb was logged


def _drift_script(tmp_path, records: list[dict]) -> subprocess.CompletedProcess:
    run = tmp_path / "run"
    run.mkdir(parents=True)
    (run / "training_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return subprocess.run([sys.executable, str(SCRIPT), str(run), "--out", str(tmp_path / "drift")],
                          capture_output=True, text=True, timeout=120)


def test_the_drift_script_fails_on_a_growing_stage_and_passes_a_flat_one(tmp_path):
    flat = _drift_script(tmp_path / "flat", _records([2000.0] * 50, rss=lambda i: 4000.0 + (i % 3)))
    assert flat.returncode == 0, flat.stderr
    rows = json.loads((tmp_path / "flat" / "drift.json").read_text())
    assert (rows[0]["rss_mb_start"], rows[0]["rss_mb_at_20pct"], rows[0]["rss_mb_end"]) == (4001.0, 4001.0, 4002.0)
    assert "| 4,001 | 4,001 | 4,002 | 1.00 |" in flat.stdout
    growing = _drift_script(tmp_path / "growing", _records([2000.0] * 50, rss=lambda i: 3000.0 + 40 * i))
    assert growing.returncode == 1 and "(grows)" in growing.stdout
    rows = json.loads((tmp_path / "growing" / "drift.json").read_text())
    assert rows[0]["memory_grows"] and rows[0]["rss_mb_end"] == 5000.0
