"""Reading SQuAD JSON, JSONL and CSV files, and the validation errors users see."""

from __future__ import annotations

import copy
import csv
import json
import logging

import pytest

from destila.data import read_file
from destila.errors import DataError

CONTEXT = "El río Amazonas atraviesa Perú, Colombia y Brasil."


def squad(version="1.1", **qa_overrides):
    qa = {"id": "q1", "question": "¿Qué río?", "answers": [{"text": "Amazonas", "answer_start": 7}]}
    qa.update(qa_overrides)
    return {
        "version": version,
        "data": [
            {"title": "Ríos", "paragraphs": [{"context": CONTEXT, "qas": [qa]}]},
        ],
    }


def write_json(tmp_path, obj, name="d.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------------
# The shared files


def test_shared_files_counts(data_dir):
    expected = {
        "squad-es/v1.1/dev-v1.1-es_small.json": ("1.1", 6583, 0, 4080),
        "squad-es/v2.0/dev-v2.0-es.json": ("2.0", 11858, 5930, 0),
        "squad-es/v2.0/dev-v2.0-es_small.json": ("2.0", 7134, 3256, 2386),
    }
    for rel, (version, n, unanswerable, placeholders) in expected.items():
        ds = read_file(data_dir / rel)
        assert (ds.version, len(ds), sum(e.is_impossible for e in ds.examples), ds.dropped_placeholders) == (
            version,
            n,
            unanswerable,
            placeholders,
        )
        for e in ds.examples:
            assert e.is_impossible == (not e.answers)
            for a in e.answers:
                assert a.text and e.context[a.start : a.start + len(a.text)] == a.text


def test_byte_order_mark_inside_context_is_kept(data_dir):
    ds = read_file(data_dir / "squad-es/v2.0/dev-v2.0-es.json")
    ex = ds.by_id()["572fe60fb2c2fd140056858e"]
    assert "\ufeff" in ex.context
    assert all("\ufeff" in a.text for a in ex.answers)


def test_leading_byte_order_mark_counts_in_answer_start(tmp_path):
    obj = squad()
    obj["data"][0]["paragraphs"][0]["context"] = "\ufeff" + CONTEXT
    obj["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 8
    ds = read_file(write_json(tmp_path, obj))
    assert ds.examples[0].context.startswith("\ufeff")
    assert ds.examples[0].answers[0].start == 8


def test_placeholders_dropped_counted_and_warned(tmp_path, caplog):
    obj = squad(answers=[{"text": "", "answer_start": -1}, {"text": "Amazonas", "answer_start": 7}])
    with caplog.at_level(logging.WARNING, logger="destila.data"):
        ds = read_file(write_json(tmp_path, obj))
    assert ds.dropped_placeholders == 1
    assert [a.text for a in ds.examples[0].answers] == ["Amazonas"]
    assert "dropped 1 placeholder" in caplog.text


def test_version_detection(tmp_path):
    assert read_file(write_json(tmp_path, squad("1.1"))).version == "1.1"
    assert read_file(write_json(tmp_path, squad("v2.0"))).version == "2.0"
    # no version field, but is_impossible present
    obj = squad(None, is_impossible=False)
    del obj["version"]
    assert read_file(write_json(tmp_path, obj)).version == "2.0"
    v2 = squad(
        "v2.0", answers=[], is_impossible=True, plausible_answers=[{"text": "Amazonas", "answer_start": 7}]
    )
    ds = read_file(write_json(tmp_path, v2))
    assert ds.examples[0].is_impossible and ds.examples[0].answers == []


# ---------------------------------------------------------------------------------------------------------------
# Validation errors: each names the file, the article, the question and the field


def broken_cases():
    def edit(fn):
        obj = squad()
        fn(obj)
        return obj

    def qa(o):
        return o["data"][0]["paragraphs"][0]["qas"][0]

    two = squad()
    two["data"][0]["paragraphs"][0]["qas"].append(copy.deepcopy(qa(two)))
    return {
        "missing data": ({"version": "1.1"}, ["top level", "'data'", "missing"]),
        "data not list": ({"data": {}}, ["'data'", "must be a list, got object"]),
        "missing paragraphs": ({"data": [{"title": "T"}]}, ["article 0 ('T')", "'paragraphs'", "missing"]),
        "missing id": (edit(lambda o: qa(o).pop("id")), ["article 0 ('Ríos')", "qas[0].id", "missing"]),
        "id wrong type": (edit(lambda o: qa(o).update(id=7)), ["qas[0].id", "must be a string, got integer"]),
        "empty question": (edit(lambda o: qa(o).update(question="  ")), ["question 'q1'", "empty question"]),
        "empty context": (
            edit(lambda o: o["data"][0]["paragraphs"][0].update(context="")),
            ["article 0 ('Ríos')", "'paragraphs[0].context'", "empty context"],
        ),
        "start out of range": (
            edit(lambda o: qa(o)["answers"][0].update(answer_start=500)),
            ["question 'q1'", "answers[0].answer_start", "500 is outside the context"],
        ),
        "negative start": (
            edit(lambda o: qa(o)["answers"][0].update(answer_start=-1)),
            ["answers[0].answer_start", "-1 is outside"],
        ),
        "text not at start": (
            edit(lambda o: qa(o)["answers"][0].update(answer_start=3)),
            ["answers[0].answer_start", "'Amazonas' is not found at 3", "reads 'río Amaz'"],
        ),
        "start is string": (
            edit(lambda o: qa(o)["answers"][0].update(answer_start="7")),
            ["answers[0].answer_start", "must be an integer, got string '7'"],
        ),
        "duplicate id": (two, ["question 'q1'", "duplicate id"]),
        "impossible with answers": (
            edit(lambda o: qa(o).update(is_impossible=True)),
            ["question 'q1'", "is_impossible", "is true but the question has gold answers"],
        ),
        "not impossible without answers": (
            edit(lambda o: qa(o).update(is_impossible=False, answers=[])),
            ["question 'q1'", "'answers'", "is_impossible is false"],
        ),
        "v1.1 without answers": (edit(lambda o: qa(o).update(answers=[])), ["'answers'", "SQuAD v1.1 file"]),
        "only placeholders": (
            edit(lambda o: qa(o).update(answers=[{"text": "", "answer_start": -1}])),
            ["'answers'", "every gold answer is a placeholder"],
        ),
        "empty answer text": (
            edit(lambda o: qa(o)["answers"][0].update(text="")),
            ["answers[0].text", "empty answer text"],
        ),
    }


@pytest.mark.parametrize("case", list(broken_cases()))
def test_broken_squad_file(tmp_path, case):
    obj, fragments = broken_cases()[case]
    path = write_json(tmp_path, obj)
    with pytest.raises(DataError) as err:
        read_file(path)
    message = str(err.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_not_json_names_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"data": [\n  {"title": "x",\n   "paragraphs": [}\n]}', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.json: not valid JSON: .* at line 3, column \d+"):
        read_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_file(tmp_path / "nope.json")


# ---------------------------------------------------------------------------------------------------------------
# JSONL and CSV rows


def test_jsonl_all_answer_forms(tmp_path):
    rows = [
        {
            "id": "a",
            "question": "¿Qué río?",
            "context": CONTEXT,
            "answers": [{"text": "Amazonas", "answer_start": 7}],
        },
        {
            "id": "b",
            "question": "¿Dónde?",
            "context": CONTEXT,
            "answers": {"text": ["Perú"], "answer_start": [26]},
        },
        {
            "id": "c",
            "question": "¿Qué país?",
            "context": CONTEXT,
            "answer_text": "Brasil",
            "answer_start": 43,
        },
        {"id": "d", "question": "¿Cuándo?", "context": CONTEXT, "answers": []},
        {"id": "e", "question": "¿Quién?", "context": CONTEXT, "answers": [{"text": "", "answer_start": -1}]},
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:4]) + "\n\n", encoding="utf-8")
    ds = read_file(path)
    assert ds.version == "2.0"  # "d" is unanswerable
    assert [(e.id, [a.text for a in e.answers]) for e in ds.examples] == [
        ("a", ["Amazonas"]),
        ("b", ["Perú"]),
        ("c", ["Brasil"]),
        ("d", []),
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows[:3]), encoding="utf-8")
    assert read_file(path).version == "1.1"
    path.write_text(json.dumps(rows[4]), encoding="utf-8")
    with pytest.raises(
        DataError, match="line 1: question 'e': field 'answers': every gold answer is a placeholder"
    ):
        read_file(path)


