"""The model card (README.md) written into every trained model folder, in the Hugging Face Hub's format.

The YAML header carries what the Hub indexes: licence, language, base model and its relation, data sets, metrics,
task, tags, library and a `model-index` holding the official scores of metrics.json. The body states the base or
teacher, the data, the losses and their weights, the steps and the scores, and how to load the model; the usage
block between USAGE_BEGIN and USAGE_END names the local folder until `destila push` (`publish_card`) rewrites it
with the repository id.

Base model relation: the Hub knows four relations (adapter, merge, quantized, finetune) and none is distillation.
A fine-tuned model is a "finetune" of its base. A distilled student is declared a "finetune" of its teacher too:
it is trained from the teacher's outputs (and, for a student of teacher layers, starts from its weights), which
"finetune" describes best of the four; left out, the Hub guesses from the files and calls an int8 ONNX export of a
student "quantized", which it is not: the `distillation` tag says what the relation really is.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from destila import files
from destila.errors import ConfigError
from destila.models.students import describe_student_spec

DEFAULT_LICENSE = "apache-2.0"
USAGE_BEGIN = "<!-- destila:usage -->"
USAGE_END = "<!-- /destila:usage -->"
HUB_URL = "https://huggingface.co/"
EXAMPLE_QUESTION = "¿Dónde vive el lince ibérico?"
EXAMPLE_CONTEXT = "El lince ibérico vive en Sierra Morena y en Doñana."
NOT_EVALUATED = "Not evaluated during training (no `eval_data`)."


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def model_card(*, kind: str, cfg, stages: list[dict], metrics: dict, student_config, source: str) -> str:
    """Markdown stating the base or teacher, the data, the losses and their weights, the steps and the scores."""
    train = cfg.train if kind == "distill" else cfg
    lines = [front_matter(card_metadata(kind, cfg, metrics, source))]
    lines += _summary(kind, cfg, train, metrics, student_config, source)
    lines += _stage_table(stages)
    lines += _scores(metrics)
    lines += scores_protocol(train, metrics)
    lines += [
        "",
        "## Use",
        "",
        usage_block(str(train.output_dir)),
        "",
        ("The full resolved recipe is in `destila_config.yaml`, the scores in `metrics.json`, every logged loss "
         "term in `training_log.jsonl`."),
        "",
    ]
    return "\n".join(lines)


def _summary(kind: str, cfg, train, metrics: dict, student_config, source: str) -> list[str]:
    if kind == "distill":
        lines = [
            "# Spanish extractive QA student distilled with destila",
            "",
            *_teacher_lines(cfg),
            (f"- **Student**: {describe_student_spec(cfg.student)} -> {student_config.num_hidden_layers} layers, "
             f"hidden {student_config.hidden_size}, {student_config.num_attention_heads} heads, FFN "
             f"{student_config.intermediate_size}"),
        ]
    else:
        lines = ["# Spanish extractive QA model fine-tuned with destila", "",
                 f"- **Base model**: {describe_model(source)}"]
    windows = f" ({metrics.get('train_windows')} windows)" if metrics.get("train_windows") else ""
    return lines + [
        f"- **Training data**: {_specs(train.train_data)}{windows}{_duplicates(metrics)}",
        f"- **Evaluation data**: `{train.eval_data}`" if train.eval_data else "- **Evaluation data**: none",
        *_no_answer(metrics),
        (f"- **Windows**: max length {train.max_length}, stride {train.doc_stride}, question up to "
         f"{train.max_query_length} tokens"),
        (f"- **Optimiser**: AdamW, weight decay {train.weight_decay}, eps {train.adam_eps}, linear schedule, "
         f"clip {train.max_grad_norm}, batch {train.batch_size} x {metrics.get('num_processes', 1)} process(es) x "
         f"{train.grad_accum} accumulation, mixed precision {_precision(train, metrics)}, seed {train.seed}"),
        (f"- **Dropout while training**: attention {_rate(train.attention_dropout)}, "
         f"hidden {_rate(train.hidden_dropout)}"),
    ]


def _teacher_lines(cfg) -> list[str]:
    """The teacher, or every teacher with its share of the soft targets and which one the internal terms read;
    each named by what it is (`describe_model`)."""
    teachers = cfg.teacher_list()
    if len(teachers) == 1:
        return [f"- **Teacher**: {describe_model(cfg.teacher)} (frozen)"]
    lines = [f"- **Teachers** ({len(teachers)}, frozen; the soft start/end targets are the weighted mixture of their "
             "distributions, a teacher with another tokenizer carried to the student's tokens through the context's "
             "characters):"]
    reading = _internal_terms(cfg)
    for t in teachers:
        internals = f"; the {', '.join(reading)} terms read it" if t.internals and reading else ""
        lines.append(f"  - {describe_model(t.model)}: weight {t.weight:.2f}{internals}")
    return lines


def _internal_terms(cfg) -> list[str]:
    """The loss terms on in some stage that read a teacher's internals (hidden states, attention, embeddings)."""
    from destila.distill.terms import TERMS

    losses = [cfg.stage_loss(stage) for stage in cfg.stages]
    return [name for name, term in TERMS.items()
            if term.reads_internals and any(getattr(loss, name) for loss in losses)]


