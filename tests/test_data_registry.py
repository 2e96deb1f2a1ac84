"""Named datasets, folds, the download cache and its checksums. Nothing touches the network: downloads come from
file:// URLs or an httpx mock transport."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile

import httpx
import pytest

from destila.data import load_dataset, registry
from destila.data.registry import REGISTRY, DataFile, NamedDataset, fetch
from destila.errors import ConfigError, DataError

TINY = {
    "version": "1.1",
    "data": [
        {
            "title": "Ríos",
            "paragraphs": [
                {
                    "context": "El río Amazonas atraviesa Perú.",
                    "qas": [
                        {
                            "id": "t1",
                            "question": "¿Qué río?",
                            "answers": [{"text": "Amazonas", "answer_start": 7}],
                        }
                    ],
                }
            ],
        }
    ],
}
TINY_BYTES = json.dumps(TINY, ensure_ascii=False).encode("utf-8")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A fresh cache for every test, no DESTILA_DATA_DIR unless a test sets it, downloads allowed."""
    monkeypatch.setenv("DESTILA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DESTILA_DATA_DIR", raising=False)
    monkeypatch.delenv("DESTILA_OFFLINE", raising=False)


def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(registry, "_stream", refuse)


# ---------------------------------------------------------------------------------------------------------------
# Names, splits and folds on the shared data


@pytest.mark.parametrize(
    "spec, version, n",
    [
        ("squad-es-v1.1:dev-small", "1.1", 6583),
        ("squad-es-v1.1:dev-small@train", "1.1", 5181),
        ("squad-es-v1.1:dev-small@eval", "1.1", 1402),
        ("squad-es-v2.0:dev@train", "2.0", 8946),
        ("squad-es-v2.0:dev@eval", "2.0", 2912),
        ("squad-es-v2.0:dev-small@train", "2.0", 5222),
        ("squad-es-v2.0:dev-small@eval", "2.0", 1912),
    ],
)
def test_named_datasets_and_folds(data_dir, monkeypatch, spec, version, n):
    no_network(monkeypatch)
    ds = load_dataset(spec, data_dir=data_dir)
    assert (ds.version, len(ds), ds.name) == (version, n, spec)


def test_folds_are_disjoint_and_cover_the_file(data_dir, monkeypatch):
    no_network(monkeypatch)
    monkeypatch.setenv("DESTILA_DATA_DIR", str(data_dir))  # the environment variable works like data_dir=
    full = load_dataset("squad-es-v1.1:dev-small")
    train = load_dataset("squad-es-v1.1:dev-small", fold="train")
    evaluation = load_dataset("squad-es-v1.1:dev-small@eval")
    train_ids, eval_ids = {e.id for e in train.examples}, {e.id for e in evaluation.examples}
    assert not train_ids & eval_ids
    assert train_ids | eval_ids == {e.id for e in full.examples}
    assert "Cloroplasto" in {e.title for e in evaluation.examples}
    assert evaluation.dropped_placeholders == full.dropped_placeholders


def test_path_spec_with_fold(data_dir, tmp_path):
    path = data_dir / "squad-es/v2.0/dev-v2.0-es_small.json"
    assert len(load_dataset(f"{path}@eval")) == 1912  # folds.json found beside the data folder
    copy = tmp_path / "renamed.json"
    shutil.copy(path, copy)
    assert len(load_dataset(copy, data_dir=data_dir, fold="eval")) == 1912  # recognised by its SHA-256
    other = tmp_path / "mine.json"
    other.write_bytes(TINY_BYTES)
    with pytest.raises(
        DataError, match=r"mine\.json: fold 'eval' is not defined for it.*squad-es-v1.1:dev-small"
    ):
        load_dataset(f"{other}@eval", data_dir=data_dir)


def test_spec_errors(data_dir, monkeypatch):
    no_network(monkeypatch)
    with pytest.raises(
        ConfigError, match="known names: squad-es-v1.1, squad-es-v2.0, xquad-es, mlqa-es, sqac"
    ):
        load_dataset("squad-en")
    with pytest.raises(
        ConfigError, match="squad-es-v1.1 has no split 'test'; its splits are train, dev, dev-small"
    ):
        load_dataset("squad-es-v1.1:test", data_dir=data_dir)
    with pytest.raises(ConfigError, match="unknown fold 'dev'"):
        load_dataset("squad-es-v1.1:dev-small@dev", data_dir=data_dir)
    with pytest.raises(ConfigError, match="asks for fold 'eval' but fold='train'"):
        load_dataset("squad-es-v1.1:dev-small@eval", data_dir=data_dir, fold="train")
    with pytest.raises(ConfigError, match="'test' is not a fold"):
        load_dataset("squad-es-v1.1:dev-small", data_dir=data_dir, fold="test")
    with pytest.raises(DataError, match=r"missing/file\.json: no such file"):
        load_dataset("missing/file.json")
    with pytest.raises(ConfigError, match="--data-dir: /nonexistent/data is not a folder"):
        load_dataset("sqac", data_dir="/nonexistent/data")
    monkeypatch.setenv("DESTILA_DATA_DIR", "/nonexistent/data")
    with pytest.raises(ConfigError, match="DESTILA_DATA_DIR: /nonexistent/data is not a folder"):
        load_dataset("sqac")


