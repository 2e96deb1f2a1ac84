"""Training speed switches: dropout rates set after loading, and `mixed_precision: auto`."""

from __future__ import annotations

import json

import pytest
import torch

from destila import hardware
from destila.config import TrainConfig
from destila.errors import ConfigError
from destila.models.dropout import set_dropout
from destila.train import precision
from destila.train.recipe import run_train
from test_train_loop import qa_file, teacher_dir, train_cfg  # noqa: F401  (fixtures)


def tiny_bert(dropout: float = 0.1):
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    return BertForQuestionAnswering(config)


def tiny_distilbert(dropout: float = 0.1):
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering

    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=50, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                              max_position_embeddings=32, dropout=dropout, attention_dropout=dropout)
    return DistilBertForQuestionAnswering(config)


def two_train_forwards(model) -> tuple[torch.Tensor, torch.Tensor]:
    model.train()
    ids = torch.randint(1, 50, (2, 12), generator=torch.Generator().manual_seed(1))
    return model(input_ids=ids).start_logits, model(input_ids=ids).start_logits


@pytest.mark.parametrize("build, attention_field, hidden_field", [
    (tiny_bert, "attention_probs_dropout_prob", "hidden_dropout_prob"),
    (tiny_distilbert, "attention_dropout", "dropout"),
])
def test_set_dropout_changes_attention_and_hidden_rates_separately(build, attention_field, hidden_field):
    model = build()
    changed = set_dropout(model, attention=0.0)
    assert changed["attention"] == 2 and changed["hidden"] == 0  # one attention dropout per layer
    assert getattr(model.config, attention_field) == 0.0 and getattr(model.config, hidden_field) == 0.1
    a, b = two_train_forwards(model)
    assert not torch.equal(a, b)  # hidden dropout still acts in train mode

    changed = set_dropout(model, hidden=0.0)
    assert changed["hidden"] >= 2 * 2 and changed["attention"] == 0
    assert getattr(model.config, hidden_field) == 0.0
    a, b = two_train_forwards(model)
    assert torch.equal(a, b)  # every dropout is off now: train-mode forwards are deterministic


def test_set_dropout_without_rates_changes_nothing():
    model = tiny_bert()
    assert set_dropout(model) == {"attention": 0, "hidden": 0}
    assert all(m.p == 0.1 for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_auto_precision_follows_the_cpu(monkeypatch):
    assert precision.resolve_mixed_precision("no") == "no"
    assert precision.resolve_mixed_precision("bf16") == "bf16"
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert precision.resolve_mixed_precision("auto") == "bf16"
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert precision.resolve_mixed_precision("auto") == "no"


@pytest.mark.parametrize("flags, expected", [
    ("fpu avx2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu avx2 amx_tile amx_bf16 amx_int8", True),
    ("fpu avx2 avx512f avx512bw avx512_vnni", False),  # AVX-512 without bf16: emulated, slower than fp32
])
def test_cpu_flags_are_read_from_cpuinfo(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n\n", encoding="utf-8")
    assert hardware.cpu_has_native_bf16(cpuinfo) is expected


def test_unreadable_cpuinfo_means_no_native_bf16(tmp_path):
    assert hardware.cpu_has_native_bf16(tmp_path / "missing") is False
    (tmp_path / "noflags").write_text("processor\t: 0\n", encoding="utf-8")
    assert hardware.cpu_has_native_bf16(tmp_path / "noflags") is False


@pytest.mark.parametrize("field, value", [("attention_dropout", 1.0), ("hidden_dropout", -0.1)])
def test_dropout_rates_are_checked(field, value):
    with pytest.raises(ConfigError, match=f"train.{field}"):
        TrainConfig(**{field: value})


def test_mixed_precision_must_be_known():
    with pytest.raises(ConfigError, match="train.mixed_precision"):
        TrainConfig(mixed_precision="int4")


def test_training_records_the_precision_used_and_the_dropout(teacher_dir, qa_file, tmp_path):  # noqa: F811
    out = run_train(train_cfg(qa_file, tmp_path / "ft", model=str(teacher_dir), max_steps=3,
                              mixed_precision="auto", attention_dropout=0.0, hidden_dropout=0.05))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mixed_precision"] == precision.resolve_mixed_precision("auto")
    config = json.loads((out / "config.json").read_text())
    assert config["attention_probs_dropout_prob"] == 0.0 and config["hidden_dropout_prob"] == 0.05
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"mixed precision auto ({metrics['mixed_precision']})" in card
    assert "attention 0.0, hidden 0.05" in card
