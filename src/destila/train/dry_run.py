"""`--dry-run`: run a recipe end to end in seconds, offline, on tiny stand-in models.

The stand-ins keep what the recipe's code paths depend on: the model type, the number of layers and heads of the
teacher and of the student (so layer maps and per-head attention losses line up as in the real run), the ratio of
their widths (so projections have the real shape relationship), and the tokenizer kind (byte-level BPE for
RoBERTa, SentencePiece Unigram for XLM-R vocabularies, WordPiece for BERT), trained on a few Spanish sentences.
Widths shrink to 4 dimensions per teacher head. Data is the embedded sample. Every stage runs a couple of steps
through the real loop; the saved student is reloaded and asked a question.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

from destila import files
from destila.config import DistillConfig, TrainConfig, config_to_dict, load_recipe
from destila.errors import ConfigError
from destila.models.families import SHAPE_FIELDS, model_family
from destila.train.precision import resolve_mixed_precision
from destila.train.runlog import read_log

SPANISH = [
    "En el año 929, Abderramán III se proclamó califa en Córdoba.",
    "El río Ebro nace en Cantabria y desemboca en el mar Mediterráneo, cerca de Tortosa.",
    "¿Cuántos años tenía Cervantes cuando publicó la primera parte del Quijote en 1605?",
    "La cigüeña construyó su nido sobre el campanario de la iglesia románica de Ávila.",
    "¡Qué sorpresa! El equipo ganó el campeonato por tres goles a uno en Sevilla.",
    "La fotosíntesis ocurre en los cloroplastos de las hojas gracias a la luz del sol.",
    "El Museo del Prado abrió sus puertas en 1819 con obras de Velázquez, Goya y El Greco.",
    "Miguel de Unamuno fue rector de la Universidad de Salamanca durante muchos años.",
]

# Shapes of teachers that can be named in recipes but not fetched offline. The stand-in tokenizer is the family's
# (destila.models.families) unless given.
KNOWN_MODELS: dict[str, dict] = {
    "stevemobs/roberta-large-fine-tuned-squad-es": {
        "model_type": "roberta", "num_hidden_layers": 24, "hidden_size": 1024, "num_attention_heads": 16,
        "intermediate_size": 4096, "type_vocab_size": 1},
    "PlanTL-GOB-ES/roberta-large-bne-sqac": {
        "model_type": "roberta", "num_hidden_layers": 24, "hidden_size": 1024, "num_attention_heads": 16,
        "intermediate_size": 4096, "type_vocab_size": 1},
    "PlanTL-GOB-ES/roberta-base-bne-sqac": {
        "model_type": "roberta", "num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12,
        "intermediate_size": 3072, "type_vocab_size": 1},
    "mrm8488/bert-base-spanish-wwm-cased-finetuned-spa-squad2-es": {  # BETO: BERT with a Spanish WordPiece
        "model_type": "bert", "num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12,
        "intermediate_size": 3072, "type_vocab_size": 2},
    "offline:multilingual-e5-small": {  # a BERT with XLM-R's SentencePiece vocabulary
        "model_type": "bert", "num_hidden_layers": 12, "hidden_size": 384, "num_attention_heads": 12,
        "intermediate_size": 1536, "type_vocab_size": 2, "tokenizer": "unigram"},
}


def describe_model(name: str) -> dict:
    """Model type, shape and tokenizer kind of a model named in a recipe, without downloading anything."""
    if name in KNOWN_MODELS:
        return {"tokenizer": model_family(KNOWN_MODELS[name]["model_type"]).tokenizer, **KNOWN_MODELS[name]}
    folder = Path(name).expanduser()
    if (folder / "config.json").exists():
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        family = model_family(cfg.get("model_type", "bert"))
        shape = family.shape(cfg)
        if len(shape) < len(SHAPE_FIELDS):
            raise ConfigError(f"dry run: {name}/config.json lacks one of {family.shape_names}")
        kind = family.tokenizer
        tok_file = folder / "tokenizer.json"
        if tok_file.exists():
            model_type = json.loads(tok_file.read_text(encoding="utf-8")).get("model", {}).get("type", "")
            kind = {"BPE": "bpe", "Unigram": "unigram", "WordPiece": "wordpiece"}.get(model_type, kind)
        return dict(model_type=family.model_type, type_vocab_size=cfg.get("type_vocab_size", 2),
                    tokenizer=kind, **shape)
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means: not available offline
        raise ConfigError(
            f"dry run: cannot tell the shape of {name!r} offline; use a local folder or one of "
            f"{sorted(KNOWN_MODELS)}"
        ) from None
    family = model_family(cfg.model_type)
    return dict(model_type=cfg.model_type, type_vocab_size=getattr(cfg, "type_vocab_size", 2),
                tokenizer=family.tokenizer, **{k: getattr(cfg, family.config_name(k)) for k in SHAPE_FIELDS})


def _scaled(width: int, scale: float, heads: int) -> int:
    """`width * scale`, rounded up to a multiple of `heads` (at least one dimension per head)."""
    target = max(heads, round(width * scale))
    return -(-target // heads) * heads


def tiny_shapes(teacher: dict, student: dict) -> tuple[dict, dict]:
    """Stand-in shapes: same depths and heads, widths scaled by one factor (4 dimensions per teacher head)."""
    scale = 4 / (teacher["hidden_size"] / teacher["num_attention_heads"])
    out = []
    for shape in (teacher, student):
        heads = shape["num_attention_heads"]
        out.append({
            "num_hidden_layers": shape["num_hidden_layers"],
            "num_attention_heads": heads,
            "hidden_size": _scaled(shape["hidden_size"], scale, heads),
            "intermediate_size": max(8, round(shape["intermediate_size"] * scale)),
        })
    return out[0], out[1]


def student_shape(teacher: dict, spec: dict) -> dict:
    """The real student's shape for `spec` (what build_student would make), from the teacher's shape."""
    from destila.models.students import check_student_spec, student_overrides

    check_student_spec(spec)
    shape = {k: teacher[k] for k in SHAPE_FIELDS}
    if "pretrained" in spec:
        return {k: v for k, v in describe_model(str(spec["pretrained"])).items() if k in SHAPE_FIELDS}
    if "layers" in spec:
        return {**shape, "num_hidden_layers": len(spec["layers"])}
    if "prune" in spec:  # the width is chosen when the run times its candidates; the depth when layers are given
        layers = spec["prune"].get("layers")
        return {**shape, "num_hidden_layers": len(layers)} if layers else shape
    return {**shape, **{k: v for k, v in student_overrides(spec).items() if k in SHAPE_FIELDS}}


# ---------------------------------------------------------------------------------------------------------------
# Tiny tokenizers of the three kinds


def build_tokenizer(kind: str, folder: Path, texts: list[str] | None = None):
    """A fast tokenizer of `kind` (bpe | unigram | wordpiece) trained on a few Spanish sentences, saved to folder."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = (texts or SPANISH) * 3
    if kind == "bpe":
        specials = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
                    "mask_token": "<mask>"}
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(texts, trainers.BpeTrainer(
            vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tok.post_processor = processors.RobertaProcessing(
            ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), trim_offsets=True,
            add_prefix_space=False)
        extra = {"cls_token": "<s>", "sep_token": "</s>"}
        input_names = ["input_ids", "attention_mask"]
    elif kind == "unigram":
        specials = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
                    "mask_token": "<mask>"}
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        tok.train_from_iterator(texts, trainers.UnigramTrainer(
            vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk_token="<unk>"))
        s, e = tok.token_to_id("<s>"), tok.token_to_id("</s>")
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", s), ("</s>", e)])
        extra = {"cls_token": "<s>", "sep_token": "</s>"}
        input_names = ["input_ids", "attention_mask"]
    elif kind == "wordpiece":
        specials = {"pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]"}
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(texts, trainers.WordPieceTrainer(
            vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
        c, s = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", c), ("[SEP]", s)])
        extra = {"cls_token": "[CLS]", "sep_token": "[SEP]"}
        input_names = ["input_ids", "token_type_ids", "attention_mask"]
    else:
        raise ConfigError(f"dry run: unknown tokenizer kind {kind!r}")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, model_input_names=input_names,
                                   **specials, **extra)
    fast.save_pretrained(folder)
    return fast


def build_tiny_model(model_type: str, shape: dict, tokenizer, folder: Path, type_vocab_size: int, seed: int = 0):
    """A random-weight QA model of `model_type` and `shape`, saved with its tokenizer to `folder`."""
    import torch
    from transformers import AutoConfig, AutoModelForQuestionAnswering

    torch.manual_seed(seed)
    ids = {k: getattr(tokenizer, f"{k}_id") for k in ("pad_token", "bos_token", "eos_token")
           if getattr(tokenizer, f"{k}_id", None) is not None}
    family = model_family(model_type)
    config = AutoConfig.for_model(
        model_type, vocab_size=len(tokenizer), max_position_embeddings=514, type_vocab_size=type_vocab_size,
        **{k.replace("_token", "_token_id"): v for k, v in ids.items()},
        **{family.config_name(k): v for k, v in shape.items()},
    )
    model = AutoModelForQuestionAnswering.from_config(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return model


def _check_stage(stage, student, teacher) -> str:
    """Build the stage's loss on the stand-ins (which checks heads, widths and the layer map) and say what it uses."""
    from destila.distill.losses import DistillationLoss
    from destila.distill.terms import ATTENTION_CAPTURES

    loss_fn = DistillationLoss(stage.loss, student_config=student.config, teacher_config=teacher.config)
    capturing = [name for name, term in loss_fn.terms.items() if term.needs() & ATTENTION_CAPTURES]
    for who, model in (("teacher", teacher), ("student", student)):
        if capturing and not model_family(model.config.model_type).attention_interface:
            raise ConfigError(
                f"stages[{stage.name}].loss: {', '.join(capturing)} needs attention capture, which the {who}'s model "
                f"type {model.config.model_type} does not support (its layers bypass transformers' attention "
                "interface); set that weight to 0"
            )
    needs = [k for k, v in loss_fn.needs().items() if v]
    proj = sum(p.numel() for p in loss_fn.projection_parameters())
    teacher_use = f"teacher needs {needs or ['logits only']}" if loss_fn.needs_teacher() else "teacher not used"
    return f"stage {stage.name}: losses {', '.join(loss_fn.terms)}; {proj} projection parameters; {teacher_use}"


# ---------------------------------------------------------------------------------------------------------------


def dry_run(cfg: TrainConfig | DistillConfig, workdir: str | Path | None = None, steps: int = 2,
            echo=print) -> list[str]:
    """Run `cfg` on stand-ins; returns the list of what was checked. Raises on the first failure."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="destila-dry-run-") as tmp:
            return dry_run(cfg, tmp, steps, echo)
    work = Path(workdir)
    checks: list[str] = []

    def ok(message: str) -> None:
        checks.append(message)
        echo(f"  ok  {message}")

    if isinstance(cfg, DistillConfig):
        reals = [_described(t.model, work, "teacher", ok) for t in cfg.teacher_list()]
        out, recipe_used = _distill_stand_in(cfg, reals, _tiny_train(cfg.train, work, steps, ok), work, steps, ok)
    else:
        if not cfg.model:
            raise ConfigError("train.model: name the model to fine-tune")
        real, tokenizer = _described(cfg.model, work, "model", ok)
        out, recipe_used = _train_stand_in(real, tokenizer, _tiny_train(cfg, work, steps, ok), work)
    _check_output(out, recipe_used, ok)
    return checks


def _described(name: str, work: Path, role: str, ok) -> tuple[dict, object]:
    """(shape and tokenizer kind of `name`, a stand-in tokenizer of that kind, shared by models of one kind)."""
    real = describe_model(name)
    folder = work / f"tokenizer-{real['tokenizer']}"
    if (folder / "tokenizer.json").exists():
        from destila.models.hub import load_tokenizer

        tokenizer = load_tokenizer(folder)
    else:
        tokenizer = build_tokenizer(real["tokenizer"], folder)
    ok(f"{role} {name}: {real['model_type']}, {real['num_hidden_layers']} layers, hidden {real['hidden_size']}, "
       f"{real['num_attention_heads']} heads; stand-in tokenizer {real['tokenizer']} ({len(tokenizer)} pieces)")
    return real, tokenizer


def _training_sample(work: Path) -> Path:
    """The embedded sample written as a plain training file (augmentation refuses the named `sample`, a held-out
    set, but a stand-in run may train on its text)."""
    from destila.data import load_dataset

    sample = load_dataset("sample")
    paragraphs: dict[tuple[str, str], list] = {}
    for ex in sample.examples[:32]:
        qa = {"id": ex.id, "question": ex.question, "is_impossible": ex.is_impossible,
              "answers": [{"text": a.text, "answer_start": a.start} for a in ex.answers]}
        paragraphs.setdefault((ex.title, ex.context), []).append(qa)
    articles: dict[str, list] = {}
    for (title, context), qas in paragraphs.items():
        articles.setdefault(title, []).append({"context": context, "qas": qas})
    path = work / "train.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [{"title": title, "paragraphs": paras} for title, paras in articles.items()]
    path.write_text(json.dumps({"version": "2.0", "data": data}, ensure_ascii=False), encoding="utf-8")
    return path


def _tiny_train(train: TrainConfig, work: Path, steps: int, ok) -> TrainConfig:
    """The recipe's training settings on the embedded sample, a few steps, short windows, one thread."""
    import torch

    tiny = dataclasses.replace(
        train, model=None, train_data=str(_training_sample(work)), eval_data="sample", data_dir=None,
        output_dir=str(work / "out"),
        max_length=128, doc_stride=48, max_query_length=32 if train.max_query_length else None, batch_size=2,
        eval_batch_size=8, grad_accum=min(train.grad_accum, 2), max_steps=steps, epochs=1.0, eval_every=0,
        save_every=steps, log_every=1, keep_checkpoints=1, threads=1, max_train_examples=24, max_eval_examples=8,
        mixed_precision="no" if train.mixed_precision == "fp16" and not torch.cuda.is_available()
        else resolve_mixed_precision(train.mixed_precision), progress=False, compile="off",
    )
    if train.compile == "on":
        ok("compile on: the stand-in run is eager (compiling alone would take about a minute); the real run compiles")
    if train.mixed_precision == "auto":
        ok(f"mixed precision auto: {tiny.mixed_precision} on this machine")
    elif tiny.mixed_precision != train.mixed_precision:
        ok(f"mixed precision {train.mixed_precision} needs a GPU: the stand-in run uses fp32")
    return tiny


def _distill_stand_in(cfg: DistillConfig, reals: list[tuple[dict, object]], tiny_train: TrainConfig, work: Path,
                      steps: int, ok) -> tuple[Path, DistillConfig]:
    """Tiny teachers and student with the real depths and heads (and tokenizer kinds); every stage a few steps
    through the real run."""
    from destila.models.hub import load_qa_model, load_tokenizer
    from destila.models.students import build_run_student
    from destila.train.batches import training_windows
    from destila.train.recipe import distill_stages, train_stages
    from destila.train.teachers import TeacherModel

    internals = cfg.internals_teacher()
    real = reals[internals][0]  # the teacher the student is built from and the internal terms read
    s_real = student_shape(real, cfg.student)
    ok(f"student {cfg.student}: {s_real['num_hidden_layers']} layers, hidden {s_real['hidden_size']}, "
       f"{s_real['num_attention_heads']} heads (width ratio {real['hidden_size'] / s_real['hidden_size']:g}, "
       f"layer ratio {real['num_hidden_layers'] / s_real['num_hidden_layers']:g})")
    specs, teachers = [], []
    for i, (t, (t_real, tokenizer)) in enumerate(zip(cfg.teacher_list(), reals, strict=True)):
        folder = work / f"teacher-{i}"
        t_shape, s_shape = tiny_shapes(t_real, s_real)
        build_tiny_model(t_real["model_type"], t_shape, tokenizer, folder, t_real["type_vocab_size"], seed=i)
        specs.append(dataclasses.replace(t, model=str(folder)))
        teachers.append(TeacherModel(str(folder), load_qa_model(folder), load_tokenizer(folder), t.weight,
                                     i == internals))
        ok(f"stand-in teacher {i}: hidden {t_shape['hidden_size']}, {t_real['tokenizer']} tokenizer, weight "
           f"{t.weight:g}")
        if i == internals:
            student_shape_tiny = s_shape
    teacher = teachers[internals]
    if "pretrained" in cfg.student:
        student_dir = work / "student"
        s_kind, s_tokenizer = _described(str(cfg.student["pretrained"]), work, "student", ok)
        build_tiny_model(s_kind["model_type"], student_shape_tiny, s_tokenizer, student_dir,
                         s_kind["type_vocab_size"], seed=len(teachers))
        spec = {"pretrained": str(student_dir)}
        student, tokenizer = load_qa_model(student_dir), load_tokenizer(student_dir)
    else:
        spec = {"layers": cfg.student["layers"]} if "layers" in cfg.student else {"config": student_shape_tiny}
        if "prune" in cfg.student:
            # the real scoring, timing and cutting on the stand-in; tiny shapes cannot show the real speed-up
            spec = {"prune": {**cfg.student["prune"], "target_speedup": 1.0, "windows": 8, "timing_batch": 2,
                              "timing_length": 32}}
            ok(f"student.prune: scored, timed and cut on the stand-in at 1x (the real run aims at "
               f"{cfg.student['prune'].get('target_speedup', 3.0)}x, timed on this machine)")
        student = build_run_student(
            teacher.model, spec, folder=tiny_train.output_dir, log=lambda msg: ok(msg),
            windows=lambda count, seed: training_windows(teacher.tokenizer, tiny_train, count, seed))
        tokenizer = teacher.tokenizer
    stand_in = dataclasses.replace(
        cfg, teacher=specs[0].model, teachers=specs if cfg.teachers else [], student=spec, train=tiny_train,
        stages=[dataclasses.replace(s, max_steps=steps, epochs=None) for s in cfg.stages],
    )
    ok(f"stand-ins: student hidden {student_shape_tiny['hidden_size']}, same depths and heads as the real models")
    stages = distill_stages(stand_in)
    for stage in stages:
        ok(_check_stage(stage, student, teacher.model))
    out = train_stages(tiny_train, stand_in, stages, student=student, tokenizer=tokenizer, teachers=teachers,
                       source=stand_in.teacher)
    return out, stand_in


def _train_stand_in(real: dict, tokenizer, tiny_train: TrainConfig, work: Path) -> tuple[Path, TrainConfig]:
    from destila.train.recipe import run_train

    model_dir = work / "model"
    shape = {k: v for k, v in real.items() if k in SHAPE_FIELDS}
    t_shape, _ = tiny_shapes(real, shape)
    build_tiny_model(real["model_type"], t_shape, tokenizer, model_dir, real["type_vocab_size"])
    stand_in = dataclasses.replace(tiny_train, model=str(model_dir))
    return run_train(stand_in), stand_in


def _check_output(out: Path, recipe_used, ok) -> None:
    """The output folder: logged terms, a reloadable student without projections, an answer, metrics, config."""
    from safetensors import safe_open
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from destila.infer.predictor import Predictor

    log = read_log(out)
    train_records = [r for r in log if r["type"] == "train"]
    terms = sorted({k for r in train_records for k in r} - {"type", "stage", "stage_index", "step", "global_step",
                                                           "epoch", "lr", "tokens_per_s", "examples_per_s",
                                                           "seconds_per_step", "rss_mb"})
    ok(f"trained {len(train_records)} logged steps; loss terms logged: {', '.join(terms)}")
    with safe_open(str(out / files.WEIGHTS), "pt") as fh:
        keys = list(fh.keys())
    if any("projection" in k or k.startswith("loss_fn") for k in keys):
        raise ConfigError("dry run: projection weights leaked into the saved student")
    model = AutoModelForQuestionAnswering.from_pretrained(out)
    AutoTokenizer.from_pretrained(out)
    ok(f"saved student reloads with AutoModelForQuestionAnswering ({type(model).__name__}, "
       f"{sum(p.numel() for p in model.parameters())} parameters, no projection weights)")
    answer = Predictor.from_pretrained(str(out))(question="¿Dónde se proclamó califa Abderramán III?",
                                                 context=SPANISH[0])
    ok(f"the saved folder answers through the Predictor: {answer!r}")
    metrics = json.loads((out / files.METRICS).read_text())
    ok(f"metrics.json has eval scores: official F1 {metrics['eval']['official']['f1']:.2f}")
    reloaded = load_recipe(out / files.RUN_CONFIG)
    if config_to_dict(reloaded) != config_to_dict(recipe_used):
        raise ConfigError("dry run: destila_config.yaml does not load back to the config that ran")
    ok("destila_config.yaml and README.md written; the saved config loads back unchanged")
