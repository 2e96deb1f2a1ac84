"""`destila augment`: the augmenters, the neighbour table, the file it writes and the eval-fold rule."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from destila.augment import AugmentConfig, augment_dataset, check_not_eval
from destila.augment.context import ContextEditor
from destila.augment.text import Draft, sentence_spans
from destila.augment.words import NeighbourTable, WordReplacer, neighbour_table
from destila.cli import app
from destila.data import load_dataset
from destila.data.types import Answer, QADataset, QAExample
from destila.errors import ConfigError, DataError
from tiny import SPANISH_TEXT, build_tiny_bert_qa


def squad_file(path: Path) -> Path:
    """Two articles of three paragraphs, each three sentences; one question per paragraph."""
    articles = []
    for a, title in enumerate(["Ríos", "Museos"]):
        paragraphs = []
        for p in range(3):
            sentences = [SPANISH_TEXT[(a * 3 + p + k) % len(SPANISH_TEXT)] for k in range(3)]
            context = " ".join(sentences)
            answer = sentences[1].split()[1]
            qa = {"id": f"a{a}p{p}", "question": f"¿Qué dice el texto sobre el {answer} del mundo?",
                  "answers": [{"text": answer, "answer_start": context.index(answer, len(sentences[0]))}]}
            paragraphs.append({"context": context, "qas": [qa]})
        articles.append({"title": title, "paragraphs": paragraphs})
    path.write_text(json.dumps({"version": "1.1", "data": articles}, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DESTILA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DESTILA_DATA_DIR", raising=False)  # the tiny files here are not the SQuAD-es ones
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_model")
    build_tiny_bert_qa(out)
    return out


def answer_found(context: str, answers: list[Answer]) -> bool:
    return all(context[a.start : a.start + len(a.text)] == a.text for a in answers)


# ---------------------------------------------------------------------------------------------------------------
# Pieces


def test_sentences_split_at_sentence_ends_and_not_after_abbreviations_or_initials():
    text = ("El Sr. García llegó a las 5. Luego viajó a EE. UU. en 1990. ¿Por qué? «No lo sé», dijo. "
            "En el 44 a. C. murió.")
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "El Sr. García llegó a las 5.", "Luego viajó a EE. UU. en 1990.", "¿Por qué?", "«No lo sé», dijo.",
        "En el 44 a. C. murió."]
    assert sentence_spans("  una sola frase sin punto  ") == [(2, 26)]


def test_word_replacement_keeps_the_answer_and_its_offset_and_the_capitals():
    table = NeighbourTable(["río", "mundo", "caudaloso", "lago", "planetas", "grande"],
                           np.array([[3], [4], [5], [0], [1], [2]], dtype=np.int32))
    context = "El Río Amazonas, el más caudaloso del MUNDO, no es un río del mundo."
    answer = Answer("río del mundo", context.index("río del mundo"))
    draft = Draft("¿Cuál es el río más caudaloso?", context, [answer])
    # everything replaceable replaced: the question's words too, names (capitalised words) too
    replacer = WordReplacer(table, p=1.0, min_length=3, question_p=1.0, names=True)
    out = replacer(draft, None, np.random.default_rng(0))
    assert out.question == "¿Cuál es el lago más grande?"
    assert out.context == "El Lago Amazonas, el más grande del PLANETAS, no es un río del mundo."
    assert answer_found(out.context, out.answers) and out.answers[0].start == answer.start + 1
    assert out.edits == [{"augmenter": "words", "question": [["río", "lago"], ["caudaloso", "grande"]],
                          "context": [["Río", "Lago"], ["caudaloso", "grande"], ["MUNDO", "PLANETAS"]]}]
    assert WordReplacer(table, p=1.0, min_length=10)(out, None, np.random.default_rng(0)) is None


def test_by_default_the_question_and_the_names_stay_as_they_are():
    table = NeighbourTable(["río", "mundo", "caudaloso", "lago", "planetas", "grande"],
                           np.array([[3], [4], [5], [0], [1], [2]], dtype=np.int32))
    context = "El Río Amazonas, el más caudaloso del MUNDO, no es un río del mundo."
    answer = Answer("río del mundo", context.index("río del mundo"))
    out = WordReplacer(table, p=1.0, min_length=3)(Draft("¿Cuál es el río más caudaloso?", context, [answer]), None,
                                                   np.random.default_rng(0))
    assert out.question == "¿Cuál es el río más caudaloso?"
    assert out.context == "El Río Amazonas, el más grande del MUNDO, no es un río del mundo."
    assert answer_found(out.context, out.answers) and out.answers[0].start == answer.start - 3
    assert out.edits == [{"augmenter": "words", "question": [], "context": [["caudaloso", "grande"]]}]


def test_context_edits_keep_the_answer_sentence_and_find_the_answer_again(tmp_path):
    dataset = load_dataset(str(squad_file(tmp_path / "d.json")))
    editor = ContextEditor(dataset.examples, p=0.5)
    ops = set()
    for ex in dataset.examples:
        start, spans = ex.answers[0].start, sentence_spans(ex.context)
        answer_index = next(i for i, (a, b) in enumerate(spans) if a <= start < b)
        answer_sentence = ex.context[slice(*spans[answer_index])]
        for seed in range(12):
            out = editor(Draft(ex.question, ex.context, list(ex.answers)), ex, np.random.default_rng(seed))
            edit = out.edits[-1]
            ops.add(edit["op"])
            assert answer_sentence in out.context and answer_found(out.context, out.answers), edit
            assert out.question == ex.question and out.context != ex.context
            if edit["op"] == "distractor":
                others = {e.context for e in dataset.examples if e.title == ex.title and e.context != ex.context}
                assert any(edit["sentence"] in c for c in others) and edit["sentence"] not in ex.context
            if edit["op"] == "drop":
                assert answer_index not in edit["sentences"]
    assert ops == {"drop", "reorder", "distractor"}


def test_the_neighbour_table_holds_the_nearest_words_by_cosine_and_is_built_once(model_dir, cache):
    from destila.models.hub import load_qa_model, load_tokenizer

    table, info = neighbour_table(str(model_dir), vocabulary=400, k=3)
    assert info.built and info.path.is_file() and info.path.parent == cache / "augment"
    again, info2 = neighbour_table(str(model_dir), vocabulary=400, k=3)
    assert not info2.built and info2.path == info.path and np.array_equal(again.neighbours, table.neighbours)

    tokenizer = load_tokenizer(model_dir)
    weights = load_qa_model(model_dir).get_input_embeddings().weight.detach().numpy()
    vectors = np.stack([weights[tokenizer(" " + w, add_special_tokens=False)["input_ids"]].mean(0)
                        for w in table.words])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i in (0, 7, len(table.words) - 1):
        sims = vectors @ vectors[i]
        sims[i] = -np.inf
        assert set(np.argsort(-sims)[:3]) == set(table.neighbours[i].tolist())


# ---------------------------------------------------------------------------------------------------------------
# The augmented file


def test_augmenting_is_deterministic_and_the_file_passes_destila_validation(model_dir, cache, tmp_path):
    dataset = load_dataset(str(squad_file(tmp_path / "d.json")))
    config = AugmentConfig(copies=3, vocabulary=600, question_p=0.4, names=True)
    first = augment_dataset(dataset, config, str(model_dir)).write(tmp_path / "one.json")
    second = augment_dataset(dataset, config, str(model_dir)).write(tmp_path / "two.json")
    assert first.read_bytes() == second.read_bytes()
    other = augment_dataset(dataset, dataclasses.replace(config, seed=7), str(model_dir))
    assert other.write(tmp_path / "three.json").read_bytes() != first.read_bytes()
    # each question's copies come from its own random stream, not from its place in the data
    reordered = augment_dataset(replace(dataset, examples=dataset.examples[::-1]), config, str(model_dir))
    first_copies = augment_dataset(dataset, config, str(model_dir)).copies
    assert sorted(reordered.copies, key=lambda c: c.example.id) == sorted(first_copies, key=lambda c: c.example.id)

    back = load_dataset(str(first))
    originals = [ex for ex in back.examples if not ex.augmented]
    copies = [ex for ex in back.examples if ex.augmented]
    assert back.version == "1.1" and originals == dataset.examples
    assert len(copies) == 3 * len(dataset) and all(not c.answers and not c.is_impossible for c in copies)
    records = {qa["id"]: qa["destila_augment"] for art in json.loads(first.read_text())["data"]
               for par in art["paragraphs"] for qa in par["qas"] if "destila_augment" in qa}
    by_id = dataset.by_id()
    for copy in copies:
        record = records[copy.id]
        source = by_id[record["source"]]
        assert copy.id.startswith(source.id + "-aug") and copy.title == source.title
        assert [e["augmenter"] for e in record["edits"]] == ["context", "words"]
        assert (copy.question, copy.context) != (source.question, source.context)
        relocated = [Answer(a["text"], a["answer_start"]) for a in record["answers"]]
        assert [a.text for a in relocated] == [a.text for a in source.answers]
        assert answer_found(copy.context, relocated)


def test_the_reader_refuses_augmented_questions_with_gold_answers_or_misplaced_answers(tmp_path):
    def write(answers, relocated):
        context = "El río Amazonas es el más caudaloso del mundo."
        qa = {"id": "x-aug1", "question": "¿Cuál?", "answers": answers,
              "destila_augment": {"source": "x", "answers": relocated, "edits": []}}
        path = tmp_path / "f.json"
        path.write_text(json.dumps({"version": "1.1", "data": [
            {"title": "t", "paragraphs": [{"context": context, "qas": [qa]}]}]}), encoding="utf-8")
        return str(path)

    ok = load_dataset(write([], [{"text": "Amazonas", "answer_start": 7}]))
    assert ok.examples[0].augmented and ok.examples[0].answers == [] and ok.version == "1.1"
    with pytest.raises(DataError, match="'answers': must be empty for an augmented question"):
        load_dataset(write([{"text": "Amazonas", "answer_start": 7}], []))
    with pytest.raises(DataError, match=r"destila_augment.answers\[0\].answer_start"):
        load_dataset(write([], [{"text": "Amazonas", "answer_start": 3}]))


def test_augmenting_augmented_data_is_refused(model_dir, cache, tmp_path):
    dataset = load_dataset(str(squad_file(tmp_path / "d.json")))
    result = augment_dataset(dataset, AugmentConfig(copies=1, augmenters=["context"]))
    with pytest.raises(ConfigError, match="already holds augmented copies"):
        augment_dataset(result.dataset(), AugmentConfig(copies=1, augmenters=["context"]))
    with pytest.raises(ConfigError, match="needs a model"):
        augment_dataset(dataset, AugmentConfig(copies=1))


# ---------------------------------------------------------------------------------------------------------------
# Eval-fold text is never read


@pytest.mark.parametrize("name", ["squad-es-v1.1:dev-small@eval", "squad-es-v1.1:dev-small", "squad-es-v2.0",
                                  "xquad-es", "sample", "data.json@eval", "hf:org/qa@validation", "hf:org/qa"])
def test_eval_and_scoring_data_are_refused_by_name(name, cache):
    with pytest.raises(ConfigError, match="augmentation never reads eval-fold text"):
        check_not_eval(QADataset([], "1.1", name))


@pytest.mark.parametrize("name", ["squad-es-v1.1:dev-small@train", "squad-es-v1.1:train", "sqac:train",
                                  "hf:org/qa@train", "my_questions.json", "squad-es-v2.0:dev@train (first 10)"])
def test_training_data_is_accepted(name, cache):
    check_not_eval(QADataset([], "1.1", name))


def test_a_file_holding_eval_fold_questions_is_refused_by_its_ids(data_dir, tmp_path):
    folds = json.loads((data_dir / "folds.json").read_text(encoding="utf-8"))
    context = "El río Amazonas es el más caudaloso del mundo."
    ex = QAExample(folds["eval"][0], "¿Cuál?", context, [Answer("Amazonas", 7)], title="otro")
    with pytest.raises(DataError, match="is in the eval fold"):
        check_not_eval(QADataset([ex], "1.1", str(tmp_path / "copy_of_dev.json")), data_dir=data_dir)
    ex.id = folds["train"][0]
    check_not_eval(QADataset([ex], "1.1", str(tmp_path / "mine.json")), data_dir=data_dir)
    ex.title = folds["eval_article_titles"][0]  # an eval article under a new id
    with pytest.raises(DataError, match="is in the eval fold"):
        check_not_eval(QADataset([ex], "1.1", str(tmp_path / "mine.json")), data_dir=data_dir)


# ---------------------------------------------------------------------------------------------------------------
# Configuration and command line


def test_config_checks_its_fields():
    assert AugmentConfig.from_dict({"augmenters": "words", "p": "0.2"}).augmenters == ["words"]
    assert AugmentConfig(copies=20.0).copies == 20
    with pytest.raises(ConfigError, match=r"student.augment: unknown field\(s\) copy"):
        AugmentConfig.from_dict({"copy": 2}, "student.augment")
    with pytest.raises(ConfigError, match=r"student.augment.p: expected a number in \(0, 1\]"):
        AugmentConfig.from_dict({"p": 1.5}, "student.augment")
    with pytest.raises(ConfigError, match="augment.augmenters"):
        AugmentConfig(augmenters=["synonyms"])
    with pytest.raises(ConfigError, match="augment.copies: expected an integer >= 1"):
        AugmentConfig(copies=0)


def test_the_command_writes_the_file_and_refuses_the_eval_fold(model_dir, cache, tmp_path):
    data = squad_file(tmp_path / "d.json")
    out = tmp_path / "aug" / "train.json"
    args = ["augment", "--data", str(data), "--out", str(out), "--model", str(model_dir), "--copies", "2",
            "--vocabulary", "600", "--seed", "3", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["copies"] == 2 * 6 and record["config"]["seed"] == 3 and record["table_built"] is True
    assert len(load_dataset(str(out))) == 6 + 12

    refused = CliRunner().invoke(app, ["augment", "--data", "squad-es-v1.1:dev-small@eval", "--out", str(out),
                                       "--augmenters", "context"])
    assert isinstance(refused.exception, ConfigError) and "never reads eval-fold text" in str(refused.exception)
