"""Which way of making the student keeps most of the teacher's F1 at the same speed and the same wall-clock time:
dropping layers, or pruning width (heads, FFN neurons, hidden dimensions) with or without depth.

Every variant is the pipeline recipe's `student:` body with its `student:` spec changed, distilled from the same
finished teacher folder with the recipe's loss:

  layers-3-6-9-12      4 spread teacher layers (the demo's student before pruning)
  layers-2-4-6-8-10-12 6 spread teacher layers
  width-12             all 12 layers, heads + hidden + FFN pruned to --target (structures heads, hidden, ffn)
  depth-width          layers, heads, hidden and FFN pruned to --target (the rule chooses depth against width)
  even-6-width         layers 2, 4, ..., 12 kept, their width pruned to --target
  <winner>-labels      the best pruned variant's shape trained on gold spans only (CE), no teacher
  <winner>-labels-first the same pruned start: half the time on gold spans only, then half distilled (two stages)
  <winner>-steps       pruning in two rounds: the teacher pruned to the square root of the target and distilled for
                       half the time; that student pruned again (its own scores and timings) to the rest of the
                       target and distilled for the rest

The budget is wall-clock seconds of training (--minutes); a variant's step count is the budget, less the time
its pruning took (importance scores and timings), divided by its own seconds per step, timed on a short probe run
with every teacher call live. Each student is scored on the eval data and the held-out sets of the recipe
(official SQuAD F1/EM, untrimmed, PyTorch) and all models are timed side by side in one `destila bench` run on the
same eval questions (PyTorch fp32, same batches).

    DESTILA_DATA_DIR=../shared/data python benchmarks/compression.py --teacher runs/demo/teacher --minutes 6

Writes docs/benchmarks/compression.md and .json; runs go to runs/compression/ (finished variants are reused).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
from pathlib import Path

from retention import NO_TERMS, Bench
from runlogs import run_and_save, score_cells, score_columns, seconds_per_step, total_steps, train_seconds

from destila.files import PRUNE
from destila.hardware import cpu_name
from destila.train.recipe import run_distill

ROOT = Path(__file__).resolve().parents[1]
EVEN_6 = [2, 4, 6, 8, 10, 12]


def specs(target: float) -> dict[str, dict]:
    return {
        "layers-3-6-9-12": {"layers": [3, 6, 9, 12]},
        "layers-2-4-6-8-10-12": {"layers": EVEN_6},
        "width-12": {"prune": {"target_speedup": target, "structures": ["heads", "hidden", "ffn"]}},
        "depth-width": {"prune": {"target_speedup": target, "structures": ["heads", "hidden", "ffn", "layers"]}},
        "even-6-width": {"prune": {"target_speedup": target, "layers": EVEN_6}},
    }


def body_of(student: dict, spec: dict, labels_only: bool = False) -> dict:
    body = copy.deepcopy(student)
    body["student"] = spec
    if labels_only:
        body["loss"] = {**body.get("loss", {}), **NO_TERMS, "ce": 1.0}
        body["cache_teacher_logits"] = False
    return body


def prune_seconds(folder: Path) -> float:
    path = folder / PRUNE
    if not path.exists():
        return 0.0
    info = json.loads(path.read_text())["info"]
    return float(info.get("importance_seconds", 0.0)) + float(info.get("timing_seconds", 0.0))


def train_variant(bench: Bench, name: str, body: dict, budget: float) -> dict:
    folder = bench.out / name
    plan_seconds = prepare_plan(bench, folder, body)
    sps = probe(bench, name, body, folder)
    steps = max(1, round((budget - plan_seconds) / sps))
    train(bench, folder, body, steps)
    seconds = train_seconds(folder)
    return {"name": name, "spec": body["student"], "steps": steps, "probe_seconds_per_step": round(sps, 3),
            "train_seconds": round(seconds, 1), "prune_seconds": round(plan_seconds, 1),
            "cost_seconds": round(seconds + plan_seconds, 1), "folder": str(folder), "plan": _plan_summary(folder)}


def prepare_plan(bench: Bench, folder: Path, body: dict) -> float:
    """For a pruned variant, its plan in `folder` (made once: scores and timings, as the run would make them);
    returns the seconds that took, which count against the variant's budget."""
    if "prune" not in body["student"]:
        return 0.0
    if not (folder / PRUNE).exists():
        from destila.models.hub import load_qa_model, load_tokenizer
        from destila.models.prune import PruneSpec, pruned_student
        from destila.train.batches import training_windows

        cfg = bench.config(body, folder)
        tokenizer = load_tokenizer(bench.args.teacher)
        pruned_student(load_qa_model(bench.args.teacher).float(), PruneSpec.from_dict(body["student"]["prune"]),
                       lambda count, seed: training_windows(tokenizer, cfg.train, count, seed), folder=folder)
    return prune_seconds(folder)