def test_fold_of_a_dataset_without_folds_fails_before_downloading(data_dir, monkeypatch):
    no_network(monkeypatch)
    with pytest.raises(DataError, match="dataset xquad-es:test: fold 'eval' is not defined for it"):
        load_dataset("xquad-es@eval", data_dir=data_dir)


def test_fold_needs_folds_json(tmp_path, data_dir):
    local = tmp_path / "data"
    (local / "squad-es/v1.1").mkdir(parents=True)
    shutil.copy(data_dir / "squad-es/v1.1/dev-v1.1-es_small.json", local / "squad-es/v1.1/")
    with pytest.raises(DataError, match="fold 'train' needs folds.json"):
        load_dataset("squad-es-v1.1:dev-small@train", data_dir=local)
    (local / "folds.json").write_text('{"train": [], "eval": []}', encoding="utf-8")
    with pytest.raises(DataError, match="field 'counts'"):
        load_dataset("squad-es-v1.1:dev-small@train", data_dir=local)
    counts = {"squad-es/v1.1/dev-v1.1-es_small.json": {"train": 2, "eval": 0}}
    (local / "folds.json").write_text(
        json.dumps({"train": ["x"], "eval": [], "counts": counts}), encoding="utf-8"
    )
    with pytest.raises(DataError, match="should hold 2 questions, but 0"):
        load_dataset("squad-es-v1.1:dev-small@train", data_dir=local)


def test_sample_is_packaged():
    ds = load_dataset("sample")
    assert ds.name == "sample:all" and ds.version == "2.0" and len(ds) > 0


# ---------------------------------------------------------------------------------------------------------------
# Download, cache and checksums


def test_download_known_checksum_then_cache(tmp_path, data_dir, monkeypatch):
    mirror = tmp_path / "mirror.json"
    shutil.copy(data_dir / "squad-es/v1.1/dev-v1.1-es_small.json", mirror)
    known = REGISTRY["squad-es-v1.1"].splits["dev-small"]
    file = DataFile(known.relpath, mirror.as_uri(), known.sha256)
    path = fetch(file)
    assert path == tmp_path / "cache/data/squad-es/v1.1/dev-v1.1-es_small.json"
    assert registry.sha256_file(path) == known.sha256
    mirror.unlink()
    no_network(monkeypatch)
    assert fetch(file) == path  # from the cache, verified
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(
        DataError, match="does not match the expected f7371e58.*delete it to download it again"
    ):
        fetch(file)


def test_download_with_wrong_checksum_saves_nothing(tmp_path):
    mirror = tmp_path / "mirror.json"
    mirror.write_bytes(TINY_BYTES)
    file = DataFile("x/tiny.json", mirror.as_uri(), "0" * 64)
    with pytest.raises(DataError, match="SHA-256 .* does not match the expected 0000.*nothing was saved"):
        fetch(file)
    assert not (tmp_path / "cache/data/x/tiny.json").exists()
    assert list((tmp_path / "cache/data/x").iterdir()) == []


def test_unknown_checksum_is_recorded_on_first_download_and_verified_after(tmp_path, monkeypatch):
    served = []

    def handler(request: httpx.Request) -> httpx.Response:
        served.append(str(request.url))
        return httpx.Response(200, content=TINY_BYTES, headers={"content-length": str(len(TINY_BYTES))})

    monkeypatch.setattr(
        registry, "_http_client", lambda: httpx.Client(transport=httpx.MockTransport(handler))
    )
    monkeypatch.setitem(
        REGISTRY,
        "xquad-es",
        NamedDataset(
            "xquad-es",
            {"test": DataFile("xquad/xquad.es.json", "https://example.org/xquad.es.json")},
            "test",
            "",
        ),
    )
    ds = load_dataset("xquad-es")
    assert [e.id for e in ds.examples] == ["t1"] and ds.name == "xquad-es:test"
    manifest = json.loads((tmp_path / "cache/data/MANIFEST.json").read_text())
    assert manifest == {"xquad/xquad.es.json": hashlib.sha256(TINY_BYTES).hexdigest()}
    load_dataset("xquad-es:test")
    assert served == ["https://example.org/xquad.es.json"]  # downloaded once
    cached = tmp_path / "cache/data/xquad/xquad.es.json"
    cached.write_bytes(TINY_BYTES.replace(b"Amazonas", b"Amazonas"[::-1]))
    with pytest.raises(DataError, match=r"xquad\.es\.json: SHA-256 .* does not match"):
        load_dataset("xquad-es")