def _stage_table(stages: list[dict]) -> list[str]:
    lines = ["", "## Stages", "", "| stage | steps | lr | warm-up | losses (weight) |", "|---|---|---|---|---|"]
    for st in stages:
        loss = st.get("loss")
        if loss is None:
            desc = "cross-entropy on gold start/end (1.0)"
        else:
            c = dataclasses.asdict(loss) if dataclasses.is_dataclass(loss) else dict(loss)
            from destila.distill.terms import TERMS

            active = [f"{w} ({c[w]:g})" for w in TERMS if c.get(w)]
            desc = ", ".join(active) + (
                f"; T={c.get('temperature')}, kd={c.get('kd_kind')}, attention={c.get('attention_kind')}/"
                f"{c.get('attention_heads')}, projection={c.get('projection')}, layer map={c.get('layer_map')}, "
                f"padding {'masked' if c.get('mask_padding') else 'unmasked'}"
            )
        lines.append(f"| {st['name']} | {st['steps']} | {st['learning_rate']:g} | {st['warmup_ratio']:g} | {desc} |")
    return lines


def _scores(metrics: dict) -> list[str]:
    lines = ["", "## Scores", ""]
    final = metrics.get("eval")
    if not final:
        return lines + [NOT_EVALUATED]
    lines += ["| scoring | EM | F1 |", "|---|---|---|"]
    for variant in ("official", "es"):
        s = final.get(variant) or {}
        em = s.get("exact_match", s.get("exact"))
        if em is not None:
            lines.append(f"| {variant} | {_fmt(em)} | {_fmt(s.get('f1'))} |")
    if metrics.get("best_step") is not None:
        lines += ["", (f"Best checkpoint by official F1: stage `{metrics.get('best_stage')}`, step "
                       f"{metrics['best_step']}.")]
    return lines


def scores_protocol(train, metrics: dict) -> list[str]:
    """The "Scores:" line: which questions the scores come from (the dev set or training articles held out, all of
    them or the first N) and how answers were picked; [] when nothing was scored."""
    if not metrics.get("eval"):
        return []
    import inspect

    from destila.infer.postprocess import n_candidates
    from destila.infer.predictor import Predictor

    # Training scores through evaluation.evaluate with the default protocol: the predictor's own answer length.
    longest = inspect.signature(Predictor).parameters["max_answer_len"].default
    if train.validation_fraction:
        where = (f"the {train.validation_fraction:.0%} of the articles of {_specs(train.train_data)} held out from "
                 f"training (seed {train.seed})")
    else:
        where = f"`{train.eval_data}`"
    which = f"the first {train.max_eval_examples} questions" if train.max_eval_examples else "every question"
    line = (f"Scores: {which} of {where}; each answer the best of {n_candidates(1)} candidate spans per window, up "
            f"to {longest} tokens (destila's protocol). The paper's table scores the first 200 dev questions with "
            "its authors' evaluation.py: `destila evaluate --protocol authors --first 200`.")
    if metrics.get("best_step") is not None and len(metrics.get("evals") or []) > 1:
        line += " The checkpoint was chosen on these same questions, so these scores are optimistic."
    return ["", line]


