"""Data read through `datasets`: Parquet, Arrow, save_to_disk folders, Dataset objects and `hf:` specs.

Every data set here is written locally by `datasets` itself; `hf:` Hub names go through a stand-in for
`datasets.load_dataset`, so nothing reaches the network.
"""

from __future__ import annotations

import json

import datasets
import pytest
from typer.testing import CliRunner

from destila.data import load_dataset, read_file
from destila.data.hf import parse_hf_spec
from destila.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def _local_datasets_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("DESTILA_OFFLINE", raising=False)


def _hub_rows(squad: dict) -> list[dict]:
    """One row a question, in the layout SQuAD-es, SQAC, MLQA and XQuAD have on the Hub."""
    return [
        {
            "id": qa["id"],
            "title": article["title"],
            "context": paragraph["context"],
            "question": qa["question"],
            "answers": {
                "text": [a["text"] for a in qa["answers"]],
                "answer_start": [a["answer_start"] for a in qa["answers"]],
            },
        }
        for article in squad["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]


@pytest.fixture(scope="module")
def small_squad(tmp_path_factory):
    """The first article of the packaged sample as a SQuAD v2.0 file, and the same questions as a Dataset."""
    from importlib import resources

    sample = json.loads(resources.files("destila").joinpath("resources", "sample_es.json").read_text("utf-8"))
    squad = {"version": "v2.0", "data": sample["data"][:1]}
    path = tmp_path_factory.mktemp("squad") / "small.json"
    path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    return path, datasets.Dataset.from_list(_hub_rows(squad))


def test_parquet_arrow_and_saved_folders_read_like_the_json(small_squad, tmp_path):
    path, rows = small_squad
    expected = read_file(path)
    assert expected.version == "2.0" and any(ex.is_impossible for ex in expected.examples)
    rows.to_parquet(str(tmp_path / "small.parquet"))
    rows.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"validation": rows}).save_to_disk(str(tmp_path / "saved_dict"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    for spec in ("small.parquet", "saved", "saved_dict", arrow.relative_to(tmp_path)):
        got = load_dataset(str(tmp_path / spec))
        assert got.examples == expected.examples, spec
        assert got.version == "2.0"
        assert got.name == str(tmp_path / spec) + ("@validation" if spec == "saved_dict" else "")


def test_dataset_objects_in_the_python_api(small_squad):
    path, rows = small_squad
    expected = read_file(path).examples
    assert load_dataset(rows).examples == expected
    assert load_dataset(datasets.DatasetDict({"test": rows})).examples == expected
    with pytest.raises(DataError, match=r"has splits train, test; choose one: dataset_dict\[SPLIT\]"):
        load_dataset(datasets.DatasetDict({"train": rows, "test": rows}))
    with pytest.raises(ConfigError, match="folds are defined for the SQuAD-es dev files only"):
        load_dataset(rows, fold="eval")


def test_other_column_layouts(small_squad):
    path, rows = small_squad
    expected = read_file(path).examples
    flat = rows.flatten()
    assert "answers.text" in flat.column_names
    assert load_dataset(flat).examples == expected
    as_objects = datasets.Dataset.from_list(
        [{**r, "answers": [{"text": t, "answer_start": s} for t, s in zip(*r["answers"].values())]} for r in rows]
    )
    assert load_dataset(as_objects).examples == expected
    single = datasets.Dataset.from_list(
        [{"id": "q1", "question": "¿Qué?", "context": "El sol sale.", "answer_text": "El sol", "answer_start": 0}]
    )
    loaded = load_dataset(single)
    assert loaded.version == "1.1" and loaded.examples[0].answers[0].text == "El sol"


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("hf:PlanTL-GOB-ES/SQAC", ("PlanTL-GOB-ES/SQAC", None, None)),
        ("hf:PlanTL-GOB-ES/SQAC@test", ("PlanTL-GOB-ES/SQAC", None, "test")),
        ("hf:facebook/mlqa:mlqa.es.es@validation", ("facebook/mlqa", "mlqa.es.es", "validation")),
        ("hf:ccasimiro/squad_es:v2.0.0@train", ("ccasimiro/squad_es", "v2.0.0", "train")),
        ("hf:google/xquad:xquad.es", ("google/xquad", "xquad.es", None)),
        ("hf:./data/saved@dev", ("./data/saved", None, "dev")),
    ],
)
def test_hf_spec_parsing(spec, parsed):
    assert parse_hf_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["hf:", "hf:owner/name@", "hf::config"])
def test_hf_spec_errors(spec):
    with pytest.raises(ConfigError, match="expected hf:OWNER/NAME"):
        parse_hf_spec(spec)


def test_hf_hub_names_go_through_datasets_load_dataset(small_squad, monkeypatch):
    path, rows = small_squad
    calls = []

    def fake_load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        splits = datasets.DatasetDict({"validation": rows, "test": rows})
        return splits if split is None else splits[split]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    got = load_dataset("hf:facebook/mlqa:mlqa.es.es@test")
    assert calls == [("facebook/mlqa", "mlqa.es.es", "test")]
    assert got.name == "hf:facebook/mlqa:mlqa.es.es@test" and got.examples == read_file(path).examples
    with pytest.raises(DataError, match=r"has splits validation, test; choose one: hf:facebook/mlqa:mlqa.es.es@SPLIT"):
        load_dataset("hf:facebook/mlqa:mlqa.es.es")


