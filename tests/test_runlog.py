"""The training log's throughput-drift reading: the check that would catch a run slowing down as it goes."""

import json

from destila.train.runlog import read_log, throughput_drift


def _records(rates: list[float], log_every: int = 10, tokens_per_step: float = 3000.0) -> list[dict]:
    out = []
    for i, rate in enumerate(rates, start=1):
        out.append({"type": "train", "stage": "train", "stage_index": 0, "step": i * log_every,
                    "global_step": i * log_every, "epoch": i * log_every / 200, "tokens_per_s": rate,
                    "seconds_per_step": tokens_per_step / rate, "rss_mb": 1000.0 + i})
    return out


def test_a_steady_run_has_ratio_one_and_a_declining_one_shows_it(tmp_path):
    steady = throughput_drift(_records([2000.0] * 44))
    assert steady[0]["steps"] == 440 and abs(steady[0]["ratio"] - 1.0) < 1e-9
    falling = throughput_drift(_records([1800.0] * 10 + [1400.0] * 24 + [1000.0] * 10))
    assert abs(falling[0]["first_tokens_per_s"] - 1800.0) < 1e-6
    assert abs(falling[0]["last_tokens_per_s"] - 1000.0) < 1e-6
    assert falling[0]["ratio"] < 0.9
    # memory: the first record at or past one epoch (step 200: 1000 + 20) and the last one (1000 + 44)
    assert falling[0]["rss_mb_after_first_epoch"] == 1020.0 and falling[0]["rss_mb_end"] == 1044.0


def test_tokens_per_second_are_weighted_by_time_and_stages_are_apart(tmp_path):
    records = _records([1000.0, 3000.0])  # 20 steps: 10 slow, 10 fast -> 3,000 tokens a step over 40 s
    records += [{**r, "stage_index": 1, "stage": "second"} for r in _records([500.0] * 3)]
    records.append({"type": "eval", "global_step": 20, "official_f1": 50.0})
    path = tmp_path / "training_log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    first, second = throughput_drift(read_log(tmp_path))
    assert abs(first["first_tokens_per_s"] - 60000 / 40) < 1e-6
    assert second["stage"] == "second" and second["steps"] == 30 and abs(second["ratio"] - 1.0) < 1e-9