def probe(bench: Bench, name: str, body: dict, folder: Path) -> float:
    """Seconds per step on a short run with every teacher call live (the plan reused, not made again)."""
    record = bench.out / f"{name}-probe.json"
    if record.exists():
        return json.loads(record.read_text())["seconds_per_step"]
    probe_dir = bench.out / f"{name}-probe"
    shutil.rmtree(probe_dir, ignore_errors=True)
    if (folder / PRUNE).exists():
        probe_dir.mkdir(parents=True)
        shutil.copy(folder / PRUNE, probe_dir / PRUNE)
    run_distill(bench.config({**body, "cache_teacher_logits": False}, probe_dir, max_steps=bench.args.probe_steps,
                             log_every=2, save_every=0, eval_data=None))
    sps = seconds_per_step(probe_dir)
    shutil.rmtree(probe_dir)
    record.write_text(json.dumps({"seconds_per_step": sps}))
    return sps


def train(bench: Bench, folder: Path, body: dict, steps: int) -> None:
    stamp = folder / "stage.json"
    if stamp.exists() and total_steps(folder) == steps:
        return
    plan = (folder / PRUNE).read_bytes() if (folder / PRUNE).exists() else None
    shutil.rmtree(folder, ignore_errors=True)
    if plan is not None:
        folder.mkdir(parents=True)
        (folder / PRUNE).write_bytes(plan)
    run_distill(bench.config(body, folder, max_steps=steps, eval_data=None))
    stamp.write_text(json.dumps({"steps": steps}))


def train_labels_first(bench: Bench, best: dict, labels: dict, budget: float) -> dict:
    """The winner's pruned start trained in two stages of equal time: gold spans only, then the recipe's loss; the
    steps of each from the probes of the two runs it borrows from."""
    name = f"{best['name']}-labels-first"
    folder = bench.out / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(best["folder"]) / PRUNE, folder / PRUNE)
    plan_seconds = prune_seconds(folder)
    half = (budget - plan_seconds) / 2
    n_labels = max(1, round(half / labels["probe_seconds_per_step"]))
    n_distil = max(1, round(half / best["probe_seconds_per_step"]))
    body = body_of(bench.cfg.student, {"prune": {**best["spec"]["prune"]}})
    body["stages"] = [{"name": "labels", "loss": {**NO_TERMS, "ce": 1.0}, "max_steps": n_labels},
                      {"name": "distil", "max_steps": n_distil}]
    train(bench, folder, body, n_labels + n_distil)
    seconds = train_seconds(folder)
    return {"name": name, "spec": body["student"], "steps": n_labels + n_distil, "stage_steps": [n_labels, n_distil],
            "train_seconds": round(seconds, 1), "prune_seconds": round(plan_seconds, 1),
            "cost_seconds": round(seconds + plan_seconds, 1), "folder": str(folder), "plan": _plan_summary(folder)}


