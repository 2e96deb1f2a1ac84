"""Every entry of the model-family table tells the truth about transformers, and the code that reads it works for
each family: students, dropout, attention capture and the dry run's stage check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoConfig, AutoModelForQuestionAnswering

from destila.distill import TERMS, run_qa_model
from destila.errors import ConfigError, ModelError
from destila.models.dropout import set_dropout
from destila.models.families import FAMILIES, SHAPE_FIELDS, model_family
from destila.models.students import build_student
from tiny import all_terms

SHAPE = {"num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32}


def _tiny(family, seed=0):
    torch.manual_seed(seed)
    config = AutoConfig.for_model(family.model_type, vocab_size=50, max_position_embeddings=40,
                                  **{family.config_name(k): v for k, v in SHAPE.items()})
    return AutoModelForQuestionAnswering.from_config(config).eval()


def _batch():
    ids = torch.randint(5, 50, (2, 9), generator=torch.Generator().manual_seed(0))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


@pytest.mark.parametrize("family", FAMILIES.values(), ids=list(FAMILIES))
def test_the_table_matches_transformers(family):
    model = _tiny(family)
    config = model.config.to_dict()
    assert model.config.model_type == family.model_type
    assert family.shape(config) == SHAPE
    for field in (family.attention_dropout, family.hidden_dropout):
        assert isinstance(config[field], float), field
    assert any(f"{family.layer_prefix}1." in key for key in model.state_dict())
    assert family.tokenizer in ("bpe", "unigram", "wordpiece")
    if family.attention_interface:
        out = run_qa_model(model, _batch(), attentions=True)
        assert len(out.attentions) == 2
    else:
        with pytest.raises(ModelError, match="attention interface"):
            run_qa_model(model, _batch(), attentions=True)


@pytest.mark.parametrize("family", FAMILIES.values(), ids=list(FAMILIES))
def test_students_and_dropout_for_every_family(family):
    teacher = _tiny(family)
    copy = build_student(teacher, {"layers": [1, 2]}).eval()
    with torch.no_grad():
        torch.testing.assert_close(copy(**_batch()).start_logits, teacher(**_batch()).start_logits)
    shrunk = build_student(teacher, {"config": {"num_hidden_layers": 1, "intermediate_size": 8}})
    assert family.shape(shrunk.config.to_dict()) == {**SHAPE, "num_hidden_layers": 1, "intermediate_size": 8}
    set_dropout(shrunk, attention=0.0, hidden=0.05)
    assert getattr(shrunk.config, family.attention_dropout) == 0.0
    assert getattr(shrunk.config, family.hidden_dropout) == 0.05


def test_an_unknown_model_type_is_taken_as_bert_like():
    family = model_family("my-encoder")
    assert family.model_type == "my-encoder" and family.shape_names == SHAPE_FIELDS
    assert family.attention_interface


def test_the_dry_run_rejects_an_attention_term_for_a_family_without_capture():
    from destila.train.dry_run import _check_stage

    teacher = _tiny(FAMILIES["deberta-v2"])
    student = build_student(teacher, {"layers": [2]})
    stage = SimpleNamespace(name="joint", loss=all_terms(layer_map=[2]))
    with pytest.raises(ConfigError, match=r"stages\[joint\].loss: attention needs attention capture.*deberta-v2"):
        _check_stage(stage, student, teacher)
    stage.loss = all_terms(attention=0.0, layer_map=[2], projection="none")
    on = ", ".join(name for name in TERMS if name != "attention")
    assert f"losses {on}" in _check_stage(stage, student, teacher)
