"""configs/paper.yaml computes what SpanishTinyRoBERTa's code computes; configs/paper-improved.yaml dry-runs; a
model card says which evaluation protocol produced its scores.

On a tiny RoBERTa teacher (4 layers) and student (1 layer, half the width, the same 2 heads, so the uniform map sends
student layer 1 to teacher layer 4), one batch with padding, the student in train mode with dropout: destila's loss
equals, term by term and in its gradients, a re-computation written here from the paper's formulas as the authors'
code applies them. The reference reads the models' own `output_attentions` / `output_hidden_states` and uses plain
tensor arithmetic only:

    task      ½ (CE(start) + CE(end)), softmax over every position; an answer outside the window is at position 0
    kd        T² KL(teacher ‖ student) per example, summed over positions, mean over the batch, for start PLUS end
    attention mean over every entry (padding included) of (student map m − teacher map 4m)², the student's map
              after attention dropout (what output_attentions returns in train mode)
    hidden    mean over every entry of (W h_student[m] + b − h_teacher[4m])², one shared (W, b), m = 0 (the
              embedding output; destila's `embedding` term) and m = 1 (destila's `hidden` term)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from transformers import RobertaConfig, RobertaForQuestionAnswering

from destila.config import load_recipe
from destila.distill import DistillationLoss, run_qa_model
from destila.train.card import scores_protocol

ROOT = Path(__file__).resolve().parents[1]
VOCAB, PAD = 80, 1
DROPOUT_SEED = 1234


def _roberta(layers: int, hidden: int, seed: int) -> RobertaForQuestionAnswering:
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                           intermediate_size=2 * hidden, max_position_embeddings=40, pad_token_id=PAD,
                           type_vocab_size=1, attention_probs_dropout_prob=0.1, hidden_dropout_prob=0.1)
    model = RobertaForQuestionAnswering(config)
    model.set_attn_implementation("eager")  # the implementation whose output_attentions are the maps it used
    return model


def _batch() -> dict:
    g = torch.Generator().manual_seed(0)
    lengths, total = (12, 9, 6), 12
    ids = torch.randint(3, VOCAB, (len(lengths), total), generator=g)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    return {"input_ids": torch.where(mask.bool(), ids, torch.full_like(ids, PAD)), "attention_mask": mask,
            "start_positions": torch.tensor([2, 0, 3]), "end_positions": torch.tensor([5, 0, 3])}  # row 1: outside


def _paper_loss():
    cfg = load_recipe(ROOT / "configs" / "paper.yaml")
    return cfg.stage_loss(cfg.stages[0])


# --- the reference, from the equations -----------------------------------------------------------------------------


def _log_softmax(z: torch.Tensor) -> torch.Tensor:
    return z - z.logsumexp(dim=-1, keepdim=True)


def _cross_entropy(logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """−log p(gold), p = softmax over all positions, mean over the batch."""
    return -_log_softmax(logits).gather(1, gold[:, None]).mean()


def _kl_batchmean(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Σ_p p_t (log p_t − log p_s) per example, mean over the batch (KLDivLoss(reduction="batchmean"))."""
    log_pt, log_ps = _log_softmax(teacher), _log_softmax(student)
    return (log_pt.exp() * (log_pt - log_ps)).sum() / student.shape[0]


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).mean()


def reference_terms(student, teacher, batch: dict, weight: torch.Tensor, bias: torch.Tensor, temperature: float):
    """The authors' loss terms on `batch`, from both models' own outputs, in float64: the exact value of the
    formulas on those outputs (a KL of two close distributions loses digits to cancellation in float32)."""
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
              "output_attentions": True, "output_hidden_states": True}
    s = student(**inputs)
    with torch.no_grad():
        t = teacher(**inputs)
    t_layer = teacher.config.num_hidden_layers // student.config.num_hidden_layers  # 4m, m = 1

    def project(h):
        return h.double() @ weight.double().T + bias.double()

    def logits(out, side: str):
        return getattr(out, f"{side}_logits").double() / temperature

    kd = sum(_kl_batchmean(logits(s, side), logits(t, side)) for side in ("start", "end"))
    return s, {
        "ce": (_cross_entropy(s.start_logits.double(), batch["start_positions"])
               + _cross_entropy(s.end_logits.double(), batch["end_positions"])) / 2,
        "kd": temperature**2 * kd,
        "embedding": _mse(project(s.hidden_states[0]), t.hidden_states[0].double()),
        "hidden": _mse(project(s.hidden_states[1]), t.hidden_states[t_layer].double()),
        "attention": _mse(s.attentions[0].double(), t.attentions[t_layer - 1].double()),
    }


# --- destila against it ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models():
    teacher, student = _roberta(4, 32, seed=0), _roberta(1, 16, seed=1)
    teacher.eval().requires_grad_(False)
    student.train()
    return student, teacher


def destila_terms(loss_fn, student, teacher, batch: dict) -> dict:
    with torch.no_grad():
        t_out = run_qa_model(teacher, batch, **loss_fn.forward_kwargs("teacher"))
    torch.manual_seed(DROPOUT_SEED)
    return loss_fn(run_qa_model(student, batch, **loss_fn.forward_kwargs("student")), t_out, batch)


