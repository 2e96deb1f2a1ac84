"""Distillation components: attention capture, layer maps, and every loss term against plain re-computations."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    BertConfig,
    BertForQuestionAnswering,
    RobertaConfig,
    RobertaForQuestionAnswering,
    XLMRobertaConfig,
    XLMRobertaForQuestionAnswering,
)

from destila.distill import TERMS, DistillationLoss, LayerMap, LossConfig, QAOutputs, run_qa_model
from destila.distill.capture import capture_attention
from destila.distill.losses import attention_mse, kd_loss, task_loss, value_relation_kl
from destila.errors import ConfigError, ModelError
from destila.models.students import build_student
from tiny import all_terms

VOCAB = 120


def _bert(layers, hidden, heads, seed):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
    )
    return BertForQuestionAnswering(config).eval()


def _roberta(cls, config_cls, layers, hidden, heads, seed):
    torch.manual_seed(seed)
    config = config_cls(
        vocab_size=VOCAB,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=72,
        pad_token_id=1,
        type_vocab_size=1,
    )
    return cls(config).eval()


@pytest.fixture(scope="module")
def teacher():
    return _bert(4, 32, 4, seed=0)


@pytest.fixture(scope="module")
def student():
    return _bert(2, 16, 2, seed=1)


@pytest.fixture(scope="module")
def clone(teacher):
    """A student that is the teacher: all four layers copied."""
    return build_student(teacher, {"layers": [1, 2, 3, 4]}).eval()


def _batch(lengths=(9, 6), total=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    total = total or max(lengths)
    ids = torch.randint(5, VOCAB, (len(lengths), total), generator=g)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        ids[i, n:] = 0
    types = torch.zeros_like(ids)
    types[:, 3:] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": types * mask,
        "start_positions": torch.tensor([1, 2] * (len(lengths) // 2) + [1] * (len(lengths) % 2)),
        "end_positions": torch.tensor([4, 3] * (len(lengths) // 2) + [4] * (len(lengths) % 2)),
    }


def _terms(loss_fn, student, teacher, batch):
    need = loss_fn.needs()
    with torch.no_grad():
        t_out = run_qa_model(teacher, batch, **need)
    return loss_fn(run_qa_model(student, batch, **need), t_out, batch)


ALL_ON = dict.fromkeys(TERMS, 1.0)
ATTENTION_VARIANTS = [
    {"attention_kind": "probs", "attention_heads": "per_head"},
    {"attention_kind": "scores", "attention_heads": "per_head"},
    {"attention_kind": "probs", "attention_heads": "mean"},
    {"attention_kind": "scores", "attention_heads": "mean"},
    {"attention_heads": "relations"},
]


# --- attention capture -------------------------------------------------------------------------------------------


def _tiny_models():
    return [
        _bert(2, 32, 4, seed=3),
        _roberta(RobertaForQuestionAnswering, RobertaConfig, 2, 32, 4, seed=4),
        _roberta(XLMRobertaForQuestionAnswering, XLMRobertaConfig, 2, 32, 4, seed=5),
    ]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["bert", "roberta", "xlm-r"])
def test_captured_scores_match_plain_recomputation(index):
    model = _tiny_models()[index]
    batch = _batch((8, 5))
    if model.config.type_vocab_size == 1:
        batch.pop("token_type_ids")
        batch["input_ids"] = (
            batch["input_ids"].clamp_min(2) * batch["attention_mask"] + 1 - batch["attention_mask"]
        )
    before = model.config._attn_implementation
    out = run_qa_model(model, batch, hidden=True, attentions=True, scores=True, values=True)
    assert model.config._attn_implementation == before  # switched back after capturing

    encoder = model.base_model.encoder
    for layer_index, layer in enumerate(encoder.layer):
        attn = layer.attention.self
        x = out.hidden_states[layer_index]
        b, length, _ = x.shape
        heads, d = attn.num_attention_heads, attn.attention_head_size
        q = attn.query(x).view(b, length, heads, d).transpose(1, 2)
        k = attn.key(x).view(b, length, heads, d).transpose(1, 2)
        v = attn.value(x).view(b, length, heads, d).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        torch.testing.assert_close(out.attention_scores[layer_index], scores, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.values[layer_index], v, atol=1e-6, rtol=1e-6)
        keys = batch["attention_mask"].bool()[:, None, None, :]
        probs = torch.softmax(scores.masked_fill(~keys, float("-inf")), dim=-1)
        torch.testing.assert_close(out.attentions[layer_index], probs, atol=1e-6, rtol=1e-5)
        assert torch.isfinite(out.attention_scores[layer_index]).all()


@pytest.mark.parametrize("index", [0, 1, 2], ids=["bert", "roberta", "xlm-r"])
def test_capture_matches_stock_eager_and_sdpa(index):
    model = _tiny_models()[index]
    batch = _batch((8, 5))
    batch.pop("token_type_ids")
    inputs = {"input_ids": batch["input_ids"] + 2, "attention_mask": batch["attention_mask"]}
    captured = run_qa_model(model, inputs, hidden=True, attentions=True)
    plain = run_qa_model(model, inputs)  # the model's own (sdpa) attention
    model.set_attn_implementation("eager")
    try:
        eager = model(**inputs, output_attentions=True, output_hidden_states=True)
    finally:
        model.set_attn_implementation("sdpa")
    for a, b in zip(captured.attentions, eager.attentions, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    for a, b in zip(captured.hidden_states, eager.hidden_states, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    torch.testing.assert_close(captured.start_logits, eager.start_logits, atol=0, rtol=0)
    torch.testing.assert_close(captured.start_logits, plain.start_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(captured.end_logits, plain.end_logits, atol=1e-5, rtol=1e-5)


def test_dropped_maps_are_what_output_attentions_returns_in_train_mode():
    model = _roberta(RobertaForQuestionAnswering, RobertaConfig, 2, 32, 4, seed=6)
    batch = _batch((8, 5))
    inputs = {"input_ids": batch["input_ids"] + 2, "attention_mask": batch["attention_mask"]}
    model.set_attn_implementation("eager")
    model.train()
    try:
        torch.manual_seed(11)
        captured = run_qa_model(model, inputs, attentions=True, dropped_attentions=True, layers=[2])
        torch.manual_seed(11)
        stock = model(**inputs, output_attentions=True)
        assert captured.dropped_attentions[0] is None and captured.attentions[0] is None
        torch.testing.assert_close(captured.dropped_attentions[1], stock.attentions[1], atol=0, rtol=0)
        torch.testing.assert_close(captured.start_logits, stock.start_logits, atol=0, rtol=0)
        dropped, probs = captured.dropped_attentions[1], captured.attentions[1]
        assert (dropped == 0).any() and not torch.equal(dropped, probs)
        keep = dropped != 0  # inverted dropout: kept entries are scaled by 1 / (1 - p)
        p = model.config.attention_probs_dropout_prob
        torch.testing.assert_close(dropped[keep], probs[keep] / (1 - p))
        # the recorded tensor is the one the layer used: gradients reach the layer's query weights through it
        (dropped**2).sum().backward()
        assert model.roberta.encoder.layer[1].attention.self.query.weight.grad.abs().sum() > 0
        model.eval()
        with torch.no_grad():
            out = run_qa_model(model, inputs, attentions=True, dropped_attentions=True)
        for a, b in zip(out.attentions, out.dropped_attentions, strict=True):
            assert torch.equal(a, b)  # no dropout in eval mode
    finally:
        model.set_attn_implementation("sdpa")
        model.eval()


def test_capture_records_nothing_outside_its_block(teacher):
    batch = _batch()
    with capture_attention(teacher, scores=True) as rec:
        teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert len(rec.recorded_scores) == teacher.config.num_hidden_layers
    teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert len(rec.recorded_scores) == teacher.config.num_hidden_layers
    plain = run_qa_model(teacher, batch)
    assert plain.attentions is None and plain.attention_scores is None and plain.hidden_states is None


def test_scores_carry_gradients_in_train_mode(student):
    student.train()
    try:
        out = run_qa_model(student, _batch(), scores=True, attentions=True)
        sum(s.sum() for s in out.attention_scores).backward()
    finally:
        student.eval()
    grad = student.bert.encoder.layer[0].attention.self.query.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    student.zero_grad()


# --- layer maps ---------------------------------------------------------------------------------------------------


def test_uniform_layer_map():
    assert LayerMap.uniform(2, 4).pairs == ((1, 2), (2, 4))
    assert LayerMap.uniform(6, 24).pairs == ((1, 4), (2, 8), (3, 12), (4, 16), (5, 20), (6, 24))
    with pytest.raises(ConfigError, match="multiple"):
        LayerMap.uniform(3, 4)


def test_layer_map_from_list_and_validation():
    assert LayerMap.from_list([1, 3]).pairs == ((1, 1), (2, 3))
    assert LayerMap.from_list([[2, 4], [1, 1]]).pairs == ((2, 4), (1, 1))
    LayerMap.from_list([1, 3]).validate(2, 4)
    with pytest.raises(ConfigError, match=r"entry 1 \(2 -> 5\).*teacher layer 5"):
        LayerMap.from_list([1, 5]).validate(2, 4)
    with pytest.raises(ConfigError, match="student layer 3"):
        LayerMap.from_list([[3, 4]]).validate(2, 4)
    with pytest.raises(ConfigError, match="teacher layer 0"):
        LayerMap.from_list([0, 2]).validate(2, 4)
    with pytest.raises(ConfigError, match="mapped twice"):
        LayerMap.from_list([[1, 2], [1, 4]])
    with pytest.raises(ConfigError, match=r"layer_map\[1\]"):
        LayerMap.from_list([1, "x"])
    with pytest.raises(ConfigError, match="one form"):
        LayerMap.from_list([1, [2, 4]])
    with pytest.raises(ConfigError, match="empty"):
        LayerMap.from_list([])


def test_loss_rejects_a_layer_map_outside_the_models(student, teacher):
    with pytest.raises(ConfigError, match="teacher layer 7"):
        DistillationLoss(
            all_terms(layer_map=[2, 7], attention_heads="mean"),
            student_config=student.config,
            teacher_config=teacher.config,
        )
    with pytest.raises(ConfigError, match="multiple"):
        DistillationLoss(
            all_terms(attention_heads="mean"),
            student_config=_bert(3, 16, 2, 0).config,
            teacher_config=teacher.config,
        )


# --- configuration ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kd": -1.0}, "loss.kd"),
        ({"hidden": float("nan")}, "loss.hidden"),
        ({"temperature": 0}, "loss.temperature"),
        ({"kd_kind": "mse"}, "loss.kd_kind"),
        ({"attention_kind": "logits"}, "loss.attention_kind"),
        ({"attention_heads": "all"}, "loss.attention_heads"),
        ({"projection": "linear"}, "loss.projection"),
        ({"layer_map": "every-other"}, "loss.layer_map"),
        ({"layer_map": [1, "x"]}, "loss.layer_map"),
        ({"mask_padding": "yes"}, "loss.mask_padding"),
        ({"kd_reduction": "avg"}, "loss.kd_reduction"),
        ({"attention_dropout_maps": 1}, "loss.attention_dropout_maps"),
        ({"attention_dropout_maps": True, "attention_kind": "scores"}, "loss.attention_dropout_maps"),
        ({"attention_dropout_maps": True, "attention_heads": "relations"}, "loss.attention_dropout_maps"),
        ({"relation_heads": 0}, "loss.relation_heads"),
    ],
)
def test_loss_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        LossConfig(**kwargs)


def test_loss_config_from_dict_and_presets():
    with pytest.raises(ConfigError, match="tempreature"):
        LossConfig.from_dict({"tempreature": 2.0})
    cfg = LossConfig.from_dict({"temperature": 2, "layer_map": [2, 4]})
    assert cfg.temperature == 2.0 and LossConfig.from_dict(cfg.to_dict()) == cfg
    paper = LossConfig.paper()
    assert (paper.ce, paper.kd, paper.hidden, paper.attention, paper.embedding) == (1, 1, 1, 1, 1)
    assert not paper.mask_padding and paper.kd_kind == "kl" and paper.attention_kind == "probs"
    assert paper.kd_reduction == "sum" and paper.attention_dropout_maps
    default = LossConfig()
    assert default.active() == []  # every term is off until a recipe turns it on
    assert default.kd_reduction == "mean" and not default.attention_dropout_maps and default.mask_padding
    stage1, stage2 = LossConfig.tinybert_intermediate(), LossConfig.tinybert_prediction()
    assert stage1.ce == stage1.kd == 0 and stage1.attention_kind == "scores"
    assert stage2.kd_kind == "soft_ce" and stage2.hidden == stage2.attention == stage2.embedding == 0


def test_needs_follow_the_config(student, teacher):
    def needs(**kw):
        cfg = all_terms(**{"attention_heads": "mean", **kw})
        return DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config).needs()

    off = {"hidden": False, "attentions": False, "dropped_attentions": False, "scores": False, "values": False}
    assert needs() == {**off, "hidden": True, "attentions": True}
    assert needs(attention_kind="scores", hidden=0, embedding=0) == {**off, "scores": True}
    assert needs(attention_dropout_maps=True, hidden=0, embedding=0) == {**off, "dropped_attentions": True}
    assert needs(attention_heads="relations")["values"] is True
    assert not any(needs(hidden=0, embedding=0, attention=0).values())


def test_projection_none_needs_equal_widths(student, teacher, clone):
    with pytest.raises(ConfigError, match="loss.projection.*equal widths"):
        DistillationLoss(
            all_terms(projection="none", attention_heads="mean"),
            student_config=student.config,
            teacher_config=teacher.config,
        )
    # no hidden or embedding term: no projection needed, so no error
    DistillationLoss(
        all_terms(projection="none", attention_heads="mean", hidden=0, embedding=0),
        student_config=student.config,
        teacher_config=teacher.config,
    )
    loss_fn = DistillationLoss(
        all_terms(projection="none"), student_config=clone.config, teacher_config=teacher.config
    )
    assert loss_fn.projection_parameters() == []


def test_missing_outputs_are_reported(student, teacher):
    loss_fn = DistillationLoss(
        all_terms(attention_heads="mean"), student_config=student.config, teacher_config=teacher.config
    )
    batch = _batch()
    with pytest.raises(ModelError, match="needs"):
        loss_fn(run_qa_model(student, batch), run_qa_model(teacher, batch), batch)


# --- zero for the teacher itself, positive otherwise ---------------------------------------------------------------


@pytest.mark.parametrize("variant", ATTENTION_VARIANTS, ids=lambda v: "-".join(v.values()))
@pytest.mark.parametrize("projection", ["none", "shared", "per_layer"])
def test_every_term_is_zero_when_the_student_is_the_teacher(clone, teacher, variant, projection):
    cfg = LossConfig(**ALL_ON, **variant, projection=projection, layer_map=[1, 2, 3, 4], temperature=2.0)
    loss_fn = DistillationLoss(cfg, student_config=clone.config, teacher_config=teacher.config)
    with torch.no_grad():  # identity projections
        for p in loss_fn.projection_parameters():
            p.copy_(torch.eye(32) if p.dim() == 2 else torch.zeros(32))
    terms = _terms(loss_fn, clone, teacher, _batch())
    assert set(terms) == {*TERMS, "loss"}
    for name in (name for name, term in TERMS.items() if term.reads_teacher):
        assert terms[name].abs().item() < 1e-6, (name, terms[name].item())
    assert terms["ce"].item() > 0  # labels differ from what a random model predicts
    torch.testing.assert_close(terms["loss"], terms["ce"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", [v for v in ATTENTION_VARIANTS if v.get("attention_heads") != "per_head"])
@pytest.mark.parametrize("projection", ["shared", "per_layer"])
def test_every_term_is_positive_for_a_different_student(student, teacher, variant, projection):
    cfg = LossConfig(**ALL_ON, **variant, projection=projection)
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    terms = _terms(loss_fn, student, teacher, _batch())
    for name in TERMS:
        assert torch.isfinite(terms[name]) and terms[name].item() > 0, name
    weighted = sum(getattr(cfg, n) * terms[n] for n in TERMS)
    torch.testing.assert_close(terms["loss"], weighted)


def test_per_head_attention_positive_for_a_same_heads_student(teacher):
    other = _bert(2, 16, 4, seed=7)
    for kind in ("probs", "scores"):
        loss_fn = DistillationLoss(
            all_terms(attention_kind=kind), student_config=other.config, teacher_config=teacher.config
        )
        assert _terms(loss_fn, other, teacher, _batch())["attention"].item() > 0


def test_unequal_head_counts(student, teacher):
    with pytest.raises(ConfigError, match="per_head.*equal head counts"):
        DistillationLoss(all_terms(), student_config=student.config, teacher_config=teacher.config)
    for heads in ("mean", "relations"):
        loss_fn = DistillationLoss(
            all_terms(attention_heads=heads), student_config=student.config, teacher_config=teacher.config
        )
        value = _terms(loss_fn, student, teacher, _batch())["attention"]
        assert torch.isfinite(value) and value.item() > 0
    with pytest.raises(ConfigError, match="relation_heads"):
        DistillationLoss(
            all_terms(attention_heads="relations", relation_heads=3),
            student_config=student.config,
            teacher_config=teacher.config,
        )


# --- padding ----------------------------------------------------------------------------------------------------


def _garbage_at_padding(out: QAOutputs, mask: torch.Tensor, seed: int) -> QAOutputs:
    """A copy of `out` whose every entry that touches a padding position is replaced by large random values."""
    g = torch.Generator().manual_seed(seed)
    pad = ~mask.bool()

    def noisy(x, where):
        junk = torch.randn(x.shape, generator=g) * 1e3
        return torch.where(where.expand_as(x), junk, x)

    def pairs(x):  # (B, h, L, L): padding query or key
        return pad[:, None, :, None] | pad[:, None, None, :]

    changes = {
        "start_logits": noisy(out.start_logits, pad),
        "end_logits": noisy(out.end_logits, pad),
    }
    if out.hidden_states is not None:
        changes["hidden_states"] = tuple(noisy(h, pad[:, :, None]) for h in out.hidden_states)
    for name in ("attentions", "attention_scores"):
        if getattr(out, name) is not None:
            changes[name] = tuple(noisy(a, pairs(a)) for a in getattr(out, name))
    if out.values is not None:
        changes["values"] = tuple(noisy(v, pad[:, None, :, None]) for v in out.values)
    return dataclasses.replace(out, **changes)


@pytest.mark.parametrize("variant", [v for v in ATTENTION_VARIANTS if v.get("attention_heads") != "per_head"])
@pytest.mark.parametrize("kd_kind", ["kl", "soft_ce"])
def test_padding_garbage_changes_no_loss(student, teacher, variant, kd_kind):
    cfg = LossConfig(**ALL_ON, **variant, kd_kind=kd_kind, temperature=1.5)
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    batch = _batch((9, 5, 7))
    need = loss_fn.needs()
    with torch.no_grad():
        s_out, t_out = run_qa_model(student, batch, **need), run_qa_model(teacher, batch, **need)
        clean = loss_fn(s_out, t_out, batch)
        mask = batch["attention_mask"]
        dirty = loss_fn(_garbage_at_padding(s_out, mask, 1), _garbage_at_padding(t_out, mask, 2), batch)
    assert set(clean) == set(dirty)
    for name in clean:
        torch.testing.assert_close(dirty[name], clean[name], atol=1e-6, rtol=1e-6)

    # the paper's unmasked variant does see the padding
    loss_unmasked = DistillationLoss(
        dataclasses.replace(cfg, mask_padding=False),
        student_config=student.config,
        teacher_config=teacher.config,
    )
    with torch.no_grad():
        a = loss_unmasked(s_out, t_out, batch)
        b = loss_unmasked(_garbage_at_padding(s_out, mask, 1), _garbage_at_padding(t_out, mask, 2), batch)
    assert not torch.allclose(a["loss"], b["loss"])


def test_extra_padding_changes_no_loss_end_to_end(student, teacher):
    cfg = LossConfig(**ALL_ON, attention_kind="scores", attention_heads="mean", temperature=2.0)
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    short, long = _batch((9, 6), seed=3), _batch((9, 6), total=16, seed=3)
    long["input_ids"][:, :9] = short["input_ids"]
    long["token_type_ids"][:, :9] = short["token_type_ids"]
    with torch.no_grad():
        a, b = _terms(loss_fn, student, teacher, short), _terms(loss_fn, student, teacher, long)
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-5, rtol=1e-4)


# --- gradients ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("projection", ["shared", "per_layer"])
def test_projections_receive_gradients(student, teacher, projection):
    cfg = LossConfig(**ALL_ON, attention_heads="mean", projection=projection)
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    params = loss_fn.projection_parameters()
    assert len(params) == (2 if projection == "shared" else 2 * 3)  # per_layer: embedding + 2 layers
    student.zero_grad()
    _terms(loss_fn, student, teacher, _batch())["loss"].backward()
    for p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    assert student.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    student.zero_grad()
    # the projections are not part of the student: nothing to drop from what it saves
    assert not set(map(id, params)) & set(map(id, student.parameters()))


# --- the terms against plain re-computations ----------------------------------------------------------------------


def test_kd_equals_plain_kl_div_and_soft_cross_entropy():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(3, 7, generator=g), torch.randn(3, 7, generator=g) * 2
    full = torch.ones(3, 7, dtype=torch.bool)
    for temperature in (1.0, 2.0, 0.5):
        ref = F.kl_div(
            F.log_softmax(s / temperature, -1), F.softmax(t / temperature, -1), reduction="batchmean"
        )
        ours = kd_loss(s, t, full, temperature=temperature, kind="kl")
        torch.testing.assert_close(ours, ref * temperature**2)
        unscaled = kd_loss(s, t, full, temperature=temperature, kind="kl", t2_scaling=False)
        torch.testing.assert_close(unscaled, ref)
        torch.testing.assert_close(ours, unscaled * temperature**2)
        pt = F.softmax(t / temperature, -1)
        soft_ce = -(pt * F.log_softmax(s / temperature, -1)).sum(-1).mean()
        torch.testing.assert_close(
            kd_loss(s, t, full, temperature=temperature, kind="soft_ce", t2_scaling=False), soft_ce
        )
        entropy = -(pt * pt.log()).sum(-1).mean()
        torch.testing.assert_close(soft_ce - entropy, ref)


def test_kd_with_padding_equals_kl_div_on_the_unpadded_rows():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(2, 6, generator=g), torch.randn(2, 6, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    per_row = [
        F.kl_div(F.log_softmax(s[0] / 2, -1), F.softmax(t[0] / 2, -1), reduction="sum"),
        F.kl_div(F.log_softmax(s[1, :4] / 2, -1), F.softmax(t[1, :4] / 2, -1), reduction="sum"),
    ]
    torch.testing.assert_close(kd_loss(s, t, mask, temperature=2.0), (per_row[0] + per_row[1]) / 2 * 4)


@pytest.mark.parametrize("reduction, factor", [("mean", 0.5), ("sum", 1.0)])
def test_kd_term_averages_or_adds_start_and_end(student, teacher, reduction, factor):
    cfg = LossConfig(ce=0, kd=1, hidden=0, attention=0, embedding=0, temperature=3.0, mask_padding=False,
                     kd_reduction=reduction)
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    batch = _batch()
    s_out, t_out = run_qa_model(student, batch), run_qa_model(teacher, batch)
    terms = loss_fn(s_out, t_out, batch)

    def kl(a, b):
        return F.kl_div(F.log_softmax(a / 3, -1), F.softmax(b / 3, -1), reduction="batchmean") * 9

    ref = (kl(s_out.start_logits, t_out.start_logits) + kl(s_out.end_logits, t_out.end_logits)) * factor
    torch.testing.assert_close(terms["kd"], ref)
    assert set(terms) == {"kd", "loss"}


def test_task_loss_equals_the_models_own_loss(student):
    batch = _batch((8, 8))
    batch["start_positions"] = torch.tensor([1, 30])  # out of range: ignored, as transformers does
    out = student(**batch)
    full = torch.ones_like(batch["attention_mask"], dtype=torch.bool)
    ours = task_loss(out.start_logits, out.end_logits, batch["start_positions"], batch["end_positions"], full)
    torch.testing.assert_close(ours, out.loss)


def test_task_loss_is_skipped_without_labels(student, teacher):
    cfg = all_terms(attention_heads="mean")
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    batch = _batch()
    del batch["start_positions"], batch["end_positions"]
    terms = _terms(loss_fn, student, teacher, batch)
    assert "ce" not in terms and "kd" in terms


def test_hidden_and_embedding_terms_equal_plain_mse_through_the_projection(student, teacher):
    cfg = LossConfig(ce=0, kd=0, attention=0, hidden=1, embedding=1)
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    batch = _batch((9, 6))
    s_out = run_qa_model(student, batch, hidden=True)
    t_out = run_qa_model(teacher, batch, hidden=True)
    terms = loss_fn(s_out, t_out, batch)
    proj = loss_fn.projection

    def mse(a, b):  # example 0 has 9 tokens, example 1 has 6
        sq = torch.cat([((proj(a[0]) - b[0]) ** 2).flatten(), ((proj(a[1, :6]) - b[1, :6]) ** 2).flatten()])
        return sq.mean()

    torch.testing.assert_close(terms["embedding"], mse(s_out.hidden_states[0], t_out.hidden_states[0]))
    ref = mse(s_out.hidden_states[1], t_out.hidden_states[2]) + mse(
        s_out.hidden_states[2], t_out.hidden_states[4]
    )
    torch.testing.assert_close(terms["hidden"], ref)


def test_attention_mse_against_plain_recomputation():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(2, 3, 5, 5, generator=g), torch.randn(2, 3, 5, 5, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    ref = torch.cat(
        [((s[0] - t[0]) ** 2).flatten(), ((s[1, :, :3, :3] - t[1, :, :3, :3]) ** 2).flatten()]
    ).mean()
    torch.testing.assert_close(attention_mse(s, t, mask), ref)
    ref_mean = torch.cat(
        [
            ((s[0].mean(0) - t[0].mean(0)) ** 2).flatten(),
            ((s[1].mean(0)[:3, :3] - t[1].mean(0)[:3, :3]) ** 2).flatten(),
        ]
    ).mean()
    torch.testing.assert_close(attention_mse(s, t, mask, heads="mean"), ref_mean)
    # unmasked probabilities: plain MSE; unmasked scores: padding keys zeroed on both sides (TinyBERT)
    torch.testing.assert_close(attention_mse(s, t, mask, mask_padding=False), F.mse_loss(s, t))
    keys = mask[:, None, None, :]
    ref_scores = F.mse_loss(s.masked_fill(~keys, 0), t.masked_fill(~keys, 0))
    torch.testing.assert_close(attention_mse(s, t, mask, kind="scores", mask_padding=False), ref_scores)


def test_value_relation_against_plain_recomputation():
    g = torch.Generator().manual_seed(3)
    sv, tv = torch.randn(2, 2, 5, 8, generator=g), torch.randn(2, 4, 5, 8, generator=g)  # widths 16 and 32
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], dtype=torch.bool)

    def relation(v, n, groups=2):  # one example, first n tokens
        x = v.transpose(0, 1)[:n].reshape(n, -1)  # (n, width)
        x = x.view(n, groups, -1).transpose(0, 1)  # (groups, n, width / groups)
        return F.log_softmax(x @ x.transpose(-1, -2) / math.sqrt(x.size(-1)), -1)

    rows = []
    for b, n in ((0, 5), (1, 4)):
        rs, rt = relation(sv[b], n), relation(tv[b], n)
        rows.append((rt.exp() * (rt - rs)).sum(-1).flatten())
    ref = torch.cat(rows).mean()
    torch.testing.assert_close(value_relation_kl(sv, tv, mask, relation_heads=2), ref)
    same = value_relation_kl(tv, tv, mask, relation_heads=4)
    assert same.abs().item() < 1e-6


def test_capture_refuses_gradient_checkpointing():
    # Its backward pass would recompute the layers with the model's own attention, not the recording one.
    torch.manual_seed(9)
    config = BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32)
    checkpointed = BertForQuestionAnswering(config)
    checkpointed.activation_checkpointing_enable()
    checkpointed.train()
    with pytest.raises(ModelError, match="gradient checkpointing"):
        run_qa_model(checkpointed, _batch(), scores=True)
    out = run_qa_model(checkpointed, _batch(), hidden=True)  # no attention internals: nothing to refuse
    assert len(out.hidden_states) == 3


def test_recording_only_mapped_layers(student, teacher):
    batch = _batch((9, 6))
    with torch.no_grad():
        full = run_qa_model(teacher, batch, attentions=True, scores=True, values=True)
        some = run_qa_model(teacher, batch, attentions=True, scores=True, values=True, layers=[2, 4])
    for name in ("attentions", "attention_scores", "values"):
        got, ref = getattr(some, name), getattr(full, name)
        assert len(got) == 4 and got[0] is None and got[2] is None
        torch.testing.assert_close(got[1], ref[1], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(got[3], ref[3], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(some.start_logits, full.start_logits, atol=1e-5, rtol=1e-5)
    with pytest.raises(ModelError, match="1-based"):
        run_qa_model(teacher, batch, scores=True, layers=[0])

    cfg = LossConfig(**ALL_ON, attention_heads="mean", attention_kind="scores")
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    assert loss_fn.forward_kwargs("teacher")["layers"] == (2, 4)
    assert loss_fn.forward_kwargs("student")["layers"] == (1, 2)
    with torch.no_grad():
        a = _terms(loss_fn, student, teacher, batch)
        t_out = run_qa_model(teacher, batch, **loss_fn.forward_kwargs("teacher"))
        b = loss_fn(run_qa_model(student, batch, **loss_fn.forward_kwargs("student")), t_out, batch)
        for name in a:
            torch.testing.assert_close(b[name], a[name], atol=1e-5, rtol=1e-5)
        wrong = run_qa_model(teacher, batch, **{**loss_fn.needs(), "layers": [1]})
        with pytest.raises(ModelError, match=r"mapped layer\(s\) \[2, 4\]"):
            loss_fn(run_qa_model(student, batch, **loss_fn.needs()), wrong, batch)
    no_attention = DistillationLoss(
        all_terms(attention=0), student_config=student.config, teacher_config=teacher.config
    )
    assert "layers" not in no_attention.forward_kwargs("teacher")
