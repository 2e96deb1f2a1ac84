"""The model card (README.md) written into every trained model folder."""

from __future__ import annotations

import dataclasses


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def model_card(*, kind: str, cfg, stages: list[dict], metrics: dict, student_config, source: str) -> str:
    """Markdown stating the base or teacher, the data, the losses and their weights, the steps and the scores."""
    train = cfg.train if kind == "distill" else cfg
    lines = ["---", "library_name: transformers", "language: es", "pipeline_tag: question-answering", "---", ""]
    if kind == "distill":
        lines += [
            "# Spanish extractive QA student distilled with destila",
            "",
            f"- **Teacher**: `{cfg.teacher}` (frozen)",
            (f"- **Student**: {cfg.student} -> {student_config.num_hidden_layers} layers, hidden "
            f"{student_config.hidden_size}, {student_config.num_attention_heads} heads, FFN "
            f"{student_config.intermediate_size}"),
        ]
    else:
        lines += ["# Spanish extractive QA model fine-tuned with destila", "", f"- **Base model**: `{source}`"]
    lines += [
        f"- **Training data**: `{train.train_data}`" + (f" ({metrics.get('train_windows')} windows)"
                                                        if metrics.get("train_windows") else ""),
        f"- **Evaluation data**: `{train.eval_data}`" if train.eval_data else "- **Evaluation data**: none",
        (f"- **Windows**: max length {train.max_length}, stride {train.doc_stride}, question up to "
        f"{train.max_query_length} tokens"),
        (f"- **Optimiser**: AdamW, weight decay {train.weight_decay}, eps {train.adam_eps}, linear schedule, "
        f"clip {train.max_grad_norm}, batch {train.batch_size} x {metrics.get('num_processes', 1)} process(es) x "
        f"{train.grad_accum} accumulation, mixed precision {_precision(train, metrics)}, seed {train.seed}"),
        (f"- **Dropout while training**: attention {_rate(train.attention_dropout)}, "
         f"hidden {_rate(train.hidden_dropout)}"),
        "",
        "## Stages",
        "",
        "| stage | steps | lr | warm-up | losses (weight) |",
        "|---|---|---|---|---|",
    ]
    for st in stages:
        loss = st.get("loss")
        if loss is None:
            desc = "cross-entropy on gold start/end (1.0)"
        else:
            c = dataclasses.asdict(loss) if dataclasses.is_dataclass(loss) else dict(loss)
            active = [f"{w} ({c[w]:g})" for w in ("ce", "kd", "hidden", "attention", "embedding") if c.get(w)]
            desc = ", ".join(active) + (
                f"; T={c.get('temperature')}, kd={c.get('kd_kind')}, attention={c.get('attention_kind')}/"
                f"{c.get('attention_heads')}, projection={c.get('projection')}, layer map={c.get('layer_map')}, "
                f"padding {'masked' if c.get('mask_padding') else 'unmasked'}"
            )
        lines.append(f"| {st['name']} | {st['steps']} | {st['learning_rate']:g} | {st['warmup_ratio']:g} | {desc} |")
    lines += ["", "## Scores", ""]
    final = metrics.get("eval")
    if final:
        lines += ["| scoring | EM | F1 |", "|---|---|---|"]
        for variant in ("official", "es"):
            s = final.get(variant) or {}
            em = s.get("exact_match", s.get("exact"))
            if em is not None:
                lines.append(f"| {variant} | {_fmt(em)} | {_fmt(s.get('f1'))} |")
        if metrics.get("best_step") is not None:
            lines += ["", (f"Best checkpoint by official F1: stage `{metrics.get('best_stage')}`, step "
                          f"{metrics['best_step']}.")]
    else:
        lines.append("Not evaluated during training (no `eval_data`).")
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForQuestionAnswering, AutoTokenizer",
        "model = AutoModelForQuestionAnswering.from_pretrained(FOLDER)",
        "tokenizer = AutoTokenizer.from_pretrained(FOLDER)",
        "```",
        "",
        ("or `destila answer --model FOLDER`. The full resolved recipe is in `destila_config.yaml`, the scores in "
        "`metrics.json`, every logged loss term in `training_log.jsonl`."),
        "",
    ]
    return "\n".join(lines)


def _precision(train, metrics: dict) -> str:
    used = metrics.get("mixed_precision")
    return f"{train.mixed_precision} ({used})" if used and used != train.mixed_precision else train.mixed_precision


def _rate(value: float | None) -> str:
    return "the model's own" if value is None else str(value)
