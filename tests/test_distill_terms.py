"""The term registry: what follows from it (LossConfig's weights, needs, the docs table), recording only the mapped
layers of a 24-layer teacher, and LossConfig loading without torch."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForQuestionAnswering

from destila.distill import TERMS, DistillationLoss, LossConfig, run_qa_model
from destila.distill.terms import CAPTURES
from destila.errors import ConfigError
from tiny import all_terms

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 60


def _bert(layers, hidden, heads, seed):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=2 * hidden, max_position_embeddings=32, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    return BertForQuestionAnswering(config).eval()


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (2, 10), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return {"input_ids": ids * mask, "attention_mask": mask, "start_positions": torch.tensor([1, 2]),
            "end_positions": torch.tensor([3, 4])}


def test_loss_config_has_one_weight_per_registered_term():
    names = [f.name for f in dataclasses.fields(LossConfig)]
    assert names[: len(TERMS)] == list(TERMS)
    assert all(getattr(LossConfig(), name) == 0.0 for name in TERMS)  # off unless a recipe turns it on
    for name in TERMS:
        with pytest.raises(ConfigError, match=f"loss.{name}"):
            LossConfig(**{name: -1.0})
    nothing = LossConfig(**dict.fromkeys(TERMS, 0.0))
    with pytest.raises(ConfigError, match=r"^loss: every weight .* is zero"):
        nothing.check_active()


def test_the_docs_table_lists_every_term():
    docs = (ROOT / "docs" / "distillation.md").read_text(encoding="utf-8")
    for name, term in TERMS.items():
        row = f"| `{name}` | {term.definition} | {term.normalisation} |"
        assert row in docs, f"docs/distillation.md's term table should have the row\n{row}"
    weights = ", ".join(f"`{name}`" for name in TERMS)
    assert f"| one weight per term ({weights}) |" in docs


@pytest.mark.parametrize("weights, variant, needs, internals, teacher", [
    ({"ce": 1.0}, {}, set(), False, False),
    ({"kd": 1.0}, {}, set(), False, True),
    ({"embedding": 1.0}, {}, {"hidden"}, True, True),
    ({"attention": 1.0}, {"attention_kind": "scores"}, {"scores"}, True, True),
    ({"attention": 1.0, "hidden": 1.0}, {"attention_heads": "relations"}, {"hidden", "values"}, True, True),
])
def test_what_the_loss_records_follows_from_its_terms(weights, variant, needs, internals, teacher):
    cfg = LossConfig(**{**dict.fromkeys(TERMS, 0.0), **weights, "attention_heads": "mean", **variant})
    loss_fn = DistillationLoss(cfg, student_config=_bert(2, 16, 2, 0).config,
                               teacher_config=_bert(4, 32, 4, 0).config)
    assert list(loss_fn.terms) == [name for name in TERMS if name in weights]
    assert loss_fn.needs() == {name: name in needs for name in CAPTURES}
    assert loss_fn.needs_internals() is internals
    assert loss_fn.needs_teacher() is teacher
    layers = loss_fn.forward_kwargs("teacher").get("layers")
    assert layers == ((2, 4) if "attention" in weights else None)


def test_a_24_layer_teacher_records_only_its_6_mapped_layers(monkeypatch):
    teacher, student = _bert(24, 8, 2, seed=0), _bert(6, 8, 2, seed=1)
    cfg = all_terms(attention_heads="per_head", layer_map="uniform")
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    batch = _batch()
    fused = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **kw: fused.append(1) or sdpa(*a, **kw))

    with torch.no_grad():
        t_some = run_qa_model(teacher, batch, **loss_fn.forward_kwargs("teacher"))
    assert len(fused) == 18  # the unmapped layers ran the fused kernel
    with torch.no_grad():
        t_all = run_qa_model(teacher, batch, **loss_fn.needs())
    assert len(fused) == 18
    assert [i + 1 for i, a in enumerate(t_some.attentions) if a is not None] == [4, 8, 12, 16, 20, 24]
    assert all(a is not None for a in t_all.attentions) and len(t_all.attentions) == 24

    student.train()  # with gradients, as in training
    s_some = run_qa_model(student, batch, **loss_fn.forward_kwargs("student"))
    assert sum(a is not None for a in s_some.attentions) == 6
    some = loss_fn(s_some, t_some, batch)
    some["loss"].backward()
    grads_some = [p.grad.clone() for p in student.parameters()]
    student.zero_grad()
    loss_fn.zero_grad()
    everything = loss_fn(run_qa_model(student, batch, **loss_fn.needs()), t_all, batch)
    everything["loss"].backward()
    for name in everything:
        torch.testing.assert_close(some[name], everything[name], atol=1e-5, rtol=1e-5)
    for a, b in zip(grads_some, (p.grad for p in student.parameters()), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_unmapped_student_layers_stay_eager_with_gradients():
    teacher, student = _bert(8, 8, 2, seed=0), _bert(4, 8, 2, seed=1)
    cfg = LossConfig(attention=1.0, layer_map=[[2, 4], [4, 8]])
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    assert loss_fn.forward_kwargs("student")["layers"] == (2, 4)
    batch = _batch(1)
    with torch.no_grad():
        t_out = run_qa_model(teacher, batch, **loss_fn.needs())
    student.train()
    values = []
    for kwargs in (loss_fn.forward_kwargs("student"), loss_fn.needs()):
        student.zero_grad()
        out = run_qa_model(student, batch, **kwargs)
        loss = loss_fn(out, t_out, batch)["loss"]
        loss.backward()
        grads = {name: p.grad.clone() for name, p in student.named_parameters() if p.grad is not None}
        values.append((loss.detach(), grads, out.attentions))
    (a, grads_a, maps_a), (b, grads_b, _) = values
    assert [m is not None for m in maps_a] == [False, True, False, True]
    assert "bert.encoder.layer.0.attention.self.query.weight" in grads_a and grads_a.keys() == grads_b.keys()
    assert torch.equal(a, b)  # the same eager arithmetic whether or not a layer is kept
    for name, grad in grads_a.items():
        assert torch.equal(grad, grads_b[name]), name


def test_loss_config_and_recipes_load_without_torch():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'transformers'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from destila.config import load_recipe\n"
        "from destila.distill.loss_config import LossConfig\n"
        "cfg = load_recipe('configs/tinybert.yaml')\n"
        "assert cfg.stage_loss(cfg.stages[1]).kd_kind == 'soft_ce'\n"
        "assert LossConfig.from_dict({'temperature': '2'}).temperature == 2.0\n"
    )
    src = str(ROOT / "src")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