def _grads(params) -> list[torch.Tensor]:
    grads = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    return grads


@pytest.mark.parametrize("temperature", [None, 2.0], ids=["recipe", "T=2"])
def test_the_paper_recipes_loss_is_the_authors_loss_term_by_term(models, temperature):
    student, teacher = models
    cfg = _paper_loss()
    if temperature is not None:
        cfg = dataclasses.replace(cfg, temperature=temperature)
    loss_fn = DistillationLoss(cfg, student_config=student.config, teacher_config=teacher.config)
    assert loss_fn.layer_map.pairs == ((1, 4),)
    batch = _batch()
    params = [*student.parameters(), *loss_fn.projection_parameters()]

    ours = destila_terms(loss_fn, student, teacher, batch)
    ours["loss"].backward()
    our_grads = _grads(params)

    torch.manual_seed(DROPOUT_SEED)  # the same dropout draws
    s_out, ref = reference_terms(student, teacher, batch, loss_fn.projection.weight, loss_fn.projection.bias,
                                 cfg.temperature)
    sum(ref.values()).backward()  # every weight 1
    ref_grads = _grads(params)

    assert set(ours) == {*ref, "loss"}
    for name, value in ref.items():
        torch.testing.assert_close(ours[name].double(), value, atol=1e-6, rtol=0, msg=name)
    torch.testing.assert_close(ours["loss"].double(), sum(ref.values()), atol=1e-6, rtol=0)
    for ours_g, ref_g in zip(our_grads, ref_grads, strict=True):
        torch.testing.assert_close(ours_g, ref_g, atol=1e-6, rtol=1e-5)

    # The student's map really is a dropout pattern: entries between real tokens were zeroed.
    valid = batch["attention_mask"].bool()
    pairs = valid[:, None, :, None] & valid[:, None, None, :]
    assert ((s_out.attentions[0] == 0) & pairs).any()


def test_destilas_own_choices_give_other_numbers_on_the_same_batch(models):
    """Averaged KD, maps before dropout and masked padding each change their term: the paper mode is not the
    default under another name, and this batch's padding and dropout matter."""
    student, teacher = models
    paper = _paper_loss()
    batch = _batch()
    loss_fn = DistillationLoss(paper, student_config=student.config, teacher_config=teacher.config)
    base = destila_terms(loss_fn, student, teacher, batch)
    for change, term in (({"kd_reduction": "mean"}, "kd"), ({"attention_dropout_maps": False}, "attention"),
                         ({"mask_padding": True}, "hidden")):
        other = DistillationLoss(dataclasses.replace(paper, **change), student_config=student.config,
                                 teacher_config=teacher.config)
        other.load_state_dict(loss_fn.state_dict())  # the same projection
        value = destila_terms(other, student, teacher, batch)[term]
        assert abs(value.item() - base[term].item()) > 1e-4, change
    halved = dataclasses.replace(paper, kd_reduction="mean")
    kd_mean = destila_terms(DistillationLoss(halved, student_config=student.config,
                                             teacher_config=teacher.config), student, teacher, batch)["kd"]
    torch.testing.assert_close(kd_mean * 2, base["kd"])


def test_dry_run_of_the_improved_paper_recipe_passes_offline_quickly(tmp_path):
    import time

    from destila.train.dry_run import dry_run

    started = time.time()
    checks = dry_run(load_recipe(ROOT / "configs" / "paper-improved.yaml"), tmp_path, echo=lambda s: None)
    assert any("teacher needs ['hidden', 'attentions']" in c for c in checks)  # maps before dropout
    assert any(c.startswith("metrics.json has eval scores") for c in checks)  # selected on held-out articles
    assert time.time() - started < 60
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    train_data = load_recipe(tmp_path / "out" / "destila_config.yaml").train.train_data  # the stand-in's
    assert f"Scores: the first 8 questions of the 5% of the articles of `{train_data}` held out from training" in card


def test_the_card_says_which_protocol_produced_its_scores():
    paper, improved = (load_recipe(ROOT / "configs" / name).train for name in ("paper.yaml", "paper-improved.yaml"))
    scores = {"official": {"exact_match": 70.0, "f1": 80.0}}
    assert scores_protocol(paper, {"eval": None}) == []  # the paper's recipe evaluates nothing while training
    _, line = scores_protocol(improved, {"eval": scores, "best_step": 4000, "evals": [{}, {}]})
    assert line.startswith("Scores: every question of the 5% of the articles of `squad-es-v1.1:train` held out from "
                           "training (seed 39812951); each answer the best of 12 candidate spans per window, up to 15 "
                           "tokens (destila's protocol).")
    assert "--protocol authors --first 200" in line and line.endswith("so these scores are optimistic.")
    on_dev = dataclasses.replace(paper, eval_data="squad-es-v1.1:dev", max_eval_examples=200)
    _, line = scores_protocol(on_dev, {"eval": scores, "best_step": 100, "evals": [{}]})  # one evaluation: no choice
    assert line.startswith("Scores: the first 200 questions of `squad-es-v1.1:dev`;") and "optimistic" not in line
