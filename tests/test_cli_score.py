"""`destila score` end to end through the console entry point: exit codes, output, clean errors."""

from __future__ import annotations

import json
import logging

import pytest

from destila.cli import app, main
from destila.data import io, load_dataset

CONTEXT = "El río Amazonas atraviesa Perú, Colombia y Brasil."


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("DESTILA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DESTILA_OFFLINE", "1")
    monkeypatch.delenv("DESTILA_DATA_DIR", raising=False)


def run(capsys, *args):
    """Run `destila score ...`; returns (exit code, stdout, stderr)."""
    # typer runs a lone registered verb as the whole app (no verb name); with several it is a group
    single = len(app.registered_commands) == 1 and not app.registered_groups and not app.registered_callback
    verb = [] if single else ["score"]
    with pytest.raises(SystemExit) as exc:
        main([*verb, *map(str, args)])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return exc.value.code, out.out, out.err


def write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def eval_fold(data_dir):
    return load_dataset("squad-es-v2.0:dev-small@eval", data_dir=data_dir)


def test_json_output_is_one_object(tmp_path, capsys, caplog, data_dir, eval_fold):
    preds = {e.id: (e.answers[0].text if e.answers else "") for e in eval_fold.examples}
    odds = {e.id: (0.0 if e.answers else 1.0) for e in eval_fold.examples}
    p, n = write(tmp_path / "p.json", preds), write(tmp_path / "n.json", odds)
    caplog.set_level(logging.WARNING, logger="destila")
    io._WARNED.clear()  # the fixtures read the file already; `destila score` runs in a fresh process
    code, out, err = run(
        capsys, "--data", "squad-es-v2.0:dev-small", "--fold", "eval", "--data-dir", data_dir,
        "--predictions", p, "--null-odds", n, "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)  # exactly one JSON document on stdout
    assert set(result) == {"official", "es"}
    assert result["official"]["total"] == 1912 and result["official"]["exact"] == 100.0
    assert result["official"]["best_exact"] == 100.0
    assert "placeholder" not in out  # the warning is logged (stderr), not mixed into the JSON
    assert "dropped 2386 placeholder gold answers" in caplog.text


def test_table_output(tmp_path, capsys, data_dir):
    ds = load_dataset("squad-es-v1.1:dev-small@eval", data_dir=data_dir)
    preds = write(tmp_path / "p.json", {e.id: "el " + e.answers[0].text for e in ds.examples})
    code, out, err = run(
        capsys, "--data", "squad-es-v1.1:dev-small@eval", "--data-dir", data_dir, "--predictions", preds
    )
    assert code == 0, err
    for word in ["exact_match", "f1", "official", "es", "1402 questions", "100.00"]:
        assert word in out, word


@pytest.mark.parametrize(
    "content, fragments",
    [
        ("{not json", ["p.json", "not valid JSON", "line 1, column 2"]),
        ("[1, 2]", ["p.json", "must be a JSON object", "got a list"]),
        ('{"q1": 3}', ["p.json", "id 'q1'", "must be a string", "got int"]),
        ('{"q1": null}', ["p.json", "id 'q1'", "got null"]),
    ],
)
def test_bad_predictions_file(tmp_path, capsys, content, fragments):
    data = write(tmp_path / "d.json", squad_file(qa()))
    code, _, err = run(capsys, "--data", data, "--predictions", write(tmp_path / "p.json", content))
    assert code == 2
    assert "error:" in err
    flat = " ".join(err.split())
    for fragment in fragments:
        assert fragment in flat, (fragment, flat)


def test_bad_null_odds_and_missing_files(tmp_path, capsys, eval_fold, data_dir):
    preds = write(tmp_path / "p.json", {e.id: "" for e in eval_fold.examples})
    args = ["--data", "squad-es-v2.0:dev-small@eval", "--data-dir", data_dir, "--predictions", preds]
    code, _, err = run(capsys, *args, "--null-odds", write(tmp_path / "n.json", '{"x": "high"}'))
    assert code == 2 and "n.json: id 'x': the null odds must be a number" in " ".join(err.split())
    code, _, err = run(capsys, *args, "--null-odds", tmp_path / "nothing.json")
    assert code == 2 and "no such null odds file" in " ".join(err.split())
    code, _, err = run(capsys, "--data", "squad-es-v2.0:dev-small@eval", "--data-dir", data_dir,
                       "--predictions", write(tmp_path / "few.json", {}))  # fmt: skip
    assert code == 2 and "1912 of 1912 questions" in " ".join(err.split())


def squad_file(*qas, context=CONTEXT, **top):
    return {**top, "data": [{"title": "T", "paragraphs": [{"context": context, "qas": list(qas)}]}]}


def qa(qid="q1", text="Perú", start=26, **extra):
    return {"id": qid, "question": "¿?", "answers": [{"text": text, "answer_start": start}], **extra}


BROKEN_DATA = {
    "not json": ('{"data": [', ["d.json", "not valid JSON", "line 1, column 11"]),
    "missing key": (
        squad_file({"id": "q1", "answers": []}),
        ["d.json", "article 0 ('T')", "question 'q1'", "field 'question': missing"],
    ),
    "wrong type": (
        squad_file(context=5),
        ["d.json", "article 0 ('T')", "'paragraphs[0].context'", "must be a string, got integer"],
    ),
    "answer out of range": (
        squad_file(qa(start=99)),
        ["question 'q1'", "'answers[0].answer_start'", "99 is outside the context"],
    ),
    "answer not at start": (squad_file(qa(start=25)), ["question 'q1'", "'Perú' is not found at 25"]),
    "duplicate id": (squad_file(qa(), qa()), ["question 'q1'", "duplicate id"]),
    "impossible with answers": (
        squad_file(qa(is_impossible=True), version="v2.0"),
        ["question 'q1'", "'is_impossible'", "is true but the question has gold answers"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_DATA))
def test_broken_data_file(tmp_path, capsys, case):
    content, fragments = BROKEN_DATA[case]
    data = write(tmp_path / "d.json", content)
    preds = write(tmp_path / "p.json", {"q1": "Perú"})
    code, out, err = run(capsys, "--data", data, "--predictions", preds, "--json")
    assert code == 2 and out == ""
    flat = " ".join(err.split())
    for fragment in fragments:
        assert fragment in flat, (fragment, flat)


def test_unknown_dataset_and_missing_download(tmp_path, capsys):
    preds = write(tmp_path / "p.json", {})
    code, _, err = run(capsys, "--data", "squad-fr", "--predictions", preds)
    assert code == 2 and "not a file and not a known dataset name" in " ".join(err.split())
    code, _, err = run(capsys, "--data", "xquad-es", "--predictions", preds)
    flat = " ".join(err.split())
    assert code == 2 and "--data-dir" in flat and "xquad.es.json" in flat and "https://" in flat
