"""`destila export`: a QA model as a self-contained ONNX folder (optionally int8), checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from destila import files
from destila.cli import app
from destila.cli._common import require_extra
from destila.export.options import DEFAULT_OPSET, MIN_AGREEMENT, ExportOptions


@app.command("export")
def export_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Model folder, hub id or offline: name.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write model.onnx, tokenizer, config, card.")
    ],
    int8: Annotated[
        bool, typer.Option("--int8", help="Dynamic int8 quantisation of the weight matrices.")
    ] = False,
    parity_data: Annotated[
        str, typer.Option("--parity-data", help="Held-out data for the parity check (path or registry name).")
    ] = "sample",
    no_parity: Annotated[bool, typer.Option("--no-parity", help="Skip the parity check.")] = False,
    parity_questions: Annotated[
        int, typer.Option("--parity-questions", min=1, help="Questions checked at most.")
    ] = 200,
    min_agreement: Annotated[
        float | None,
        typer.Option(
            "--min-agreement",
            min=0.0,
            max=1.0,
            help=f"Least share of answers identical to PyTorch's (default {MIN_AGREEMENT['fp32']} fp32, "
            f"{MIN_AGREEMENT['int8']} int8).",
        ),
    ] = None,
    max_f1_drop: Annotated[
        float, typer.Option("--max-f1-drop", min=0.0, help="Largest allowed F1 drop (points).")
    ] = ExportOptions.max_f1_drop,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = DEFAULT_OPSET,
    per_channel: Annotated[
        bool, typer.Option("--per-channel/--per-tensor", help="int8 scales per output channel.")
    ] = True,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Local copy of the datasets.")] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Threads for the parity check.")
    ] = None,
) -> None:
    """Export MODEL to ONNX (dynamic batch and sequence), check answers against PyTorch, write DIR."""
    require_extra("export", "export")
    from rich.console import Console

    from destila.export.exporter import export_onnx

    console = Console()
    options = ExportOptions(
        int8=int8,
        opset=opset,
        per_channel=per_channel,
        parity_data=None if no_parity else parity_data,
        parity_max_questions=parity_questions,
        min_agreement=min_agreement,
        max_f1_drop=max_f1_drop,
        data_dir=data_dir,
        threads=threads,
    )
    info = export_onnx(model, out, options)
    console.print(
        f"wrote {out}/{files.ONNX} ({info['onnx_bytes'] / 1e6:.1f} MB, "
        f"{options.kind}, {info['parameters']:,} parameters) in {info['seconds']:.1f} s"
    )
    parity = info.get("parity")
    if parity:
        _print_parity(console, parity)


def _print_parity(console, parity: dict) -> None:
    pt, ox, logits = parity["pytorch"], parity["onnx"], parity["logits"]
    em_key = "exact_match" if "exact_match" in pt else "exact"
    console.print(
        f"parity on {parity['questions']} questions of {parity['data']}: "
        f"PyTorch EM {pt.get(em_key, 0):.2f} F1 {pt.get('f1', 0):.2f} | "
        f"ONNX EM {ox.get(em_key, 0):.2f} F1 {ox.get('f1', 0):.2f} | "
        f"identical answers {parity['agreement']:.1%} | "
        f"max logit diff {max(logits['max_abs_start_logit_diff'], logits['max_abs_end_logit_diff']):.2e}"
    )
