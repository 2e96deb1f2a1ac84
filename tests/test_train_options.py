"""Training options the paper's recipe needs: validation on held-out training articles, question handling, and
the teacher's precision."""

from __future__ import annotations

import json

import pytest
import torch

from destila.data import load_dataset
from destila.data.types import QADataset, QAExample
from destila.errors import ConfigError
from destila.train.batches import build_train_features, hold_out_articles, strip_questions
from destila.train.recipe import run_distill, run_train
from test_train_loop import distill_cfg, qa_file, teacher_dir, train_cfg  # noqa: F401  (fixtures)


def _dataset(titles: list[str]) -> QADataset:
    examples = [QAExample(id=f"q{i}", question="¿Qué?", context="Algo.", title=t) for i, t in enumerate(titles)]
    return QADataset(examples, "1.1", "toy")


def test_held_out_articles_are_whole_seeded_and_disjoint():
    data = _dataset([f"a{i // 3}" for i in range(30)])  # 10 articles of 3 questions
    kept, held = hold_out_articles(data, 0.2, seed=1)
    assert len(kept) + len(held) == 30
    held_titles = {ex.title for ex in held.examples}
    assert len(held_titles) == 2 and not held_titles & {ex.title for ex in kept.examples}
    assert [ex.id for ex in hold_out_articles(data, 0.2, seed=1)[1].examples] == [ex.id for ex in held.examples]
    with pytest.raises(ConfigError, match="validation_fraction.*1 article"):
        hold_out_articles(_dataset(["only"] * 5), 0.1, seed=0)


def test_validation_fraction_selects_on_held_out_training_articles(teacher_dir, tmp_path):  # noqa: F811
    sample = load_dataset("sample")
    cfg = train_cfg("sample", tmp_path / "ft", model=str(teacher_dir), max_steps=2, validation_fraction=0.25,
                    eval_data="squad-es-v1.1:does-not-exist", max_train_examples=16)
    out = run_train(cfg)
    metrics = json.loads((out / "metrics.json").read_text())
    _, held = hold_out_articles(sample, 0.25, seed=cfg.seed)
    assert metrics["eval"]["official"]["total"] == len(held)  # scored on the held-out articles, eval_data unread


def test_questions_are_stripped_and_never_cut_when_asked(teacher_dir):  # noqa: F811
    from destila.models.hub import load_tokenizer

    tokenizer = load_tokenizer(teacher_dir)
    question = "¿Cuál es el río más caudaloso del mundo que atraviesa Perú, Colombia y Brasil?"
    data = QADataset([QAExample(id="q", question=f"  {question} ", context="El río Amazonas es el más caudaloso.",
                                title="t")], "1.1", "toy")
    plain = build_train_features([QAExample(id="q", question=question, context=data.examples[0].context)],
                                 tokenizer, 64, 16, None)
    stripped = build_train_features(strip_questions(data).examples, tokenizer, 64, 16, None)
    assert stripped.data["input_ids"] == plain.data["input_ids"]
    cut = build_train_features(strip_questions(data).examples, tokenizer, 64, 16, 4)
    assert len(cut.data["input_ids"][0]) < len(plain.data["input_ids"][0])  # 4 question tokens vs all of them


@pytest.mark.parametrize("autocast", [True, False])
def test_teacher_runs_in_fp32_when_autocast_is_off(teacher_dir, qa_file, tmp_path, monkeypatch, autocast):  # noqa: F811
    from destila.train import loop

    seen = []
    original = loop.FrozenTeacher.__call__

    def spy(self, batch, needs):
        seen.append(torch.is_autocast_enabled("cpu"))
        return original(self, batch, needs)

    monkeypatch.setattr(loop.FrozenTeacher, "__call__", spy)
    run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "d", cache=False, max_steps=1,
                            mixed_precision="bf16", teacher_autocast=autocast))
    assert seen and all(s is autocast for s in seen)


class _Stop(Exception):
    pass


def test_checkpoints_leave_frozen_weights_out_and_resume_exactly(teacher_dir, qa_file, tmp_path):  # noqa: F811
    from safetensors.torch import load_file

    def cfg(out):
        return train_cfg(qa_file, out, model=str(teacher_dir), freeze_embeddings=True, hidden_dropout=0.1,
                         save_every=2, max_steps=6)

    def stop_at_3(stage, step):
        if step == 3:
            raise _Stop

    full = run_train(cfg(tmp_path / "full"))
    with pytest.raises(_Stop):
        run_train(cfg(tmp_path / "killed"), on_step=stop_at_3)
    checkpoints = tmp_path / "killed" / "checkpoints"
    saved = load_file(next(checkpoints.glob("*step0000002")) / "model.safetensors")
    frozen = load_file(checkpoints / "frozen.safetensors")
    embedding = "bert.embeddings.word_embeddings.weight"
    assert list(frozen) == [embedding]
    assert not any(k.endswith(embedding) for k in saved) and any(k.endswith("qa_outputs.weight") for k in saved)

    resumed = run_train(cfg(tmp_path / "killed"), resume=True)
    a, b = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(a[embedding], frozen[embedding])  # frozen: never changed


