"""Structured pruning (destila.models.prune): importance scores, the shape rule, the pruned model and its folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from destila.errors import ConfigError
from destila.models.prune import (
    Importance,
    PrunePlan,
    PruneSpec,
    Shape,
    SpeedTable,
    candidate_shapes,
    choose_shape,
    importance,
    make_plan,
    prune_model,
    removal_cost,
    spread_layers,
)


def tiny_model(layers=3, hidden=32, heads=4, ffn=24, seed=0, dtype=torch.float32):
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=97, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=ffn, max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, attn_implementation="eager")
    model = BertForQuestionAnswering(config).to(dtype).eval()
    with torch.no_grad():  # LayerNorms and biases away from their init, so that every structure matters
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
    return model


def windows(n=6, length=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        t = length - (i % 3)
        start = int(torch.randint(1, t - 2, (1,), generator=g))
        out.append({"input_ids": torch.randint(5, 97, (1, t), generator=g),
                    "attention_mask": torch.ones(1, t, dtype=torch.long),
                    "token_type_ids": torch.zeros(1, t, dtype=torch.long),
                    "start_positions": torch.tensor([start]), "end_positions": torch.tensor([start + 1])})
    return out


def reference_importance(model, batches):
    """The same Fisher scores without hooks: each mask scales the weights it stands for (a head's columns of the
    attention output projection, a neuron's column of the FFN output projection, a hidden dimension's LayerNorm
    weight and bias everywhere), through torch.func.functional_call."""
    from torch.func import functional_call

    c = model.config
    size = c.hidden_size // c.num_attention_heads
    params = dict(model.named_parameters())
    totals = [torch.zeros(c.num_hidden_layers, c.num_attention_heads, dtype=torch.float64),
              torch.zeros(c.num_hidden_layers, c.intermediate_size, dtype=torch.float64),
              torch.zeros(c.hidden_size, dtype=torch.float64)]
    for batch in batches:
        h = torch.ones(c.num_hidden_layers, c.num_attention_heads, dtype=torch.float64, requires_grad=True)
        n = torch.ones(c.num_hidden_layers, c.intermediate_size, dtype=torch.float64, requires_grad=True)
        z = torch.ones(c.hidden_size, dtype=torch.float64, requires_grad=True)
        scaled = {}
        for name, p in params.items():
            value = p.detach()
            parts = name.split(".")
            if "LayerNorm" in name:
                value = value * z
            elif name.endswith("attention.output.dense.weight"):
                layer = int(parts[parts.index("layer") + 1])
                value = value * torch.repeat_interleave(h[layer], size)[None, :]
            elif name.endswith("output.dense.weight") and "attention" not in name:
                layer = int(parts[parts.index("layer") + 1])
                value = value * n[layer][None, :]
            scaled[name] = value
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        out = functional_call(model, scaled, args=(), kwargs={**inputs, "start_positions": batch["start_positions"],
                                                             "end_positions": batch["end_positions"]})
        grads = torch.autograd.grad(out.loss, (h, n, z))
        totals = [t + g ** 2 for t, g in zip(totals, grads)]
    return [t.numpy() for t in totals]


def test_importance_equals_a_float64_recomputation():
    model = tiny_model(dtype=torch.float64)
    batches = windows()
    scores = importance(model, batches)
    heads, neurons, hidden = reference_importance(model, batches)
    assert scores.windows == len(batches)
    np.testing.assert_allclose(scores.heads, heads, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(scores.neurons, neurons, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(scores.hidden, hidden, rtol=1e-9, atol=1e-14)
    assert scores.heads.min() > 0 and scores.neurons.max() > 0  # every structure scored, not all zero
    assert all(p.requires_grad for p in model.parameters())  # the model is given back trainable


def _plan(model, layers, heads, neurons, hidden=None):
    c = model.config
    return PrunePlan(layers=layers, heads=heads, neurons=neurons,
                     hidden=list(range(c.hidden_size)) if hidden is None else hidden,
                     head_size=c.hidden_size // c.num_attention_heads, predicted_speedup=1.0, cost=0.0)


def _masked(model, plan):
    """`model` with the heads and neurons the plan removes zeroed (their output columns), layers dropped."""
    import copy

    from destila.models.students import sub_network

    masked = copy.deepcopy(model)
    size = plan.head_size
    with torch.no_grad():
        for layer, heads, neurons in zip(plan.layers, plan.heads, plan.neurons):
            block = masked.bert.encoder.layer[layer - 1]
            for h in set(range(model.config.num_attention_heads)) - set(heads):
                block.attention.output.dense.weight[:, h * size:(h + 1) * size] = 0
            for f in set(range(model.config.intermediate_size)) - set(neurons):
                block.output.dense.weight[:, f] = 0
    return masked, sub_network(masked, plan.layers)


def test_removing_zero_masked_neurons_and_layers_leaves_outputs_unchanged():
    model = tiny_model()
    plan_full = _plan(model, layers=[1, 3], heads=[[0, 1, 2, 3], [0, 1, 2, 3]],
                      neurons=[list(range(0, 24, 2)), list(range(12))])
    pruned_full = prune_model(model, plan_full)
    assert pruned_full.config.num_hidden_layers == 2 and pruned_full.config.intermediate_size == 12
    masked, ctx = _masked(model, plan_full)
    batch = windows(1)[0]
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with ctx, torch.no_grad():
        want = masked(**inputs)
    got = pruned_full(**inputs)
    torch.testing.assert_close(got.start_logits, want.start_logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(got.end_logits, want.end_logits, atol=1e-6, rtol=0)


def test_removing_zero_masked_heads_leaves_the_attention_output_unchanged():
    """Fewer heads at the same hidden size is no plain config (heads go with hidden dimensions, whose removal
    changes what LayerNorm averages over), so heads are checked where they end: zeroing two of four heads'
    output columns equals the projection of the kept heads alone, which is what the pruned model computes."""
    model = tiny_model(layers=1)
    block = model.bert.encoder.layer[0]
    seen = {}
    block.attention.output.dense.register_forward_pre_hook(lambda m, a: seen.__setitem__("x", a[0]))
    batch = windows(1)[0]
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        model(**inputs)
        x = seen["x"]
        keep = [0, 3]
        cols = torch.tensor([h * 8 + j for h in keep for j in range(8)])
        w = block.attention.output.dense.weight
        zeroed = w.clone()
        zeroed[:, [c for c in range(32) if c not in cols.tolist()]] = 0
        torch.testing.assert_close(x @ zeroed.T, x[..., cols] @ w[:, cols].T, atol=1e-6, rtol=0)


def test_a_plan_whose_heads_do_not_fill_its_hidden_size_is_refused():
    model = tiny_model()
    with pytest.raises(ConfigError, match="heads"):
        prune_model(model, _plan(model, layers=[1], heads=[[0, 1]], neurons=[list(range(4))]))


def test_prune_save_reload_same_logits_and_loads_plain(tmp_path):
    model = tiny_model()
    plan = _plan(model, layers=[2, 3], heads=[[1, 2], [0, 3]], neurons=[list(range(10)), list(range(5, 15))],
                 hidden=list(range(0, 32, 2)))
    pruned = prune_model(model, plan)
    pruned.save_pretrained(tmp_path, safe_serialization=True)
    plan.save(tmp_path)
    from transformers import AutoModelForQuestionAnswering

    reloaded, info = AutoModelForQuestionAnswering.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    batch = windows(1)[0]
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        torch.testing.assert_close(reloaded.eval()(**inputs).start_logits, pruned(**inputs).start_logits)
    assert PrunePlan.load(tmp_path / "destila_prune.json") == plan
    assert (tmp_path / "model.safetensors").exists()

    # plain transformers, destila not importable
    script = ("import sys; sys.modules['destila'] = None\n"
              "import torch\nfrom transformers import AutoModelForQuestionAnswering\n"
              f"m, info = AutoModelForQuestionAnswering.from_pretrained({str(tmp_path)!r}, output_loading_info=True)\n"
              "assert not any(info.values()), info\n"
              "out = m(input_ids=torch.tensor([[2, 7, 9, 3]]))\nprint(tuple(out.start_logits.shape))")
    env = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 4)"


def test_make_plan_keeps_the_highest_scores_per_layer():
    scores = Importance(heads=np.array([[1.0, 5, 3, 2], [4, 1, 1, 9], [0, 0, 1, 2]]),
                        neurons=np.tile(np.arange(6, dtype=float), (3, 1)) * [[1], [-1], [1]],
                        hidden=np.array([3.0, 1, 2, 5, 0, 4, 6, 7]), windows=1)
    config = tiny_model(hidden=8, heads=4, ffn=6).config
    plan = make_plan(config, scores, Shape((1, 2), 4, 2), 2.0, 0.0, {})
    assert plan.layers == [1, 2]
    assert plan.heads == [[1, 2], [0, 3]]  # 4 hidden / head size 2 = 2 heads
    assert plan.neurons == [[4, 5], [0, 1]]
    assert plan.hidden == [3, 5, 6, 7]
    assert removal_cost(scores, Shape((1, 2), 4, 2), 2) == pytest.approx(
        0.5 * ((1 + 2) + (1 + 1) + (0 + 1 + 2 + 3) + (-2 - 3 - 4 - 5) + (0 + 0 + 1 + 2 + 15) + (0 + 1 + 2 + 3)))


class FakeSpeeds:
    """A speed table whose layer time is proportional to hidden x (hidden + ffn): the rule, without a clock."""

    measured = 0

    def model(self, layers, hidden, ffn):
        return 1.0 + layers * hidden * (hidden + ffn) / 1000

    whole = model

    def save(self):
        pass


def test_choose_shape_keeps_least_removed_importance_at_the_target():
    config = tiny_model(layers=4, hidden=32, heads=4, ffn=24).config
    rng = np.random.default_rng(0)
    scores = Importance(heads=rng.random((4, 4)), neurons=rng.random((4, 24)), hidden=rng.random(32), windows=1)
    spec = PruneSpec.from_dict({"target_speedup": 2.0})
    shape, speedup, cost, rows = choose_shape(config, scores, spec, FakeSpeeds())
    speeds = FakeSpeeds()
    teacher = speeds.model(4, 32, 24)
    assert speedup >= 2.0
    fits = [s for s in candidate_shapes(config, spec) if teacher / speeds.model(len(s.layers), s.hidden, s.ffn) >= 2]
    assert cost == min(removal_cost(scores, s, 8) for s in fits)
    assert len(rows) == len(candidate_shapes(config, spec))
    with pytest.raises(ConfigError, match="target_speedup"):
        choose_shape(config, scores, PruneSpec.from_dict({"target_speedup": 500.0}), FakeSpeeds())


def test_candidate_shapes_follow_the_spec():
    config = tiny_model(layers=12, hidden=32, heads=4, ffn=24).config
    assert spread_layers(12, 4) == (3, 6, 9, 12) and spread_layers(12, 6) == (2, 4, 6, 8, 10, 12)
    width_only = candidate_shapes(config, PruneSpec.from_dict({"structures": ["heads", "hidden", "ffn"]}))
    assert {len(s.layers) for s in width_only} == {12}
    fixed = candidate_shapes(config, PruneSpec.from_dict({"layers": [2, 4, 6, 8, 10, 12]}))
    assert {s.layers for s in fixed} == {(2, 4, 6, 8, 10, 12)}
    assert {s.hidden for s in fixed} == {32, 24, 16, 8}  # multiples of the head size 8, down to a quarter
    depth_only = candidate_shapes(config, PruneSpec.from_dict({"structures": ["layers"]}))
    assert {(s.hidden, s.ffn) for s in depth_only} == {(32, 24)}


@pytest.mark.parametrize("values, match", [
    ({"target_speedup": 0.5}, "target_speedup"),
    ({"structures": ["heads", "ffn"]}, "heads and hidden go together"),
    ({"structures": ["width"]}, "unknown structure"),
    ({"windows": 0}, "windows"),
    ({"layers": [0, 3]}, "layers"),
    ({"speedup": 3}, "unknown key"),
])
def test_spec_errors_name_the_key(values, match):
    with pytest.raises(ConfigError, match=match):
        PruneSpec.from_dict(values)


def test_student_spec_accepts_prune_and_checks_it():
    from destila.models.students import build_student, check_student_spec

    check_student_spec({"prune": {"target_speedup": 3}})
    with pytest.raises(ConfigError, match="student.prune.target_speedup"):
        check_student_spec({"prune": {"target_speedup": "fast"}})
    with pytest.raises(ConfigError, match="only one of"):
        check_student_spec({"prune": {}, "layers": [1]})
    with pytest.raises(ConfigError, match="training data"):
        build_student(tiny_model(), {"prune": {}})


def _forward_seconds(model, ids, repeats=7):
    with torch.inference_mode():
        model(input_ids=ids)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            model(input_ids=ids)
            times.append(time.perf_counter() - started)
    return sorted(times)[repeats // 2]


def test_the_speed_target_is_met_within_ten_percent_on_tiny_shapes(tmp_path):
    """The shape chosen from the speed table, built and timed as a whole model against the teacher, reaches
    the target within 10%."""
    torch.manual_seed(0)
    model = tiny_model(layers=6, hidden=128, heads=4, ffn=512)
    rng = np.random.default_rng(0)
    c = model.config
    scores = Importance(heads=rng.random((6, 4)), neurons=rng.random((6, 512)), hidden=rng.random(128), windows=1)
    spec = PruneSpec.from_dict({"target_speedup": 2.0, "timing_batch": 8, "timing_length": 64})
    speeds = SpeedTable(c, batch=8, length=64, path=tmp_path / "speeds.json", repeats=5)
    shape, predicted, cost, _ = choose_shape(c, scores, spec, speeds)
    pruned = prune_model(model, make_plan(c, scores, shape, predicted, cost, {}))
    ids = torch.randint(5, 97, (8, 64))
    ratios = [_forward_seconds(model, ids) / _forward_seconds(pruned, ids) for _ in range(3)]
    assert max(ratios) >= 0.9 * spec.target_speedup, (shape, predicted, ratios)
    cached = json.loads((tmp_path / "speeds.json").read_text())
    assert cached and all(v > 0 for v in cached.values())
    again = SpeedTable(c, batch=8, length=64, path=tmp_path / "speeds.json")
    assert again.layer(shape.hidden, shape.ffn) == speeds.layer(shape.hidden, shape.ffn) and again.measured == 0