def _precision(train, metrics: dict) -> str:
    used = metrics.get("mixed_precision")
    return f"{train.mixed_precision} ({used})" if used and used != train.mixed_precision else train.mixed_precision


def _rate(value: float | None) -> str:
    return "the model's own" if value is None else str(value)


# ---------------------------------------------------------------------------------------------------------------
# Hub metadata


def card_metadata(kind: str, cfg, metrics: dict, source: str) -> dict:
    """The YAML header of the card, in the Hub's model card fields."""
    train = cfg.train if kind == "distill" else cfg
    # the model trained from; a student may also start from a pretrained model of its own
    bases = [source] if kind == "train" else [*(t.model for t in cfg.teacher_list()), cfg.student.get("pretrained")]
    bases = [b for b in bases if b]
    hub_bases = list(dict.fromkeys(b for b in map(hub_model_id, bases) if b))
    meta: dict = {"license": _license(bases), "language": "es", "library_name": "transformers",
                  "pipeline_tag": "question-answering",
                  "tags": ["destila", "extractive-qa", *(["distillation"] if kind == "distill" else [])]}
    if hub_bases:
        meta["base_model"] = hub_bases[0] if len(hub_bases) == 1 else hub_bases
        meta["base_model_relation"] = "finetune"
    datasets = [ref["type"] for ref in _hub_references([*_as_specs(train.train_data), train.eval_data])]
    if datasets:
        meta["datasets"] = list(dict.fromkeys(datasets))
    meta["metrics"] = ["exact_match", "f1"]
    scores = metrics.get("eval")
    if scores and train.eval_data:
        meta["model-index"] = model_index(Path(str(train.output_dir)).name, [CardEvaluation(train.eval_data, scores)])
    return meta