def test_jsonl_errors(tmp_path):
    path = tmp_path / "d.jsonl"
    good = {
        "id": "a",
        "question": "¿Qué río?",
        "context": CONTEXT,
        "answers": [{"text": "Amazonas", "answer_start": 7}],
    }
    path.write_text(json.dumps(good) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.jsonl: line 2: not valid JSON: .* at column 2"):
        read_file(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good), encoding="utf-8")
    with pytest.raises(
        DataError, match="line 2: question 'a': field 'id': duplicate id \\(first seen at line 1\\)"
    ):
        read_file(path)
    path.write_text(
        json.dumps({**good, "answers": [{"text": "Amazonas", "answer_start": 9}]}), encoding="utf-8"
    )
    with pytest.raises(
        DataError, match="'answers\\[0\\].answer_start': answer text 'Amazonas' is not found at 9"
    ):
        read_file(path)
    path.write_text(json.dumps({"id": "a", "question": "q", "context": CONTEXT}), encoding="utf-8")
    with pytest.raises(DataError, match="field 'answers': missing"):
        read_file(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: must be a JSON object, got list"):
        read_file(path)


def write_csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_csv_both_answer_forms(tmp_path):
    path = write_csv(
        tmp_path / "d.csv",
        ["id", "title", "question", "context", "answer_text", "answer_start"],
        [["a", "Ríos", "¿Qué río?", CONTEXT, "Amazonas", "7"], ["b", "", "¿Cuándo?", CONTEXT, "", ""]],
    )
    ds = read_file(path)
    assert ds.version == "2.0" and ds.examples[0].title == "Ríos" and ds.examples[1].is_impossible
    answers = json.dumps(
        [{"text": "Amazonas", "answer_start": 7}, {"text": "río Amazonas", "answer_start": 3}]
    )
    path = write_csv(
        tmp_path / "e.csv", ["id", "question", "context", "answers"], [["a", "¿Qué río?", CONTEXT, answers]]
    )
    ds = read_file(path)
    assert ds.version == "1.1" and [a.start for a in ds.examples[0].answers] == [7, 3]


def test_csv_errors(tmp_path):
    path = write_csv(
        tmp_path / "d.csv", ["id", "question", "context", "answers"], [["a", "¿?", CONTEXT, "[{"]]
    )
    with pytest.raises(DataError, match=r"d\.csv: line 2: question 'a': field 'answers': not valid JSON"):
        read_file(path)
    path = write_csv(
        tmp_path / "d.csv",
        ["id", "question", "context", "answer_text", "answer_start"],
        [["a", "¿?", CONTEXT, "Amazonas", "x"]],
    )
    with pytest.raises(DataError, match="field 'answer_start': must be an integer, got 'x'"):
        read_file(path)
    path = write_csv(tmp_path / "d.csv", ["id", "context", "answers"], [["a", CONTEXT, "[]"]])
    with pytest.raises(DataError, match="question 'a': field 'question': missing"):
        read_file(path)
    path = write_csv(tmp_path / "d.csv", ["id", "question", "context", "answers"], [["a", "", CONTEXT, "[]"]])
    with pytest.raises(DataError, match="question 'a': field 'question': empty question"):
        read_file(path)


def test_a_data_file_warning_is_given_once_per_process(tmp_path, caplog):
    import json as _json
    import logging

    from destila.data.io import read_file

    path = tmp_path / "placeholders.json"
    answers = [{"text": "", "answer_start": -1}, {"text": "Hola", "answer_start": 0}]
    qa = {"id": "q1", "question": "¿Qué?", "answers": answers}
    path.write_text(_json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": "Hola mundo", "qas": [qa]}]}]}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="destila.data.io"):
        for _ in range(3):
            assert read_file(path).dropped_placeholders == 1
    assert caplog.text.count("dropped 1 placeholder gold answers") == 1
