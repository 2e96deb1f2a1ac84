"""Model cards as the Hub reads them, and `destila push` against a local stand-in for the Hub's HTTP API
(tests/hub_stand_in.py, the `stand_in_hub` fixture)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results

from destila.config import TrainConfig
from destila.errors import ConfigError, ModelError
from destila.train.card import USAGE_BEGIN, USAGE_END, publish_card, split_card
from destila.train.recipe import run_train
from hub_stand_in import TOKEN, hub_env, run_push
from tiny import all_terms


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_qa_model_dir):
    """A two-step fine-tuning run scored on the sample (SQuAD v2.0), with run-only leftovers added."""
    out = tmp_path_factory.mktemp("run") / "tiny-student"
    cfg = TrainConfig(model=str(tiny_qa_model_dir), train_data="sample", eval_data="sample", output_dir=str(out),
                      max_length=64, doc_stride=32, max_query_length=16, batch_size=4, max_steps=2,
                      max_train_examples=8, max_eval_examples=12, threads=1, progress=False)
    run_train(cfg)
    (out / "checkpoints" / "step-1").mkdir(parents=True)
    (out / "checkpoints" / "step-1" / "model.safetensors").write_bytes(b"old weights")
    (out / "teacher_cache").mkdir()
    (out / "teacher_cache" / "logits.bin").write_bytes(b"cache")
    (out / "destila_state.json").write_text("{}")
    (out / ".export").mkdir()
    (out / ".export" / "half.onnx").write_bytes(b"partial")
    return out


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def test_card_is_a_hub_model_card_with_the_scores_of_metrics_json(trained):
    card = ModelCard.load(trained / "README.md")
    data = card.data.to_dict()
    assert data["language"] == "es" and data["license"] == "apache-2.0"
    assert data["pipeline_tag"] == "question-answering" and data["library_name"] == "transformers"
    assert data["metrics"] == ["exact_match", "f1"] and "destila" in data["tags"]
    assert "base_model" not in data  # the base is a local folder without a card naming a Hub model
    assert metadata_load(trained / "README.md") == {k: v for k, v in data.items() if v is not None}

    official = json.loads((trained / "metrics.json").read_text())["eval"]["official"]
    name, results = model_index_to_eval_results(data["model-index"])
    assert name == "tiny-student"
    scores = {r.metric_type: r.metric_value for r in results if r.metric_config == "official"}
    assert {r.metric_args["protocol"] for r in results} == {"destila"}
    assert scores == {
        "exact_match": official["exact"], "f1": official["f1"],
        "HasAns_exact": official["HasAns_exact"], "HasAns_f1": official["HasAns_f1"],
        "NoAns_exact": official["NoAns_exact"], "NoAns_f1": official["NoAns_f1"],
    }
    assert {(r.task_type, r.dataset_type, r.dataset_name) for r in results} == {
        ("question-answering", "sample", "sample")
    }
    assert "FOLDER" not in card.text and f'from_pretrained("{trained}")' in card.text


def test_distilled_card_names_the_teacher_and_the_hub_data(trained):
    from destila.config import DistillConfig, StageConfig
    from destila.train.card import card_metadata

    train = TrainConfig(train_data="squad-es-v1.1:dev-small@train", eval_data="squad-es-v1.1:dev-small@eval",
                        output_dir="runs/x/student")
    cfg = DistillConfig(teacher="offline:multilingual-e5-small", student={"layers": [1]}, stages=[StageConfig()],
                        loss=all_terms(), train=train)
    official = {"exact_match": 41.5, "f1": 55.25}
    meta = card_metadata("distill", cfg, {"eval": {"official": official, "es": official}}, cfg.teacher)
    assert meta["base_model"] == "intfloat/multilingual-e5-small" and meta["base_model_relation"] == "finetune"
    assert meta["datasets"] == ["ccasimiro/squad_es"] and "distillation" in meta["tags"]
    _, results = model_index_to_eval_results(meta["model-index"])
    assert [(r.metric_type, r.metric_value, r.dataset_config, r.dataset_split, r.metric_config) for r in results] == [
        ("exact_match", 41.5, "v1.1.0", "dev-small@eval", "official"),
        ("f1", 55.25, "v1.1.0", "dev-small@eval", "official"),
        ("exact_match", 41.5, "v1.1.0", "dev-small@eval", "es"),
        ("f1", 55.25, "v1.1.0", "dev-small@eval", "es"),
    ]


def test_publish_card_names_the_repository_and_tags_an_int8_export(trained):
    text = (trained / "README.md").read_text(encoding="utf-8")
    export = {"target": "onnx-int8-static", "int8": True, "quantization": {"mode": "static"}}
    published = publish_card(text, "someone/tiny-qa", export=export)
    meta, body = split_card(published)
    assert meta["tags"][-2:] == ["onnx", "int8"] and meta["model-index"][0]["name"] == "tiny-qa"
    assert body.count(USAGE_BEGIN) == 1 and 'snapshot_download("someone/tiny-qa")' in body
    assert "**Export target**: `onnx-int8-static`" in body and "int8 matrix products (static scales)" in body
    assert str(trained) not in body.split("## Use")[1]
    assert publish_card(published, "someone/tiny-qa", export=export) == published  # idempotent
    bare = split_card(publish_card("# exported\n", "someone/x"))[0]
    assert bare["pipeline_tag"] == "question-answering" and bare["language"] == "es"


def test_trimmed_and_exported_cards_name_their_own_folder(trained, tmp_path):
    """A card carried to a trimmed or exported folder says how to load that folder, not the one it came from."""
    from destila.cli import main
    from destila.export.exporter import export_onnx
    from destila.export.options import ExportOptions

    def usage(folder: Path) -> str:
        body = split_card((folder / "README.md").read_text(encoding="utf-8"))[1]
        assert body.count(USAGE_BEGIN) == 1
        return body.split(USAGE_BEGIN)[1].split(USAGE_END)[0]

    assert str(trained) in usage(trained)
    trimmed = tmp_path / "trimmed"
    with pytest.raises(SystemExit) as exc:
        main(["trim-vocab", "--model", str(trained), "--corpus", "sample", "--out", str(trimmed), "--json"])
    assert exc.value.code == 0
    assert f'from_pretrained("{trimmed}")' in usage(trimmed) and str(trained) not in usage(trimmed)
    assert "Vocabulary trimming" in (trimmed / "README.md").read_text(encoding="utf-8")

    exported = tmp_path / "exported"
    export_onnx(str(trimmed), exported, ExportOptions(threads=1))
    text = usage(exported)
    assert f'Predictor.from_pretrained("{exported}")' in text and "snapshot_download" not in text
    assert str(trimmed) + '"' not in text and "`model.onnx`" in text


def test_push_uploads_the_model_without_run_only_files_or_the_token(trained, stand_in_hub, tmp_path):
    folder = _copy(trained, tmp_path)
    port = stand_in_hub.server_port
    result = run_push(folder, "someone/tiny-qa", stand_in_hub, tmp_path, "--private", "--revision", "v1",
                      "--commit-message", "first upload")
    hub = stand_in_hub.hub
    assert result.returncode == 0, (result.stderr, hub["requests"])
    sent = set(hub["files"])
    assert {"config.json", "model.safetensors", "README.md", "metrics.json", "destila_config.yaml"} <= sent
    assert not any(p.startswith(("checkpoints/", "teacher_cache/", ".export/")) for p in sent)
    assert "destila_state.json" not in sent
    assert hub["created"] == [{"name": "tiny-qa", "organization": "someone", "visibility": "private",
                               "type": "model"}]
    assert ("branch", "someone/tiny-qa", "v1") in hub["revisions"] and hub["commits"] == ["first upload"]
    assert all(auth == f"Bearer {TOKEN}" for _, auth in hub["requests"])
    assert hub["files"]["model.safetensors"] == (trained / "model.safetensors").read_bytes()
    card = hub["files"]["README.md"].decode()
    assert 'from_pretrained("someone/tiny-qa")' in card and str(trained) not in card.split("## Use")[1]
    for content in hub["files"].values():
        assert TOKEN.encode() not in content
    assert TOKEN not in result.stdout + result.stderr
    assert f"http://127.0.0.1:{port}/someone/tiny-qa/tree/v1" in result.stdout


def test_push_refuses_what_it_cannot_publish(trained, tmp_path, monkeypatch):
    from huggingface_hub import constants

    from destila.hub import push_folder

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-token"))
    with pytest.raises(ConfigError, match="no Hugging Face token"):
        push_folder(trained, "someone/x")
    with pytest.raises(ConfigError, match="expected OWNER/NAME"):
        push_folder(trained, "just-a-name", token=TOKEN)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a model folder"):
        push_folder(tmp_path / "empty", "someone/x", token=TOKEN)


def test_train_push_to_hub_publishes_the_finished_run(tiny_qa_model_dir, stand_in_hub, tmp_path):
    env = hub_env(stand_in_hub, tmp_path)
    recipe = tmp_path / "train.yaml"
    recipe.write_text("kind: train\ntrain: {train_data: sample, max_length: 64, doc_stride: 32, max_query_length: 16,"
                      " batch_size: 4, max_steps: 1, max_train_examples: 8, threads: 1, progress: false}\n")
    args = [sys.executable, "-m", "destila", "train", "--config", str(recipe), "--model", str(tiny_qa_model_dir),
            "--out", str(tmp_path / "run"), "--push-to-hub", "someone/pushed"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert {"model.safetensors", "README.md", "metrics.json"} <= set(stand_in_hub.hub["files"])
    assert "pushed to" in result.stdout and TOKEN not in result.stdout + result.stderr


def _f1s(results, config="official") -> dict:
    return {(r.dataset_name, r.metric_args["protocol"]): r.metric_value for r in results
            if r.metric_type == "f1" and r.metric_config == config}


def test_write_card_results_puts_every_evaluation_in_the_model_index(trained, tmp_path):
    from destila.train.card import CardEvaluation, model_name, write_card_results

    folder = _copy(trained, tmp_path)
    v1 = {"official": {"exact_match": 45.5, "f1": 60.29}, "es": {"exact_match": 47.0, "f1": 61.5}}
    v2 = {"official": {"exact": 40.0, "f1": 50.25, "HasAns_exact": 30.0, "HasAns_f1": 45.0}, "es": {"exact": 41.0,
          "f1": 51.0}}
    evaluations = [
        {"data": "squad-es-v1.1:dev-small@eval", "metrics": v1, "protocol": "authors", "questions": 200},
        {"data": "squad-es-v1.1:dev-small@eval", "metrics": {**v1, "official": {"exact_match": 50.5, "f1": 65.43}}},
        CardEvaluation("squad-es-v2.0:dev-small@eval", v2, "destila", 300),
    ]
    card = write_card_results(folder, evaluations)
    meta = metadata_load(card)
    name, results = model_index_to_eval_results(meta["model-index"])
    assert name == model_name(folder) and "/" not in name and "2-layers" in name  # what it is, never a path
    assert ModelCard.load(card).data.to_dict()["model-index"]  # the Hub's own parser reads it
    assert len(meta["model-index"][0]["results"]) == 4  # the training run's entry stays beside the three
    trained_f1 = json.loads((trained / "metrics.json").read_text())["eval"]["official"]["f1"]
    assert _f1s(results) == {("sample", "destila"): trained_f1,
                             ("squad-es-v1.1:dev-small@eval", "authors"): 60.29,
                             ("squad-es-v1.1:dev-small@eval", "destila"): 65.43,
                             ("squad-es-v2.0:dev-small@eval", "destila"): 50.25}
    assert _f1s(results, "es")[("squad-es-v1.1:dev-small@eval", "authors")] == 61.5
    body = card.read_text(encoding="utf-8")
    assert "| `squad-es-v1.1:dev-small@eval` | authors | 200 | 45.50 | 60.29 | 47.00 | 61.50 |" in body
    # a new evaluation of the same data set and protocol replaces the old one; the others stay
    write_card_results(folder, [{"data": "squad-es-v1.1:dev-small@eval", "metrics": {**v1, "protocol": {
        "name": "authors"}, "official": {"exact_match": 46.0, "f1": 61.0}}}])
    _, again = model_index_to_eval_results(metadata_load(card)["model-index"])
    assert _f1s(again)[("squad-es-v1.1:dev-small@eval", "authors")] == 61.0 and len(_f1s(again)) == 4
    assert card.read_text(encoding="utf-8").count("## Evaluations") == 1
    with pytest.raises(ConfigError, match="protocol 'paper'"):
        write_card_results(folder, [{"data": "x", "metrics": v1, "protocol": "paper"}])
    with pytest.raises(ConfigError, match="official"):
        write_card_results(folder, [{"data": "x", "metrics": {"es": {}}}])


def test_a_student_spec_in_words():
    from destila.models.students import describe_student_spec

    assert describe_student_spec({"prune": {"target_speedup": 3.5}}) == (
        "the teacher pruned to 3.5x its forward speed (removing heads, hidden, ffn; `destila_prune.json`)")
    assert describe_student_spec({"prune": {"target_speedup": 2, "layers": [4, 8, 12]}}).startswith(
        "the teacher pruned to 2x its forward speed (removing heads, hidden, ffn; keeping layers 4, 8, 12;")
    assert describe_student_spec({"preset": "tinyroberta-es"}) == "preset `tinyroberta-es`, random weights"
    assert describe_student_spec({"config": {"num_hidden_layers": 4}}) == (
        "the teacher's config with num_hidden_layers 4, random weights")
    assert describe_student_spec({"pretrained": "org/small"}) == "`org/small`"


def test_cards_name_a_local_teacher_by_what_it_is(trained):
    from destila.config import DistillConfig, StageConfig
    from destila.train.card import describe_model, model_card

    described = describe_model(str(trained))
    assert str(trained) not in described and "2 layers" in described and "`sample`" in described
    assert describe_model("PlanTL-GOB-ES/roberta-base-bne") == "`PlanTL-GOB-ES/roberta-base-bne`"
    cfg = DistillConfig(teacher=str(trained), student={"layers": [1]}, stages=[StageConfig()],
                        loss=all_terms(), train=TrainConfig(train_data="sample", output_dir="runs/x/student"))
    config = type("C", (), {"num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
                            "intermediate_size": 37})()
    card = model_card(kind="distill", cfg=cfg, stages=[], metrics={}, student_config=config, source=str(trained))
    assert str(trained) not in card.split("## Use")[0]
    assert "- **Student**: the teacher's layers 1 -> 1 layers, hidden 32, 2 heads, FFN 37\n" in card

    # several teachers: every one named by what it is, with its share; the Hub ids among them are the card's bases
    cfg = DistillConfig(teachers=[{"model": str(trained), "weight": 3, "internals": True},
                                  {"model": "PlanTL-GOB-ES/roberta-base-bne-sqac", "weight": 1}],
                        student={"layers": [1]}, stages=[StageConfig()],
                        loss={"ce": 1.0, "kd": 1.0, "hidden": 1.0},
                        train=TrainConfig(train_data="sample", output_dir="runs/x/student"))
    card = model_card(kind="distill", cfg=cfg, stages=[], metrics={}, student_config=config, source=str(trained))
    head = card.split("## Use")[0]
    assert str(trained) not in head and "**Teachers** (2, frozen" in head
    assert f"  - {describe_model(str(trained))}: weight 0.75; the hidden terms read it" in head
    assert "  - `PlanTL-GOB-ES/roberta-base-bne-sqac`: weight 0.25\n" in head
    meta, _ = split_card(card)
    assert meta["base_model"] == "PlanTL-GOB-ES/roberta-base-bne-sqac"  # the local one names no Hub base


def _as_openvino_export(folder: Path) -> Path:
    """`folder` turned into what an OpenVINO int8 export looks like (the graph's bytes do not matter here)."""
    (folder / "model.safetensors").unlink()
    (folder / "openvino_model.xml").write_text("<net/>")
    (folder / "openvino_model.bin").write_bytes(b"\0" * 8)
    (folder / "export.json").write_text(json.dumps({"target": "openvino-int8", "int8": True,
                                                    "quantization": {"mode": "static", "tool": "nncf"}}))
    return folder


def test_an_openvino_export_is_pushed_with_its_target_and_precision(trained, stand_in_hub, tmp_path):
    from destila.train.card import write_card_results

    folder = _as_openvino_export(_copy(trained, tmp_path))
    card = write_card_results(folder, [])
    assert "**Export target**: `openvino-int8`" in card.read_text(encoding="utf-8")
    assert "openvino-int8" in metadata_load(card)["model-index"][0]["name"]
    result = run_push(folder, "someone/tiny-ov", stand_in_hub, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    sent = stand_in_hub.hub["files"]
    assert {"openvino_model.xml", "openvino_model.bin", "export.json", "README.md"} <= set(sent)
    meta, body = split_card(sent["README.md"].decode())
    assert {"openvino", "int8"} <= set(meta["tags"]) and "onnx" not in meta["tags"]
    assert "int8 matrix products (static scales)" in body and "openvino_model.xml" in body
    (folder / "openvino_model.bin").unlink()
    from destila.hub import push_folder

    with pytest.raises(ModelError, match="openvino_model.bin"):
        push_folder(folder, "someone/x", token=TOKEN)