def test_save_each_epoch_writes_a_plain_model_folder_per_epoch(teacher_dir, qa_file, tmp_path):  # noqa: F811
    from transformers import AutoModelForQuestionAnswering

    # 24 questions, one window each, batch 4: 6 steps an epoch; 12 steps are two epochs.
    out = run_train(train_cfg(qa_file, tmp_path / "ft", model=str(teacher_dir), max_steps=12, save_each_epoch=True))
    assert sorted(p.name for p in out.glob("epoch-*")) == ["epoch-1", "epoch-2"]
    last = AutoModelForQuestionAnswering.from_pretrained(out / "epoch-2")
    final = AutoModelForQuestionAnswering.from_pretrained(out)
    assert all(torch.equal(a, b) for a, b in zip(last.state_dict().values(), final.state_dict().values()))


def test_batches_pad_to_a_multiple_and_losses_do_not_change(teacher_dir, qa_file, tmp_path):  # noqa: F811
    from destila.models.hub import load_tokenizer
    from destila.train.batches import collate

    tokenizer = load_tokenizer(teacher_dir)
    features = build_train_features(load_dataset(str(qa_file)).examples[:4], tokenizer, 64, 32, 16)
    longest = max(len(ids) for ids in features.data["input_ids"])
    batch = collate(features, [0, 1, 2, 3], tokenizer.pad_token_id, pad_to=None, device="cpu", multiple=16,
                    max_length=64)
    assert batch["input_ids"].shape[1] == -(-longest // 16) * 16
    assert int(batch["attention_mask"].sum()) == sum(len(ids) for ids in features.data["input_ids"])
    capped = collate(features, [0, 1, 2, 3], tokenizer.pad_token_id, pad_to=None, device="cpu", multiple=1000,
                     max_length=64)
    assert capped["input_ids"].shape[1] == 64

    # Masked losses see the same tokens: a seeded run gives the same losses with and without the rounding.
    runs = [run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / f"d{m}", max_steps=3, pad_to_multiple_of=m))
            for m in (1, 16)]
    logs = [[json.loads(x)["loss"] for x in (out / "training_log.jsonl").read_text().splitlines()
             if json.loads(x)["type"] == "train"] for out in runs]
    assert logs[0] == pytest.approx(logs[1], rel=1e-4)


def test_attention_kernel_is_the_faster_one_measured_and_recorded(teacher_dir, qa_file, tmp_path, monkeypatch):  # noqa: F811
    from destila.train import kernels

    assert kernels.fastest_attention(2, 2, 8, 16, torch.float32) in ("sdpa", "eager")
    picked = []
    monkeypatch.setattr(kernels, "fastest_attention", lambda *a, **k: picked.append(a) or "eager")
    out = run_train(train_cfg(qa_file, tmp_path / "ft", model=str(teacher_dir), max_steps=2))
    assert picked and json.loads((out / "metrics.json").read_text())["attention_implementation"] == "eager"
    out = run_train(train_cfg(qa_file, tmp_path / "ft2", model=str(teacher_dir), max_steps=2,
                              attention_implementation="sdpa"))
    assert len(picked) == 1 and json.loads((out / "metrics.json").read_text())["attention_implementation"] == "sdpa"


def test_distill_recipe_trains_on_augmented_copies_written_beside_the_run(teacher_dir, qa_file, tmp_path):  # noqa: F811
    from destila.config import StageConfig

    logits_only = [StageConfig(name="kd", loss={"hidden": 0.0, "attention": 0.0, "embedding": 0.0})]
    cfg = distill_cfg(teacher_dir, qa_file, tmp_path / "aug", stages=logits_only, max_steps=2, max_train_examples=12)
    plain = distill_cfg(teacher_dir, qa_file, tmp_path / "plain", stages=logits_only, max_steps=2,
                        max_train_examples=12)
    cfg.augment = {"copies": 2, "augmenters": ["context"], "seed": 3}
    cfg.__post_init__()
    out, base = run_distill(cfg), run_distill(plain)
    written = load_dataset(str(out / "augmented_train.json")).examples
    copies = [ex for ex in written if ex.augmented]
    assert copies and all(not ex.answers for ex in copies) and len(written) - len(copies) == 12
    metrics, base_metrics = (json.loads((p / "metrics.json").read_text()) for p in (out, base))
    assert metrics["train_windows"] > base_metrics["train_windows"]
    assert metrics["augment_seconds"] is not None and base_metrics["augment_seconds"] is None
    state = json.loads(next((out / "checkpoints").glob("*/destila_state.json")).read_text())
    labelled = 2 * 4  # two steps of four windows, each labelled by the teacher once
    assert state["teacher_cache_coverage"] == pytest.approx(labelled / metrics["train_windows"])
