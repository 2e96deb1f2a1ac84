"""Progress where output is not a terminal: a line at least every minute or every 10% of the steps, with the step,
the loss, tokens/s and the time left; checked on a fake clock and on a tiny training run."""

from __future__ import annotations

import re

from rich.progress import Progress

from destila.train.loop import LineProgress, progress_bar
from destila.train.recipe import run_train
from test_train_loop import qa_file, teacher_dir, train_cfg  # noqa: F401 (fixtures)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(total: int, seconds_per_step: float, start: int = 0, log_every: int = 10):
    clock, lines = FakeClock(), []
    progress = LineProgress(clock=clock, write=lines.append)
    printed_at = []
    with progress:
        task = progress.add_task("student", total=total, completed=start)
        for step in range(start, total):
            clock.now += seconds_per_step
            if (step + 1) % log_every == 0:
                progress.update(task, description="student loss 1.5", loss=2.0 - step / total,
                                tokens_per_s=1234.5)
            before = len(lines)
            progress.advance(task)
            if len(lines) > before:
                printed_at.append((step + 1, clock.now))
    return lines, printed_at


def test_quick_steps_print_every_tenth_of_the_run():
    lines, printed = _run(total=200, seconds_per_step=0.5)
    assert [step for step, _ in printed] == list(range(20, 201, 20))
    assert lines[0].startswith("student: step 20/200 (10%)")
    assert "loss 1.9050" in lines[0] and "1,234 tokens/s" in lines[0]
    # 20 steps took 10 s: 180 steps left take 90 s
    assert "0:00:10 elapsed" in lines[0] and "about 0:01:30 left" in lines[0]
    assert lines[-1].startswith("student: step 200/200 (100%)") and "left" not in lines[-1]


def test_slow_steps_print_at_least_every_minute():
    lines, printed = _run(total=1000, seconds_per_step=7.0)
    times = [1000.0] + [t for _, t in printed]
    assert max(b - a for a, b in zip(times, times[1:])) <= 60 + 7.0
    assert printed[-1][0] == 1000
    step, t = printed[0]
    assert step == 9 and f"about {_hms(7.0 * (1000 - 9))} left" in lines[0]
    assert "loss" not in lines[0]  # no loss logged before step 10: none printed


def test_a_resumed_stage_estimates_from_its_own_steps():
    lines, printed = _run(total=100, seconds_per_step=2.0, start=50)
    assert printed[0][0] == 60 and lines[0].startswith("student: step 60/100 (60%)")
    assert "about 0:01:20 left" in lines[0]  # 10 steps in 20 s, 40 to go


def test_the_bar_on_a_terminal_and_lines_elsewhere():
    assert progress_bar(False) is None
    assert isinstance(progress_bar(True, terminal=True), Progress)
    assert isinstance(progress_bar(True, terminal=False), LineProgress)


def test_a_training_run_writing_to_a_file_prints_progress_lines(teacher_dir, qa_file, tmp_path, capsys):  # noqa: F811
    run_train(train_cfg(qa_file, tmp_path / "run", model=str(teacher_dir), max_steps=20, log_every=5,
                        progress=True))
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if re.match(r"^\S+: step \d+/20 ", line)]
    assert [int(re.search(r"step (\d+)/", line).group(1)) for line in lines] == [2, 4, 6, 8, 10, 12, 14, 16, 18,
                                                                                  20]
    assert all(re.search(r"loss \d+\.\d{4}, [\d,]+ tokens/s", line) for line in lines[2:])
    assert all("left" in line for line in lines[:-1])


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
