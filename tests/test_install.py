"""Lean installs: the core's dependencies and the extras in pyproject.toml, the torch floor against what the code
calls, the CLI starting without any extra, and the message a verb gives when its extra is missing.

`scripts/check_core_install.sh` installs the core into an empty virtual environment and runs the verbs there."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

from destila.cli import main
from destila.cli._common import EXTRAS

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
CORE = {Requirement(r).name: Requirement(r) for r in PROJECT["dependencies"]}
OPTIONAL = PROJECT["optional-dependencies"]
EXTRA_MODULES = {m for modules in EXTRAS.values() for m in modules}


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower().replace("-", "_") for r in requirements}


def test_the_core_holds_no_extra():
    assert not _names(PROJECT["dependencies"]) & (EXTRA_MODULES | {"onnxruntime_gpu"})


def test_every_extra_brings_the_modules_the_cli_checks_for():
    for extra, modules in EXTRAS.items():
        assert _names(OPTIONAL[extra]) == set(modules), extra
    assert _names(OPTIONAL["export-gpu"]) == {"onnx", "onnxscript", "onnxruntime_gpu"}
    (everything,) = OPTIONAL["all"]
    assert set(Requirement(everything).extras) == set(EXTRAS)  # all: every extra but export-gpu (and dev)


def test_the_torch_floor_is_what_the_code_needs():
    from transformers.dependency_versions_table import deps

    floor = Version(min(spec.version for spec in CORE["torch"].specifier if spec.operator == ">="))
    assert Version(torch.__version__.split("+")[0]) >= floor, "the installed torch is below the floor"
    transformers_floor = Requirement(deps["torch"]).specifier
    assert all(Version(spec.version) <= floor for spec in transformers_floor), "transformers needs a newer torch"
    # the export's call: torch.onnx.export(..., dynamic_shapes=, dynamo=True, external_data=, verify=)
    parameters = inspect.signature(torch.onnx.export).parameters
    assert {"dynamo", "dynamic_shapes", "external_data", "verify", "opset_version"} <= set(parameters)


def test_the_cli_starts_without_importing_any_extra():
    code = (
        "import sys\n"
        "from destila.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(result.stdout.split()) & (EXTRA_MODULES | {"starlette", "torch", "transformers"})
    assert not loaded, f"destila --help imports {sorted(loaded)}"


def test_a_verb_names_the_extra_it_needs(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if not installed: find_spec and import both fail
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--model", str(tmp_path)])
    assert exc.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "destila serve needs the `serve` extra (fastapi not installed): pip install 'destila[serve]'" in message


def test_an_extra_found_missing_deep_in_a_verb_is_named(monkeypatch, capsys, tmp_path, tiny_qa_model_dir):
    folder = tmp_path / "exported"
    shutil.copytree(tiny_qa_model_dir, folder)
    (folder / "model.onnx").write_bytes(b"")  # the onnx backend is chosen; its onnxruntime is missing
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(SystemExit) as exc:
        main(["answer", "--model", str(folder), "--question", "¿Qué?", "--context", "Algo de texto."])
    assert exc.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "onnxruntime is not installed; it comes with the `export` extra: pip install 'destila[export]'" in message
    assert "destila[export-gpu]" in message
