"""Which step makes which target, and `auto`: every candidate built, checked and timed on this machine.

`export_model(model, out_dir, options)` writes the folder of `options.target`. With target `auto` each candidate
(`CANDIDATES`, the OpenVINO ones when the extra is installed) is exported into a scratch folder and checked
against PyTorch with the options' parity gate; the candidates that pass are timed on the parity questions, in
turns, and the fastest is kept. export.json records every candidate, its verdict and speed, under "auto".
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from destila import files
from destila.errors import ConfigError
from destila.export.exporter import export_onnx, output_folder, write_info
from destila.export.options import ExportOptions
from destila.export.parity import ParityError
from destila.hardware import machine

# Batch-independent targets only: dynamic int8 is never chosen by itself.
CANDIDATES = ("onnx", "onnx-int8-static", "openvino", "openvino-int8")
TIMING_QUESTIONS = 48  # auto times the first N parity questions ...
TIMING_ROUNDS = 2  # ... this many times per candidate, in turns, keeping each one's fastest round


def export_model(model: str | os.PathLike, out_dir: str | os.PathLike, options: ExportOptions | None = None) -> dict:
    """Export `model` to `out_dir` as `options.target` says; returns export.json's record (+ "parity")."""
    options = options or ExportOptions()
    if options.target == "auto":
        return export_auto(model, out_dir, options)
    if options.target.startswith("openvino"):
        from destila.export.openvino import export_openvino

        return export_openvino(model, out_dir, options)
    return export_onnx(model, out_dir, options)


def candidates() -> list[str]:
    """auto's candidates on this install: the ONNX ones always, the OpenVINO ones with openvino (int8: nncf)."""
    found = [t for t in CANDIDATES if t.startswith("onnx")]
    if importlib.util.find_spec("openvino") is not None:
        found.append("openvino")
        if importlib.util.find_spec("nncf") is not None:
            found.append("openvino-int8")
    return found


def export_auto(model: str | os.PathLike, out_dir: str | os.PathLike, options: ExportOptions) -> dict:
    """Build, check and time every candidate; keep the fastest that passes the parity gate in `out_dir`."""
    if not options.parity_data:
        raise ConfigError("target auto keeps a candidate only when it passes the parity check: give parity data")
    _, out = output_folder(model, out_dir)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="destila-auto-") as tmp:
        trials = [_build(model, Path(tmp) / target, dataclasses.replace(options, target=target))
                  for target in candidates()]
        passed = [t for t in trials if t.get("passed")]
        if not passed:
            raise ParityError("no export target passed the parity check: " + "; ".join(_verdict(t) for t in trials))
        _time(passed, options)
        chosen = max(passed, key=lambda t: t["questions_per_second"])
        shutil.copytree(Path(tmp) / chosen["target"], out, dirs_exist_ok=True)
    info = json.loads((out / files.EXPORT_INFO).read_text(encoding="utf-8"))
    info["auto"] = {
        "chosen": chosen["target"],
        "reason": _reason(chosen, passed),
        "machine": machine(),
        "timing": {"data": options.parity_data, "questions": chosen["timed_questions"], "rounds": TIMING_ROUNDS,
                   "threads": options.threads},
        "candidates": [{k: v for k, v in t.items() if k != "folder"} for t in trials],
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_info(out, info)
    info["parity"] = json.loads((out / files.PARITY).read_text(encoding="utf-8"))
    return info


def _build(model, folder: Path, options: ExportOptions) -> dict:
    """One candidate exported and checked: its verdict (parity), or why it could not be built."""
    trial: dict = {"target": options.target, "kind": options.kind}
    try:
        report = export_model(model, folder, options)["parity"]
    except ParityError:
        report = json.loads((folder / files.PARITY).read_text(encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001  a candidate the libraries cannot build is skipped, with the reason
        return {**trial, "passed": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    return {**trial, "folder": str(folder), "passed": bool(report["passed"]), "agreement": report["agreement"],
            "f1_drop": report["f1_drop"], "min_agreement": report["thresholds"]["min_agreement"]}


def _time(trials: list[dict], options: ExportOptions) -> None:
    """questions_per_second of each trial: the same questions through the Predictor, in turns, fastest round."""
    from destila.data import load_dataset
    from destila.infer.predictor import Predictor

    dataset = load_dataset(options.parity_data, data_dir=options.data_dir).head(TIMING_QUESTIONS)
    questions, contexts = [ex.question for ex in dataset.examples], [ex.context for ex in dataset.examples]
    predictors = [Predictor.from_pretrained(t["folder"], threads=options.threads) for t in trials]
    for predictor in predictors:
        predictor.predict_pairs(questions[:2], contexts[:2])  # warm-up: lazy initialisation, kernel caches
    best = [float("inf")] * len(trials)
    for _ in range(TIMING_ROUNDS):
        for i, predictor in enumerate(predictors):
            started = time.perf_counter()
            predictor.predict_pairs(questions, contexts)
            best[i] = min(best[i], time.perf_counter() - started)
    for trial, predictor, seconds in zip(trials, predictors, best):
        trial.update(backend=predictor.runner.name, timed_questions=len(questions),
                     questions_per_second=round(len(questions) / seconds, 2))


def _verdict(trial: dict) -> str:
    if "error" in trial:
        return f"{trial['target']} could not be built ({trial['error']})"
    return (f"{trial['target']} {trial['agreement']:.1%} identical answers (minimum {trial['min_agreement']:.1%}), "
            f"F1 drop {trial['f1_drop']:.2f}")


def _reason(chosen: dict, passed: list[dict]) -> str:
    others = sorted((t for t in passed if t is not chosen), key=lambda t: -t["questions_per_second"])
    text = (f"fastest of the {len(passed)} candidates that passed the parity check: {chosen['target']} at "
            f"{chosen['questions_per_second']:.1f} questions/s")
    if others:
        runner_up = others[0]
        text += (f", {chosen['questions_per_second'] / runner_up['questions_per_second']:.2f}x the next "
                 f"({runner_up['target']}, {runner_up['questions_per_second']:.1f} questions/s)")
    return text

