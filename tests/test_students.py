"""Building students from a teacher: presets, copied layers, config overrides, pretrained folders."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoModelForQuestionAnswering,
    BertConfig,
    BertForQuestionAnswering,
    RobertaConfig,
    RobertaForQuestionAnswering,
)

from destila.errors import ConfigError, ModelError
from destila.models import students
from destila.models.students import STUDENT_PRESETS, build_student

VOCAB = 120


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    return BertForQuestionAnswering(config).eval()


@pytest.fixture(scope="module")
def roberta_teacher():
    torch.manual_seed(1)
    config = RobertaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=72,
        pad_token_id=1,
        type_vocab_size=1,
    )
    return RobertaForQuestionAnswering(config).eval()


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (2, 10), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _same_logits(a, b, inputs, atol=1e-6):
    with torch.no_grad():
        oa, ob = a(**inputs), b(**inputs)
    torch.testing.assert_close(oa.start_logits, ob.start_logits, atol=atol, rtol=0)
    torch.testing.assert_close(oa.end_logits, ob.end_logits, atol=atol, rtol=0)


def test_paper_preset_is_the_teacher_config_with_four_fields_changed(teacher):
    student = build_student(teacher, {"preset": "tinyroberta-es"})
    c, t = student.config, teacher.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size) == (
        6,
        512,
        16,
        3072,
    )
    assert type(student) is type(teacher)
    for field in ("vocab_size", "max_position_embeddings", "type_vocab_size", "hidden_act", "layer_norm_eps"):
        assert getattr(c, field) == getattr(t, field)
    assert t.hidden_size == 32  # the teacher's config is untouched
    assert STUDENT_PRESETS["tinyroberta-es"]["hidden_size"] == 512


def test_preset_with_overrides_is_randomly_initialised(teacher, monkeypatch):
    monkeypatch.setitem(
        students.STUDENT_PRESETS,
        "tiny",
        {"num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32},
    )
    torch.manual_seed(5)
    a = build_student(teacher, {"preset": "tiny", "config": {"hidden_dropout_prob": 0.0}})
    torch.manual_seed(6)
    b = build_student(teacher, {"preset": "tiny"})
    assert a.config.hidden_dropout_prob == 0.0 and a.config.num_hidden_layers == 2
    assert not torch.equal(a.bert.embeddings.word_embeddings.weight, b.bert.embeddings.word_embeddings.weight)
    assert a.bert.embeddings.word_embeddings.weight.shape == (VOCAB, 16)


def test_all_layers_copied_reproduce_the_teacher(teacher):
    student = build_student(teacher, {"layers": [1, 2, 3, 4]}).eval()
    assert student is not teacher and student.config.num_hidden_layers == 4
    _same_logits(student, teacher, _inputs())
    # a copy, not shared storage
    assert student.bert.encoder.layer[0].output.dense.weight.data_ptr() != (
        teacher.bert.encoder.layer[0].output.dense.weight.data_ptr()
    )


@pytest.mark.parametrize("which", ["bert", "roberta"])
def test_layer_subset_copies_embeddings_chosen_layers_and_head(teacher, roberta_teacher, which):
    teacher = teacher if which == "bert" else roberta_teacher
    student = build_student(teacher, {"layers": [2, 4]}).eval()
    base_t, base_s = teacher.base_model, student.base_model
    assert student.config.num_hidden_layers == 2 and type(student) is type(teacher)
    for s_index, t_index in ((0, 1), (1, 3)):
        t_state = base_t.encoder.layer[t_index].state_dict()
        for key, value in base_s.encoder.layer[s_index].state_dict().items():
            assert torch.equal(value, t_state[key]), key
    t_emb = base_t.embeddings.state_dict()
    for key, value in base_s.embeddings.state_dict().items():
        assert torch.equal(value, t_emb[key]), key
    assert torch.equal(student.qa_outputs.weight, teacher.qa_outputs.weight)
    assert torch.equal(student.qa_outputs.bias, teacher.qa_outputs.bias)


def test_layer_spec_errors(teacher):
    with pytest.raises(ConfigError, match=r"layers\[0\].*1-based"):
        build_student(teacher, {"layers": [0, 2]})
    with pytest.raises(ConfigError, match=r"layers\[1\].*1\.\.4"):
        build_student(teacher, {"layers": [1, 5]})
    with pytest.raises(ConfigError, match="empty"):
        build_student(teacher, {"layers": []})


def test_config_overrides(teacher):
    student = build_student(
        teacher, {"config": {"num_hidden_layers": 3, "hidden_size": 24, "num_attention_heads": 3}}
    )
    assert (student.config.num_hidden_layers, student.config.hidden_size) == (3, 24)
    with pytest.raises(ConfigError, match="student.config.hiden_size"):
        build_student(teacher, {"config": {"hiden_size": 24}})
    with pytest.raises(ConfigError, match="not a multiple"):
        build_student(teacher, {"config": {"hidden_size": 30}})
    with pytest.raises(ConfigError, match="num_hidden_layers"):
        build_student(teacher, {"config": {"num_hidden_layers": 0}})
    with pytest.raises(ConfigError, match="vocabulary size"):
        build_student(teacher, {"config": {"vocab_size": VOCAB + 1}})


def test_spec_errors(teacher):
    with pytest.raises(ConfigError, match="unknown preset 'huge'.*tinyroberta-es"):
        build_student(teacher, {"preset": "huge"})
    with pytest.raises(ConfigError, match="unknown key"):
        build_student(teacher, {"presets": "tinyroberta-es"})
    with pytest.raises(ConfigError, match="only one"):
        build_student(teacher, {"layers": [1], "pretrained": "x"})
    with pytest.raises(ConfigError, match="give one of"):
        build_student(teacher, {})
    with pytest.raises(ConfigError, match="mapping"):
        build_student(teacher, "tinyroberta-es")


@pytest.mark.parametrize("spec, message", [
    ({"preset": "huge"}, "unknown preset 'huge'"),
    ({"presets": "tinyroberta-es"}, "unknown key"),
    ({"layers": [1], "pretrained": "x"}, "only one"),
    ({"preset": "tinyroberta-es", "config": [1]}, "student.config: expected a mapping"),
    ({}, "give one of"),
    ("tinyroberta-es", "mapping"),
])
def test_recipes_check_the_student_spec_by_the_same_rule(teacher, spec, message):
    from destila.config import DistillConfig

    with pytest.raises(ConfigError, match=message) as from_recipe:
        DistillConfig(teacher="t", student=spec)
    with pytest.raises(ConfigError, match=message) as from_builder:
        build_student(teacher, spec)
    assert str(from_recipe.value) == str(from_builder.value)
    students.check_student_spec({"preset": "tinyroberta-es", "config": {"hidden_dropout_prob": 0.0}})


@pytest.mark.parametrize(
    "spec", [{"layers": [1, 3]}, {"config": {"num_hidden_layers": 1, "hidden_size": 16}}]
)
def test_student_saves_and_reloads_as_a_plain_qa_model(teacher, tmp_path, spec):
    student = build_student(teacher, spec).eval()
    student.save_pretrained(tmp_path, safe_serialization=True)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = AutoModelForQuestionAnswering.from_pretrained(tmp_path).eval()
    assert type(reloaded) is type(student)
    _same_logits(student, reloaded, _inputs())


def test_pretrained_student(teacher, tmp_path):
    saved = build_student(teacher, {"layers": [1, 4]}).eval()
    saved.save_pretrained(tmp_path, safe_serialization=True)
    loaded = build_student(teacher, {"pretrained": str(tmp_path)}).eval()
    _same_logits(saved, loaded, _inputs())
    with pytest.raises(ModelError):
        build_student(teacher, {"pretrained": str(tmp_path / "missing")})


def test_pretrained_student_with_another_vocabulary_is_rejected(teacher, tmp_path):
    other = BertForQuestionAnswering(
        BertConfig(vocab_size=VOCAB + 10, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    )
    other.save_pretrained(tmp_path, safe_serialization=True)
    with pytest.raises(ConfigError, match="teacher's tokenizer"):
        build_student(teacher, {"pretrained": str(tmp_path)})