@dataclass(frozen=True)
class CardEvaluation:
    """One evaluation a card reports: the data set spec scored, the protocol that scored it (`destila` or
    `authors`, `destila.evaluation.Protocol`) and its scores (`destila.metrics.score`: {"official", "es"})."""

    data: str
    metrics: dict
    protocol: str = "destila"
    questions: int | None = None

    def __post_init__(self) -> None:
        from destila.evaluation import PROTOCOLS

        if not isinstance(self.data, str) or not self.data:
            raise ConfigError(f"evaluation data: expected a data set spec, got {self.data!r}")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"evaluation of {self.data}: protocol {self.protocol!r}, expected one of "
                              f"{', '.join(PROTOCOLS)}")
        official = self.metrics.get("official") if isinstance(self.metrics, dict) else None
        if not isinstance(official, dict) or "f1" not in official:
            raise ConfigError(f"evaluation of {self.data}: metrics need \"official\" scores with \"f1\" "
                              "(destila.metrics.score's result)")

    @classmethod
    def of(cls, value) -> CardEvaluation:
        """A CardEvaluation, or a mapping with "data", "metrics" (metrics.json's, whose "protocol" names the
        protocol when "protocol" is not given) and optionally "protocol" and "questions"."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict) or "data" not in value or "metrics" not in value:
            raise ConfigError(f"an evaluation needs \"data\" and \"metrics\", got {value!r:.200}")
        protocol = value.get("protocol") or (value["metrics"].get("protocol") or {}).get("name") or "destila"
        return cls(value["data"], value["metrics"], protocol, value.get("questions"))


def model_index(name: str, results: list[CardEvaluation]) -> list[dict]:
    """`model-index`: one entry per data set and protocol, with its official and Spanish scores.

    EM and F1 always; on SQuAD v2.0 data also EM and F1 over the answerable (HasAns) and unanswerable (NoAns)
    questions. A metric's `config` says the scoring ("official" or "es"), its `args` the protocol.
    """
    return [{"name": name, "results": [_index_entry(result) for result in results]}]


def _index_entry(result: CardEvaluation) -> dict:
    ref = _hub_reference(result.data) or {"type": result.data, "config": None, "split": None}
    dataset = {"type": ref["type"], "name": result.data}
    dataset.update({k: ref[k] for k in ("config", "split") if ref[k]})
    metrics = []
    for variant in ("official", "es"):
        if result.metrics.get(variant):
            metrics += _index_metrics(result.metrics[variant], variant, result.protocol)
    return {"task": {"type": "question-answering", "name": "Extractive question answering"}, "dataset": dataset,
            "metrics": metrics}


def _index_metrics(scores: dict, variant: str, protocol: str) -> list[dict]:
    v2 = "exact" in scores  # v1.1 scores say exact_match
    keys = [("exact_match", "exact" if v2 else "exact_match", "EM"), ("f1", "f1", "F1")]
    for part in ("HasAns", "NoAns") if v2 else ():
        if f"{part}_exact" in scores:
            keys += [(f"{part}_exact", f"{part}_exact", f"{part} EM"), (f"{part}_f1", f"{part}_f1", f"{part} F1")]
    notes = [n for n in (protocol if protocol != "destila" else "", "es" if variant == "es" else "") if n]
    suffix = f" ({', '.join(notes)})" if notes else ""
    return [{"type": kind, "value": float(scores[key]), "name": label + suffix, "config": variant,
             "args": {"protocol": protocol}} for kind, key, label in keys]


def _index_key(entry: dict) -> tuple[str, str]:
    """(data set spec, protocol) of a model-index entry."""
    metrics = entry.get("metrics") or [{}]
    return (entry.get("dataset") or {}).get("name"), (metrics[0].get("args") or {}).get("protocol", "destila")


def _hub_reference(spec: str | None) -> dict | None:
    from destila.data.registry import hub_reference

    if not spec:
        return None
    try:
        return hub_reference(spec)
    except ConfigError:  # an odd spec the run itself accepted as a path: nothing to cite
        return None


def _hub_references(specs: list[str | None]) -> list[dict]:
    return [ref for ref in map(_hub_reference, specs) if ref]


def _as_specs(value) -> list[str]:
    from destila.data.registry import as_specs

    return as_specs(value)


def _specs(value) -> str:
    """One data spec or a list of them, in code style: `a` + `b`."""
    return " + ".join(f"`{spec}`" for spec in _as_specs(value))


def _no_answer(metrics: dict) -> list[str]:
    """The no-answer threshold line (training data with unanswerable questions), else nothing."""
    record = metrics.get("no_answer")
    if not record:
        return []
    on, has, no = record["chosen_on"], record.get("HasAns_f1"), record.get("NoAns_f1")
    parts = ", ".join(f"{k} F1 {_fmt(v)}" for k, v in (("HasAns", has), ("NoAns", no)) if v is not None)
    return [f"- **No answer**: answers \"\" when the null odds exceed {record['threshold']:.4f}, the threshold of best "
            f"official F1 ({_fmt(record['f1'])}; {parts}) on {on['questions']} {on['kind']} questions, never the "
            f"eval data (`{files.NO_ANSWER}`; `destila evaluate` on v2.0 data and `destila serve` use it)"]


def _duplicates(metrics: dict) -> str:
    dropped = (metrics.get("train_data") or {}).get("dropped_duplicates")
    return f"; {dropped} question(s) whose id an earlier source already had left out" if dropped else ""


def hub_model_id(name: str) -> str | None:
    """The Hub model a model name stands for: a Hub id itself, the upstream of an `offline:` base, or the
    `base_model` that a local folder's own card names. None when there is none."""
    from destila.models.hub import OFFLINE_PREFIX

    if name.startswith(OFFLINE_PREFIX):
        from destila.models.offline import OFFLINE_MODELS

        source = OFFLINE_MODELS.get(name[len(OFFLINE_PREFIX):])
        return source.upstream.removeprefix(HUB_URL) if source and source.upstream.startswith(HUB_URL) else None
    path = Path(name).expanduser()
    if path.exists():
        base = read_metadata(path / "README.md").get("base_model") if path.is_dir() else None
        return base[0] if isinstance(base, list) and base else base if isinstance(base, str) else None
    return name if name.count("/") <= 1 and not name.startswith((".", "/", "~")) else None


