"""`destila prune`: a fine-tuned QA model cut to a speed-up measured on this machine (heads, FFN neurons, hidden
dimensions, layers), saved as a plain transformers QA folder ready for `destila distill` to recover."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from destila.cli import app


@app.command("prune")
def prune_command(
    model: Annotated[str, typer.Option("--model", help="Fine-tuned QA model to prune: folder or hub id.")],
    data: Annotated[
        list[str],
        typer.Option("--data", help="Training data the importance scores come from (repeatable; read as one set). "
                     "Never the data you report on."),
    ],
    *,
    out: Annotated[Path, typer.Option("--out", help="Folder for the pruned model.")],
    target_speedup: Annotated[
        float, typer.Option("--target-speedup", help="Forward speed to reach, x the model's (timed here).")
    ] = 3.0,
    structures: Annotated[
        str, typer.Option("--structures", help="What may be removed, comma-separated: heads,hidden (together), ffn, "
                          "layers (the depth is kept unless layers is listed).")
    ] = "heads,hidden,ffn",
    layers: Annotated[
        str | None, typer.Option("--layers", help="Keep exactly these layers (1-based, comma-separated, e.g. "
                                 "2,4,6,8,10,12); the width is then chosen to reach the target.")
    ] = None,
    windows: Annotated[int, typer.Option("--windows", help="Training windows the scores are summed over.")] = 256,
    max_length: Annotated[int, typer.Option("--max-length", help="Tokens per window.")] = 384,
    doc_stride: Annotated[int, typer.Option("--doc-stride", help="Overlap of a context's windows.")] = 128,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Local data folder (default: DESTILA_DATA_DIR).")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads (timings are for this count).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Which training windows are scored.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON object.")] = False,
) -> None:
    """Score the model's heads, FFN neurons and hidden dimensions on training windows (Fisher), time candidate
    shapes here, and save the shape that keeps the most importance at the target speed-up."""
    import torch

    from destila.config import TrainConfig
    from destila.models.hub import load_qa_model, load_tokenizer
    from destila.models.prune import PruneSpec, pruned_student
    from destila.train.batches import training_windows

    if threads:
        torch.set_num_threads(threads)
    spec = PruneSpec.from_dict({
        "target_speedup": target_speedup, "windows": windows, "seed": seed,
        "structures": [s.strip() for s in structures.split(",") if s.strip()],
        "layers": None if layers is None else [_layer(x) for x in layers.split(",") if x.strip()],
    }, "prune")
    train = TrainConfig(train_data=list(data), data_dir=None if data_dir is None else str(data_dir),
                        max_length=max_length, doc_stride=doc_stride, output_dir=str(out), seed=seed)
    tokenizer = load_tokenizer(model)
    teacher = load_qa_model(model).float()
    log = (lambda msg: None) if as_json else (lambda msg: print(msg, file=sys.stderr))
    student, plan = pruned_student(teacher, spec, lambda count, seed: training_windows(tokenizer, train, count, seed),
                                   log=log)
    out.mkdir(parents=True, exist_ok=True)
    student.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    plan.save(out)
    params = (sum(p.numel() for p in teacher.parameters()), sum(p.numel() for p in student.parameters()))
    record = {"out": str(out), "shape": plan.shape(), "layers": plan.layers,
              "predicted_speedup": plan.predicted_speedup, "parameters": {"teacher": params[0], "pruned": params[1]}}
    if as_json:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    shape = plan.shape()
    print(f"kept layers {plan.layers}, hidden {shape['hidden_size']} ({shape['num_attention_heads']} heads), FFN "
          f"{shape['intermediate_size']}: {plan.predicted_speedup:.2f}x the forward speed here; parameters "
          f"{params[0]:,} -> {params[1]:,}; saved to {out} (recover it with `destila distill`)")


def _layer(text: str) -> int:
    from destila.errors import ConfigError

    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--layers: {text!r} is not a layer number") from None
