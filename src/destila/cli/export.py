"""`destila export`: a QA model as a self-contained ONNX or OpenVINO folder, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from destila.cli import app
from destila.cli._common import require_extra
from destila.export.options import DEFAULT_OPSET, MIN_AGREEMENT, TARGETS, ExportOptions

TargetOption = Annotated[
    str,
    typer.Option(
        "--target",
        help="onnx (fp32), onnx-int8-static, openvino, openvino-int8, or auto (each candidate built, checked "
        "and timed on this machine; the fastest that passes is kept). onnx-int8-dynamic: see --int8.",
    ),
]
Int8Option = Annotated[
    bool,
    typer.Option(
        "--int8",
        help="Dynamic int8 ONNX (target onnx-int8-dynamic): activations scaled per batch, so an answer can "
        "change with the questions batched beside it.",
    ),
]
CalibrationOption = Annotated[
    str | None,
    typer.Option(
        "--calibration-data",
        help="Training questions that fix static int8 scales (default: squad-es-v1.1:dev-small@train, else "
        "the embedded sample). Never the eval fold.",
    ),
]
AgreementOption = Annotated[
    float | None,
    typer.Option(
        "--min-agreement",
        min=0.0,
        max=1.0,
        help=f"Least share of answers identical to PyTorch's (default {MIN_AGREEMENT['fp32']} fp32, "
        f"{MIN_AGREEMENT['bf16']} bf16, {MIN_AGREEMENT['int8']} int8).",
    ),
]


@app.command("export")
def export_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Model folder, hub id or offline: name.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the graph, tokenizer, config, card.")
    ],
    *,
    target: TargetOption = "onnx",
    int8: Int8Option = False,
    calibration_data: CalibrationOption = None,
    calibration_questions: Annotated[
        int, typer.Option("--calibration-questions", min=1, help="Questions calibrated on at most.")
    ] = ExportOptions.calibration_questions,
    parity_data: Annotated[
        str, typer.Option("--parity-data", help="Held-out data for the parity check (path or registry name).")
    ] = "sample",
    no_parity: Annotated[bool, typer.Option("--no-parity", help="Skip the parity check (not with auto).")] = False,
    parity_questions: Annotated[
        int, typer.Option("--parity-questions", min=1, help="Questions checked at most.")
    ] = 200,
    min_agreement: AgreementOption = None,
    max_f1_drop: Annotated[
        float, typer.Option("--max-f1-drop", min=0.0, help="Largest allowed F1 drop (points).")
    ] = ExportOptions.max_f1_drop,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = DEFAULT_OPSET,
    per_channel: Annotated[
        bool, typer.Option("--per-channel/--per-tensor", help="int8 weight scales per output channel.")
    ] = True,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Local copy of the datasets.")] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Threads for the parity check and auto's timing.")
    ] = None,
    push_to_hub: Annotated[
        str | None, typer.Option("--push-to-hub", metavar="OWNER/NAME", help="Publish DIR to this Hub repository.")
    ] = None,
) -> None:
    """Export MODEL (dynamic batch and sequence), check its answers against PyTorch, write DIR."""
    require_extra("export", "export")
    if push_to_hub:
        require_extra("export --push-to-hub", "hub")
    if target.startswith("openvino"):
        require_extra(f"export --target {target}", "openvino")
    from rich.console import Console

    from destila.export.targets import export_model

    console = Console()
    if target not in TARGETS:
        raise typer.BadParameter(f"choose one of {', '.join(TARGETS)}", param_hint="--target")
    options = ExportOptions(
        target=target,
        int8=int8,
        opset=opset,
        per_channel=per_channel,
        calibration_data=calibration_data,
        calibration_questions=calibration_questions,
        parity_data=None if no_parity else parity_data,
        parity_max_questions=parity_questions,
        min_agreement=min_agreement,
        max_f1_drop=max_f1_drop,
        data_dir=data_dir,
        threads=threads,
    )
    info = export_model(model, out, options)
    if "auto" in info:
        _print_auto(console, info["auto"])
    artifact = info.get("onnx_file") or info.get("openvino_file")
    size = info.get("onnx_bytes") or info.get("openvino_bytes") or 0
    console.print(
        f"wrote {out}/{artifact} ({size / 1e6:.1f} MB, {info['target']}, {info['parameters']:,} parameters) "
        f"in {info['seconds']:.1f} s"
    )
    parity = info.get("parity")
    if parity:
        _print_parity(console, parity)
    if push_to_hub:
        from destila.hub import push_folder

        console.print(f"pushed to {push_folder(out, push_to_hub)}", highlight=False)


def _print_auto(console, auto: dict) -> None:
    for trial in auto["candidates"]:
        if "error" in trial:
            verdict = f"not built: {trial['error']}"
        else:
            speed = f", {trial['questions_per_second']:.1f} questions/s" if "questions_per_second" in trial else ""
            verdict = f"{'passed' if trial['passed'] else 'failed'} ({trial['agreement']:.1%} identical answers{speed})"
        console.print(f"  {trial['target']}: {verdict}", highlight=False)
    console.print(f"auto: {auto['reason']}", highlight=False)


def _print_parity(console, parity: dict) -> None:
    backend = parity.get("backend", "onnx")
    pt, ex, logits = parity["pytorch"], parity[backend], parity["logits"]
    em_key = "exact_match" if "exact_match" in pt else "exact"
    console.print(
        f"parity on {parity['questions']} questions of {parity['data']}: "
        f"PyTorch EM {pt.get(em_key, 0):.2f} F1 {pt.get('f1', 0):.2f} | "
        f"{backend} EM {ex.get(em_key, 0):.2f} F1 {ex.get('f1', 0):.2f} | "
        f"identical answers {parity['agreement']:.1%} | "
        f"max logit diff {max(logits['max_abs_start_logit_diff'], logits['max_abs_end_logit_diff']):.2e}"
    )
