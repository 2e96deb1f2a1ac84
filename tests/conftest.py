import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny import build_tiny_bert_qa, build_wordpiece_tokenizer, shared_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.fail("shared data not found: set DESTILA_DATA_DIR to the folder holding folds.json")
    return path


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    return build_wordpiece_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session")
def tiny_qa_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """Folder of a 2-layer, 32-wide random BertForQuestionAnswering with its tokenizer."""
    out = tmp_path_factory.mktemp("tiny_qa")
    build_tiny_bert_qa(out, tokenizer=tiny_tokenizer)
    return out


@pytest.fixture(scope="session")
def bpe_tokenizer():
    """RoBERTa-style byte-level BPE fast tokenizer (no token types)."""
    from tiny_tokenizers import build_bpe_tokenizer

    return build_bpe_tokenizer()


@pytest.fixture(scope="session")
def unigram_tokenizer():
    """XLM-R-style SentencePiece Unigram fast tokenizer (Metaspace)."""
    from tiny_tokenizers import build_unigram_tokenizer

    return build_unigram_tokenizer()


@pytest.fixture(autouse=True)
def _data_warnings_per_test():
    """Data-file warnings are given once per process; each test starts as a fresh process would."""
    from destila.data import io

    io._WARNED.clear()
    yield


@pytest.fixture
def stand_in_hub():
    """A local stand-in for the Hub's HTTP API (tests/hub_stand_in.py); `.hub` records what it was sent."""
    from hub_stand_in import serving

    with serving() as server:
        yield server
