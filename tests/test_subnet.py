"""Sub-network training inside a teacher (`train.subnet_layers`): the sub-network is exactly the student that
`{"layers": ...}` builds, it trains with the whole model's weights, and bad settings are named."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from destila.config import TrainConfig, apply_overrides
from destila.errors import ConfigError
from destila.train.recipe import run_distill, run_train
from test_train_loop import distill_cfg, qa_file, read_log, teacher_dir, train_cfg  # noqa: F401 (fixtures)


def test_sub_network_runs_exactly_the_student_built_from_the_same_layers(teacher_dir):  # noqa: F811
    from destila.distill.outputs import run_qa_model
    from destila.models.hub import load_qa_model
    from destila.models.students import build_student, layer_list_module, sub_network

    teacher = load_qa_model(teacher_dir).eval()
    student = build_student(teacher, {"layers": [2, 4]}).eval()
    batch = {"input_ids": torch.randint(5, 40, (3, 17)), "attention_mask": torch.ones(3, 17, dtype=torch.long)}
    _, before = layer_list_module(teacher)
    with torch.no_grad(), sub_network(teacher, [2, 4]):
        inside = run_qa_model(teacher, batch)
    with torch.no_grad():
        alone = run_qa_model(student, batch)
        whole = run_qa_model(teacher, batch)
    torch.testing.assert_close(inside.start_logits, alone.start_logits)
    torch.testing.assert_close(inside.end_logits, alone.end_logits)
    assert layer_list_module(teacher)[1] is before and len(before) == 4  # the whole model is back after the block
    assert not torch.allclose(whole.start_logits, alone.start_logits)


def test_fine_tuning_with_a_sub_network_trains_it_and_logs_its_terms(teacher_dir, qa_file, tmp_path):  # noqa: F811
    from destila.distill.outputs import run_qa_model
    from destila.models.hub import load_qa_model
    from destila.models.students import build_student

    common = {"model": str(teacher_dir), "batch_size": 8, "max_train_examples": 8, "max_steps": 40}
    out = run_train(train_cfg(qa_file, tmp_path / "sub", subnet_layers=[1, 4], subnet_kd=0.2, **common))
    plain = run_train(train_cfg(qa_file, tmp_path / "plain", **common))
    records = [r for r in read_log(out) if r["type"] == "train"]
    for key in ("ce", "sub_ce", "sub_kd", "sub_loss"):
        assert all(key in r for r in records), key
    for r in records:
        assert r["loss"] == pytest.approx(r["ce"] + r["sub_loss"], rel=1e-4)
        assert r["sub_loss"] == pytest.approx(0.8 * r["sub_ce"] + 0.2 * r["sub_kd"], rel=1e-4)
    assert records[-1]["sub_ce"] < 0.95 * records[0]["sub_ce"]  # the sub-network learns
    assert "sub_ce" not in read_log(plain)[0]

    # The saved model is a plain 4-layer model; the student made of layers 1 and 4 answers the training windows
    # better than the same student taken from the model fine-tuned without the sub-network.
    assert load_file(out / "model.safetensors").keys() == load_file(plain / "model.safetensors").keys()
    from destila.data import load_dataset
    from destila.distill.functional import task_loss, token_mask
    from destila.models.hub import load_tokenizer
    from destila.train.batches import build_train_features, collate

    tokenizer = load_tokenizer(out)
    features = build_train_features(load_dataset(str(qa_file)).examples, tokenizer, max_length=64, doc_stride=32,
                                    max_query_length=16)
    batch = collate(features, range(8), tokenizer.pad_token_id, pad_to=None, device="cpu")

    def student_ce(folder):
        student = build_student(load_qa_model(folder), {"layers": [1, 4]}).eval()
        with torch.no_grad():
            o = run_qa_model(student, batch)
        return float(task_loss(o.start_logits, o.end_logits, batch["start_positions"], batch["end_positions"],
                               token_mask(batch, o.start_logits)))

    assert student_ce(out) < student_ce(plain)


def test_bad_sub_network_settings_are_named(teacher_dir, qa_file, tmp_path):  # noqa: F811
    with pytest.raises(ConfigError, match=r"train.subnet_layers\[1\]"):
        TrainConfig(subnet_layers=[1, 0])
    with pytest.raises(ConfigError, match="train.subnet_layers: the list is empty"):
        TrainConfig(subnet_layers=[])
    with pytest.raises(ConfigError, match="train.subnet_kd"):
        TrainConfig(subnet_kd=1.5)
    overridden = apply_overrides({}, ["subnet_layers=[3, 6]"])  # as `--set train.subnet_layers=[3, 6]` gives it
    assert TrainConfig(**overridden).subnet_layers == [3, 6]
    with pytest.raises(ConfigError, match="train.subnet_layers: expected a list of layers"):
        TrainConfig(subnet_layers="3, 6")
    with pytest.raises(ConfigError, match=r"train.subnet_layers\[1\]: 9 is not a layer; layers are 1-based, 1..4"):
        run_train(train_cfg(qa_file, tmp_path / "x", model=str(teacher_dir), subnet_layers=[1, 9]))
    with pytest.raises(ConfigError, match="train.subnet_layers: sub-network training is for `destila train`"):
        run_distill(distill_cfg(teacher_dir, qa_file, tmp_path / "y", subnet_layers=[1, 2]))
