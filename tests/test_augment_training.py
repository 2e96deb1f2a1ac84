"""Distilling on originals plus augmented copies: the copies' windows add no cross-entropy, and with the logits cache
the teacher runs once per window across epochs."""

# ruff: noqa: F811  (test functions take the imported teacher_dir fixture by name)
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from destila.augment import AugmentConfig, augment_dataset
from destila.config import DistillConfig, StageConfig, TrainConfig
from destila.data import load_dataset
from destila.distill import TERMS
from destila.train.batches import IGNORED_POSITION, build_train_features, collate
from destila.train.loop import FrozenTeacher
from destila.train.recipe import run_distill
from test_augment import squad_file
from test_train_loop import STUDENT, teacher_dir  # noqa: F401  (the tiny teacher fixture)
from tiny import all_terms

WINDOW = {"max_length": 64, "doc_stride": 32, "max_query_length": 16}


@pytest.fixture(scope="module")
def augmented(tmp_path_factory, teacher_dir) -> tuple[Path, Path]:
    """(originals + two copies of each, the copies alone) as SQuAD files."""
    folder = tmp_path_factory.mktemp("augmented")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DESTILA_CACHE", str(folder / "cache"))
        mp.delenv("DESTILA_DATA_DIR", raising=False)
        dataset = load_dataset(str(squad_file(folder / "d.json")))
        both = augment_dataset(dataset, AugmentConfig(copies=2, vocabulary=600), str(teacher_dir)).write(
            folder / "augmented.json")
    doc = json.loads(both.read_text(encoding="utf-8"))
    for article in doc["data"]:
        for paragraph in article["paragraphs"]:
            paragraph["qas"] = [qa for qa in paragraph["qas"] if "destila_augment" in qa]
        article["paragraphs"] = [p for p in article["paragraphs"] if p["qas"]]
    only = folder / "copies.json"
    only.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return both, only


def features_of(path: Path, tokenizer):
    examples = load_dataset(str(path)).examples
    return examples, build_train_features(examples, tokenizer, **WINDOW)


def distill(teacher_dir, data: Path, out: Path, loss: dict, cache: bool = True, **train) -> Path:
    values = {"train_data": str(data), "output_dir": str(out), **WINDOW, "batch_size": 4, "learning_rate": 1e-3,
              "warmup_ratio": 0.0, "log_every": 1, "threads": 1, "progress": False, **train}
    cfg = DistillConfig(teacher=str(teacher_dir), student=STUDENT, stages=[StageConfig(name="kd", loss=loss)],
                        cache_teacher_logits=cache, train=TrainConfig(**values))
    return run_distill(cfg)


def train_records(out: Path) -> list[dict]:
    lines = (out / "training_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == "train"]


# ---------------------------------------------------------------------------------------------------------------


def test_augmented_windows_follow_the_originals_with_labels_the_task_loss_ignores(augmented, teacher_dir):
    from destila.models.hub import load_tokenizer

    tokenizer = load_tokenizer(teacher_dir)
    examples, features = features_of(augmented[0], tokenizer)
    originals = [ex for ex in examples if not ex.augmented]
    alone = build_train_features(originals, tokenizer, **WINDOW)
    n = len(alone)
    assert len(features) > n
    for key in alone.data:
        assert features.data[key][:n] == alone.data[key], key  # the originals' windows are as without copies
    assert set(features.data["start_positions"][n:]) == set(features.data["end_positions"][n:]) == {IGNORED_POSITION}
    assert min(features.data["start_positions"][:n]) >= 0 and max(features.data["start_positions"][:n]) < 64


def test_cross_entropy_comes_from_the_originals_only(augmented, teacher_dir):
    from destila.distill.losses import DistillationLoss
    from destila.distill.outputs import run_qa_model
    from destila.models.hub import load_qa_model, load_tokenizer
    from destila.models.students import build_student

    tokenizer, teacher = load_tokenizer(teacher_dir), load_qa_model(teacher_dir)
    student = build_student(teacher, STUDENT).eval()
    loss_fn = DistillationLoss(all_terms(), student_config=student.config, teacher_config=teacher.config)
    frozen = FrozenTeacher(teacher, "cpu")
    examples, features = features_of(augmented[0], tokenizer)
    n = len(build_train_features([ex for ex in examples if not ex.augmented], tokenizer, **WINDOW))

    def terms(rows):
        batch = collate(features, rows, tokenizer.pad_token_id, pad_to=64, device="cpu")
        student.zero_grad()
        return loss_fn(run_qa_model(student, batch, **loss_fn.forward_kwargs("student")),
                       frozen(batch, loss_fn.forward_kwargs("teacher")), batch)

    copies = terms(list(range(n, n + 6)))  # a batch of augmented windows only
    assert copies["ce"].item() == 0.0
    assert all(copies[name].item() > 0 for name, term in TERMS.items() if term.reads_teacher)
    copies["ce"].backward()
    assert all(p.grad is None or not p.grad.any() for p in student.parameters())

    mixed, plain = terms([0, n, 1, n + 1, 2, n + 2]), terms([0, 1, 2])
    assert mixed["ce"].item() > 0
    torch.testing.assert_close(mixed["ce"], plain["ce"], rtol=1e-5, atol=1e-6)


def test_a_run_on_copies_alone_learns_no_cross_entropy(augmented, teacher_dir, tmp_path):
    out = distill(teacher_dir, augmented[1], tmp_path / "run", {"ce": 1.0, "kd": 1.0, "hidden": 0.0,
                                                                 "attention": 0.0, "embedding": 0.0}, max_steps=4)
    records = train_records(out)
    assert len(records) == 4
    assert all(r["ce"] == 0.0 and r["kd"] > 0 for r in records)


@pytest.mark.parametrize("cache", [True, False])
def test_the_teacher_labels_each_window_once_across_two_epochs(augmented, teacher_dir, tmp_path, monkeypatch, cache):
    from destila.models.hub import load_tokenizer

    tokenizer = load_tokenizer(teacher_dir)
    examples, features = features_of(augmented[0], tokenizer)
    first_copy = len(build_train_features([ex for ex in examples if not ex.augmented], tokenizer, **WINDOW))
    # a batch size that leaves no tail out of an epoch, so that the first epoch sees every window
    batch = next(b for b in (4, 3, 5, 6, 7, 2, 1) if len(features) % b == 0)
    labelled: Counter = Counter()
    forward = FrozenTeacher.__call__

    def counting(self, batch, needs):
        labelled.update(batch["feature_index"].tolist())
        return forward(self, batch, needs)

    monkeypatch.setattr(FrozenTeacher, "__call__", counting)
    kd_only = {"ce": 0.5, "kd": 0.5, "hidden": 0.0, "attention": 0.0, "embedding": 0.0}
    out = distill(teacher_dir, augmented[0], tmp_path / "run", kd_only, cache=cache, epochs=2.0, batch_size=batch)

    assert len(train_records(out)) == 2 * len(features) // batch
    assert first_copy >= 6 and len(features) - first_copy >= 12
    every_window_twice = Counter(dict.fromkeys(range(len(features)), 2))
    if cache:
        assert labelled == Counter(dict.fromkeys(range(len(features)), 1))  # once, though seen in both epochs
    else:
        assert labelled == every_window_twice  # the live teacher runs at every visit