def _license(bases: list[str]) -> str:
    """The licence a local base folder's card declares, else DEFAULT_LICENSE."""
    for base in bases:
        path = Path(base).expanduser()
        declared = read_metadata(path / "README.md").get("license") if path.is_dir() else None
        if isinstance(declared, str) and declared:
            return declared
    return DEFAULT_LICENSE


# ---------------------------------------------------------------------------------------------------------------
# Front matter and the usage block


def front_matter(meta: dict) -> str:
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def split_card(text: str) -> tuple[dict, str]:
    """(YAML metadata, Markdown body) of a card; a card without a header has empty metadata."""
    if text.startswith("---\n"):
        head, sep, body = text[4:].partition("\n---\n")
        if sep:
            try:
                meta = yaml.safe_load(head)
            except yaml.YAMLError:
                meta = None
            if isinstance(meta, dict):
                return meta, body
    return {}, text


def read_metadata(card: Path) -> dict:
    return split_card(card.read_text(encoding="utf-8"))[0] if card.is_file() else {}


def usage_block(model: str, export: dict | None = None, *, hub: bool = False) -> str:
    """How to load the model (a local folder, or with `hub` a repository id), between the markers `destila push`
    rewrites. `export`: an exported folder's export.json."""
    if export:
        where = f'snapshot_download("{model}")' if hub else f'"{model}"'
        code = [
            *(["from huggingface_hub import snapshot_download"] if hub else []),
            "from destila.infer.predictor import Predictor",
            "",
            f"predictor = Predictor.from_pretrained({where})",
            f'print(predictor(question="{EXAMPLE_QUESTION}", context="{EXAMPLE_CONTEXT}"))',
        ]
        openvino = export_target(export).startswith("openvino") or "openvino_file" in export
        graph, engine = (files.OPENVINO, "OpenVINO") if openvino else (files.ONNX, "ONNX Runtime")
        after = f"The folder holds `{graph}`, run by destila through {engine} (`pip install destila`)."
    else:
        code = [
            "from transformers import AutoModelForQuestionAnswering, AutoTokenizer",
            "",
            f'model = AutoModelForQuestionAnswering.from_pretrained("{model}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{model}")',
        ]
        after = (f'or, with long contexts split into windows and the best span chosen, `destila answer --model {model} '
                 f'--question "{EXAMPLE_QUESTION}" --context "{EXAMPLE_CONTEXT}"`.')
    return "\n".join([USAGE_BEGIN, "```python", *code, "```", "", after, USAGE_END])


def publish_card(text: str, repo_id: str, *, export: dict | None = None) -> str:
    """The card as pushed to `repo_id`: usage naming the repository, the model-index named after it, and for an
    exported folder (`export`: its export.json) its target and precision and the `onnx` / `openvino` / `int8`
    tags. A card without destila's header gets the task fields."""
    meta, body = split_card(text)
    for key, value in (("language", "es"), ("library_name", "transformers"), ("pipeline_tag", "question-answering")):
        meta.setdefault(key, value)
    for entry in meta.get("model-index") or []:
        entry["name"] = repo_id.split("/")[-1]
    meta, body = with_export(meta, body, export)
    body = _replace_block(body, USAGE_BEGIN, USAGE_END, usage_block(repo_id, export=export, hub=True), "Use")
    return front_matter(meta) + body


