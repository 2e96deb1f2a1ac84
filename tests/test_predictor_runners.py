"""The runner registry: auto picks the artifact's backend, a new backend is one class plus one `register` line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from destila.errors import ConfigError
from destila.infer import runners
from destila.infer.predictor import Predictor
from destila.infer.runners import Runner, detect_backend, make_runner
from destila.infer.runners.torch import TorchRunner

CONTEXT = "El Museo del Prado abrió sus puertas en 1819 con obras de Velázquez y Goya."


class ToyRunner:
    """Points start and end at the tokens of one word, whatever the question: a backend in a dozen lines."""

    name = "toy"
    uses_token_type_ids = False
    calls = 0

    def __init__(self, folder, threads=None, device="cpu"):
        from destila.models.hub import load_tokenizer

        pieces = load_tokenizer(folder)("1819", add_special_tokens=False)["input_ids"]
        self.first, self.last = pieces[0], pieces[-1]

    def __call__(self, input_ids, attention_mask, token_type_ids=None):
        ToyRunner.calls += 1
        start = np.where(input_ids == self.first, 10.0, 0.0).astype(np.float32)
        end = np.where(input_ids == self.last, 10.0, 0.0).astype(np.float32)
        return start, end


@pytest.fixture
def registry(monkeypatch):
    """The registry as it is, restored after the test."""
    monkeypatch.setattr(runners, "_BACKENDS", dict(runners._BACKENDS))
    return runners


@pytest.fixture
def toy_folder(tiny_qa_model_dir, tmp_path):
    folder = tmp_path / "toy-model"
    shutil.copytree(tiny_qa_model_dir, folder)
    (folder / "toy.bin").write_bytes(b"toy")
    return folder


def test_a_registered_backend_answers_through_the_predictor(registry, toy_folder):
    registry.register("toy", lambda folder: (folder / "toy.bin").is_file(), ToyRunner)

    by_name = Predictor.from_pretrained(toy_folder, backend="toy")
    assert isinstance(by_name.runner, ToyRunner) and isinstance(by_name.runner, Runner)
    before = ToyRunner.calls
    answer = by_name(question="¿Cuándo abrió?", context=CONTEXT)
    assert answer["answer"] == "1819" and CONTEXT[answer["start"] : answer["end"]] == "1819"
    assert ToyRunner.calls > before

    assert detect_backend(toy_folder) == "toy"  # auto: the folder holds the toy artifact
    assert isinstance(Predictor.from_pretrained(toy_folder).runner, ToyRunner)
    assert "toy" in registry.backend_names()


def test_auto_picks_onnx_for_exported_folders_and_torch_otherwise(registry, tiny_qa_model_dir, tmp_path):
    assert detect_backend(tiny_qa_model_dir) == "torch"
    assert isinstance(make_runner(tiny_qa_model_dir), TorchRunner)
    exported = tmp_path / "exported"
    shutil.copytree(tiny_qa_model_dir, exported)
    (exported / "model.onnx").write_bytes(b"")
    assert detect_backend(exported) == "onnx"
    with pytest.raises(ConfigError, match="CPU"):
        make_runner(exported, device="cuda")
    assert isinstance(make_runner(exported, backend="torch"), TorchRunner)  # the weights are still there


def test_in_memory_models_and_unknown_backends(tiny_qa_model_dir):
    from destila.models.hub import load_qa_model

    model = load_qa_model(tiny_qa_model_dir)
    runner = make_runner(model)
    assert isinstance(runner, TorchRunner) and runner.name == "torch" and runner.uses_token_type_ids
    ids = np.array([[2, 10, 11, 3]], dtype=np.int64)
    start, end = runner(ids, np.ones_like(ids), np.zeros_like(ids))
    assert start.shape == end.shape == (1, 4) and start.dtype == np.float32
    with pytest.raises(ConfigError, match="unknown backend 'nada'.*torch, torch-bf16, torch-compile, onnx, openvino"):
        make_runner(tiny_qa_model_dir, backend="nada")
    with pytest.raises(ConfigError, match="in-memory"):
        make_runner(model, backend="onnx")
