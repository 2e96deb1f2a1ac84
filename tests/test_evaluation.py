"""One evaluation path: a folder, a Predictor, a runner or an in-memory model score the same; the protocol."""

from __future__ import annotations

import json

import pytest

from destila.data import load_dataset
from destila.errors import ConfigError
from destila.evaluation import Protocol, evaluate
from destila.infer.predictor import Predictor
from destila.infer.runners import make_runner
from destila.metrics import score


@pytest.fixture(scope="module")
def sample():
    return load_dataset("sample").head(24)


def test_every_kind_of_source_scores_the_same(tiny_qa_model_dir, sample):
    from destila.models.hub import load_qa_model, load_tokenizer

    tokenizer = load_tokenizer(tiny_qa_model_dir)
    by_folder = evaluate(tiny_qa_model_dir, sample, threads=1, batch_size=4)
    predictor = Predictor.from_pretrained(tiny_qa_model_dir, batch_size=4)
    model = load_qa_model(tiny_qa_model_dir).train()
    results = [
        evaluate(predictor, sample),
        evaluate(make_runner(tiny_qa_model_dir), sample, tokenizer=tokenizer, batch_size=4),
        evaluate(model, sample, tokenizer=tokenizer, batch_size=4),
    ]
    assert model.training  # put back in the mode it was found in
    for result in results:
        assert result.predictions == by_folder.predictions
        assert result.metrics == by_folder.metrics
    assert by_folder.metrics == score(sample, by_folder.predictions, by_folder.null_odds)
    assert by_folder.protocol == {"name": "destila", "first": None, "n_best": 12, "max_answer_length": 15}
    assert by_folder.questions_per_second > 0
    with pytest.raises(ConfigError, match="tokenizer"):
        evaluate(model, sample)
    with pytest.raises(ConfigError, match="as is"):
        evaluate(predictor, sample, batch_size=2)


def test_protocol_keeps_the_first_questions_and_is_recorded(tiny_qa_model_dir, sample, tmp_path):
    paper = Protocol(first=5, n_best=1, max_answer_len=30)
    result = evaluate(tiny_qa_model_dir, sample, protocol=paper, threads=1)
    assert len(sample) == 24 and [ex.id for ex in result.dataset.examples] == [ex.id for ex in sample.examples[:5]]
    assert list(result.predictions) == [ex.id for ex in sample.examples[:5]]
    assert result.protocol == {"name": "destila", "first": 5, "n_best": 1, "max_answer_length": 30}
    result.write(tmp_path)
    written = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert written == {**result.metrics, "protocol": result.protocol}
    assert evaluate(tiny_qa_model_dir, sample, protocol=Protocol(n_best=3)).protocol == {
        "name": "destila", "first": None, "n_best": 3, "max_answer_length": 15,
    }  # fmt: skip
    with pytest.raises(ConfigError, match="n_best"):
        Protocol(n_best=0)


def test_head_returns_a_new_dataset(sample):
    ids = [ex.id for ex in sample.examples]
    first = sample.head(3)
    assert [ex.id for ex in first.examples] == ids[:3] and first.name == f"{sample.name} (first 3)"
    first.examples.append(sample.examples[-1])
    everything = sample.head(None)
    assert everything is not sample and everything.name == sample.name and len(sample.head(100)) == len(sample)
    everything.examples.clear()
    assert [ex.id for ex in sample.examples] == ids  # never mutated
    with pytest.raises(ConfigError):
        sample.head(-1)