def relocated_card(text: str, folder: str | Path, *, export: dict | None = None) -> str:
    """The card of a model written to another folder (trimmed, exported): its usage block names `folder` (and,
    with `export`, loads the exported graph)."""
    return _replace_block(text, USAGE_BEGIN, USAGE_END, usage_block(str(folder), export=export), "Use")


def relocate_usage(folder: str | Path) -> None:
    """Point the usage block of the card in `folder` (a model written from another folder's, such as a
    vocabulary-trimmed one) at `folder`."""
    card = Path(folder) / files.MODEL_CARD
    if card.is_file():
        card.write_text(relocated_card(card.read_text(encoding="utf-8"), folder), encoding="utf-8")


def _replace_block(body: str, begin: str, end: str, block: str, heading: str) -> str:
    """`body` with the text between the markers `begin` and `end` (included) replaced by `block`, which already
    carries the markers; appended under `## heading` when the markers are missing."""
    start, stop = body.find(begin), body.find(end)
    if 0 <= start < stop:
        return body[:start] + block + body[stop + len(end):]
    return body.rstrip("\n") + f"\n\n## {heading}\n\n" + block + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Exported folders and results written after training


EXPORT_BEGIN = "<!-- destila:export -->"
EXPORT_END = "<!-- /destila:export -->"
RESULTS_BEGIN = "<!-- destila:results -->"
RESULTS_END = "<!-- /destila:results -->"


def export_precision(info: dict) -> str:
    """What an exported model computes in, from its export.json."""
    if info.get("int8"):
        mode = (info.get("quantization") or {}).get("mode")
        return f"int8 matrix products ({mode} scales)" if mode else "int8 matrix products"
    if info.get("precision_here"):  # OpenVINO: fp32 weights, computed in bf16 where the CPU has it natively
        return f"fp32 weights, computed in {info['precision_here']} on the machine that exported it"
    return "fp32"


def export_target(export: dict) -> str:
    """The target an exported folder holds (the one `auto` chose, for an `auto` export)."""
    target = str(export.get("target") or "")
    return str((export.get("auto") or {}).get("chosen") or target) if target == "auto" else target


def with_export(meta: dict, body: str, export: dict | None) -> tuple[dict, str]:
    """The card's metadata and body saying an exported folder's target and precision (unchanged without one)."""
    if not export:
        return meta, body
    target = export_target(export)
    tags = list(meta.get("tags") or [])
    wanted = [t for t, on in (("onnx", target.startswith("onnx")), ("openvino", target.startswith("openvino")),
                              ("int8", bool(export.get("int8")))) if on]
    meta["tags"] = tags + [t for t in wanted if t not in tags]
    line = f"{EXPORT_BEGIN}\n- **Export target**: `{target}`\n- **Precision**: {export_precision(export)}\n{EXPORT_END}"
    return meta, _replace_block(body, EXPORT_BEGIN, EXPORT_END, line, "Exported model")


def _read_export(folder: Path) -> dict | None:
    path = folder / files.EXPORT_INFO
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _folder_config(folder: Path) -> dict:
    path = folder / files.HF_CONFIG
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _training_data(folder: Path) -> list[str]:
    """The training data specs of the run that made a folder (its destila_config.yaml), else []."""
    path = folder / files.RUN_CONFIG
    if not path.is_file():
        return []
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return []
    section = recipe.get("train") if isinstance(recipe.get("train"), dict) else recipe
    data = section.get("train_data") if isinstance(section, dict) else None
    return [str(d) for d in (data if isinstance(data, list) else [data] if data else [])]


def model_name(folder: str | Path) -> str:
    """A name saying what the model in a local folder is: its base (the Hub model its card names, else its
    architecture), its layers, its training data and, for an exported folder, its target; e.g.
    `roberta-base-bne-6-layers-squad-es-v1.1-train-onnx`. Never the folder's path."""
    folder = Path(folder)
    config = _folder_config(folder)
    base = hub_model_id(str(folder)) if folder.is_dir() else None
    parts = [base.split("/")[-1] if base else str(config.get("model_type") or "qa-model")]
    if config.get("num_hidden_layers"):
        parts.append(f"{config['num_hidden_layers']}-layers")
    parts += [spec.split("@")[0].split("#")[0].replace(":", "-") for spec in _training_data(folder)]
    export = _read_export(folder)
    if export and export.get("target"):
        parts.append(str(export["target"]))
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-")


