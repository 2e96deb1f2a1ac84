"""Several teachers, and teachers whose tokenizer differs from the student's (destila.train.teachers)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from destila.config import DistillConfig, StageConfig
from destila.errors import ConfigError
from destila.train.recipe import run_distill
from test_train_loop import STUDENT, qa_file, teacher_dir, train_cfg, train_losses  # noqa: F401 (fixtures)
from tiny_tokenizers import build_bpe_tokenizer

LOGITS_ONLY = {"ce": 1.0, "kd": 1.0}


@pytest.fixture(scope="module")
def bpe_teacher_dir(tmp_path_factory) -> Path:
    """A 2-layer random RoBERTa QA teacher with a byte-level BPE tokenizer (not the student's WordPiece)."""
    from transformers import RobertaConfig, RobertaForQuestionAnswering

    out = tmp_path_factory.mktemp("bpe-teacher")
    tokenizer = build_bpe_tokenizer()
    tokenizer.save_pretrained(out)
    torch.manual_seed(1)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=130, hidden_dropout_prob=0.0,
                           attention_probs_dropout_prob=0.0, pad_token_id=tokenizer.pad_token_id, type_vocab_size=1)
    RobertaForQuestionAnswering(config).save_pretrained(out)
    return out


def recipe(qa_file, out, teachers, loss=None, cache=False, student=STUDENT, **train) -> DistillConfig:  # noqa: F811
    return DistillConfig(teachers=teachers, student=student, stages=[StageConfig(name="s", loss=loss or {})],
                         cache_teacher_logits=cache, train=train_cfg(qa_file, out, **train))


# ---------------------------------------------------------------------------------------------------------------
# The recipe


def test_teachers_parse_and_their_weights_sum_to_one():
    cfg = DistillConfig(teachers=[{"model": "a", "weight": 0.6}, {"model": "b", "weight": "0.2"}], loss=LOGITS_ONLY)
    assert cfg.teacher == "a"
    assert [round(t.weight, 6) for t in cfg.teacher_list()] == [0.75, 0.25]
    single = DistillConfig(teacher="a", loss=LOGITS_ONLY)
    assert [(t.model, t.weight, t.internals) for t in single.teacher_list()] == [("a", 1.0, True)]


@pytest.mark.parametrize("body,match", [
    ({"teachers": [{"model": "a", "weight": 0}]}, r"teachers\[0\].weight"),
    ({"teachers": [{"model": ""}]}, r"teachers\[0\].model"),
    ({"teachers": [{"model": "a", "colour": 1}]}, r"teachers\[0\]: unknown field"),
    ({"teacher": "x", "teachers": [{"model": "a"}]}, "not teachers"),
    ({"teachers": [{"model": "a", "layer_map": [2]}]}, r"teachers\[0\].layer_map: only the teacher"),
    ({"teachers": [{"model": "a", "internals": True}, {"model": "b", "internals": True}]}, "internals"),
    ({"teachers": [{"model": "a"}, {"model": "b"}], "loss": {"hidden": 1.0}}, "internals: true"),
    ({}, "teacher must name a model"),
])
def test_bad_teachers_are_refused_by_name(body, match):
    with pytest.raises(ConfigError, match=match):
        DistillConfig(**body)


def test_the_internals_teachers_layer_map_is_the_stages():
    cfg = DistillConfig(teachers=[{"model": "a"}, {"model": "b", "internals": True, "layer_map": [1, 2]}],
                        student={"layers": [1, 2]}, loss={"ce": 1.0, "kd": 1.0, "embedding": 1.0, "hidden": 1.0})
    assert cfg.internals_teacher() == 1
    assert cfg.stage_loss(cfg.stages[0]).layer_map == [1, 2]


# ---------------------------------------------------------------------------------------------------------------
# Runs on tiny models


def test_two_identical_teachers_give_the_loss_of_one(teacher_dir, qa_file, tmp_path):  # noqa: F811
    one = run_distill(recipe(qa_file, tmp_path / "one", [{"model": str(teacher_dir)}], loss=LOGITS_ONLY,
                             max_steps=4))
    two = run_distill(recipe(qa_file, tmp_path / "two", [{"model": str(teacher_dir), "weight": 0.5},
                                                          {"model": str(teacher_dir), "weight": 0.5}],
                             loss=LOGITS_ONLY, max_steps=4))
    for key in ("loss", "kd", "ce"):
        assert train_losses(two, key) == pytest.approx(train_losses(one, key), rel=1e-5, abs=1e-6)


def test_cached_and_live_teachers_mix_as_live_ones(teacher_dir, bpe_teacher_dir, qa_file, tmp_path):  # noqa: F811
    """Three epochs: the WordPiece teacher feeds the hidden term (live every step), the BPE teacher only its
    carried distributions (cached after the first epoch) against both live every step."""
    teachers = [{"model": str(teacher_dir), "weight": 0.7, "internals": True},
                {"model": str(bpe_teacher_dir), "weight": 0.3}]
    loss = {"ce": 1.0, "kd": 1.0, "hidden": 1.0}
    cached = run_distill(recipe(qa_file, tmp_path / "cached", teachers, loss=loss, cache=True, max_steps=18))
    live = run_distill(recipe(qa_file, tmp_path / "live", teachers, loss=loss, cache=False, max_steps=18))
    la, lb = train_losses(cached), train_losses(live)
    assert len(la) == 18
    assert la == pytest.approx(lb, rel=1e-4, abs=1e-6)
    assert train_losses(cached, "hidden") == pytest.approx(train_losses(live, "hidden"), rel=1e-4, abs=1e-6)


def test_a_teacher_with_another_tokenizer_teaches_a_pretrained_student(teacher_dir, bpe_teacher_dir, qa_file,  # noqa: F811
                                                                         tmp_path):
    """The BPE teacher's distributions carried to a WordPiece student that keeps its own tokenizer."""
    from transformers import AutoTokenizer

    out = run_distill(recipe(qa_file, tmp_path / "out", [{"model": str(bpe_teacher_dir)}],
                             loss={"kd": 1.0, "ce": 0.0, **LOGITS_ONLY}, student={"pretrained": str(teacher_dir)},
                             max_steps=3))
    kd = train_losses(out, "kd")
    assert len(kd) == 3 and all(v > 0 and v == v for v in kd)
    assert AutoTokenizer.from_pretrained(out).get_vocab() == AutoTokenizer.from_pretrained(teacher_dir).get_vocab()


def test_internal_terms_across_tokenizers_are_refused(teacher_dir, bpe_teacher_dir, qa_file, tmp_path):  # noqa: F811
    cfg = recipe(qa_file, tmp_path / "out", [{"model": str(bpe_teacher_dir)}], loss={"hidden": 1.0},
                 student={"pretrained": str(teacher_dir)}, max_steps=1)
    with pytest.raises(ConfigError, match=r"stages\[s\].loss: .*hidden.*needs one tokenizer"):
        run_distill(cfg)


def test_dry_run_of_the_three_tokenizer_recipe_passes_offline(tmp_path):
    from destila.config import load_recipe
    from destila.train.dry_run import dry_run

    checks = dry_run(load_recipe(Path(__file__).resolve().parents[1] / "configs" / "teachers.yaml"), tmp_path,
                     echo=lambda message: None)
    stand_ins = [c for c in checks if c.startswith("stand-in teacher")]
    assert [c.split(", ")[1] for c in stand_ins] == ["bpe tokenizer", "wordpiece tokenizer", "unigram tokenizer"]
    assert any("loss terms logged: ce, kd, loss" in c for c in checks)
    assert checks[-1].startswith("destila_config.yaml and README.md written")