def train_in_steps(bench: Bench, best: dict, budget: float) -> dict:
    """Prune some, recover, prune more: round 1 prunes the teacher to √target and distils for half the time left
    after its pruning; round 2 prunes that student (its own Fisher scores and timings, to target / round 1's
    speed-up) and distils for what is left of the budget."""
    import math

    prune = {**best["spec"]["prune"]}
    name = f"{best['name']}-steps"
    first = bench.out / f"{name}-1"
    body1 = body_of(bench.cfg.student, {"prune": {**prune, "target_speedup": math.sqrt(prune["target_speedup"])}})
    prune1 = prepare_plan(bench, first, body1)
    steps1 = max(1, round((budget - prune1) / 2 / probe(bench, f"{name}-1", body1, first)))
    train(bench, first, body1, steps1)
    seconds1 = train_seconds(first)
    start, prune2 = prune_again(bench, first, body1, prune)
    second = bench.out / f"{name}-2"
    body2 = body_of(bench.cfg.student, {"pretrained": str(start)})
    steps2 = max(1, round((budget - prune1 - seconds1 - prune2) / probe(bench, f"{name}-2", body2, second)))
    train(bench, second, body2, steps2)
    seconds = seconds1 + train_seconds(second)
    return {"name": name, "spec": {"prune": prune}, "steps": steps1 + steps2, "stage_steps": [steps1, steps2],
            "train_seconds": round(seconds, 1), "prune_seconds": round(prune1 + prune2, 1),
            "cost_seconds": round(seconds + prune1 + prune2, 1), "folder": str(second),
            "plan": _plan_summary(start)}


def prune_again(bench: Bench, folder: Path, body: dict, prune: dict) -> tuple[Path, float]:
    """Round 2 of `train_in_steps`: the recovered student in `folder` pruned to the rest of the target, saved as a
    plain folder; returns it and the seconds its scores and timings took."""
    from destila.models.prune import PrunePlan

    start = folder.parent / f"{folder.name}-pruned"
    reached = PrunePlan.load(folder / PRUNE).predicted_speedup
    bench.prune(folder, start, {**prune, "target_speedup": prune["target_speedup"] / reached}, body)
    return start, prune_seconds(start)


def _plan_summary(folder: Path) -> dict | None:
    path = folder / PRUNE
    if not path.exists():
        return None
    plan = json.loads(path.read_text())
    return {"layers": plan["layers"], "hidden": len(plan["hidden"]), "heads": len(plan["heads"][0]),
            "ffn": len(plan["neurons"][0]), "predicted_speedup": plan["predicted_speedup"]}


def run(args) -> dict:
    bench = Bench(args)
    bench.out.mkdir(parents=True, exist_ok=True)
    budget = args.minutes * 60
    rows = [{"name": "teacher", **bench.scores("teacher", Path(args.teacher))}]
    chosen = specs(args.target)
    for name in args.variants:
        row = train_variant(bench, name, body_of(bench.cfg.student, chosen[name]), budget)
        row.update(bench.scores(name, Path(row["folder"])))
        rows.append(row)
    pruned = [r for r in rows[1:] if r["plan"] is not None]
    if pruned and args.labels:
        best = max(pruned, key=lambda r: r[bench.cfg.eval_data]["f1"])
        # the winner's exact shape, from its plan: the same pruned start, gold spans only
        spec = {"prune": {**best["spec"]["prune"]}}
        name = f"{best['name']}-labels"
        folder = bench.out / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(best["folder"]) / PRUNE, folder / PRUNE)
        row = train_variant(bench, name, body_of(bench.cfg.student, spec, labels_only=True), budget)
        row.update(bench.scores(name, Path(row["folder"])))
        rows.append(row)
        first = train_labels_first(bench, best, row, budget)
        first.update(bench.scores(first["name"], Path(first["folder"])))
        rows.append(first)
    if pruned and args.steps:
        best = max(pruned, key=lambda r: r[bench.cfg.eval_data]["f1"])
        stepped = train_in_steps(bench, best, budget)
        stepped.update(bench.scores(stepped["name"], Path(stepped["folder"])))
        rows.append(stepped)
    speeds = bench_speeds(bench, rows)
    for row in rows:
        row.update(speeds.get(row["name"], {}))
    return {"script": Path(sys.argv[0]).name, "cpu": cpu_name(), "config": args.config, "overrides": args.overrides,
            "teacher": args.teacher, "minutes": args.minutes, "target": args.target, "variants": list(args.variants),
            "eval_data": bench.cfg.eval_data, "heldout_data": list(bench.cfg.heldout_data), "rows": rows}