def describe_model(name: str) -> str:
    """How a card names a model it was trained from: a Hub id or `offline:` name as is; a local folder by what it
    is (`model_name`, with its architecture and base), never by its path."""
    path = Path(name).expanduser()
    if not path.is_dir():
        return f"`{name}`"
    config = _folder_config(path)
    base = hub_model_id(name)
    details = [f"{config.get('model_type', 'model')}, {config.get('num_hidden_layers', '?')} layers, hidden "
               f"{config.get('hidden_size', '?')}"]
    if base:
        details.append(f"from `{base}`")
    data = _training_data(path)
    if data:
        details.append("trained on " + " + ".join(f"`{d}`" for d in data))
    return f"`{model_name(path)}` ({'; '.join(details)})"


def write_card_results(folder: str | Path, evaluations) -> Path:
    """Write evaluations into a model folder's card (README.md, created if missing): its `model-index` gets one
    entry per data set and protocol (a new one replaces the old entry of the same data set and protocol, others
    stay), named by `model_name`; the body gets the table of them; an exported folder's card also says its target
    and precision. `evaluations`: `CardEvaluation`s or mappings (see `CardEvaluation.of`). Returns the card."""
    folder = Path(folder)
    if not folder.is_dir():
        from destila.errors import ModelError

        raise ModelError(f"{folder}: no such model folder")
    given = [CardEvaluation.of(e) for e in evaluations]
    card = folder / files.MODEL_CARD
    name = model_name(folder)
    text = card.read_text(encoding="utf-8") if card.is_file() else f"# {name}\n\nSpanish extractive QA model.\n"
    meta, body = split_card(text)
    for key, value in (("language", "es"), ("library_name", "transformers"), ("pipeline_tag", "question-answering")):
        meta.setdefault(key, value)
    new = model_index(name, given)[0]["results"]
    replaced = {_index_key(entry) for entry in new}
    old = [e for entry in meta.get("model-index") or [] for e in entry.get("results") or []]
    results = [e for e in old if _index_key(e) not in replaced] + new
    if results:
        meta["model-index"] = [{"name": name, "results": results}]
        meta.setdefault("metrics", ["exact_match", "f1"])
        body = _replace_block(body, RESULTS_BEGIN, RESULTS_END, _results_table(results, given), "Evaluations")
        body = body.replace(NOT_EVALUATED, NOT_EVALUATED[:-1] + "; scored after training: see Evaluations.")
    meta, body = with_export(meta, body, _read_export(folder))
    card.write_text(front_matter(meta) + body, encoding="utf-8")
    return card


def _results_table(results: list[dict], given: list[CardEvaluation]) -> str:
    questions = {(g.data, g.protocol): g.questions for g in given}
    lines = [RESULTS_BEGIN, "| data | protocol | questions | EM | F1 | EM (es) | F1 (es) |",
             "|---|---|---|---|---|---|---|"]
    for entry in results:
        data, protocol = _index_key(entry)
        value = {(m.get("config"), m["type"]): m["value"] for m in entry["metrics"]}
        cells = [_fmt(value.get((v, t), "")) for v in ("official", "es") for t in ("exact_match", "f1")]
        asked = questions.get((data, protocol))
        lines.append(f"| `{data}` | {protocol} | {'' if asked is None else asked} | {' | '.join(cells)} |")
    lines += ["", ("Protocols: `destila` is the best valid span inside the context; `authors` is SpanishTinyRoBERTa's "
                   "evaluation.py (`destila evaluate --protocol authors`)."), RESULTS_END]
    return "\n".join(lines)