def test_failed_download_says_what_to_pass(monkeypatch, tmp_path):
    def handler(request):
        return httpx.Response(404)

    monkeypatch.setattr(
        registry, "_http_client", lambda: httpx.Client(transport=httpx.MockTransport(handler))
    )
    with pytest.raises(DataError) as err:
        load_dataset("squad-es-v1.1:train", data_dir=tmp_path)
    message = str(err.value)
    for fragment in [
        "dataset squad-es-v1.1:train",
        "squad-es/v1.1/train-v1.1-es.json",
        f"--data-dir / DESTILA_DATA_DIR: {tmp_path}",
        "downloading failed",
        "404",
        "https://raw.githubusercontent.com/ccasimiro88/TranslateAlignRetrieve/master/SQuAD-es-v1.1/train-v1.1-es.json",
        "DESTILA_DATA_DIR=DIR",
    ]:
        assert fragment in message, fragment
    assert not (tmp_path / "cache/data/squad-es/v1.1/train-v1.1-es.json").exists()


def test_offline_mode_never_downloads(monkeypatch):
    no_network(monkeypatch)
    monkeypatch.setenv("DESTILA_OFFLINE", "1")
    with pytest.raises(
        DataError, match="downloading is switched off.*huggingface.co/datasets/PlanTL-GOB-ES/SQAC"
    ):
        load_dataset("sqac:dev")
    monkeypatch.delenv("DESTILA_OFFLINE")
    with pytest.raises(DataError, match="downloading is switched off"):
        load_dataset("sqac:dev", download=False)


def test_zip_member_download(tmp_path, monkeypatch):
    archive = tmp_path / "MLQA_V1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("MLQA_V1/test/test-context-es-question-es.json", TINY_BYTES)
        zf.writestr("MLQA_V1/dev/dev-context-es-question-es.json", TINY_BYTES.replace(b"t1", b"d1"))
    splits = {
        s: DataFile(
            f"mlqa/MLQA_V1/{s}/{s}-context-es-question-es.json",
            archive.as_uri(),
            member=f"MLQA_V1/{s}/{s}-context-es-question-es.json",
            archive_relpath="mlqa/MLQA_V1.zip",
        )
        for s in ("dev", "test")
    }
    monkeypatch.setitem(REGISTRY, "mlqa-es", NamedDataset("mlqa-es", splits, "test", ""))
    assert [e.id for e in load_dataset("mlqa-es").examples] == ["t1"]
    archive.unlink()  # the cached archive serves the other split
    assert [e.id for e in load_dataset("mlqa-es:dev").examples] == ["d1"]
    assert (tmp_path / "cache/data/mlqa/MLQA_V1.zip").is_file()


def test_local_data_dir_wins_over_cache(tmp_path, monkeypatch):
    no_network(monkeypatch)
    local = tmp_path / "data"
    (local / "sqac").mkdir(parents=True)
    (local / "sqac/test.json").write_bytes(TINY_BYTES)
    ds = load_dataset("sqac", data_dir=local)
    assert ds.name == "sqac:test" and len(ds) == 1


def test_upstream_urls():
    assert REGISTRY["xquad-es"].splits["test"].url == (
        "https://raw.githubusercontent.com/google-deepmind/xquad/master/xquad.es.json"
    )
    mlqa = REGISTRY["mlqa-es"].splits["test"]
    assert (mlqa.url, mlqa.member) == (
        "https://dl.fbaipublicfiles.com/MLQA/MLQA_V1.zip",
        "MLQA_V1/test/test-context-es-question-es.json",
    )
    assert (
        REGISTRY["sqac"].splits["dev"].url
        == "https://huggingface.co/datasets/PlanTL-GOB-ES/SQAC/resolve/main/dev.json"
    )
    assert (
        REGISTRY["squad-es-v2.0"]
        .splits["dev-small"]
        .url.endswith("master/SQuAD-es-v2.0/dev-v2.0-es_small.json")
    )