def test_hf_hub_names_respect_offline(monkeypatch):
    monkeypatch.setenv("DESTILA_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("must not be called"))
    with pytest.raises(DataError, match="downloading is switched off.*HF_HUB_OFFLINE=1"):
        load_dataset("hf:PlanTL-GOB-ES/SQAC@test")
    with pytest.raises(DataError, match="downloading is switched off"):
        load_dataset("hf:PlanTL-GOB-ES/SQAC@test", download=False)


def test_hf_local_folders(small_squad, tmp_path):
    path, rows = small_squad
    expected = read_file(path).examples
    (tmp_path / "files").mkdir()
    rows.to_parquet(str(tmp_path / "files" / "validation.parquet"))
    assert load_dataset(f"hf:{tmp_path / 'files'}@validation").examples == expected
    datasets.DatasetDict({"validation": rows, "test": rows}).save_to_disk(str(tmp_path / "saved"))
    got = load_dataset(f"hf:{tmp_path / 'saved'}@test")
    assert got.examples == expected and got.name == f"hf:{tmp_path / 'saved'}@test"
    with pytest.raises(DataError, match="no split 'train'; its splits are validation, test"):
        load_dataset(f"hf:{tmp_path / 'saved'}@train")
    with pytest.raises(DataError, match="has splits validation, test; choose one: hf:.*saved@SPLIT"):
        load_dataset(str(tmp_path / "saved"))
    with pytest.raises(DataError, match="could not load it"):
        load_dataset(f"hf:{tmp_path / 'files'}@nosuchsplit")


def test_errors_name_the_dataset_row_and_field(small_squad):
    _, rows = small_squad
    with pytest.raises(DataError, match=r"no column 'question'; its columns are id, title, context, answers"):
        load_dataset(rows.remove_columns("question"))
    broken = rows.to_list()
    broken[2]["answers"]["answer_start"][0] += 1
    qid = broken[2]["id"]
    where = rf"^datasets.Dataset: row 2: question '{qid}': field 'answers\[0\].answer_start': "
    with pytest.raises(DataError, match=where + "answer text .* is not found at"):
        load_dataset(datasets.Dataset.from_list(broken))
    numbered = datasets.Dataset.from_list([{**rows[0], "id": 7}])
    with pytest.raises(DataError, match=r"row 0: field 'id': must be a string, got integer 7"):
        load_dataset(numbered)


def test_evaluate_scores_a_saved_copy_exactly_like_the_json(small_squad, tiny_qa_model_dir, tmp_path):
    from destila.cli import app

    path, rows = small_squad
    rows.save_to_disk(str(tmp_path / "saved"))
    scored = {}
    for label, data in (("json", str(path)), ("saved", str(tmp_path / "saved"))):
        out = tmp_path / label
        args = ["evaluate", "--model", str(tiny_qa_model_dir), "--data", data, "--out", str(out), "--no-progress"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        scored[label] = [json.loads((out / name).read_text()) for name in ("metrics.json", "predictions.json")]
    assert scored["saved"] == scored["json"]
    assert scored["json"][0]["official"]["total"] == len(rows)


def test_repositories_with_loading_scripts_point_to_the_registry(monkeypatch):
    def refuse(name, config=None, split=None):
        raise RuntimeError("Dataset scripts are no longer supported, but found SQAC.py")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(DataError, match="found SQAC.py; --data sqac reads the same data from its upstream files"):
        load_dataset("hf:PlanTL-GOB-ES/SQAC@test")
    with pytest.raises(DataError, match="--data squad-es-v1.1 or squad-es-v2.0 reads"):
        load_dataset("hf:ccasimiro/squad_es@validation")
    with pytest.raises(DataError, match="--data squad-es-v2.0 reads"):
        load_dataset("hf:ccasimiro/squad_es:v2.0.0@validation")


@pytest.mark.parametrize(
    ("spec", "reference"),
    [
        ("squad-es-v1.1:dev-small@eval", {"type": "ccasimiro/squad_es", "config": "v1.1.0", "split": "dev-small@eval"}),
        ("squad-es-v2.0", {"type": "ccasimiro/squad_es", "config": "v2.0.0", "split": "dev"}),
        ("sqac:test", {"type": "PlanTL-GOB-ES/SQAC", "config": None, "split": "test"}),
        ("hf:google/xquad:xquad.es@validation", {"type": "google/xquad", "config": "xquad.es", "split": "validation"}),
        ("hf:./saved@test", None),
        ("sample", None),
        ("my_questions.jsonl", None),
    ],
)
def test_hub_reference_of_a_spec(spec, reference):
    from destila.data.registry import hub_reference

    assert hub_reference(spec) == reference