def bench_speeds(bench: Bench, rows: list[dict]) -> dict:
    """Every model in one `destila bench` run on the same eval questions: q/s, x the teacher, parameters."""
    from destila.bench.measure import run_bench
    from destila.data import load_dataset

    dataset = load_dataset(bench.cfg.eval_data, data_dir=bench.cfg.data_dir).head(bench.args.bench_questions)
    models = [bench.args.teacher] + [r["folder"] for r in rows[1:]]
    names = [r["name"] for r in rows]
    result = run_bench(models, dataset, bench.out / "bench", names=names, threads=bench.cfg.threads, repeats=1)
    result = json.loads(json.dumps(result, default=str))
    by_name = {m["name"]: m for m in result["models"]}
    teacher = by_name["teacher"]["throughput_qps"]
    return {name: {"qps": round(m["throughput_qps"], 2), "speedup": round(m["throughput_qps"] / teacher, 2),
                   "parameters": m.get("parameters")} for name, m in by_name.items()}


def markdown(result: dict) -> str:
    datasets = [result["eval_data"], *result["heldout_data"]]
    teacher = result["rows"][0]
    lines = [
        "# Depth or width: the student made by dropping layers or by pruning, at equal wall-clock time",
        "",
        f"Command: `DESTILA_DATA_DIR=../shared/data python benchmarks/{result['script']} --teacher "
        f"{result['teacher']} --minutes {result['minutes']:g} --target {result['target']:g}"
        + "".join(f" --set {o}" for o in result["overrides"]) + f"` on {result['cpu']} (2 threads).",
        "",
        f"Every student: the recipe's student body with its `student:` spec changed, trained {result['minutes']:g} "
        "minutes of wall-clock time in all (pruning's scoring and timing counted), from the same teacher; speed: "
        "one `destila bench` run of every model on the same eval questions (PyTorch fp32).",
        "",
    ]
    columns, separators = score_columns(datasets)
    lines += ["| student | shape (layers / hidden / heads / FFN) | parameters | x teacher q/s | steps | cost s |"
              + columns, "|---|---|---:|---:|---:|---:|" + separators]
    for row in result["rows"]:
        params = row.get("parameters")
        params = f"{params / 1e6:.1f} M" if params else ""
        speed = f"{row['speedup']:.2f}" if row.get("speedup") else ""
        if row["name"] == "teacher":
            line = f"| teacher | 12 / 384 / 12 / 1536 | {params} | {speed} | | |"
        else:
            plan = row.get("plan")
            if plan:
                shape = (f"{len(plan['layers'])} ({','.join(map(str, plan['layers']))}) / {plan['hidden']} / "
                         f"{plan['heads']} / {plan['ffn']}")
            else:
                shape = f"{len(row['spec']['layers'])} ({','.join(map(str, row['spec']['layers']))}) / 384 / 12 / 1536"
            line = (f"| {row['name']} | {shape} | {params} | {speed} | {row['steps']} | "
                    f"{row['cost_seconds']:.0f} |")
        lines.append(line + score_cells(row, teacher, datasets))
    lines += ["", "F1/EM: official SQuAD scores of the untrimmed student in PyTorch. Parameters before vocabulary "
              "trimming.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"), help="pipeline recipe")
    parser.add_argument("--teacher", required=True, help="a fine-tuned teacher folder (e.g. runs/demo/teacher)")
    parser.add_argument("--minutes", type=float, default=6.0, help="wall-clock training budget of every student")
    parser.add_argument("--target", type=float, default=3.5, help="target_speedup of the pruned variants")
    parser.add_argument("--variants", nargs="+", default=list(specs(3.5)), help="which variants, in order")
    parser.add_argument("--no-labels", dest="labels", action="store_false",
                        help="skip the label-only run of the best pruned shape")
    parser.add_argument("--no-steps", dest="steps", action="store_false",
                        help="skip the two-round (prune, recover, prune more) run of the best pruned shape")
    parser.add_argument("--probe-steps", type=int, default=8)
    parser.add_argument("--bench-questions", type=int, default=200)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="pipeline override")
    parser.add_argument("--out-runs", default="runs/compression")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "compression"))
    print(run_and_save(parser.parse_args(), run, markdown))


if __name__ == "__main__":
    main()
