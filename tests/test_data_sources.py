"""Training data from several sources: lists of specs read as one data set, `#answerable` / `#unanswerable`
filters, and everything that takes `train_data` (configs, the augmentation guard, the model card's data, Hub
references) with a list. Tiny files written here; the shared data only where a named spec is the point."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from destila.augment import check_not_eval, check_spec
from destila.config import TrainConfig, config_from_dict
from destila.data import load_dataset
from destila.data.registry import describe_specs, hub_reference, hub_references, split_filter
from destila.data.types import QADataset, combine
from destila.errors import ConfigError, DataError

CONTEXT = "El río Amazonas atraviesa Perú y desemboca en el océano Atlántico."


def _qa(qid: str, question: str, answer: str | None) -> dict:
    if answer is None:
        return {"id": qid, "question": question, "answers": [], "is_impossible": True}
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": CONTEXT.index(answer)}]}


def _write(path: Path, version: str, qas: list[dict], title: str = "Ríos") -> Path:
    doc = {"version": version, "data": [{"title": title, "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture()
def files(tmp_path) -> tuple[Path, Path]:
    """A v1.1 file (a1, a2) and a v2.0 file (a2 again, with another answer; a3; two unanswerable u1, u2)."""
    v1 = _write(tmp_path / "uno.json", "1.1", [_qa("a1", "¿Qué río?", "Amazonas"), _qa("a2", "¿Dónde?", "Perú")])
    v2 = _write(tmp_path / "dos.json", "v2.0", [
        _qa("a2", "¿Por dónde pasa?", "Perú y desemboca"), _qa("a3", "¿En qué océano?", "océano Atlántico"),
        _qa("u1", "¿Quién lo descubrió?", None), _qa("u2", "¿Cuánto mide?", None)])
    return v1, v2


def test_filters_keep_the_answerable_or_the_unanswerable_questions(files):
    _, v2 = files
    assert [ex.id for ex in load_dataset(f"{v2}#unanswerable").examples] == ["u1", "u2"]
    answerable = load_dataset(f"{v2}#answerable")
    assert [ex.id for ex in answerable.examples] == ["a2", "a3"]
    assert answerable.name == f"{v2}#answerable" and answerable.version == "2.0"  # still read as the file says
    assert load_dataset(str(v2)).unanswerable == 2


def test_filter_errors_name_the_spec(files):
    v1, v2 = files
    with pytest.raises(ConfigError, match=rf"dataset {v2}#maybe: unknown filter 'maybe'; use #answerable or "
                                          "#unanswerable"):
        load_dataset(f"{v2}#maybe")
    with pytest.raises(ConfigError, match="squad-es-v2.0:dev@train#impossibles: unknown filter 'impossibles'"):
        load_dataset("squad-es-v2.0:dev@train#impossibles")
    with pytest.raises(DataError, match=rf"{v1}#unanswerable: none of its 2 questions is unanswerable"):
        load_dataset(f"{v1}#unanswerable")
    assert split_filter("squad-es-v2.0:dev@train#unanswerable") == ("squad-es-v2.0:dev@train", "unanswerable")
    assert split_filter("data#1.json") == ("data#1.json", None)  # a path that holds a '#'


def test_a_path_holding_a_hash_is_read_as_a_path(files, tmp_path):
    v1, _ = files
    odd = tmp_path / "mis#datos"
    odd.write_bytes(v1.read_bytes())
    assert len(load_dataset(str(odd))) == 2


def test_a_list_is_one_data_set_first_source_wins(files, caplog):
    v1, v2 = files
    with caplog.at_level(logging.WARNING, logger="destila.data"):
        both = load_dataset([str(v1), str(v2)])
    assert [ex.id for ex in both.examples] == ["a1", "a2", "a3", "u1", "u2"]
    assert both.by_id()["a2"].answers[0].text == "Perú"  # the v1.1 file's a2, read first
    assert both.dropped_duplicates == 1 and "1 question(s) left out" in caplog.text
    assert both.version == "2.0" and both.unanswerable == 2
    assert both.name == f"{v1} + {v2}"

    only_answerable = load_dataset([str(v1), f"{v2}#answerable"])
    assert only_answerable.version == "1.1" and only_answerable.dropped_duplicates == 1  # no unanswerable question
    assert [ex.id for ex in load_dataset([f"{v2}#unanswerable", str(v1)]).examples] == ["u1", "u2", "a1", "a2"]
    assert load_dataset([str(v1)]).name == str(v1)  # one source: the data set as it is
    with pytest.raises(ConfigError, match="empty list"):
        load_dataset([])
    with pytest.raises(ConfigError, match="unknown filter 'x'"):
        load_dataset([str(v1), f"{v2}#x"])


def test_combine_keeps_the_counts_of_its_sources():
    one = QADataset([], "2.0", "a", dropped_placeholders=3)
    two = QADataset([], "2.0", "b", dropped_placeholders=1, dropped_duplicates=2)
    both = combine([one, two])
    assert (both.version, both.name, both.dropped_placeholders, both.dropped_duplicates) == ("2.0", "a + b", 4, 2)
    assert combine([QADataset([], "1.1", "a"), two]).version == "1.1"
    with pytest.raises(ConfigError):
        combine([])


def test_named_specs_combine_with_folds_and_filters(data_dir, monkeypatch):
    monkeypatch.setenv("DESTILA_DATA_DIR", str(data_dir))
    spec = ["squad-es-v1.1:dev-small@train", "squad-es-v2.0:dev-small@train#unanswerable"]
    both = load_dataset(spec)
    v1 = load_dataset(spec[0])
    assert len(both) == len(v1) + load_dataset("squad-es-v2.0:dev-small@train").unanswerable
    assert both.dropped_duplicates == 0  # unanswerable questions are not in v1.1
    assert both.version == "2.0" and both.name == " + ".join(spec)


def test_train_data_takes_a_list_in_yaml_and_on_the_command_line():
    doc = {"kind": "train", "train": {"model": "m", "train_data": ["a.json", "b.json#unanswerable"]}}
    assert config_from_dict(doc).train_data == ["a.json", "b.json#unanswerable"]
    cfg = config_from_dict({"kind": "train", "train": {"model": "m"}},
                           ["train.train_data=[squad-es-v1.1:dev-small@train, squad-es-v2.0:dev@train#unanswerable]"])
    assert cfg.train_data == ["squad-es-v1.1:dev-small@train", "squad-es-v2.0:dev@train#unanswerable"]
    assert TrainConfig(train_data="sample").train_data == "sample"
    for bad in ([], [""], [None], [["a"]], ""):
        with pytest.raises(ConfigError, match="train.train_data"):
            TrainConfig(train_data=bad)


def test_pipeline_train_data_takes_a_list(tiny_qa_model_dir):
    from destila.pipeline import PipelineConfig

    cfg = PipelineConfig(train_data=["sample", "sample#unanswerable"], teacher={"model": str(tiny_qa_model_dir)},
                         student={"loss": {"ce": 1.0, "kd": 1.0}})
    assert cfg.teacher_config().train_data == ["sample", "sample#unanswerable"]
    assert cfg.student_config().train.train_data == ["sample", "sample#unanswerable"]


def test_the_augmentation_guard_checks_every_source():
    check_spec(["squad-es-v1.1:dev-small@train", "squad-es-v2.0:dev@train#unanswerable"])
    check_not_eval(QADataset([], "2.0", "squad-es-v1.1:dev-small@train + squad-es-v2.0:dev@train#unanswerable"))
    check_not_eval(QADataset([], "2.0", "squad-es-v1.1:train + squad-es-v2.0:train#answerable (first 10)"))
    for refused in (["squad-es-v1.1:dev-small@train", "squad-es-v2.0:dev@eval#unanswerable"],
                    "squad-es-v2.0:dev#unanswerable", "squad-es-v1.1:train + squad-es-v2.0:dev-small"):
        with pytest.raises(ConfigError, match="augmentation never reads eval-fold text"):
            check_spec(refused)


def test_hub_references_and_descriptions_of_lists():
    spec = ["squad-es-v1.1:dev-small@train", "squad-es-v2.0:dev@train#unanswerable", "mine.json"]
    assert hub_reference(spec[1]) == {"type": "ccasimiro/squad_es", "config": "v2.0.0",
                                      "split": "dev@train#unanswerable"}
    assert [r["config"] for r in hub_references(spec)] == ["v1.1.0", "v2.0.0"]
    assert hub_references("sqac:train#answerable") == [{"type": "PlanTL-GOB-ES/SQAC", "config": None,
                                                        "split": "train#answerable"}]
    assert describe_specs(spec) == "squad-es-v1.1:dev-small@train + squad-es-v2.0:dev@train#unanswerable + mine.json"


def test_the_model_card_names_every_source():
    from destila.train.card import card_metadata, model_card

    class Config:  # what the card reads of a student's config
        num_hidden_layers, hidden_size, num_attention_heads, intermediate_size = 2, 16, 2, 32

    train = TrainConfig(model="m", train_data=["squad-es-v1.1:dev-small@train", "sqac:train#answerable"],
                        output_dir="runs/x")
    metrics = {"train_windows": 10, "train_data": {"dropped_duplicates": 3}}
    card = model_card(kind="train", cfg=train, stages=[], metrics=metrics, student_config=Config, source="m")
    assert "- **Training data**: `squad-es-v1.1:dev-small@train` + `sqac:train#answerable` (10 windows); 3 " in card
    assert card_metadata("train", train, metrics, "m")["datasets"] == ["ccasimiro/squad_es", "PlanTL-GOB-ES/SQAC"]
