"""Every recipe in configs/ parses into its typed config; overrides and validation name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from destila.config import (
    RECIPE_KINDS,
    DistillConfig,
    StageConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    field_docs,
    load_recipe,
    save_config,
)
from destila.distill.loss_config import LossConfig
from destila.distill.terms import TERMS
from destila.errors import ConfigError
from destila.pipeline import PipelineConfig  # registers `kind: pipeline`

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.y*ml"))


def test_there_are_recipes():
    names = {p.name for p in CONFIGS}
    assert {"paper.yaml", "paper-improved.yaml", "tinybert.yaml", "teacher.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_recipe_parses_by_its_kind(path, tmp_path):
    kind = yaml.safe_load(path.read_text(encoding="utf-8")).get("kind")
    assert kind in RECIPE_KINDS, f"{path.name}: kind {kind!r} has no parser (known: {sorted(RECIPE_KINDS)})"
    cfg = load_recipe(path)
    if kind in ("train", "distill"):
        assert isinstance(cfg, TrainConfig if kind == "train" else DistillConfig)
        # The saved form (destila_config.yaml beside every checkpoint) loads back to the same config.
        saved = save_config(cfg, tmp_path / "destila_config.yaml")
        assert config_to_dict(load_recipe(saved)) == config_to_dict(cfg)
    if kind == "pipeline":
        assert isinstance(cfg, PipelineConfig)


def test_paper_recipe_is_the_authors_code():
    cfg = load_recipe(CONFIGS[0].parent / "paper.yaml")
    assert cfg.teacher == "stevemobs/roberta-large-fine-tuned-squad-es"
    assert cfg.student == {"preset": "tinyroberta-es"}
    assert len(cfg.stages) == 1
    loss = cfg.stage_loss(cfg.stages[0])
    assert loss == LossConfig.paper()  # all weights 1, KD summed, maps after dropout, nothing masked
    assert (loss.temperature, loss.kd_kind, loss.layer_map, loss.projection) == (1.0, "kl", "uniform", "shared")
    t = cfg.train
    assert (t.learning_rate, t.batch_size, t.grad_accum, t.max_length, t.doc_stride, t.epochs) == (
        3e-5, 32, 1, 384, 128, 100)
    assert (t.warmup_ratio, t.weight_decay, t.adam_eps, t.max_grad_norm, t.mixed_precision) == (
        0.2, 0.01, 1e-8, 1.0, "fp16")
    assert t.strip_questions and t.max_query_length is None and not t.teacher_autocast
    assert t.eval_data is None and t.validation_fraction == 0 and t.eval_every == 0  # no evaluation while training


def _leaves(doc: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_improved_paper_recipe_differs_only_where_it_says():
    paper, improved = (_leaves(config_to_dict(load_recipe(CONFIGS[0].parent / name)))
                       for name in ("paper.yaml", "paper-improved.yaml"))
    changed = {key: improved[key] for key in paper if paper[key] != improved[key]}
    assert changed == {
        "loss.kd_reduction": "mean",
        "loss.attention_dropout_maps": False,
        "loss.mask_padding": True,
        "train.validation_fraction": 0.05,
        "train.eval_every": 2000,
        "train.save_each_epoch": False,
        "train.output_dir": "runs/spanish-tinyroberta-improved",
    }


def test_tinybert_recipe_has_two_stages_with_their_own_weights():
    cfg = load_recipe(CONFIGS[0].parent / "tinybert.yaml")
    first, second = (cfg.stage_loss(s) for s in cfg.stages)
    assert (first.ce, first.kd) == (0.0, 0.0) and first.hidden > 0 and first.attention > 0 and first.embedding > 0
    assert first.attention_kind == "scores"
    assert second.kd > 0 and (second.hidden, second.attention, second.embedding, second.ce) == (0.0,) * 4
    assert cfg.stages[0].learning_rate != cfg.stages[1].learning_rate


def test_unknown_or_missing_kind_fails():
    with pytest.raises(ConfigError, match="kind 'pipelin'"):
        config_from_dict({"kind": "pipelin"})
    with pytest.raises(ConfigError, match="kind None"):
        config_from_dict({"train": {}})


def test_dotted_overrides_reach_nested_fields_and_lists():
    doc = {"kind": "distill", "teacher": "t", "stages": [{"name": "a"}, {"name": "b"}], "train": {},
           "loss": {"kd": 1.0}}
    cfg = config_from_dict(doc, ["train.learning_rate=1e-4", "loss.temperature=2", "loss.mask_padding=false",
                                 "stages.1.epochs=3", "student.preset=tinyroberta-es", "train.eval_data=sample"])
    assert cfg.train.learning_rate == 1e-4 and isinstance(cfg.train.learning_rate, float)
    assert cfg.loss.temperature == 2.0 and cfg.loss.mask_padding is False
    assert cfg.stages[1].epochs == 3.0 and cfg.stages[0].epochs is None
    assert cfg.train.eval_data == "sample"
    with pytest.raises(ConfigError, match="stages.5"):
        config_from_dict(doc, ["stages.5.epochs=1"])
    with pytest.raises(ConfigError, match="key.path=value"):
        config_from_dict(doc, ["train.learning_rate"])


@pytest.mark.parametrize(
    "override, field",
    [
        ("train.batch_size=0", "train.batch_size"),
        ("train.learning_rate=-1", "train.learning_rate"),
        ("train.mixed_precision=fp8", "train.mixed_precision"),
        ("train.doc_stride=500", "train.doc_stride"),
        ("train.warmup_ratio=1.5", "train.warmup_ratio"),
        ("train.epochs=abc", "train.epochs"),
        ("train.batch_sise=4", "batch_sise"),
        ("loss.kd=-1", "loss.kd"),
        ("loss.temprature=2", "temprature"),
        ("stages.0.loss.kd_kind=mse", "kd_kind"),
        ("stages.0.learning_rate=0", "learning_rate"),
        ("student.shape=big", "student"),
        ("teacher=", "teacher"),
    ],
)
def test_invalid_values_name_the_field(override, field):
    doc = {"kind": "distill", "teacher": "t", "stages": [{"name": "joint"}], "train": {}}
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        config_from_dict(doc, [override])


def test_stage_names_are_unique_and_merged_losses_are_validated_early():
    with pytest.raises(ConfigError, match="unique"):
        DistillConfig(teacher="t", stages=[StageConfig(name="a"), StageConfig(name="a")])
    with pytest.raises(ConfigError, match="every weight"):
        DistillConfig(teacher="t", stages=[StageConfig(loss=dict.fromkeys(TERMS, 0))])
    with pytest.raises(ConfigError, match=r"stages\[joint\]\.loss: every weight"):
        DistillConfig(teacher="t")  # no term is on unless the recipe turns it on


def test_loss_mappings_go_through_one_builder_that_names_where_and_the_field():
    doc = {"kind": "distill", "teacher": "t", "train": {},
           "loss": {"temperature": "2", "kd": "5e-1"}, "stages": [{"name": "pred", "loss": {"ce": "1e-1"}}]}
    cfg = config_from_dict(doc)
    assert (cfg.loss.temperature, cfg.loss.kd) == (2.0, 0.5)
    assert cfg.stage_loss(cfg.stages[0]).ce == 0.1 and cfg.stage_loss(cfg.stages[0]).kd == 0.5
    assert config_from_dict({**doc, "loss": None}).loss == LossConfig()
    with pytest.raises(ConfigError, match=r"^stages\[pred\]\.loss: loss\.kd_kind: expected one of kl, soft_ce"):
        config_from_dict(doc, ["stages.0.loss.kd_kind=mse"])
    with pytest.raises(ConfigError, match=r"^stages\[pred\]\.loss\.temperature: expected a number, got 'hot'"):
        config_from_dict(doc, ["stages.0.loss.temperature=hot"])
    with pytest.raises(ConfigError, match=r"^loss: unknown field\(s\) temprature; known: ce, kd, "):
        config_from_dict(doc, ["loss.temprature=2"])
    with pytest.raises(ConfigError, match=r"^loss\.kd: expected a finite weight"):
        config_from_dict(doc, ["loss.kd=-1"])
    with pytest.raises(ConfigError, match="loss must be a mapping"):
        config_from_dict({**doc, "loss": [1]})


def test_every_field_has_a_one_line_doc():
    for cls in (TrainConfig, StageConfig, DistillConfig):
        for name, doc in field_docs(cls).items():
            assert doc and "\n" not in doc, f"{cls.__name__}.{name}"


def test_command_line_options_override_the_recipe():
    from destila.cli.train import resolve_recipe

    paper = CONFIGS[0].parent / "paper.yaml"
    cfg = resolve_recipe(paper, ["train.batch_size=8", "train.learning_rate=1e-4"],
                         {"teacher": "my/teacher", "student": {"layers": [4, 8]}, "train.output_dir": "runs/x",
                          "train.train_data": None}, "distill")
    assert (cfg.teacher, cfg.student, cfg.train.output_dir) == ("my/teacher", {"layers": [4, 8]}, "runs/x")
    assert (cfg.train.batch_size, cfg.train.learning_rate) == (8, 1e-4)
    assert cfg.train.train_data == "squad-es-v1.1:train"  # options left out keep the recipe's value


def test_a_recipe_of_the_wrong_kind_is_a_clean_error():
    from typer.testing import CliRunner

    from destila.cli import app, main

    result = CliRunner().invoke(app, ["train", "--config", str(CONFIGS[0].parent / "paper.yaml"), "--dry-run"])
    assert result.exit_code != 0
    assert "kind: train" in str(result.exception)
    with pytest.raises(SystemExit) as exc:
        main(["distill", "--config", str(CONFIGS[0].parent / "paper.yaml"), "--set", "train.batch_size=0"])
    assert exc.value.code == 2
